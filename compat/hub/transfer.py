"""Bytes from the Hub into a partial file beside the target: resumable, locked, hashed as they
arrive, stopped at the first bytes when they are a pickle, never moved into place unverified.

huggingface_hub's `http_get` does the transfer (range requests, retries, its session and proxies);
its own `hf_hub_download` no longer resumes (each try writes a new temporary file and deletes it on
failure), so the partial file, the lock and the checksum are the pack's. The partial file is named
`<name>.<checksum prefix>.partial`: ComfyUI never lists it, and a partial of other bytes (another
revision) is never resumed into this one.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Any, BinaryIO, Callable

from ..core.errors import ModelFileError, SecurityError, UsageError
from ..detect.sniff import FileFormat, sniff_bytes
from .remote import Link, RemoteFile, translated

Progress = Callable[[int], None]  # bytes of this file on disk so far
READ_CHUNK = 8 * 1024 * 1024
LOCK_POLL_S = 0.5


class Cancelled(Exception):
    """The user stopped the download; the partial file stays for the next try."""


def partial_path(target: Path, remote: RemoteFile) -> Path:
    tag = (remote.sha256 or remote.blob_id or "nochecksum")[:16]
    return target.with_name(f"{target.name}.{tag}.partial")


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def expected_digest(remote: RemoteFile) -> str:
    return (remote.sha256 or remote.blob_id or "").lower()


def new_hasher(remote: RemoteFile) -> Any:
    """sha256 for LFS files (the Hub's LFS object id); git's blob sha1 for small files kept in git."""
    if remote.sha256:
        return hashlib.sha256()
    hasher = hashlib.sha1()  # noqa: S324 - git's object id is sha1 of "blob <size>\0<bytes>"
    hasher.update(b"blob %d\x00" % remote.size)
    return hasher


def file_digest(path: Path, remote: RemoteFile, cancel: threading.Event | None = None, limit: int | None = None) -> Any:
    """The hasher over `path`'s first `limit` bytes (all of them when None)."""
    hasher = new_hasher(remote)
    left = os.path.getsize(path) if limit is None else limit
    with open(path, "rb") as fh:
        while left > 0:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            block = fh.read(min(READ_CHUNK, left))
            if not block:
                break
            hasher.update(block)
            left -= len(block)
    return hasher


class Lock:
    """A lock on one target across threads and processes (a hidden `.name.lock` beside it), waited
    for in short steps so a cancel is honoured while another download of the same file runs."""

    def __init__(self, target: Path, cancel: threading.Event | None) -> None:
        from filelock import FileLock

        self._lock, self._cancel = FileLock(str(lock_path(target))), cancel

    def __enter__(self) -> Lock:
        from filelock import Timeout

        while True:
            if self._cancel is not None and self._cancel.is_set():
                raise Cancelled
            try:
                self._lock.acquire(timeout=LOCK_POLL_S)
                return self
            except Timeout:
                continue

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()


class _Sink:
    """The file object `http_get` writes to. It checks the first bytes, counts and honours cancel in
    the download's thread, and hands each chunk to a worker thread that writes and hashes it, so the
    checksum costs no time on top of the transfer (hashlib and file writes release the GIL while the
    next chunk arrives). `http_get`'s rewind (a server that ignored the Range header) waits for the
    worker, then hashes the kept bytes again."""

    QUEUED_CHUNKS = 4  # at most 4 x 10 MiB (huggingface_hub's chunk) waiting in memory

    def __init__(self, fh: BinaryIO, hasher_factory: Callable[[], Any], hasher: Any, progress: Progress | None,
                 cancel: threading.Event | None, sniff_as: str | None) -> None:
        self.fh, self._factory, self.hasher = fh, hasher_factory, hasher
        self._progress, self._cancel, self._sniff_as = progress, cancel, sniff_as
        self._head = b""
        self._position = fh.tell()
        self._error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUED_CHUNKS)
        self._worker = threading.Thread(target=self._drain, name="wan_compat-download-writer", daemon=True)
        self._worker.start()

    def _drain(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:
                    self.fh.write(chunk)
                    self.hasher.update(chunk)
            except BaseException as err:  # noqa: BLE001 - raised again in the download's thread
                self._error = err
            finally:
                self._queue.task_done()

    def _settle(self) -> None:
        """Wait until every chunk handed over is written and hashed; raise what the worker met."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def write(self, chunk: bytes) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled
        if self._error is not None:
            raise self._error
        if self._sniff_as is not None and self._position == len(self._head) and len(self._head) < 16:
            self._head += bytes(chunk[: 16 - len(self._head)])
            if len(self._head) >= 16:
                _check_first_bytes(self._head, self._sniff_as)
        self._queue.put(chunk)
        self._position += len(chunk)
        if self._progress is not None:
            self._progress(self._position)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        self._settle()
        self._position = self.fh.seek(offset, whence)
        return self._position

    def truncate(self, size: int | None = None) -> int:
        self._settle()
        end = self.fh.truncate(size)
        self.hasher, self._head = self._factory(), b""
        self._position = self.fh.tell()
        if self._position:
            self.fh.flush()
            self.hasher = self._rehash(self._position)
        if self._progress is not None:
            self._progress(self._position)
        return end

    def finish(self) -> str:
        """Every byte written and hashed: the hex digest."""
        self._settle()
        self.close()
        return self.hasher.hexdigest()

    def close(self) -> None:
        """Stop the worker (after a failure, what is still queued is dropped: the partial file is a prefix)."""
        if self._worker.is_alive():
            if self._error is None and self._cancel is not None and self._cancel.is_set():
                self._error = Cancelled()
            self._queue.put(None)
            self._worker.join()

    def _rehash(self, length: int) -> Any:
        hasher = self._factory()
        with open(self.fh.name, "rb") as fh:
            while length > 0:
                block = fh.read(min(READ_CHUNK, length))
                hasher.update(block)
                length -= len(block)
        return hasher


def _check_first_bytes(head: bytes, name: str) -> None:
    """A single model file must start as safetensors (or GGUF): a pickle or an archive is stopped here."""
    found = sniff_bytes(head, len(head))
    if found not in (FileFormat.SAFETENSORS, FileFormat.GGUF):
        raise SecurityError("HUB_NOT_A_MODEL_FILE", f"{name}: its first bytes are {found.value} ({head[:8]!r}), not safetensors", path=name)


def require_space(directory: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise UsageError("HUB_DISK_FULL", f"{directory}: {needed} bytes needed, {free} free",
                         name=name, needed=f"{needed:,}", free=f"{free:,}", folder=str(directory))


def _http_get_kwargs() -> dict[str, Any]:
    from huggingface_hub.file_download import http_get

    if "tqdm_class" in inspect.signature(http_get).parameters:
        from huggingface_hub.utils.tqdm import silent_tqdm

        return {"tqdm_class": silent_tqdm}  # progress is the pack's own (CLI bar, ComfyUI dialog)
    return {}


def download(remote: RemoteFile, link: Link, partial: Path, endpoint: str, *, progress: Progress | None = None,
             cancel: threading.Event | None = None, sniff_as: str | None = None) -> Path:
    """Fill `partial` with the remote file's bytes (resuming what it holds) and verify them against
    the Hub's checksum and size. On a mismatch the partial file is removed; on a failure or a
    cancel it stays for the next try. The caller holds the target's lock."""
    from huggingface_hub.file_download import http_get

    resume = partial.stat().st_size if partial.exists() else 0
    if resume > remote.size or (sniff_as is not None and 0 < resume < 16):  # not a usable prefix: start over
        partial.unlink()
        resume = 0
    if sniff_as is not None and resume:
        with open(partial, "rb") as fh:
            head = fh.read(16)
        try:
            _check_first_bytes(head, sniff_as)
        except SecurityError:
            partial.unlink()
            raise
    require_space(partial.parent, remote.size - resume, partial.name)
    factory = lambda: new_hasher(remote)  # noqa: E731
    with open(partial, "r+b" if resume else "w+b") as fh:
        hasher = file_digest(partial, remote, cancel, limit=resume) if resume else factory()
        fh.seek(resume)
        if progress is not None:
            progress(resume)
        sink = _Sink(fh, factory, hasher, progress, cancel, sniff_as if resume == 0 else None)
        name = Path(remote.path).name
        try:
            if resume < remote.size:
                with translated(remote.path, remote.repo, endpoint):
                    http_get(link.url, sink, resume_size=resume, headers=link.headers, expected_size=remote.size,
                             displayed_filename=name, **_http_get_kwargs())
            digest = sink.finish()
        except SecurityError:
            sink.close()
            fh.close()
            partial.unlink(missing_ok=True)
            raise
        except (UsageError, OSError) as err:  # the connection, the disk (ENOSPC), huggingface_hub's size check
            if cancel is not None and cancel.is_set():
                raise Cancelled from None  # a cancel that met a stalled or closed connection is still a cancel
            if isinstance(err, UsageError) and err.code != "HUB_UNREACHABLE":
                raise
            detail = err.detail if isinstance(err, UsageError) else f"{type(err).__name__}: {err}"[:300]
            raise ModelFileError("HUB_DOWNLOAD_FAILED", detail, name=name) from None
        finally:
            sink.close()
        fh.flush()  # no fsync, as huggingface_hub: a file damaged by a crash fails the next get's checksum
        size = fh.tell()
    if size != remote.size or digest != expected_digest(remote):
        partial.unlink(missing_ok=True)
        raise ModelFileError("HUB_CHECKSUM_MISMATCH", f"got {size} bytes, sha {digest[:16]}…; the Hub says {remote.size} bytes, {expected_digest(remote)[:16]}…",
                             path=remote.path)
    return partial
