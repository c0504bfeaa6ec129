"""The streaming writer: raw RGB frames piped into one ffmpeg process, chunk by chunk.

Frames never touch the disk uncompressed and are never held twice: each chunk is converted to
uint8 in reused buffers (float input) or passed as is (uint8 input) and written to ffmpeg's stdin.
Odd sizes are padded by ffmpeg (`pad` filter, black, bottom/right), so no frame is cropped and the
caller's array is not copied to grow it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .convert import Uint8Converter
from .ffmpeg_probe import FfmpegInfo
from .ffmpeg import FFmpegProcess
from .formats import VideoFormat
from .rawfile import RawFrameFile

_RAW_PIX_FMT = {1: "gray", 3: "rgb24", 4: "rgba"}


def padded_size(width: int, height: int, align: int) -> tuple[int, int]:
    return -(-width // align) * align, -(-height // align) * align


def ffmpeg_args(fmt: VideoFormat, *, width: int, height: int, channels: int, fps: float, output: Path,
                crf: int | None, preset: str | None, metadata_file: Path | None = None,
                source: RawFrameFile | None = None, audio_input: list[str] | None = None) -> list[str]:
    """The whole ffmpeg command line after the binary, for frames on stdin (or in a raw file);
    `audio_input` (encoders/audio.py's input arguments) adds an audio stream in the format's codec."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", _RAW_PIX_FMT[channels], "-s", f"{width}x{height}", "-framerate", f"{fps:.6g}"]
    args += ["-skip_initial_bytes", str(source.offset), "-i", str(source.path)] if source is not None else ["-i", "pipe:0"]
    maps = ["-map", "0:v:0"]
    inputs = 1
    if metadata_file is not None:
        args += ["-f", "ffmetadata", "-i", str(metadata_file)]
        maps += ["-map_metadata", str(inputs)]
        inputs += 1
    if audio_input:
        args += audio_input
        maps += ["-map", f"{inputs}:a:0"]
    args += maps
    out_w, out_h = padded_size(width, height, fmt.align)
    filters = ([f"pad={out_w}:{out_h}:0:0:color=black"] if (out_w, out_h) != (width, height) else []) + list(fmt.filters)
    if filters:
        args += ["-vf", ",".join(filters)]
    args += fmt.codec_args(crf, preset) + (fmt.audio_codec_args() if audio_input else [])
    return args + ["-f", fmt.muxer, str(output)]


class VideoWriter:
    """Feeds frames of one size to ffmpeg; `close` waits and raises the typed error if it failed.

    With a `source` file ffmpeg reads the frames itself and `write` is not called.
    """

    def __init__(self, binary: FfmpegInfo, fmt: VideoFormat, output: Path, *, width: int, height: int,
                 channels: int, fps: float, crf: int | None = None, preset: str | None = None,
                 metadata_file: Path | None = None, source: RawFrameFile | None = None, check_finite: bool = True,
                 audio_input: list[str] | None = None) -> None:
        self.fmt, self.output, self.source = fmt, output, source
        self.check_finite = check_finite  # False: the frames were checked upstream
        self.frame_shape = (height, width, channels)
        self.converter: Uint8Converter | None = None
        self.frames_written = 0
        args = ffmpeg_args(fmt, width=width, height=height, channels=channels, fps=fps, output=output,
                           crf=crf, preset=preset, metadata_file=metadata_file, source=source, audio_input=audio_input)
        self.process = FFmpegProcess(binary, args, folder=output.parent, encoder=fmt.encoder, env=fmt.env or None)

    @property
    def chunk_frames(self) -> int:
        return self._converter().frames_per_chunk

    def _converter(self) -> Uint8Converter:
        if self.converter is None:
            self.converter = Uint8Converter(self.frame_shape, check_finite=self.check_finite)  # type: ignore[arg-type]
        return self.converter

    def write(self, frames: Any) -> None:
        """Write a numpy chunk (k, H, W, C) of uint8, or floats in [0, 1] (clipped and rounded)."""
        converter = self._converter()
        for start in range(0, frames.shape[0], converter.frames_per_chunk):
            part = converter.convert(frames[start:start + converter.frames_per_chunk], self.frames_written)
            self.process.write(part.data)
            self.frames_written += part.shape[0]

    def close(self) -> None:
        self.process.finish()

    def abort(self) -> None:
        self.process.abort()
