"""Model paths must resolve inside the allowed roots, and every file a model uses is checked.

Allowed roots: ComfyUI's model folders (the node passes them in), `security.extra_model_roots`,
`$WAN_COMPAT_MODEL_ROOTS`, and paths given explicitly on the command line.

A path given by a user (a node input, a command argument) is admitted when its real path lies in a
root, or when it is an entry placed in a root's folder as ComfyUI lists it (the written path lies
under a root, with no `..`): ComfyUI follows such links (models on another disk), and so do we. What
lies *inside* an admitted model folder is judged by real path against the roots plus that folder's
own real path, so a link inside a downloaded folder that leads to `/etc` stays refused. A refused
path is refused before anything is read or even tested for existence, with the same error either
way: the refusal shows only the path as written. A dangling link or a directory where a file belongs
is refused with its own error. Hugging Face cache snapshots are
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


def plain_name(name: object) -> bool:
    """A relative name without `..`, `.`, empty parts, a drive or NUL: what ComfyUI's model lists
    contain. A picked name must be one before it is joined to a model folder."""
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 1024:
        return False
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return False
    return all(p not in ("", ".", "..") for p in name.replace("\\", "/").split("/"))


def inside_folder(folder: str | os.PathLike[str], name: object) -> Path | None:
    """`folder/name` when `name` is plain and the path stays inside `folder` (a link placed in the
    folder is followed, one further down that leads out is not: `admits`); None otherwise. Decided
    before anything is opened or tested for existence."""
    if not plain_name(name):
        return None
    candidate = Path(folder) / str(name)
    return candidate if admits(candidate, roots_from([folder])) else None


def _hf_repo_folder(real: str) -> str | None:
    parts = Path(real).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith(("models--", "datasets--", "spaces--")):
            return str(Path(*parts[:i]))
    return None


def roots_from(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Real paths of the given roots that exist (plus the cache repository folder of a snapshot),
    then each root as written (absolute, normalised) where that differs: ComfyUI lists a link placed
    in a model folder by that name. A real path never passes through a link, so a written form only
    ever matches a path as written (see `admits`)."""
    out: list[str] = []
    written: list[str] = []
    for path in paths:
        if not str(path).strip():
            continue
        real = os.path.realpath(os.path.expanduser(str(path)))
        if not os.path.exists(real):
            continue
        for candidate in (real, _hf_repo_folder(real)):
            if candidate and candidate not in out:
                out.append(candidate)
        if _written(path) is not None:
            written.append(os.path.abspath(os.path.expanduser(str(path))))
    return out + [w for w in dict.fromkeys(written) if w not in out]


def _written(path: str | os.PathLike[str]) -> str | None:
    """The path as written, absolute; None when it climbs with `..` (which a link would bend)."""
    text = os.path.expanduser(str(path))
    if ".." in Path(text).parts:
        return None
    return os.path.abspath(text)


def admits(path: str | os.PathLike[str], roots: list[str]) -> bool:
    """Whether `path` may be opened: its real path is in a root, or it is written under a root and
    its real path lies inside the real path of the entry it is under (a link placed in the model
    folder is followed, a link further down that leads out of that entry is not). Reads no file
    and raises nothing, so it says nothing about whether the path exists."""
    real = os.path.realpath(os.path.expanduser(str(path)))
    if is_inside(real, roots):
        return True
    written = _written(path)
    if written is None:
        return False
    for root in roots:
        if written != root and is_inside(written, [root]):
            entry = os.path.join(root, Path(os.path.relpath(written, root)).parts[0])
            if is_inside(real, [os.path.realpath(entry)]):
                return True
    return False


def is_inside(real: str, roots: Iterable[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # different drives on Windows
            continue
    return False


def _outside(path: str, real: str, roots: list[str]) -> SecurityError:
    """The refusal shows the path as written only: where a link leads, and whether anything is
    there, stay unsaid."""
    shown = ", ".join(roots) or "none (no model folder is configured)"
    return SecurityError("PATH_OUTSIDE_ROOTS", path, path=path, roots=shown)


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
    if not admits(given, roots):
        raise _outside(str(given), "", roots)
    real = _real(given)
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
    shown = roots  # a refusal names the roots as given, never the folder's real path (where a link leads)
    roots = inner_roots(folder, roots)
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
            real = os.path.realpath(path)
            if not is_inside(real, roots):
                raise _outside(str(path), real, shown)
            real = _real(path)
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
    """A diffusers folder: the folder itself, every file under it and each file it must contain.
    Its contents are held to the roots plus the folder's own real path (`inner_roots`)."""
    real = resolve_inside(folder, roots, expect="folder")
    given = Path(os.path.expanduser(str(folder)))
    inner = inner_roots(real, roots)
    files = check_tree(given, roots)
    for name in expected_files:
        path = given / name
        if not is_inside(os.path.realpath(path), inner):
            raise _outside(str(path), "", inner)
        _real(path)
        if not path.is_file():
            raise SecurityError("PATH_NOT_A_FILE", f"{path} is not a regular file", path=str(path))
    return files


def inner_roots(folder_real: str | os.PathLike[str], roots: list[str]) -> list[str]:
    """What the contents of an admitted folder may resolve to: the real roots and the folder's own
    real path (never the written forms: a link inside the folder is judged by where it leads)."""
    real_roots = [r for r in roots if os.path.realpath(r) == r]
    folder = os.path.realpath(folder_real)
    return real_roots + ([folder] if folder not in real_roots else [])
