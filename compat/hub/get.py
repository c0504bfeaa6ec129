"""One download, start to finish: pin the revision, ask the Hub for the file's checksum, download
into a partial file beside the target, verify checksum then header, publish without overwriting,
record it. A diffusers repository is the same, file by file, into a hidden partial folder that is
renamed into place once every file and the folder's own detection have passed.

The caller says where each model folder is (`folder_dir`): `models/<folder>` on the command line,
ComfyUI's own folder (folder_paths) inside the server.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..core.errors import ModelFileError, UsageError
from ..detect.slots import KNOWN_SLOTS
from . import ledger, transfer
from .remote import Hub, RemoteFile
from .sources import Source, rules
from .verify import HeaderCheck, check_header

FolderDir = Callable[[str], Path]  # model folder key -> the directory downloads of that folder go into
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass
class Outcome:
    """What one download did: where the file is, from which commit, and how it was verified."""

    source: Source
    target: Path
    commit: str
    status: str  # downloaded | present
    files: list[dict[str, Any]] = field(default_factory=list)
    check: HeaderCheck | None = None
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "target": str(self.target), "commit": self.commit, "status": self.status,
                "files": self.files, "check": self.check.to_dict() if self.check else None, "skipped": self.skipped,
                "bytes": self.bytes, "seconds": round(self.seconds, 3)}

    def text(self) -> str:
        lines = [f"{self.status}: {self.target}", f"  from {self.source.repo}@{self.commit} ({self.source.origin}: {self.source.label})"]
        for f in self.files[:8]:
            lines.append(f"  verified {f['path']}: {f['size']:,} bytes, {f['algorithm']} {f['digest']} = the Hub's")
        if len(self.files) > 8:
            lines.append(f"  ... and {len(self.files) - 8} more files, each verified the same way")
        if self.check is not None:
            lines.append(f"  {self.check.text()}")
        if self.skipped:
            lines.append(f"  not fetched: {', '.join(self.skipped[:6])}{' ...' if len(self.skipped) > 6 else ''}")
        return "\n".join(lines)


def _verified(remote: RemoteFile) -> dict[str, Any]:
    return {"path": remote.path, "size": remote.size, "algorithm": "sha256" if remote.sha256 else "git-sha1",
            "digest": transfer.expected_digest(remote)}


def _same_bytes(path: Path, remote: RemoteFile, cancel: threading.Event | None) -> bool:
    return path.is_file() and path.stat().st_size == remote.size and \
        transfer.file_digest(path, remote, cancel).hexdigest() == transfer.expected_digest(remote)


def _publish(partial: Path, target: Path, remote: RemoteFile, cancel: threading.Event | None) -> None:
    """Link the verified partial into place; a file that appeared meanwhile is never replaced."""
    try:
        os.link(partial, target)
    except FileExistsError:
        if not _same_bytes(target, remote, cancel):
            raise UsageError("HUB_TARGET_EXISTS", f"{target.name}: the file in place differs from {remote.repo}/{remote.path}",
                             target=str(target)) from None
    except OSError:  # a file system without hard links: rename, after looking once more
        if target.exists():
            raise UsageError("HUB_TARGET_EXISTS", target.name, target=str(target)) from None
        os.rename(partial, target)
        return
    partial.unlink()


def get(source: Source, folder_dir: FolderDir, *, hub: Hub | None = None, progress: Progress | None = None,
        cancel: threading.Event | None = None, user_dir: str | os.PathLike[str] | None = None, with_code: bool = False) -> Outcome:
    """Download `source` verified into its model folder; see the module docstring. `with_code` (a
    diffusers repository, for `wan-compat trust --fetch`) also fetches its Python files, for review:
    they never run unless the user trusts their sha256, and then only in the sandbox."""
    hub = hub or Hub()
    hub.require_online(source.name, source.folder)
    started = time.perf_counter()
    commit = hub.pin(source.repo, source.revision)
    if source.path is None:
        outcome = _folder(source, commit, folder_dir(source.folder), hub, progress, cancel, with_code)
    else:
        outcome = _file(source, commit, folder_dir(source.folder), hub, progress, cancel)
    outcome.seconds = time.perf_counter() - started
    if outcome.status == "downloaded":
        ledger.record([{"repo": source.repo, "revision": source.revision, "commit": commit, "path": f["path"],
                        "size": f["size"], f["algorithm"]: f["digest"], "target": str(outcome.target)} for f in outcome.files], user_dir)
    return outcome


def _file(source: Source, commit: str, directory: Path, hub: Hub, progress: Progress | None,
          cancel: threading.Event | None) -> Outcome:
    assert source.path is not None
    remote = hub.files(source.repo, commit, [source.path])[0]
    target = directory / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(source, target, commit, "present", [_verified(remote)])
    try:
        with transfer.Lock(target, cancel):
            if target.exists():
                if not _same_bytes(target, remote, cancel):
                    raise UsageError("HUB_TARGET_EXISTS", f"{target.name}: other bytes than {remote.repo}/{remote.path}@{commit[:12]}",
                                     target=str(target))
                return outcome
            link = hub.link(remote)
            partial = transfer.partial_path(target, remote)
            report = (lambda done: progress(done, remote.size)) if progress else None
            transfer.download(remote, link, partial, hub.endpoint, progress=report, cancel=cancel, sniff_as=source.name)
            try:
                outcome.check = check_header(partial, source)
            except ModelFileError:
                partial.unlink(missing_ok=True)
                raise
            _publish(partial, target, remote, cancel)
    except transfer.Cancelled:
        raise ModelFileError("HUB_DOWNLOAD_CANCELLED", source.name, name=source.name) from None
    outcome.status, outcome.bytes = "downloaded", remote.size
    return outcome


def _wanted(remote: RemoteFile, with_code: bool = False) -> bool:
    """A diffusers repository's files the pack fetches: model_index.json and the known slots'
    weights (safetensors), configs and tokenizer files; never pickles; Python files only for review."""
    parts = PurePosixPath(remote.path).parts
    suffix = PurePosixPath(remote.path).suffix.lower()
    if with_code and suffix == ".py":
        return True
    if suffix not in rules()["folder_suffixes"]:
        return False
    return remote.path == "model_index.json" or (len(parts) == 2 and parts[0] in KNOWN_SLOTS)


def _fetch_into(remote: RemoteFile, final: Path, hub: Hub, report: Callable[[int], None] | None,
                cancel: threading.Event | None) -> None:
    """One file of a repository, verified, into `final` (through its partial file beside it)."""
    partial = transfer.partial_path(final, remote)
    sniff = remote.path if remote.path.endswith(".safetensors") else None
    transfer.download(remote, hub.link(remote), partial, hub.endpoint, progress=report, cancel=cancel, sniff_as=sniff)
    _publish(partial, final, remote, cancel)


def _folder(source: Source, commit: str, directory: Path, hub: Hub, progress: Progress | None,
            cancel: threading.Event | None, with_code: bool) -> Outcome:
    every = hub.tree(source.repo, commit)
    wanted = sorted((r for r in every if _wanted(r, with_code)), key=lambda r: (r.path == "model_index.json", r.path))
    if not wanted or wanted[-1].path != "model_index.json":
        raise UsageError("HUB_NOT_FOUND", f"{source.repo}@{commit[:12]}: no model_index.json", what=f"{source.repo}/model_index.json")
    unverifiable = [r.path for r in wanted if r.path.endswith(".safetensors") and not r.sha256]
    if unverifiable:
        raise ModelFileError("HUB_METADATA_INCONSISTENT", f"no LFS checksum for {', '.join(unverifiable[:3])}", path=unverifiable[0])
    target = directory / source.name
    outcome = Outcome(source, target, commit, "present", [_verified(r) for r in wanted],
                      skipped=sorted(r.path for r in every if not _wanted(r, with_code)))
    total = sum(r.size for r in wanted)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with transfer.Lock(target, cancel):
            # a folder already in place is completed file by file (nothing in it is replaced);
            # a new one is filled in a hidden partial folder and renamed into place when all passed
            into = target if target.exists() else directory / f".{source.name}.{commit[:12]}.partial"
            added, done_before = [], 0
            for remote in wanted:
                final = into / remote.path
                if final.exists():
                    if into == target and not _same_bytes(final, remote, cancel):
                        raise UsageError("HUB_TARGET_EXISTS", f"{target.name}/{remote.path} differs from {source.repo}@{commit[:12]}", target=str(final))
                else:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    report = (lambda done, o=done_before: progress(o + done, total)) if progress else None
                    _fetch_into(remote, final, hub, report, cancel)
                    added.append((final, remote))
                done_before += remote.size
            if into == target and not added:
                return outcome
            try:
                outcome.check = check_header(into, source)
            except ModelFileError:
                for path, _ in added if into == target else []:
                    path.unlink(missing_ok=True)
                if into != target:
                    shutil.rmtree(into, ignore_errors=True)
                raise
            if into != target:
                try:
                    os.rename(into, target)
                except OSError:
                    raise UsageError("HUB_TARGET_EXISTS", target.name, target=str(target)) from None
    except transfer.Cancelled:
        raise ModelFileError("HUB_DOWNLOAD_CANCELLED", source.name, name=source.name) from None
    outcome.status, outcome.bytes = "downloaded", sum(r.size for _, r in added)
    outcome.files = [_verified(r) for _, r in added]
    return outcome
