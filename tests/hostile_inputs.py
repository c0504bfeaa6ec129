"""Crafted hostile inputs shared by the security tests and the fuzz tests: real bytes on disk,
pickles whose payload would create a canary file (never unpickled here), and an audit-hook witness
of every file the code under test opens."""
from __future__ import annotations

import io
import json
import os
import struct
import sys
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# ---------------------------------------------------------------------------- the open() witness
_OPENED: list[list[str]] = []
_LOCK = threading.Lock()
_INSTALLED = False


def _hook(event: str, args: tuple) -> None:
    if event == "open" and _OPENED and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        with _LOCK:
            for sink in _OPENED:
                sink.append(path)


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path opened (builtins.open, os.open, io.open) while the block runs, by any thread."""
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_hook)  # audit hooks cannot be removed: one for the session, switched by _OPENED
        _INSTALLED = True
    sink: list[str] = []
    with _LOCK:
        _OPENED.append(sink)
    try:
        yield sink
    finally:
        with _LOCK:
            _OPENED.remove(sink)


def opened_inside(opened: list[str], folder: Path) -> list[str]:
    """The opened paths that lie in `folder` (by real path, links resolved)."""
    base = os.path.realpath(folder)
    return [p for p in opened if os.path.realpath(p) == base or os.path.realpath(p).startswith(base + os.sep)]


# ---------------------------------------------------------------------------- pickles
def system_pickle(command: str) -> bytes:
    """Protocol-0 pickle that would call os.system(command) (GLOBAL + REDUCE)."""
    return b"cos\nsystem\n(V" + command.encode() + b"\ntR."


BENIGN_PICKLE = b"\x80\x02}q\x00."  # an empty dict


def torch_zip(members: dict[str, bytes]) -> bytes:
    """A zip laid out like torch.save's, with the given members (names under `archive/`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def two_directories(first: dict[str, bytes], second: dict[str, bytes]) -> bytes:
    """Two complete archives back to back: two central directories, read differently by readers
    that search for the end record from the front or from the back."""
    return torch_zip(first) + torch_zip(second)


# ---------------------------------------------------------------------------- safetensors
def safetensors_bytes(header: dict | str | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path
