"""Running ffmpeg as one process that turns every failure into an EncodeError.

Which binary: `encoders.ffmpeg_probe.probe()`, shared with `wan-compat doctor` and the diagnose
report so all agree: imageio-ffmpeg's bundled build (or IMAGEIO_FFMPEG_EXE), else a system ffmpeg,
ranked by the encoders each really has (the module text there says why).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Sequence

from ..compat.core.errors import EncodeError
from .ffmpeg_probe import FfmpegInfo, probe

_F_SETPIPE_SZ = 1031  # Linux fcntl: a 1 MiB pipe means fewer wake-ups per frame
_PIPE_BYTES = 1 << 20


def find_ffmpeg() -> FfmpegInfo:
    """The ffmpeg to use; none that runs is FFMPEG_NOT_FOUND (with install guidance)."""
    info = probe()
    if not info.found:
        raise EncodeError("FFMPEG_NOT_FOUND", info.error or "")
    return info


def describe(info: FfmpegInfo) -> dict[str, object]:
    return {"path": info.path, "source": info.source, "version": info.version}


# stderr text -> catalogue code, checked in order; the first match decides.
_STDERR_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), code) for pattern, code in (
        (r"Unknown encoder|Encoder not found", "FFMPEG_ENCODER_MISSING"),
        (r"No space left on device|File too large|Disk quota exceeded", "ENCODE_DISK_FULL"),
        (r"Read-only file system|Permission denied|Operation not permitted", "ENCODE_TARGET_READ_ONLY"),
        (r"Not a directory|Is a directory|No such file or directory", "ENCODE_TARGET_UNWRITABLE"),
        (r"not divisible by|must be a multiple of", "FFMPEG_ODD_DIMENSION"),
        (r"Unrecognized option|Option not found|Error setting option", "ENCODE_OPTION_UNSUPPORTED"),
    )
)
_ENCODER_NAME = re.compile(r"Unknown encoder '([^']+)'")
_ODD = re.compile(r"(width|height) not divisible by")


def classify_failure(returncode: int | None, stderr: str, *, folder: Path | None = None, encoder: str = "") -> EncodeError:
    """One EncodeError for an ffmpeg run that failed: by signal, then by what ffmpeg said."""
    tail = _tail(stderr)
    context = {"folder": str(folder) if folder else "the output folder", "encoder": encoder or "required"}
    if returncode is not None and returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == getattr(signal, "SIGXFSZ", -1):
            return EncodeError("ENCODE_DISK_FULL", f"ffmpeg was stopped by {name}: the file size limit was reached", **context)
        return EncodeError("ENCODE_FFMPEG_DIED", f"ffmpeg was killed by {name}" + (f"; last output: {tail}" if tail else ""), **context)
    for pattern, code in _STDERR_RULES:
        if match := pattern.search(stderr):
            if code == "FFMPEG_ENCODER_MISSING" and (m := _ENCODER_NAME.search(stderr)):
                context["encoder"] = m.group(1)
            if code == "FFMPEG_ODD_DIMENSION":
                context["dimension"] = m.group(1) if (m := _ODD.search(stderr)) else "size"
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

    def __init__(self, binary: FfmpegInfo, args: Sequence[str], *, folder: Path | None = None,
                 encoder: str = "", env: dict[str, str] | None = None) -> None:
        self.binary, self.folder, self.encoder = binary, folder, encoder
        self._stderr: deque[str] = deque(maxlen=200)
        try:
            self._proc = subprocess.Popen(
                [str(binary.path), *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            raise EncodeError("FFMPEG_NOT_FOUND", f"could not start {binary.path}: {exc}") from exc
        self._reader = threading.Thread(target=self._drain, name="ffmpeg-stderr", daemon=True)
        self._reader.start()
        try:
            import fcntl

            fcntl.fcntl(self._proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]
        except (ImportError, OSError):
            pass

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
