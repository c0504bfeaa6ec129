"""The detector's verdict for a load: re-used from Wan Detect Architecture's `model_info` when the
model's files are unchanged since it was made, detected here otherwise, and refused on errors.

Re-using the verdict skips detection only: the path checks, the code checks, the header preflight
and the file-identity snapshot of the loader run either way.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import LoadError, UsageError
from ..detect.detector import ArchitectureDetector
from ..detect.model_info import ModelInfo
from .report import LoadReport


def load_target(model: str | Path | None, model_info: ModelInfo | None) -> Path:
    """The model path to load: `model`, else the path `model_info` describes; both must agree."""
    given = Path(str(model)).expanduser() if model not in (None, "") else None
    if model_info is not None and not isinstance(getattr(model_info, "path", None), str):
        raise UsageError("MODEL_NOT_GIVEN", f"model_info is a {type(model_info).__name__}, not a report of Wan Detect Architecture")
    if given is None:
        if model_info is None:
            raise UsageError("MODEL_NOT_GIVEN")
        return Path(model_info.model_only().path)
    if model_info is not None and os.path.realpath(given) != os.path.realpath(model_info.model_only().path):
        raise UsageError("MODEL_INFO_MISMATCH", f"picked {given}, model_info describes {model_info.model_only().path}")
    return given


def model_verdict(detector: ArchitectureDetector, path: Path, given: ModelInfo | None, report: LoadReport,
                  **parts: Path | None) -> ModelInfo:
    """A new ModelInfo for `path` with `parts` (vae, text_encoder, clip_vision) checked against it.

    With `given` (the Detect node's verdict on `path`), the model is not detected again unless a
    file changed since (then MODEL_INFO_STALE says which); only the parts are inspected. A verdict
    on a pickle (which detection cannot read) is always replaced by one from its loaded tensors."""
    if given is None or given.model_only().format == "pickle":
        report.source["detection"] = "detected" if given is None else "detected from the loaded tensors (model_info describes a pickle)"
        return detector.inspect(path, **parts)
    base = detector.reuse(given)
    if base is given.model_only():
        report.source["detection"] = f"re-used model_info ({len(base.fingerprint or [])} files unchanged since detection)"
        report.allow(str(path), "verdict of Wan Detect Architecture re-used: every file unchanged since detection")
    elif given.model_only().fingerprint is None:
        report.source["detection"] = "detected (model_info carries no fingerprint of its files)"
    else:
        report.source["detection"] = "detected again (model_info was stale)"
    return detector.check_parts(base, **parts)


def refuse_on_errors(info: ModelInfo, report: LoadReport) -> None:
    for item in info.problems:
        report.add_problem(item)
    errors = [p for p in info.problems if p.severity == "error"]
    if errors:
        detail = "; ".join(f"[{p.code}] {p.summary}" + (f" ({p.detail})" if p.detail else "") for p in errors)
        raise LoadError("MODEL_NOT_LOADABLE", detail)


def apply_forced(info: ModelInfo, overrides: Any, report: LoadReport) -> ModelInfo:
    """The verdict with the settings' override applied (detect/overrides.py), said in the load report."""
    from ..detect.overrides import apply_overrides

    info = apply_overrides(info, overrides)
    if info.forced:
        report.source["forced"] = ", ".join(f"{k} {v}" for k, v in info.forced.items() if k != "by" and v) + f" by {info.forced['by']}"
    return info


def variant_transformer_class(info: ModelInfo) -> str | None:
    from ..detect import registry

    return registry.by_id(info.variant).get("transformer_class") if info.variant else None
