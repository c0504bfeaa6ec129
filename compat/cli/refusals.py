"""What the loader would refuse, found by `inspect` and `scan` without loading anything.

Detection says what a model is; people also run `scan` to vet downloads, so these checks add the
loader's refusals as errors: pickles scanned exactly as the loader scans them (never unpickled),
with what they would import; a pickle behind a `.safetensors` or `.sft` name; folders with code,
`auto_map`, foreign component libraries, unknown or path-like slots, weights where none belong,
links that dangle or lead out of the folder. Any parser failure that is not one of the pack's typed
errors becomes INPUT_PARSE_FAILED on that one file (`guarded`), so a hostile file never aborts the
command or its JSON.
"""
from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

from ..core.errors import Problem, WanCompatError, problem
from ..core.regular_file import open_regular

DISGUISE_SUFFIXES = (".safetensors", ".sft")
WEIGHT_LIKE = (".safetensors", ".sft", ".bin", ".pt", ".pth", ".ckpt", ".pkl")
MAX_FOLDER_PICKLES = 64  # a folder with more pickles than this is reported, not scanned file by file


def guarded(path: str | os.PathLike[str], inspect: Callable[[], Any]) -> Any:
    """`inspect()`, or a ModelInfo holding INPUT_PARSE_FAILED when a parser failed untyped."""
    try:
        return inspect()
    except WanCompatError as err:
        info = _empty(path)
        info.add(err.problem)
        return info
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - hostile input must not end the command
        info = _empty(path)
        info.add(problem("INPUT_PARSE_FAILED", f"{Path(path).name}: {type(exc).__name__}: {str(exc)[:200]}"))
        return info


def _empty(path: str | os.PathLike[str]) -> Any:
    from ..detect.model_info import ModelInfo

    return ModelInfo(path=str(path), format="unknown")


def inspect_checked(path: str | os.PathLike[str], detect: Callable[[], Any], policy: Any = None) -> Any:
    """Detection plus refusals, links first: a folder with a link that leads out of it (or dangles)
    is reported without being read, so nothing outside the folder is opened. `policy`: a
    SecurityPolicy, or a function giving one, called only when a pickle or a folder needs it."""
    from ..security.link_rule import link_problem, refused_info

    found = link_problem(path)
    if found is not None:
        return refused_info(path, found)
    return add_refusals(guarded(path, detect), path, policy)


def add_refusals(info: Any, path: str | os.PathLike[str], policy: Any = None) -> Any:
    """`info` with the loader's refusals of `path` added as problems (errors make the exit 1);
    `policy` as in `inspect_checked`."""
    target = Path(path)
    try:
        found = _folder(target, policy) if target.is_dir() else _file(target, policy, target.name)
    except WanCompatError as err:
        found = [err.problem]
    except (Exception, RecursionError) as exc:  # noqa: BLE001
        found = [problem("INPUT_PARSE_FAILED", f"{target.name}: {type(exc).__name__}: {str(exc)[:200]}")]
    if any(p.code in ("PICKLE_UNSAFE_GLOBALS", "PICKLE_NOT_ALLOWED", "PICKLE_MALFORMED", "PICKLE_ARCHIVE_AMBIGUOUS", "DISGUISED_PICKLE") for p in found):
        info.problems = [p for p in info.problems if p.code != "PICKLE_NOT_INSPECTED"]
    for item in found:
        if item.code == "DISGUISED_PICKLE" and any(p.code == "DISGUISED_PICKLE" for p in info.problems):
            info.problems = [p for p in info.problems if p.code != "DISGUISED_PICKLE"]
        info.add(item)
    return info


def _policy(policy: Any) -> Any:
    """The SecurityPolicy `policy` stands for (strict defaults for None), made only when needed:
    the policy is a pydantic model, which a safetensors file never needs."""
    if callable(policy):
        policy = policy()
    if policy is None:
        from ..security.policy import SecurityPolicy

        policy = SecurityPolicy()
    return policy


def _file(path: Path, policy: Any, shown: str) -> list[Problem]:
    """A single file: a pickle is scanned; one behind a safetensors name is called disguised."""
    from ..detect.sniff import sniff

    if not path.is_file():
        return []
    fmt = sniff(path)
    if not fmt.is_pickle:
        return []
    from ..security.pickle_scan import scan_file
    from ..security.pinned import sha256_of

    scan = scan_file(path)
    imports = ", ".join(scan.imports()) or "nothing"
    found: list[Problem] = []
    if path.name.lower().endswith(DISGUISE_SUFFIXES):
        found.append(problem("DISGUISED_PICKLE", f"{shown} is named {path.suffix} but holds a {fmt.value}; it would import {imports}"))
    try:
        scan.raise_if_unsafe()
    except WanCompatError as err:
        found.append(problem(err.code, f"{shown}: {err.detail}", **err.problem.context) if shown != path.name else err.problem)
        return found
    with open_regular(path) as fh:
        digest = sha256_of(fh)
    if not _policy(policy).allows_pickle(digest):
        found.append(problem("PICKLE_NOT_ALLOWED", f"{shown}: sha256 {digest}; it would import {imports}", sha256=digest, path=str(path)))
    return found


def _folder(folder: Path, policy: Any) -> list[Problem]:
    """A model folder: links, slots, code and libraries as the loader decides them, then every
    pickle in it scanned (a hostile pickle in a download is worth an error even where the loader
    would never read it)."""
    from ..core import safe_json
    from ..loading.sources import check_slots
    from ..security import paths
    from ..security.trust import decide_folder_code

    found: list[Problem] = []
    try:
        paths.check_tree(folder, paths.roots_from([folder]))
    except WanCompatError as err:
        return [err.problem]  # links first: nothing behind a link that leads out is read
    index: dict[str, Any] = {}
    if (folder / "model_index.json").is_file():
        try:
            doc = safe_json.load_file(folder / "model_index.json")
            index = doc if isinstance(doc, dict) else {}
        except (OSError, ValueError):
            index = {}  # the detector reports MODEL_INDEX_INVALID
    policy = _policy(policy)
    for check in (lambda: check_slots(folder, index), lambda: decide_folder_code(folder, index, policy)):
        try:
            check()
        except WanCompatError as err:
            found.append(err.problem)
            break  # the loader stops at the first refusal; later checks assume earlier ones passed
    pickles = 0
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            if not name.lower().endswith(WEIGHT_LIKE) or path.is_symlink():
                continue
            pickles += 1
            if pickles > MAX_FOLDER_PICKLES:
                break
            found += [p for p in _file(path, policy, str(path.relative_to(folder))) if p.code != "PICKLE_NOT_ALLOWED"]
    return found
