"""Finding ffmpeg, and running it as one process that turns every failure into an EncodeError.

Which binary: `WAN_COMPAT_FFMPEG` when set (used as given; a broken one is an error, never silently
replaced). Otherwise the candidates are imageio-ffmpeg's binary (it also honours IMAGEIO_FFMPEG_EXE)
and the system `ffmpeg` on PATH, ranked by the encoders each really has (`ffmpeg -encoders`), format
by format in display order: a binary that can write H.264 MP4 beats one that cannot, then VP9 WebM,
and so on. Why this order and this test:
- imageio-ffmpeg comes first on a tie because it is a pip dependency of this pack, so it exists on
  every OS (Windows portable ComfyUI included), and it is a known static build with libx264, libx265,
  libvpx-vp9 and libsvtav1; system builds vary (e.g. distribution "free" builds lack libx264/libx265).
- Asking the binary for its encoders is exact; matching substrings of `ffmpeg -version`, as
  VideoHelperSuite does, counts `--disable-libx264` as having x264.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ..compat.errors import EncodeError

ENV_FFMPEG = "WAN_COMPAT_FFMPEG"
_ENCODER_LINE = re.compile(r"^\s*V[A-Z.]{5}\s+(\S+)", re.MULTILINE)
_F_SETPIPE_SZ = 1031  # Linux fcntl: a 1 MiB pipe means fewer wake-ups per frame
_PIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class FFmpegBinary:
    path: str
    source: str  # env | imageio-ffmpeg | system
    version: str
    encoders: frozenset[str]

    def has(self, encoder: str) -> bool:
        return encoder in self.encoders

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "source": self.source, "version": self.version}


def probe_binary(path: str, source: str) -> FFmpegBinary | None:
    """Run `ffmpeg -encoders` once (the banner on stderr gives the version); None when not a working ffmpeg."""
    try:
        done = subprocess.run([path, "-nostdin", "-encoders"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    listing = done.stdout.decode("utf-8", "replace")
    encoders = frozenset(_ENCODER_LINE.findall(listing))
    if done.returncode != 0 or not encoders:
        return None
    banner = done.stderr.decode("utf-8", "replace").splitlines()
    version = next((line.strip() for line in banner if line.startswith("ffmpeg version")), "")
    return FFmpegBinary(path=path, source=source, version=version, encoders=encoders)


def _candidates() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        import imageio_ffmpeg

        found.append((imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"))
    except Exception:  # not installed, or no binary for this platform
        pass
    system = shutil.which("ffmpeg")
    if system and all(os.path.realpath(system) != os.path.realpath(p) for p, _ in found):
        found.append((system, "system"))
    return found


def rank(binary: FFmpegBinary) -> tuple[bool, ...]:
    """Which shipped formats this binary can write, most important first (compared as a tuple)."""
    from .formats import all_formats

    return tuple(binary.has(fmt.encoder) for fmt in all_formats())


def find_ffmpeg(candidates: Sequence[tuple[str, str]] | None = None) -> FFmpegBinary:
    """The ffmpeg to use (cached per process unless candidates are given)."""
    if candidates is None:
        return _find_cached(os.environ.get(ENV_FFMPEG, ""))
    return _choose(list(candidates))


@lru_cache(maxsize=4)
def _find_cached(env_value: str) -> FFmpegBinary:
    if env_value:
        binary = probe_binary(env_value, "env")
        if binary is None:
            raise EncodeError("ENCODE_FFMPEG_MISSING", f"{ENV_FFMPEG}={env_value} is not a working ffmpeg (it could not be run, or `-encoders` failed)")
        return binary
    return _choose(_candidates())


def _choose(candidates: list[tuple[str, str]]) -> FFmpegBinary:
    probed = [b for b in (probe_binary(path, source) for path, source in candidates) if b is not None]
    if not probed:
        tried = ", ".join(f"{source}: {path}" for path, source in candidates) or "imageio-ffmpeg is not installed and no ffmpeg is on PATH"
        raise EncodeError("ENCODE_FFMPEG_MISSING", f"tried {tried}")
    return max(probed, key=rank)  # max keeps the first of equals: imageio-ffmpeg wins ties


# stderr text -> catalogue code, checked in order; the first match decides.
_STDERR_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), code) for pattern, code in (
        (r"Unknown encoder|Encoder not found", "ENCODE_ENCODER_MISSING"),
        (r"No space left on device|File too large|Disk quota exceeded", "ENCODE_DISK_FULL"),
        (r"Read-only file system|Permission denied|Operation not permitted", "ENCODE_TARGET_READ_ONLY"),
        (r"Not a directory|Is a directory|No such file or directory", "ENCODE_TARGET_UNWRITABLE"),
        (r"not divisible by|must be a multiple of", "ENCODE_BAD_DIMENSIONS"),
        (r"Unrecognized option|Option not found|Error setting option", "ENCODE_OPTION_UNSUPPORTED"),
    )
)
_ENCODER_NAME = re.compile(r"Unknown encoder '([^']+)'")


def classify_failure(returncode: int | None, stderr: str, *, folder: Path | None = None, encoder: str = "") -> EncodeError:
    """One EncodeError for an ffmpeg run that failed: by signal, then by what ffmpeg said."""
    tail = _tail(stderr)
    context = {"folder": str(folder) if folder else "the output folder", "encoder": encoder or "required"}
    if returncode is not None and returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == getattr(signal, "SIGXFSZ", -1):
            return EncodeError("ENCODE_DISK_FULL", f"ffmpeg was stopped by {name}: the file size limit was reached", **context)
        return EncodeError("ENCODE_FFMPEG_DIED", f"ffmpeg was killed by {name}" + (f"; last output: {tail}" if tail else ""), **context)
    for pattern, code in _STDERR_RULES:
        if match := pattern.search(stderr):
            if code == "ENCODE_ENCODER_MISSING" and (m := _ENCODER_NAME.search(stderr)):
                context["encoder"] = m.group(1)
            line = _line_at(stderr, match.start())
            return EncodeError(code, f"ffmpeg exit code {returncode}: {line}" + (f" | ... {tail}" if line not in tail else ""), **context)
    if returncode is None:
        return EncodeError("ENCODE_FFMPEG_DIED", f"the pipe to ffmpeg broke; last output: {tail or '(none)'}", **context)
    return EncodeError("ENCODE_FFMPEG_FAILED", f"ffmpeg exit code {returncode}: {tail or '(no message)'}", **context)


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else None].strip()


def _tail(stderr: str, lines: int = 4) -> str:
    kept = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


class FFmpegProcess:
    """One ffmpeg run fed through stdin. `write` and `finish` raise EncodeError; `abort` never raises.

    stderr is drained by a thread into a bounded buffer, so a chatty encoder can never block the
    pipe, and the last lines are there to explain a failure.
    """

    def __init__(self, binary: FFmpegBinary, args: Sequence[str], *, folder: Path | None = None,
                 encoder: str = "", env: dict[str, str] | None = None) -> None:
        self.binary, self.folder, self.encoder = binary, folder, encoder
        self._stderr: deque[str] = deque(maxlen=200)
        try:
            self._proc = subprocess.Popen(
                [binary.path, *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            raise EncodeError("ENCODE_FFMPEG_MISSING", f"could not start {binary.path}: {exc}") from exc
        self._reader = threading.Thread(target=self._drain, name="ffmpeg-stderr", daemon=True)
        self._reader.start()
        try:
            import fcntl

            fcntl.fcntl(self._proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]
        except (ImportError, OSError):
            pass

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

    def stderr_text(self) -> str:
        return "".join(self._stderr)

    def write(self, data: bytes | memoryview) -> None:
        try:
            self._proc.stdin.write(data)  # type: ignore[union-attr]
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise self._failure(broken=True) from exc

    def finish(self, timeout: float | None = None) -> None:
        """Close stdin and wait; a non-zero exit (or a signal) becomes the matching EncodeError."""
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.abort()
            raise EncodeError("ENCODE_FFMPEG_FAILED", f"ffmpeg did not finish within {timeout} s") from exc
        self._reader.join(timeout=5)
        if self._proc.returncode != 0:
            raise self._failure(broken=False)
        self._close_stderr()

    def _close_stderr(self) -> None:
        try:
            self._proc.stderr.close()  # type: ignore[union-attr]
        except OSError:
            pass

    def _failure(self, *, broken: bool) -> EncodeError:
        try:
            self._proc.wait(timeout=30)  # a broken pipe means ffmpeg is exiting; get its status
        except subprocess.TimeoutExpired:
            self.abort()
        self._reader.join(timeout=5)
        self._close_stderr()
        rc = self._proc.returncode
        return classify_failure(None if (broken and rc == 0) else rc, self.stderr_text(), folder=self.folder, encoder=self.encoder)

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=5)  # the dead process closed its end: the reader sees EOF
        for stream in (self._proc.stdin, self._proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> "FFmpegProcess":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is not None:
            self.abort()
