"""The bytes that were checked are the bytes that get loaded.

A file is opened once; hashing, scanning and loading all read that one open file (loaders that want
a path get `/proc/self/fd/N`, which names the open inode even if the path is renamed or replaced).
Before and after loading, the file's identity (device, inode, size, mtime, ctime) is compared, so
an in-place rewrite during the load is caught too. Folders loaded by diffusers itself (which opens
files by name) get the same identity check on every file.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..core.errors import SecurityError
from ..core.regular_file import open_regular


@dataclass(frozen=True)
class FileIdentity:
    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str], st: os.stat_result | None = None) -> "FileIdentity":
        st = st or os.stat(path)
        return cls(str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def same_bytes_as(self, other: "FileIdentity") -> bool:
        return (self.device, self.inode, self.size, self.mtime_ns, self.ctime_ns) == (
            other.device, other.inode, other.size, other.mtime_ns, other.ctime_ns
        )


def _changed(path: str, why: str) -> SecurityError:
    return SecurityError("FILE_CHANGED_DURING_LOAD", f"{path}: {why}", path=path)


def sha256_of(fh) -> str:  # type: ignore[no-untyped-def]
    fh.seek(0)
    digest = hashlib.file_digest(fh, "sha256").hexdigest()
    fh.seek(0)
    return digest


class PinnedFile:
    """One model file held open from the first check to the end of its load."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.fh = open_regular(self.path)
        self.identity = FileIdentity.of(self.path, os.fstat(self.fh.fileno()))
        self._sha256: str | None = None

    def __enter__(self) -> "PinnedFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.fh.close()

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def load_path(self) -> str:
        """A path for loaders that need one, naming this open file and no other."""
        proc = f"/proc/self/fd/{self.fh.fileno()}"
        return proc if os.path.exists(proc) else str(self.path)

    def head(self, n: int = 16) -> bytes:
        self.fh.seek(0)
        data = self.fh.read(n)
        self.fh.seek(0)
        return data

    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = sha256_of(self.fh)
        return self._sha256

    def verify_unchanged(self) -> None:
        """Raise FILE_CHANGED_DURING_LOAD when the open file or the name changed since opening."""
        now = FileIdentity.of(self.path, os.fstat(self.fh.fileno()))
        if not now.same_bytes_as(self.identity):
            raise _changed(str(self.path), "the file was modified while it was checked and loaded")
        try:
            by_name = FileIdentity.of(self.path)
        except OSError:
            raise _changed(str(self.path), "the file was removed or renamed during the load") from None
        if not by_name.same_bytes_as(self.identity):
            raise _changed(str(self.path), "the path now names another file than the one checked")


def snapshot(paths: Iterable[str | os.PathLike[str]]) -> list[FileIdentity]:
    return [FileIdentity.of(p) for p in paths]


def verify_snapshot(before: list[FileIdentity]) -> None:
    """Every file still is the file that was checked (for loaders that open files by name)."""
    for old in before:
        try:
            now = FileIdentity.of(old.path)
        except OSError:
            raise _changed(old.path, "the file was removed or renamed during the load") from None
        if not now.same_bytes_as(old):
            raise _changed(old.path, "the file was modified or replaced during the load")
