"""Frames to a published, verified video file, or a clear error and the frames as PNG.

The order of work is the contract:
1. check everything that can be checked before ffmpeg runs (format, crf, preset, fps, shape, no
   frames, NaN/inf), so bad input never leaves a file;
2. stream the frames into a hidden temp file in the target folder (odd sizes padded by ffmpeg);
3. read the file back (frame count and size) and only then publish it under its final name,
   never overwriting anything;
4. on any encoding failure remove the temp file, write the frames as PNG plus a JSON sidecar where
   possible, and raise `EncodeFailed` (an EncodeError) whose message names the fallback folder.
Interrupts and other exceptions also remove the temp file and kill ffmpeg, but write no fallback.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..compat.core.errors import EncodeError, Problem
from ..compat.frames.arrays import check_video_array, chunk_frames, iter_chunks, numpy_chunk
from ..compat.frames.checked import checked_bounds
from . import audio as audio_io
from .audio import AudioTrack
from .ffmpeg_probe import FfmpegInfo
from .ffmpeg import describe, find_ffmpeg
from .formats import VideoFormat, get_format
from .metadata import remove_quietly, write_ffmetadata
from .paths import SaveTarget, target_exact, target_in_output
from .png_sequence import write_png_sequence
from .probe import VerifyMode, verify_audio, verify_video
from .rawfile import RawFrameFile
from .writer import VideoWriter, padded_size

Progress = Callable[[int, int], None]


@dataclass
class EncodedVideo:
    """One encode: the published file (or the fallback folder) and what was done."""

    path: Path | None
    format: str
    frames: int
    width: int
    height: int
    source_width: int
    source_height: int
    fps: float
    crf: int | None = None
    preset: str | None = None
    subfolder: str = ""
    size_bytes: int = 0
    seconds: float = 0.0
    ffmpeg: dict[str, Any] = field(default_factory=dict)
    fallback: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    finite_check: str = "streaming"  # NaN/inf: checked while streaming, or "upstream" (checked by an earlier stage)
    audio: dict[str, Any] | None = None  # codec, sample rate, channels, seconds of the muxed audio

    @property
    def ok(self) -> bool:
        return self.path is not None and not any(p.severity == "error" for p in self.problems)

    @property
    def filename(self) -> str:
        return self.path.name if self.path else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "path": str(self.path) if self.path else None, "format": self.format,
            "frames": self.frames, "width": self.width, "height": self.height,
            "source_width": self.source_width, "source_height": self.source_height, "fps": self.fps,
            "crf": self.crf, "preset": self.preset, "subfolder": self.subfolder, "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 3), "ffmpeg": self.ffmpeg, "finite_check": self.finite_check, "audio": self.audio,
            "fallback": str(self.fallback) if self.fallback else None,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class EncodeReport:
    """Every video one node run wrote (WAN_ENCODE_RESULT): for the diagnose stage and the UI."""

    videos: list[EncodedVideo] = field(default_factory=list)
    stage: str = "encode"

    def summary(self) -> str:
        return "\n".join(f"{v.path}: {v.frames} frames {v.width}x{v.height} at {v.fps:g} fps, {v.format}, "
                         f"{v.size_bytes} bytes in {v.seconds:.2f} s" for v in self.videos) or "no video written"

    @property
    def problems(self) -> list[Problem]:
        return [p for v in self.videos for p in v.problems]

    @property
    def ok(self) -> bool:
        return bool(self.videos) and all(v.ok for v in self.videos)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "videos": [v.to_dict() for v in self.videos], "problems": [p.to_dict() for p in self.problems]}


class EncodeFailed(EncodeError):
    """Encoding failed; `.result` tells what was kept (the PNG fallback folder, if any)."""

    def __init__(self, cause: EncodeError, result: EncodedVideo) -> None:
        detail = cause.detail
        if result.fallback is not None:
            detail += f". The frames were saved as PNG in {result.fallback} (see its wan-compat-frames.json to encode them later)"
        for extra in result.problems:
            if extra.code == "ENCODE_FALLBACK_FAILED":
                detail += f". Saving the frames as PNG failed too: {extra.detail}"
        super().__init__(cause.code, detail, **cause.problem.context)
        self.cause, self.result = cause, result


def encode_video(frames: Any, *, output_dir: Path | str, filename_prefix: str = "Wan", fmt: str | VideoFormat = "h264-mp4",
                 fps: float = 16.0, crf: int | None = None, preset: str | None = None,
                 metadata: dict[str, Any] | None = None, fallback: bool = True, fallback_dirs: Sequence[Path | str] = (),
                 verify: VerifyMode = "index", binary: FfmpegInfo | None = None,
                 on_progress: Progress | None = None, audio: AudioTrack | None = None) -> EncodedVideo:
    """Encode an (F, H, W, C) array or tensor into `output_dir` under ComfyUI's counter names.

    `fallback_dirs` are tried after the target folder for the PNG fallback (e.g. a temp folder on
    another disk, for when the output disk is full or read-only). `audio` is muxed beside the
    frames in the format's audio codec, cut to the video's length (encoders/audio.py).
    """
    fmt = get_format(fmt)
    _, h, w, _ = check_video_array(frames)
    target = target_in_output(output_dir, filename_prefix, width=w, height=h)
    extra = [SaveTarget(folder=Path(d), stem=target.stem) for d in fallback_dirs]
    return _encode(frames, target, fmt, fps=fps, crf=crf, preset=preset, metadata=metadata,
                   fallback_targets=([target] + extra) if fallback else [], verify=verify, binary=binary, on_progress=on_progress,
                   audio=audio)


def encode_to_file(frames: Any, out: Path | str, *, fmt: str | VideoFormat = "h264-mp4", fps: float = 16.0,
                   crf: int | None = None, preset: str | None = None, metadata: dict[str, Any] | None = None,
                   verify: VerifyMode = "index", binary: FfmpegInfo | None = None,
                   on_progress: Progress | None = None) -> EncodedVideo:
    """Encode to exactly `out` (the format's extension added if missing); an existing file is an error.

    No PNG fallback: this is the path of `wan-compat encode`, whose input frames stay on disk.
    """
    fmt = get_format(fmt)
    check_video_array(frames)
    target = target_exact(out, fmt.extension)
    final = target.folder / f"{target.stem}.{fmt.extension}"
    if os.path.lexists(final):  # fail before encoding; publish() still refuses if it appears meanwhile
        raise EncodeError("ENCODE_OUTPUT_EXISTS", f"{final} exists", path=str(final))
    return _encode(frames, target, fmt, fps=fps, crf=crf, preset=preset, metadata=metadata,
                   fallback_targets=[], verify=verify, binary=binary, on_progress=on_progress)


def _check_options(fmt: VideoFormat, fps: float, crf: int | None, preset: str | None) -> tuple[int | None, str | None]:
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise EncodeError("ENCODE_BAD_OPTION", f"fps must be in (0, 1000], got {fps}", hint="Use the model's frame rate: 16 for Wan 2.1 and 2.2 A14B, 24 for Wan 2.2 TI2V-5B.")
    fmt.codec_args(crf, preset)  # raises on a bad crf or preset
    return fmt.resolve_quality(crf), fmt.resolve_preset(preset)


def _encode(frames: Any, target: SaveTarget, fmt: VideoFormat, *, fps: float, crf: int | None, preset: str | None,
            metadata: dict[str, Any] | None, fallback_targets: list[SaveTarget], verify: VerifyMode,
            binary: FfmpegInfo | None, on_progress: Progress | None, audio: AudioTrack | None = None) -> EncodedVideo:
    crf, preset = _check_options(fmt, fps, crf, preset)
    total, height, width, channels = check_video_array(frames)
    samples = audio_io.samples_for(audio, total, fps) if audio is not None else 0
    if audio is not None:
        fmt.audio_codec_args()  # a format that carries no audio fails before anything is written
    # NaN/inf are found by the converter while the frames stream (one read of the data, not two);
    # a FrameError then aborts ffmpeg and removes the temp file, and no PNG fallback is written.
    # Frames an earlier stage checked (Wan Sample, Wan Frame Process) and nothing changed since are
    # not checked again.
    prechecked = checked_bounds(frames) is not None
    out_w, out_h = padded_size(width, height, fmt.align)
    result = EncodedVideo(path=None, format=fmt.name, frames=total, width=out_w, height=out_h, source_width=width,
                          source_height=height, fps=float(fps), crf=crf, preset=preset, subfolder=target.subfolder,
                          finite_check="upstream" if prechecked else "streaming")
    started = time.perf_counter()
    temp: Path | None = None
    meta_file: Path | None = None
    audio_file: Path | None = None
    writer: VideoWriter | None = None
    try:
        binary = binary or find_ffmpeg()
        result.ffmpeg = describe(binary)
        if not binary.has_encoder(fmt.encoder):
            raise EncodeError("FFMPEG_ENCODER_MISSING", f"{binary.path} ({binary.source}, ffmpeg {binary.version}) lists no encoder named '{fmt.encoder}'",
                              encoder=fmt.encoder)
        if audio is not None and not binary.has_encoder(str(fmt.audio_encoder)):
            raise EncodeError("FFMPEG_ENCODER_MISSING", f"{binary.path} lists no audio encoder named '{fmt.audio_encoder}'",
                              encoder=str(fmt.audio_encoder))
        temp = target.temp_file(fmt.extension)
        if metadata and fmt.metadata:
            meta_file = write_ffmetadata(temp, metadata)
        audio_input = None
        if audio is not None:
            audio_file = temp.with_name(temp.name + ".audio.f32")
            audio_io.write_raw(audio, audio_file, samples)
            audio_input = audio_io.ffmpeg_input(audio, audio_file)
        source = frames if isinstance(frames, RawFrameFile) else None
        writer = VideoWriter(binary, fmt, temp, width=width, height=height, channels=channels, fps=fps,
                             crf=crf, preset=preset, metadata_file=meta_file, source=source, check_finite=not prechecked,
                             audio_input=audio_input)
        if source is None:
            step = min(writer.chunk_frames * 4, chunk_frames(tuple(frames.shape)))
            for start, stop in iter_chunks(total, step):
                writer.write(numpy_chunk(frames, start, stop))
                if on_progress is not None:
                    on_progress(stop, total)
        writer.close()
        if source is not None and on_progress is not None:
            on_progress(total, total)
        writer = None
        verify_video(temp, binary, frames=total, width=out_w, height=out_h, mode=verify)
        if audio is not None:
            verify_audio(temp)
            result.audio = audio_io.describe(audio, samples, str(fmt.audio_encoder))
        result.path = target.publish(temp, fmt.extension)
        temp = None
        result.size_bytes = result.path.stat().st_size
        result.seconds = time.perf_counter() - started
        logging.getLogger("wan_compat.encode").info("wrote %s (%d frames, %dx%d, %s) in %.1f s", result.path, total, out_w, out_h,
                                                    fmt.name, result.seconds)
        return result
    except OSError as exc:  # our own writes (temp file, metadata file, publish)
        from .paths import os_error

        failure: EncodeError = os_error(exc, target.folder)
        cause: BaseException = exc
    except EncodeError as exc:
        failure, cause = exc, exc
    finally:
        if writer is not None:
            writer.abort()
        remove_quietly(meta_file)
        remove_quietly(audio_file)
        remove_quietly(temp)
    result.seconds = time.perf_counter() - started
    result.problems.append(failure.problem)
    if fallback_targets:
        try:
            result.fallback = write_png_sequence(frames, fallback_targets, fps=fps, reason=failure, fmt=fmt,
                                                 crf=crf, preset=preset, metadata=metadata,
                                                 audio=(audio, samples) if audio is not None else None)
        except EncodeError as fallback_error:
            from ..compat.core.errors import problem

            result.problems.append(problem("ENCODE_FALLBACK_FAILED", fallback_error.detail, folder=str(target.folder)))
    raise EncodeFailed(failure, result) from cause
