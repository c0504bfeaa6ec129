"""What to download: a Hub file (or a whole diffusers repository) and where it goes.

Three ways to name one, all resolved to the same `Source`:
- a name the registry knows (a Comfy-Org file name such as `wan_2.1_vae.safetensors`, or an
  official diffusers folder such as `Wan2.1-T2V-1.3B-Diffusers`): `compat/detect/where_to_get.py`;
- a workflow's `properties.models` entry: only a Hub `resolve` link is taken (any other link is
  shown, never fetched); the registry's official source stands in when the link is not the Hub's;
- `OWNER/REPO[/PATH][@REVISION]` typed by a user.

Names, folders, repositories, paths and revisions are untrusted text: each is checked against a
strict shape here, before anything is asked of the Hub or written to disk.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.errors import UsageError
from ..detect.where_to_get import official, official_source

_DATA = Path(__file__).resolve().parents[1] / "data" / "hub.json"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,254}")
_SEGMENT = re.compile(r"[^\x00-\x1f/\\:*?\"<>|]{1,255}")


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """compat/data/hub.json: the folders downloads go into and what may be fetched."""
    return json.loads(_DATA.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Source:
    """One thing to download: `path` in `repo` at `revision` (path None: the whole diffusers
    repository), to be saved as `name` in the model folder `folder`."""

    repo: str
    path: str | None
    revision: str
    folder: str
    name: str
    origin: str  # registry | workflow | user
    variant: str | None = None  # the registry variant the file must be, when the registry knows it
    url: str | None = None  # the link as the workflow gave it

    @property
    def label(self) -> str:
        return f"{self.repo}{'/' + self.path if self.path else ''}@{self.revision}"

    def to_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "path": self.path, "revision": self.revision, "folder": self.folder, "name": self.name,
                "origin": self.origin, "variant": self.variant, "url": self.url}


def canonical_folder(folder: str) -> str:
    """ComfyUI's current name for a model folder key (`unet` -> `diffusion_models`)."""
    return rules()["canonical"].get(folder, folder)


def check_folder(folder: str) -> str:
    folder = canonical_folder(folder)
    if folder not in rules()["folders"]:
        raise UsageError("HUB_FOLDER_UNSUPPORTED", f"{folder!r}", folder=str(folder)[:64])
    return folder


def plain_name(name: Any) -> str:
    """A model name as ComfyUI lists it (`sub/file.safetensors`): relative, no `..`, no drive."""
    if not isinstance(name, str) or not 0 < len(name) <= 512 or name.startswith(("/", "\\")):
        raise UsageError("HUB_SPEC_INVALID", f"name {str(name)[:80]!r}")
    parts = name.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") or not _SEGMENT.fullmatch(p) for p in parts):
        raise UsageError("HUB_SPEC_INVALID", f"name {name[:80]!r}")
    return "/".join(parts)


def check_path(path: str) -> str:
    """A path inside a repository: relative, no `..`, no control characters."""
    parts = path.split("/")
    if not 0 < len(path) <= 1024 or any(p in ("", ".", "..") or not _SEGMENT.fullmatch(p) for p in parts):
        raise UsageError("HUB_SPEC_INVALID", f"path {path[:80]!r}")
    return path


def check_repo(repo: str, revision: str) -> None:
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise UsageError("HUB_SPEC_INVALID", f"repository {repo[:100]!r}")
    if not _REVISION.fullmatch(revision) or ".." in revision:
        raise UsageError("HUB_SPEC_INVALID", f"revision {revision[:100]!r}")


def refuse_unfetchable(path: str) -> None:
    """Single files must be safetensors or GGUF by name (their first bytes are checked again as they
    arrive): pickles and code are never fetched as model files."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in rules()["single_file_suffixes"]:
        from ..core.errors import SecurityError

        raise SecurityError("HUB_NOT_A_MODEL_FILE", f"{path} (only {', '.join(rules()['single_file_suffixes'])} are fetched as single files)",
                            path=PurePosixPath(path).name)


def from_registry(folder: str, name: str) -> Source | None:
    """The registry's official source for a name in a folder, or None."""
    folder = check_folder(folder)
    found = official_source(folder, name)
    if found is None:
        return None
    repo, path = found
    variant = official(folder, name)
    return Source(repo, path, "main", folder, name, "registry", variant.id if variant is not None else None)


def hub_hosts(endpoint: str) -> set[str]:
    """The hosts a workflow link may name: the Hub's own and the configured endpoint's (a mirror)."""
    hosts = {"huggingface.co", "hf.co"}
    try:
        from huggingface_hub import constants

        hosts |= set(getattr(constants, "HF_URL_HOSTS", ()))
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        pass
    endpoint_host = urlsplit(endpoint).hostname
    if endpoint_host:
        hosts.add(endpoint_host.lower())
    return {h.lower() for h in hosts}


def parse_resolve_url(url: str, endpoint: str) -> tuple[str, str, str] | None:
    """(repo, revision, path) of a Hub `resolve` link of a model repository, or None for any other link."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    endpoint_parts = urlsplit(endpoint)
    secure = parts.scheme == "https" or (parts.scheme == endpoint_parts.scheme and host == (endpoint_parts.hostname or "").lower())
    if not secure or host not in hub_hosts(endpoint) or parts.username or parts.password:
        return None
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if len(segments) < 5 or segments[2] != "resolve" or segments[0] in ("datasets", "spaces", "api"):
        return None
    repo, revision, path = f"{segments[0]}/{segments[1]}", segments[3], "/".join(segments[4:])
    try:
        check_repo(repo, revision)
        check_path(path)
    except UsageError:
        return None
    return repo, revision, path


def from_workflow(folder: str, name: str, url: str | None, endpoint: str) -> Source:
    """A file a workflow misses: its own Hub link, else the registry's official source. A link that
    is not the Hub's is never fetched (HUB_URL_NOT_HUB names it)."""
    folder, name = check_folder(folder), plain_name(name)
    # a diffusers folder is a whole repository: only the registry names one
    parsed = parse_resolve_url(url, endpoint) if url and folder != "diffusers" else None
    if parsed is not None:
        repo, revision, path = parsed
        refuse_unfetchable(path)
        variant = official(folder, name)
        return Source(repo, path, revision, folder, name, "workflow", variant.id if variant is not None else None, url)
    found = from_registry(folder, name)
    if found is not None:
        return found
    if url:
        raise UsageError("HUB_URL_NOT_HUB", url[:300], name=name, url=url[:300], folder=folder)
    raise UsageError("HUB_SOURCE_UNKNOWN", f"{folder}/{name}", name=name, folder=folder)


def registry_folder(name: str) -> str | None:
    """The model folder of a name the registry knows (a Comfy-Org file or an official repository)."""
    for folder in ("diffusers", "diffusion_models", "vae", "text_encoders", "clip_vision"):
        if official(folder, name) is not None and official_source(folder, name) is not None:
            return folder
    return None


def from_spec(spec: str, folder: str | None = None) -> Source:
    """What `wan-compat get SPEC` names: a registry name, OWNER/REPO[@REV] (a diffusers repository)
    or OWNER/REPO/PATH[@REV] (one file). The folder is `folder`, else the registry's, else the
    folder the path's parent folder names (Comfy-Org's `split_files/<folder>/`)."""
    if not isinstance(spec, str) or not spec or len(spec) > 2048:
        raise UsageError("HUB_SPEC_INVALID", repr(spec)[:100])
    if "/" not in spec:
        found_folder = folder or registry_folder(spec)
        found = from_registry(found_folder, spec) if found_folder else None
        if found is None:
            raise UsageError("HUB_SOURCE_UNKNOWN", spec, name=spec[:200], folder=found_folder or "any model folder")
        return found
    body, _, revision = spec.partition("@")
    revision = revision or "main"
    segments = body.strip("/").split("/")
    repo, path = "/".join(segments[:2]), "/".join(segments[2:]) or None
    check_repo(repo, revision)
    if path is None:
        if check_folder(folder or "diffusers") != "diffusers":
            raise UsageError("HUB_SPEC_INVALID", f"{spec}: a whole repository goes into diffusers; name a file for --folder {folder}")
        return Source(repo, None, revision, "diffusers", plain_name(segments[1]), "user")
    check_path(path)
    if folder is None:
        parent = canonical_folder(PurePosixPath(path).parent.name)
        if parent not in rules()["folders"]:
            raise UsageError("HUB_SPEC_INVALID", f"{spec}: say which model folder it goes into (--folder {'|'.join(rules()['folders'])})")
        folder = parent
    folder, name = check_folder(folder), PurePosixPath(path).name
    if folder == "diffusers":
        raise UsageError("HUB_SPEC_INVALID", f"{spec}: diffusers takes a whole repository (OWNER/REPO[@REVISION])")
    refuse_unfetchable(path)
    variant = official(folder, name)
    return Source(repo, path, revision, folder, name, "user", variant.id if variant is not None else None)
