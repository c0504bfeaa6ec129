"""What a detection verdict was made from: every file under the model path, with its size and times.

`take(path)` runs before detection reads anything; `changes(path, fingerprint)` says what differs
now (empty: nothing), so a verdict is re-used only for the very files it was made from. A file
whose timestamps are younger than RACY_NS at fingerprint time could be rewritten without its
timestamps changing (coarse filesystem clocks), so for those files the fingerprint also keeps a
digest of what detection reads of them (a safetensors header, a JSON file, the first bytes of
anything else) and `changes` compares that too.

Entries: [relative path, size, mtime_ns, ctime_ns, digest or null]; folders are followed (symlinks
too, each real folder once) and listed as [relative path + "/", -1, 0, 0, null]. A path that cannot
be listed completely (more than MAX_FILES entries, unreadable) gets no fingerprint: never re-used.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from .safetensors_header import MAX_HEADER_BYTES, RACY_NS
from .weights import INDEX_SUFFIX
from ..core.errors import WanCompatError
from ..core.regular_file import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_FILES = 20_000
_SMALL = 64 << 20  # JSON files are hashed whole up to this size
_HEAD = 64 << 10  # other files: detection reads at most their first bytes


def _digest(path: str) -> str:
    """sha256 of the bytes detection reads of `path` (only for files with racy timestamps, so
    hashlib, which loads OpenSSL, is imported only then)."""
    import hashlib

    digest = hashlib.sha256()
    with open_regular(path) as fh:
        if path.endswith(".safetensors"):
            prefix = fh.read(8)
            digest.update(prefix)
            if len(prefix) == 8:
                digest.update(fh.read(min(struct.unpack("<Q", prefix)[0], MAX_HEADER_BYTES)))
        else:
            digest.update(fh.read(_SMALL if path.endswith(".json") else _HEAD))
    return digest.hexdigest()


def _entry(rel: str, full: str, now: int | None) -> list[Any]:
    try:
        st = os.stat(full)
    except OSError:
        return [rel, -2, 0, 0, None]  # a dangling link: its absence is part of the picture
    digest = None
    if now is not None and now - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
        try:
            digest = _digest(full)
        except (OSError, WanCompatError):  # a FIFO or device is refused unopened
            digest = "unreadable"
    return [rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest]


def _listing(path: Path) -> list[tuple[str, str]] | None:
    """(relative name, full path) of every file and folder detection may look at, sorted."""
    if path.is_dir():
        out: list[tuple[str, str]] = []
        seen: set[tuple[int, int]] = set()
        for current, dirs, files in os.walk(path, followlinks=True):
            st = os.stat(current)
            if (st.st_dev, st.st_ino) in seen:
                dirs.clear()
                continue
            seen.add((st.st_dev, st.st_ino))
            rel = os.path.relpath(current, path)
            base = "" if rel == "." else rel + "/"
            if base:
                out.append((base, current))
            out += [(base + name, os.path.join(current, name)) for name in files]
            if len(out) > MAX_FILES:
                return None
        return sorted(out)
    if path.name.endswith(INDEX_SUFFIX):  # the index and the shards beside it
        return sorted((p.name, str(p)) for p in path.parent.iterdir() if not p.is_dir())
    return [(path.name, str(path))]


def take(path: str | os.PathLike[str]) -> list[list[Any]] | None:
    """The fingerprint of `path` now (None when it cannot be listed)."""
    now = time.time_ns()
    try:
        listing = _listing(Path(path))
    except OSError:
        return None
    if listing is None:
        return None
    return [[rel, -1, 0, 0, None] if rel.endswith("/") else _entry(rel, full, now) for rel, full in listing]


def changes(path: str | os.PathLike[str], fingerprint: list[list[Any]] | None) -> list[str]:
    """What differs between `fingerprint` and the files under `path` now; empty when nothing does."""
    if not fingerprint:
        return ["the verdict carries no fingerprint of its files"]
    try:
        listing = _listing(Path(path))
    except OSError as err:
        return [f"{path}: {err.strerror or err}"]
    if listing is None:
        return [f"more than {MAX_FILES} files under {path}"]
    then = {e[0]: e for e in fingerprint}
    now = dict(listing)
    found = [f"{rel}: new" for rel in now if rel not in then]
    found += [f"{rel}: gone" for rel in then if rel not in now]
    for rel, full in now.items():
        old = then.get(rel)
        if old is None or rel.endswith("/"):
            continue
        current = _entry(rel, full, None)
        if current[1:4] != old[1:4]:
            found.append(f"{rel}: modified" if current[1] >= 0 else f"{rel}: unreadable")
        elif old[4] is not None and _safe_digest(full) != old[4]:
            found.append(f"{rel}: rewritten (same size and times)")
    return found


def _safe_digest(full: str) -> str:
    try:
        return _digest(full)
    except (OSError, WanCompatError):
        return "unreadable"
