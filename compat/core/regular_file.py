"""Open a model file only when it is a regular file.

A FIFO placed where a model file belongs makes `open()` wait for a writer forever (and a read of a
character device may never end): `inspect`, `scan`, the nodes and ComfyUI's prompt worker would hang
where Cancel cannot reach. So the type is checked before opening (`stat`, which never blocks), the
open itself cannot block (`O_NONBLOCK`: a FIFO swapped in after the check opens at once), and the
open descriptor is checked again (`fstat`) before a byte is read. Where the OS has no
`O_NONBLOCK` (Windows), the open runs in a helper thread and is abandoned after OPEN_TIMEOUT_S.
"""
from __future__ import annotations

import os
import stat
import threading
from typing import BinaryIO

from .errors import SecurityError

OPEN_TIMEOUT_S = 10.0
_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def refuse_unless_regular(path: str | os.PathLike[str], mode: int) -> None:
    """PATH_NOT_A_FILE unless `mode` (from stat) is a regular file's."""
    if not stat.S_ISREG(mode):
        raise SecurityError("PATH_NOT_A_FILE", f"{path} is {_kind(mode)}, a regular file was expected", path=str(path))


def _open_fd(path: str | os.PathLike[str]) -> int:
    if _NONBLOCK:
        return os.open(path, _FLAGS | _NONBLOCK)
    result: list[int | BaseException] = []

    def target() -> None:
        try:
            result.append(os.open(path, _FLAGS))
        except BaseException as exc:  # handed to the caller
            result.append(exc)

    opener = threading.Thread(target=target, name="wan_compat-open", daemon=True)
    opener.start()
    opener.join(OPEN_TIMEOUT_S)
    if not result:
        raise SecurityError("PATH_NOT_A_FILE", f"{path} did not open within {OPEN_TIMEOUT_S:g} s (not a regular file?)", path=str(path))
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`open(path, "rb")` for a regular file; SecurityError PATH_NOT_A_FILE, without blocking, for
    a FIFO, socket, device or directory; OSError as from `open` when nothing is there."""
    refuse_unless_regular(path, os.stat(path).st_mode)
    fd = _open_fd(path)
    try:
        refuse_unless_regular(path, os.fstat(fd).st_mode)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
