"""Which ffmpeg we would use, its version and the encoders it has.

Shared by `wan-compat doctor`, the diagnose report and the encoders stage, so that all three agree
on the binary and on what "encoder missing" means. The binary bundled with imageio-ffmpeg comes
first (a known static build with libx264, libvpx-vp9, libx265 and AV1); a system ffmpeg on PATH is
the fallback. Probing runs `ffmpeg -encoders` once per binary (about 10 ms)
and is cached by path and modification time.

When several candidates run, the one with the encoders that matter most wins (`RANKED_ENCODERS`,
compared in order, like VideoHelperSuite ranks binaries); ties go to the earlier candidate, i.e.
imageio-ffmpeg's: it is a pip dependency, so it exists on every OS, and its build is known, while
distribution builds vary (some lack libx264/libx265). The encoders are asked for (`-encoders`)
rather than guessed from `-version` text, where `--disable-libx264` would count as having x264.
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
# The encoders of encoders/formats/*.json in display order (tests keep the two in step).
RANKED_ENCODERS = ("libx264", "libvpx-vp9", "libx265", "libsvtav1", "ffv1", "prores_ks")


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


@lru_cache(maxsize=8)
def _probe_cached(exe: str, source: str, mtime_ns: int) -> FfmpegInfo:
    # One run: `-encoders` lists on stdout, and the banner it prints on stderr carries the version.
    try:
        result = subprocess.run([exe, "-encoders"], capture_output=True, timeout=PROBE_TIMEOUT_S, check=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return FfmpegInfo(exe, source, error=f"{type(exc).__name__}: {exc}")
    banner = result.stderr.decode("utf-8", "replace")
    version = next((m.group(1) for line in banner.splitlines() if (m := _VERSION_LINE.match(line))), None)
    video, audio = set(), set()
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        match = _ENCODER_LINE.match(line)
        if match and match.group(2) != "=":
            (video if match.group(1) == "V" else audio).add(match.group(2))
    if not video:
        return FfmpegInfo(exe, source, error=f"{exe} -encoders listed no video encoder: not an ffmpeg")
    return FfmpegInfo(exe, source, version, frozenset(video), frozenset(audio))


def probe_binary(exe: str, source: str = "given") -> FfmpegInfo:
    """Probe one binary; never raises (a binary that does not run gives `error`)."""
    try:
        mtime = os.stat(exe).st_mtime_ns
    except OSError as exc:
        return FfmpegInfo(exe, source, error=f"cannot run {exe}: {exc.strerror or exc}")
    return _probe_cached(exe, source, mtime)


def rank(info: FfmpegInfo) -> tuple[bool, ...]:
    """Which of RANKED_ENCODERS a binary has, most important first (compared as a tuple)."""
    return tuple(info.has_encoder(name) for name in RANKED_ENCODERS)


def probe() -> FfmpegInfo:
    """The best candidate that runs (see the module text); otherwise a not-found result naming every failure."""
    failures: list[str] = []
    working: list[FfmpegInfo] = []
    for exe, source in candidates():
        info = probe_binary(exe, source)
        if info.found:
            working.append(info)
        else:
            failures.append(f"{source}: {info.error}")
    if working:
        return max(working, key=rank)  # max keeps the first of equals
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
