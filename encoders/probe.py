"""Reading a written video back: its frame count and size.

Three depths: `index` (the default) reads the container's own index in Python
(`container_probe.py`: sample count, size, every sample inside the file; no process started) and
falls back to `packets` for a layout it does not know; `packets` remuxes the video stream to nowhere (`-c copy -f null`), which
reads every frame packet of the container (a truncated file, a missing index or a lost frame shows)
in ~30 ms for 81 frames at 832x480; `decode` also decodes every frame (~150 ms there), for callers
who want proof that each frame decodes. One frame is one packet for every shipped format (VP9
hidden frames travel inside superframes).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..compat.core.errors import EncodeError
from .ffmpeg_probe import FfmpegInfo

VerifyMode = Literal["index", "packets", "decode"]
_VIDEO_STREAM = re.compile(r"Stream #0:\d+.*?: Video: (\w+).*?, (\d+)x(\d+)[\s,\[]")
_FRAMES = re.compile(r"frame=\s*(\d+)")


@dataclass(frozen=True)
class ProbeResult:
    frames: int
    width: int
    height: int
    codec: str


def probe_video(path: Path | str, binary: FfmpegInfo, *, mode: VerifyMode = "packets") -> ProbeResult:
    """Frame count, size and codec of the first video stream; unreadable is ENCODE_VERIFY_FAILED."""
    args = [str(binary.path), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    args += ["-f", "null", "-"] if mode == "decode" else ["-c", "copy", "-f", "null", "-"]
    try:
        done = subprocess.run(args, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EncodeError("ENCODE_VERIFY_FAILED", f"could not run ffmpeg to read {path} back: {exc}") from exc
    text = done.stderr.decode("utf-8", "replace")
    stream = _VIDEO_STREAM.search(text.split("Stream mapping")[0])
    counts = _FRAMES.findall(text)
    if done.returncode != 0 or stream is None or not counts:
        tail = " | ".join(line.strip() for line in text.splitlines()[-4:] if line.strip())
        raise EncodeError("ENCODE_VERIFY_FAILED", f"{path} cannot be read back (exit {done.returncode}): {tail}")
    return ProbeResult(frames=int(counts[-1]), width=int(stream.group(2)), height=int(stream.group(3)), codec=stream.group(1))


def verify_video(path: Path | str, binary: FfmpegInfo, *, frames: int, width: int, height: int,
                 mode: VerifyMode = "index") -> ProbeResult:
    """Read `path` back and require exactly this frame count and size."""
    found = None
    if mode == "index":
        from .container_probe import read_index

        index = read_index(path)
        found = ProbeResult(frames=index[0], width=index[1], height=index[2], codec="") if index else None
    if found is None:
        found = probe_video(path, binary, mode="decode" if mode == "decode" else "packets")
    if (found.frames, found.width, found.height) != (frames, width, height):
        raise EncodeError("ENCODE_VERIFY_FAILED",
                          f"sent {frames} frames of {width}x{height}, the file holds {found.frames} frames of {found.width}x{found.height}")
    return found


def verify_audio(path: Path | str) -> None:
    """Require the audio track the file was written with (read from the container's index; a
    layout the index reader does not know is taken as written)."""
    from .container_probe import audio_tracks

    if audio_tracks(path) == 0:
        raise EncodeError("ENCODE_VERIFY_FAILED", f"{path} was written with audio, but holds no audio track")
