"""Fetching pipeline code from the Hugging Face Hub: a trusted repository, a pinned commit, and the
network only when the policy allows it.

Everything goes through `huggingface_hub.hf_hub_download` (its cache, its atomic writes, its etag
checks). Without `security.allow_network` the call is made with `local_files_only=True`, so a file
comes from the local cache or not at all. The returned file must lie in the cache snapshot of the
requested commit: a server that answers with another commit is not believed.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Iterable

from ..core.errors import SecurityError, UsageError
from .policy import SecurityPolicy
from .trust import check_repo_revision


def _check_filename(filename: str) -> str:
    path = PurePosixPath(filename)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in filename:
        raise UsageError("USAGE", f"not a file name inside a repository: {filename!r}")
    return str(path)


def fetch_files(
    repo_id: str,
    revision: str,
    filenames: Iterable[str],
    policy: SecurityPolicy,
    *,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: bool | str | None = False,
) -> dict[str, Path]:
    """Download (or take from the cache) files of a trusted repo at a pinned commit.

    `endpoint` is set per call (the Hub by default; a mirror or a test server otherwise). No token
    is sent unless one is passed: pipeline code comes from public repositories.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    commit = check_repo_revision(repo_id, revision, policy)
    out: dict[str, Path] = {}
    for filename in filenames:
        name = _check_filename(filename)
        try:
            local = hf_hub_download(
                repo_id,
                name,
                revision=commit,
                endpoint=endpoint,
                cache_dir=cache_dir,
                local_files_only=not policy.allow_network,
                token=token,
            )
        except LocalEntryNotFoundError:
            if not policy.allow_network:
                raise SecurityError("NETWORK_NOT_ALLOWED", f"{repo_id}@{commit}: {name} is not in the local cache",
                                    repo_id=repo_id, revision=commit, filename=name) from None
            raise SecurityError("HUB_FETCH_FAILED", f"{repo_id}@{commit}: {name}: the endpoint could not be reached") from None
        except (HfHubHTTPError, OSError, ValueError) as exc:
            raise SecurityError("HUB_FETCH_FAILED", f"{repo_id}@{commit}: {name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        path = Path(local)
        if commit not in path.parts:  # the cache keeps each file under snapshots/<the commit the server named>
            raise SecurityError("HUB_FETCH_FAILED", f"{repo_id}: {name} was stored for another commit than {commit} ({path})")
        out[name] = path
    return out
