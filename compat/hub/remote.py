"""The Hub, asked through huggingface_hub only (no hand-written HTTP): the commit a revision is at,
each file's size and checksum at that commit, and the link to download it from.

huggingface_hub decides the endpoint (HF_ENDPOINT: the Hub or a mirror), offline mode
(HF_HUB_OFFLINE) and the token (HF_TOKEN or `hf auth login`); the pack passes none of its own and
stores none. Every answer is checked against the others before a byte is downloaded: the resolve
link must name the pinned commit and carry the same checksum (ETag / X-Linked-Etag) and size
(X-Linked-Size) as the repository's path metadata (the LFS object id, a sha256).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..core.errors import ModelFileError, UsageError, WanCompatError


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository at a pinned commit, with the Hub's own record of its bytes."""

    repo: str
    path: str
    commit: str
    size: int
    sha256: str | None  # the LFS object id (large files)
    blob_id: str | None  # the git blob id (small files kept in git)

    def to_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "path": self.path, "commit": self.commit, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Link:
    """Where to GET a file's bytes, and the headers to send (the token only to Hub hosts)."""

    url: str
    headers: dict[str, str]


def default_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def is_offline() -> bool:
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check() if callable(check) else constants.HF_HUB_OFFLINE)


@contextmanager
def translated(what: str, repo: str, endpoint: str) -> Iterator[None]:
    """huggingface_hub's and the transport's errors as the pack's typed errors."""
    from huggingface_hub import errors

    try:
        yield
    except WanCompatError:
        raise
    except errors.OfflineModeIsEnabled:
        raise UsageError("HUB_OFFLINE", what, name=what, folder="its model folder") from None
    except errors.GatedRepoError:
        raise UsageError("HUB_ACCESS_DENIED", what, repo=repo) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError):
        raise UsageError("HUB_NOT_FOUND", what, what=what) from None
    except errors.HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            raise UsageError("HUB_ACCESS_DENIED", f"{what}: HTTP {status}", repo=repo) from None
        if status == 404:
            raise UsageError("HUB_NOT_FOUND", what, what=what) from None
        raise UsageError("HUB_UNREACHABLE", f"{what}: HTTP {status}", endpoint=endpoint) from None
    except Exception as err:  # the transport (httpx/requests) or the socket: the network is the problem
        if isinstance(err, OSError) or type(err).__module__.split(".")[0] in ("httpx", "httpx2", "requests", "urllib3", "httpcore"):
            raise UsageError("HUB_UNREACHABLE", f"{what}: {type(err).__name__}: {str(err)[:200]}", endpoint=endpoint) from None
        raise


class Hub:
    """The Hub (or the mirror HF_ENDPOINT names), through huggingface_hub's HfApi and file helpers."""

    def __init__(self, endpoint: str | None = None) -> None:
        from huggingface_hub import HfApi

        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.api = HfApi(endpoint=self.endpoint)  # token=None: huggingface_hub's own (HF_TOKEN, `hf auth login`)

    def require_online(self, name: str, folder: str) -> None:
        if is_offline():
            raise UsageError("HUB_OFFLINE", "HF_HUB_OFFLINE is set", name=name, folder=folder)

    def pin(self, repo: str, revision: str) -> str:
        """The commit `revision` (a branch, a tag or a commit) is at now."""
        with translated(f"{repo}@{revision}", repo, self.endpoint):
            sha = self.api.repo_info(repo, revision=revision).sha
        if not isinstance(sha, str) or len(sha) != 40:
            raise ModelFileError("HUB_METADATA_INCONSISTENT", f"{repo}@{revision}: no commit in the answer", path=repo)
        return sha

    def files(self, repo: str, commit: str, paths: list[str]) -> list[RemoteFile]:
        """The given files at `commit` (HUB_NOT_FOUND for any that is not there)."""
        with translated(f"{repo}@{commit[:12]}", repo, self.endpoint):
            found = {e.path: e for e in self.api.get_paths_info(repo, paths, revision=commit)}
        missing = [p for p in paths if p not in found or not hasattr(found[p], "blob_id")]
        if missing:
            raise UsageError("HUB_NOT_FOUND", f"{repo}@{commit[:12]}: {', '.join(missing)}", what=f"{repo}/{missing[0]}")
        return [self._file(repo, commit, found[p]) for p in paths]

    def tree(self, repo: str, commit: str) -> list[RemoteFile]:
        """Every file of the repository at `commit`."""
        with translated(f"{repo}@{commit[:12]}", repo, self.endpoint):
            entries = [e for e in self.api.list_repo_tree(repo, recursive=True, revision=commit) if hasattr(e, "blob_id")]
        return [self._file(repo, commit, e) for e in entries]

    @staticmethod
    def _file(repo: str, commit: str, entry: Any) -> RemoteFile:
        lfs = getattr(entry, "lfs", None)
        sha256 = (lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)) if lfs else None
        return RemoteFile(repo, entry.path, commit, int(entry.size), sha256.lower() if sha256 else None, getattr(entry, "blob_id", None))

    def link(self, remote: RemoteFile) -> Link:
        """The download link at the pinned commit, after the resolve answer agreed with the metadata."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        url = hf_hub_url(remote.repo, remote.path, revision=remote.commit, endpoint=self.endpoint)
        headers = build_hf_headers()
        with translated(f"{remote.repo}/{remote.path}", remote.repo, self.endpoint):
            meta = get_hf_file_metadata(url, headers=headers)
        expected = remote.sha256 or remote.blob_id
        disagree = [f"{label} {got!r} vs {want!r}" for label, got, want in (
            ("commit", meta.commit_hash, remote.commit), ("checksum", (meta.etag or "").lower(), (expected or "").lower()),
            ("size", meta.size, remote.size)) if got != want]
        if disagree or not expected:
            raise ModelFileError("HUB_METADATA_INCONSISTENT", "; ".join(disagree) or "the file has no checksum", path=remote.path)
        location = meta.location or url
        if not _same_origin(url, location):
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}  # a signed CDN link: no token
        return Link(location, headers)


def _same_origin(url: str, location: str) -> bool:
    """The token goes only where the resolve link went (the Hub or the mirror), never to a CDN."""
    a, b = urlsplit(url), urlsplit(location)
    return (a.scheme, (a.hostname or "").lower(), a.port) == (b.scheme, (b.hostname or "").lower(), b.port)
