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

from ..compat.core.errors import Problem, problem

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


def _cache_file() -> str:
    base = os.environ.get("WAN_COMPAT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wan-compat")
    return os.path.join(base, "ffmpeg-probe.json")


def _stamp(path: str | None) -> list[Any] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return [path, st.st_mtime_ns, st.st_size] if st else None


def _environment_key() -> dict[str, Any]:
    """What decides the candidates, cheaply: the override variable and the ffmpeg on PATH."""
    return {"env": os.environ.get("IMAGEIO_FFMPEG_EXE"), "system": _stamp(shutil.which("ffmpeg"))}


def _from_disk() -> FfmpegInfo | None:
    """The last probe's answer, if the chosen binary and the environment are unchanged."""
    import json

    try:
        with open(_cache_file(), encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc["key"] != _environment_key() or _stamp(doc["info"]["path"]) != doc["stamp"]:
            return None
        info = doc["info"]
        return FfmpegInfo(info["path"], info["source"], info["version"], frozenset(info["video_encoders"]),
                          frozenset(info["audio_encoders"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _to_disk(info: FfmpegInfo) -> None:
    import json
    import tempfile

    target = _cache_file()
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".ffmpeg-probe.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"key": _environment_key(), "stamp": _stamp(info.path), "info": info.to_dict()}, fh)
        os.replace(tmp, target)
    except OSError:
        pass  # a cache that cannot be written only costs the next run a probe


def probe(use_disk_cache: bool = True) -> FfmpegInfo:
    """The best candidate that runs (see the module text); otherwise a not-found result naming every failure.

    The answer is kept on disk (user cache folder) keyed by the binary's path, size and time and
    by the environment that chooses candidates, so a `wan-compat encode` run does not pay the
    candidate search and `-encoders` run (about 40 ms) each time.
    """
    if use_disk_cache:
        cached = _from_disk()
        if cached is not None:
            return cached
    info = _probe_candidates()
    if use_disk_cache and info.found:
        _to_disk(info)
    return info


def _probe_candidates() -> FfmpegInfo:
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
