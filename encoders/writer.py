"""The streaming writer: raw RGB frames piped into one ffmpeg process, chunk by chunk.

Frames never touch the disk uncompressed and are never held twice: each chunk is converted to
uint8 in reused buffers (float input) or passed as is (uint8 input) and written to ffmpeg's stdin.
A feeder thread does the pipe writes, so the next chunk is converted while the last one is still
going into the pipe (two converter buffers take turns; neither the write nor numpy holds the GIL).
Odd sizes are padded by ffmpeg (`pad` filter, black, bottom/right), so no frame is cropped and the
caller's array is not copied to grow it.
"""
from __future__ import annotations

import queue
import threading
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
                source: RawFrameFile | None = None) -> list[str]:
    """The whole ffmpeg command line after the binary, for frames on stdin (or in a raw file)."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", _RAW_PIX_FMT[channels], "-s", f"{width}x{height}", "-framerate", f"{fps:.6g}"]
    args += ["-skip_initial_bytes", str(source.offset), "-i", str(source.path)] if source is not None else ["-i", "pipe:0"]
    if metadata_file is not None:
        args += ["-f", "ffmetadata", "-i", str(metadata_file), "-map_metadata", "1"]
    args += ["-map", "0:v:0"]
    out_w, out_h = padded_size(width, height, fmt.align)
    filters = ([f"pad={out_w}:{out_h}:0:0:color=black"] if (out_w, out_h) != (width, height) else []) + list(fmt.filters)
    if filters:
        args += ["-vf", ",".join(filters)]
    return args + fmt.codec_args(crf, preset) + ["-f", fmt.muxer, str(output)]


class VideoWriter:
    """Feeds frames of one size to ffmpeg; `close` waits and raises the typed error if it failed.

    With a `source` file ffmpeg reads the frames itself and `write` is not called.
    """

    def __init__(self, binary: FfmpegInfo, fmt: VideoFormat, output: Path, *, width: int, height: int,
                 channels: int, fps: float, crf: int | None = None, preset: str | None = None,
                 metadata_file: Path | None = None, source: RawFrameFile | None = None, check_finite: bool = True) -> None:
        self.fmt, self.output, self.source = fmt, output, source
        self.check_finite = check_finite  # False: the frames were checked upstream
        self.frame_shape = (height, width, channels)
        self.converter: Uint8Converter | None = None
        self.frames_written = 0
        self._free: queue.Queue[Uint8Converter] = queue.Queue()
        self._work: queue.Queue[tuple[Uint8Converter, Any] | None] = queue.Queue()
        self._feeder: threading.Thread | None = None
        self._error: BaseException | None = None
        args = ffmpeg_args(fmt, width=width, height=height, channels=channels, fps=fps, output=output,
                           crf=crf, preset=preset, metadata_file=metadata_file, source=source)
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
        step = self._converter().frames_per_chunk
        if self._feeder is None:
            self._free.put(self._converter())
            self._free.put(Uint8Converter(self.frame_shape, check_finite=self.check_finite))  # type: ignore[arg-type]
            self._feeder = threading.Thread(target=self._feed, name="ffmpeg-stdin", daemon=True)
            self._feeder.start()
        for start in range(0, frames.shape[0], step):
            self._raise_feeder_error()
            converter = self._free.get()
            try:
                part = converter.convert(frames[start:start + step], self.frames_written)
            except BaseException:
                self._free.put(converter)
                raise
            self._work.put((converter, part.data))
            self.frames_written += part.shape[0]

    def _feed(self) -> None:
        """The feeder thread: each converted chunk into the pipe, then its buffer back for reuse."""
        while True:
            item = self._work.get()
            if item is None:
                return
            converter, data = item
            try:
                if self._error is None:
                    self.process.write(data)
            except BaseException as exc:  # EncodeError from a broken pipe: raised in the caller's thread
                self._error = exc
            finally:
                self._free.put(converter)

    def _raise_feeder_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop_feeder(self) -> None:
        if self._feeder is not None:
            self._work.put(None)
            self._feeder.join()
            self._feeder = None

    def close(self) -> None:
        self._stop_feeder()  # every chunk is in the pipe
        self._raise_feeder_error()
        self.process.finish()

    def abort(self) -> None:
        self.process.abort()  # first: a write blocked on a full pipe returns
        self._stop_feeder()
