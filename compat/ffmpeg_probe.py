"""Which ffmpeg we would use, its version and the encoders it has.

Shared by `wan-compat doctor`, the diagnose report and the encoders stage, so that all three agree
on the binary and on what "encoder missing" means. The binary bundled with imageio-ffmpeg comes
first (a known static build with libx264, libvpx-vp9, libx265 and AV1); a system ffmpeg on PATH is
the fallback. Probing runs `ffmpeg -version` and `ffmpeg -encoders` once per binary (about 10 ms)
and is cached by path and modification time.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import Problem, problem

PROBE_TIMEOUT_S = 15
# ` V....D libx264   libx264 H.264 ...`: a type letter, five flag columns, the encoder name.
_ENCODER_LINE = re.compile(r"^\s*([VAS])[A-Z.]{5}\s+(\S+)\s")
_VERSION_LINE = re.compile(r"^ffmpeg version (\S+)")


@dataclass(frozen=True)
class FfmpegInfo:
    """What probing found. `path` is None when no ffmpeg could be run (then `error` says why)."""

    path: str | None
    source: str | None  # imageio-ffmpeg | IMAGEIO_FFMPEG_EXE | system | given
    version: str | None = None
    video_encoders: frozenset[str] = field(default_factory=frozenset)
    audio_encoders: frozenset[str] = field(default_factory=frozenset)
    error: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None and self.error is None

    def has_encoder(self, name: str) -> bool:
        return name in self.video_encoders or name in self.audio_encoders

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source": self.source,
            "version": self.version,
            "found": self.found,
            "video_encoders": sorted(self.video_encoders),
            "audio_encoders": sorted(self.audio_encoders),
            "error": self.error,
        }


def candidates() -> list[tuple[str, str]]:
    """(path, source) of every ffmpeg worth trying, best first."""
    found: list[tuple[str, str]] = []
    env_exe = os.environ.get("IMAGEIO_FFMPEG_EXE")
    if env_exe:
        # imageio-ffmpeg itself obeys this variable, so the encoders stage would use it too.
        found.append((env_exe, "IMAGEIO_FFMPEG_EXE"))
    else:
        try:
            import imageio_ffmpeg

            found.append((imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"))
        except (ImportError, RuntimeError):
            pass
    system = shutil.which("ffmpeg")
    if system and all(os.path.realpath(system) != os.path.realpath(p) for p, _ in found):
        found.append((system, "system"))
    return found


def _run(exe: str, *args: str) -> str:
    result = subprocess.run(
        [exe, "-hide_banner", *args],
        capture_output=True,
        timeout=PROBE_TIMEOUT_S,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout.decode("utf-8", "replace")


@lru_cache(maxsize=8)
def _probe_cached(exe: str, source: str, mtime_ns: int) -> FfmpegInfo:
    try:
        version_text = _run(exe, "-version")
        encoders_text = _run(exe, "-encoders")
    except (OSError, subprocess.SubprocessError) as exc:
        return FfmpegInfo(exe, source, error=f"{type(exc).__name__}: {exc}")
    version = next((m.group(1) for line in version_text.splitlines() if (m := _VERSION_LINE.match(line))), None)
    video, audio = set(), set()
    for line in encoders_text.splitlines():
        match = _ENCODER_LINE.match(line)
        if match and match.group(2) != "=":
            (video if match.group(1) == "V" else audio).add(match.group(2))
    return FfmpegInfo(exe, source, version, frozenset(video), frozenset(audio))


def probe_binary(exe: str, source: str = "given") -> FfmpegInfo:
    """Probe one binary; never raises (a binary that does not run gives `error`)."""
    try:
        mtime = os.stat(exe).st_mtime_ns
    except OSError as exc:
        return FfmpegInfo(exe, source, error=f"cannot run {exe}: {exc.strerror or exc}")
    return _probe_cached(exe, source, mtime)


def probe() -> FfmpegInfo:
    """The first candidate that runs; otherwise a not-found result naming every failure."""
    failures: list[str] = []
    for exe, source in candidates():
        info = probe_binary(exe, source)
        if info.found:
            return info
        failures.append(f"{source}: {info.error}")
    return FfmpegInfo(None, None, error="; ".join(failures) or "no ffmpeg bundled with imageio-ffmpeg and none on PATH")


def not_found_problem(info: FfmpegInfo) -> Problem:
    return problem("FFMPEG_NOT_FOUND", info.error or "")


def encoder_problem(encoder: str, info: FfmpegInfo | None = None) -> Problem | None:
    """None when `encoder` is available; otherwise FFMPEG_ENCODER_MISSING (or FFMPEG_NOT_FOUND)."""
    info = info or probe()
    if not info.found:
        return not_found_problem(info)
    if info.has_encoder(encoder):
        return None
    return problem(
        "FFMPEG_ENCODER_MISSING",
        f"{info.path} ({info.source}, ffmpeg {info.version}) lists no encoder named '{encoder}'",
        encoder=encoder,
    )
