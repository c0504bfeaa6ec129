"""Running trusted-but-unreviewed code outside the ComfyUI process, inside bubblewrap.

The sandbox gives the code: no network (every namespace unshared, loopback only inside), no
capabilities, an empty environment (no tokens, no proxy settings, no HOME), read-only views of the
system libraries, the Python installation and the model folder, a private /tmp, and one writable
output folder. Nothing else of the file system is visible: not the home folder, not ComfyUI's
other models, not the settings.

What it does not do: it does not stop the code from using all CPU, memory or GPU time it can get
(a time limit only ends it), it shares the kernel (a kernel exploit escapes it), and whatever the
code writes into the output folder is data the caller must still treat as untrusted. Where
bubblewrap is missing (Windows, macOS, Linux without it or without unprivileged user namespaces)
the code is refused, never run unsandboxed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from ..core.errors import SecurityError

# The only variables passed in; everything else (tokens, proxies, credentials) stays outside.
SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp/home",
    "LANG": "C.UTF-8",
    "PYTHONNOUSERSITE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HOME": "/tmp/hf",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": str(os.cpu_count() or 1),
}
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
PACK_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


@lru_cache(maxsize=1)
def sandbox_status() -> tuple[bool, str]:
    """(available, reason): bubblewrap exists and can create the namespaces it needs here."""
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap exists only on Linux (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not start ({exc})"
    if done.returncode != 0:
        return False, f"bwrap cannot create namespaces here ({done.stderr.decode(errors='replace').strip()[:200]})"
    return True, f"bubblewrap at {bwrap}"


def require_sandbox() -> str:
    available, reason = sandbox_status()
    if not available:
        raise SecurityError("SANDBOX_UNAVAILABLE", reason, reason=reason)
    return shutil.which("bwrap") or "bwrap"


def _python_paths() -> list[str]:
    """What the interpreter and its packages need, read-only: prefixes, site dirs, this pack.

    Not `sys.path` as a whole: under ComfyUI it holds ComfyUI's own folder (user settings, every
    model), which the sandboxed code has no business reading.
    """
    import site
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable), str(PACK_ROOT)}
    paths.update(p for p in sysconfig.get_paths().values() if p)
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    real = {os.path.realpath(p) for p in paths if os.path.exists(p)}
    real |= {p for p in paths if os.path.exists(p)}
    return sorted(real)


def bwrap_argv(
    command: Sequence[str],
    *,
    read_only: Sequence[str | os.PathLike[str]] = (),
    writable: Sequence[str | os.PathLike[str]] = (),
    env: dict[str, str] | None = None,
    bwrap: str = "bwrap",
) -> list[str]:
    """The bubblewrap command line for `command` (paths keep their names inside the sandbox)."""
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL", "--clearenv",
            "--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in [*_python_paths(), *map(str, read_only)]:
        argv += ["--ro-bind", path, path]
    for path in map(str, writable):
        argv += ["--bind", path, path]
    for key, value in {**SAFE_ENV, **(env or {})}.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", "/tmp", "--", *command]
    return argv


def run_sandboxed(
    command: Sequence[str],
    *,
    read_only: Sequence[str | os.PathLike[str]] = (),
    writable: Sequence[str | os.PathLike[str]] = (),
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
    check: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> SandboxResult:
    """Run `command` in the sandbox; SANDBOX_UNAVAILABLE where there is none (never unsandboxed).

    `on_line` is called with each line the command prints, while it runs (progress); whatever it
    raises (an interrupt) ends the sandboxed process and is raised unchanged. `timeout_s` ends it
    either way (SANDBOX_TIMEOUT)."""
    bwrap = require_sandbox()
    argv = bwrap_argv(command, read_only=read_only, writable=writable, env=env, bwrap=bwrap)
    started = time.perf_counter()
    if on_line is None:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout_s, env={}, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise _timed_out(command, timeout_s) from None
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        returncode, stdout, stderr = _streamed(argv, command, timeout_s, on_line)
    result = SandboxResult(returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"),
                           round(time.perf_counter() - started, 3))
    if check and result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip())[-1500:]
        raise SecurityError("SANDBOX_FAILED", f"exit code {result.returncode}: {tail}")
    return result


def _timed_out(command: Sequence[str], timeout_s: float) -> SecurityError:
    what = next((Path(a).name for a in command if str(a).endswith(".py")), " ".join(map(str, command[:3])))
    return SecurityError("SANDBOX_TIMEOUT", f"{what}: stopped after {timeout_s:g} s (security.sandbox_timeout_s)", seconds=timeout_s)


def _streamed(argv: list[str], command: Sequence[str], timeout_s: float, on_line: Callable[[str], None]) -> tuple[int, bytes, bytes]:
    """Run `argv`, handing each stdout line to `on_line` as it comes; (returncode, stdout, stderr)."""
    import selectors
    import tempfile

    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryFile() as errors:  # stderr to a file: a pipe nobody reads could fill and block the child
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, env={})
        out, pending = bytearray(), b""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise _timed_out(command, timeout_s)
                    if not selector.select(timeout=min(left, 1.0)):
                        continue
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_line(line.decode(errors="replace"))
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise _timed_out(command, timeout_s) from None
        finally:
            if process.poll() is None:  # an interrupt, the time limit or an error here: the sandbox ends too
                process.kill()
                process.wait()
            process.stdout.close()
            errors.seek(0)
            stderr = errors.read()
    return process.returncode, bytes(out), stderr


def run_python(
    args: Sequence[str],
    **kwargs: object,
) -> SandboxResult:
    """Run this interpreter (`python -I ...`: isolated mode, no PYTHON* variables) in the sandbox."""
    return run_sandboxed([sys.executable, "-I", *args], **kwargs)  # type: ignore[arg-type]
