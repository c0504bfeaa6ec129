"""The checks of a diffusers folder before anything of it is interpreted: every file path-checked,
then model_index.json read and the folder's code decided (refused, or trusted for the sandbox).
Shared by folder loads and by config sources (which lend only their JSON configs)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import safe_json
from ..core.errors import ModelFileError, WanCompatError
from ..security import paths
from ..security.policy import SecurityPolicy
from ..security.trust import decide_folder_code
from . import sources
from .report import FileRecord, LoadReport


def read_index(folder: Path) -> dict[str, Any]:
    try:
        doc = safe_json.load_file(folder / "model_index.json")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError("MODEL_INDEX_INVALID", f"{folder.name}/model_index.json: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("_class_name"), (str, list)):
        raise ModelFileError("MODEL_INDEX_INVALID", f"{folder.name}/model_index.json: no _class_name")
    return doc


def checked_folder(folder: Path, allowed: list[str], policy: SecurityPolicy, report: LoadReport, role: str) -> tuple[dict[str, Any], list[Path], bool]:
    """Path checks of every file, then code checks of model_index.json and the folder, in that order:
    nothing of the folder is interpreted before its files are known to be where they claim.
    Returns (model_index, files, needs_code); needs_code only for trusted code the policy lets the
    sandbox run."""
    files = paths.check_model_folder(folder, allowed, expected_files=["model_index.json"])
    report.allow(str(folder), f"{role}: {len(files)} files, all inside the allowed roots")
    index = read_index(folder)
    try:
        sources.check_slots(folder, index)
        decision = decide_folder_code(folder, index, policy)
    except WanCompatError as err:
        report.refuse(str(folder), err.summary, err.code)
        raise
    if decision.needs_code:
        for item in decision.review.files:
            report.files.append(FileRecord("code", str(folder / item.path), "python", item.size, item.sha256))
        report.allow(str(folder), "custom code trusted in the settings (sha256 of every code file matches); it runs only in the sandbox")
    else:
        report.allow(str(folder), "no custom code")
    return index, files, decision.needs_code
