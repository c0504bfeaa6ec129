"""Model paths must resolve inside the allowed roots, and every file a model uses is checked.

Allowed roots: ComfyUI's model folders (the node passes them in), `security.extra_model_roots`,
and paths given explicitly on the command line. A path is judged by its real path, so a symlink
inside a model folder that leads to `/etc` or to the home folder is refused; a dangling link or a
directory where a file belongs is refused with its own error. Hugging Face cache snapshots are
links into the repository's `blobs/` folder, so a root given inside `models--org--name/snapshots/`
also admits that repository folder.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

from ..core.errors import SecurityError, UsageError

# Names that are files in a model folder; a directory by one of these names is refused.
FILE_SUFFIXES = (".json", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".py", ".model", ".txt", ".gguf")


def _hf_repo_folder(real: str) -> str | None:
    parts = Path(real).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith(("models--", "datasets--", "spaces--")):
            return str(Path(*parts[:i]))
    return None


def roots_from(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Real paths of the given roots that exist (plus the cache repository folder of a snapshot)."""
    out: list[str] = []
    for path in paths:
        if not str(path).strip():
            continue
        real = os.path.realpath(os.path.expanduser(str(path)))
        if not os.path.exists(real):
            continue
        for candidate in (real, _hf_repo_folder(real)):
            if candidate and candidate not in out:
                out.append(candidate)
    return out


def is_inside(real: str, roots: Iterable[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # different drives on Windows
            continue
    return False


def _outside(path: str, real: str, roots: list[str]) -> SecurityError:
    shown = ", ".join(roots) or "none (no model folder is configured)"
    detail = f"{path} resolves to {real}" if real != path else path
    return SecurityError("PATH_OUTSIDE_ROOTS", detail, path=path, roots=shown)


def _real(path: Path) -> str:
    """The real path; PATH_NOT_FOUND or PATH_DANGLING_LINK when nothing is there."""
    if os.path.lexists(path) and not os.path.exists(path):
        raise SecurityError("PATH_DANGLING_LINK", f"{path} -> {os.readlink(path) if path.is_symlink() else '(a link on its way)'}", path=str(path))
    if not os.path.exists(path):
        raise UsageError("PATH_NOT_FOUND", str(path), path=str(path))
    return os.path.realpath(path)


def resolve_inside(path: str | os.PathLike[str], roots: list[str], *, expect: str) -> Path:
    """The real path of `path`, which must lie inside `roots` and be a `file`, a `folder` or `any`
    of the two."""
    given = Path(os.path.expanduser(str(path)))
    real = _real(given)
    if not is_inside(real, roots):
        raise _outside(str(given), real, roots)
    mode = os.stat(real).st_mode
    if expect == "file" and not stat.S_ISREG(mode):
        raise SecurityError("PATH_NOT_A_FILE", f"{given} is {'a directory' if stat.S_ISDIR(mode) else 'not a regular file'}", path=str(given))
    if expect == "folder" and not stat.S_ISDIR(mode):
        raise SecurityError("PATH_NOT_A_FOLDER", f"{given} is not a directory", path=str(given))
    if expect == "any" and not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise SecurityError("PATH_NOT_A_FILE", f"{given} is not a regular file (device, socket or pipe)", path=str(given))
    return Path(real)


def check_tree(folder: Path, roots: list[str]) -> list[Path]:
    """Every entry under a model folder: links stay inside the roots, nothing dangles, files are
    regular files, and nothing named like a file is a directory. Returns the regular files (by the
    path under `folder`, which is what loaders open)."""
    files: list[Path] = []
    seen: set[str] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        real_dir = os.path.realpath(current)
        if real_dir in seen:
            continue
        seen.add(real_dir)
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            path = Path(entry.path)
            real = _real(path)
            if not is_inside(real, roots):
                raise _outside(str(path), real, roots)
            mode = os.stat(real).st_mode
            if stat.S_ISDIR(mode):
                if entry.name.endswith(FILE_SUFFIXES):
                    raise SecurityError("PATH_NOT_A_FILE", f"{path} is a directory, a file was expected", path=str(path))
                pending.append(path)
            elif stat.S_ISREG(mode):
                files.append(path)
            else:
                raise SecurityError("PATH_NOT_A_FILE", f"{path} is not a regular file (device, socket or pipe)", path=str(path))
    return sorted(files)


def check_model_folder(folder: str | os.PathLike[str], roots: list[str], expected_files: Iterable[str] = ()) -> list[Path]:
    """A diffusers folder: the folder itself, every file under it and each file it must contain."""
    resolve_inside(folder, roots, expect="folder")
    given = Path(os.path.expanduser(str(folder)))
    files = check_tree(given, roots)
    for name in expected_files:
        resolve_inside(given / name, roots, expect="file")
    return files
