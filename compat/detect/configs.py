"""Typed reading of `model_index.json` and component configs for detection.

Every config that is read is validated by the pydantic schemas (`schemas.py`): ranges and relations
included (a `latents_std` that is not positive, a negative `flow_shift`), each problem with its JSON
path, so a config that would pass detection and loading and then turn the first step into NaN is
refused here. The fields detection uses are also checked by a light typed reader (`_quick_problems`),
whose findings stand when the schema has nothing to add. pydantic is imported on the first config
read (never for a single file, which carries no config): `benchmarks/schemas.py` measures the cost.
"""
from __future__ import annotations

from ..core import safe_json
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MISSING = object()

# kind -> field -> (types allowed, required)
_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "model_index": {
        "_class_name": ((str,), True),
        "_diffusers_version": ((str,), False),
        "boundary_ratio": ((float, int, type(None)), False),
        "expand_timesteps": ((bool, type(None)), False),
    },
    "transformer": {
        "_class_name": ((str,), False),
        "patch_size": ((list,), True),
        "num_attention_heads": ((int,), True),
        "attention_head_dim": ((int,), True),
        "in_channels": ((int,), True),
        "out_channels": ((int,), True),
        "text_dim": ((int,), True),
        "ffn_dim": ((int,), True),
        "num_layers": ((int,), True),
        "image_dim": ((int, type(None)), False),
        "added_kv_proj_dim": ((int, type(None)), False),
        "pos_embed_seq_len": ((int, type(None)), False),
    },
    "vae": {
        "_class_name": ((str,), False),
        "z_dim": ((int,), False),
        "base_dim": ((int,), False),
        "in_channels": ((int,), False),
        "latents_mean": ((list,), False),
        "latents_std": ((list,), False),
        "scale_factor_spatial": ((int,), False),
        "scale_factor_temporal": ((int,), False),
        "is_residual": ((bool,), False),
    },
    "text_encoder": {"d_model": ((int,), True), "num_layers": ((int,), True), "vocab_size": ((int,), True)},
    "clip_vision": {"hidden_size": ((int,), True), "num_hidden_layers": ((int,), True), "patch_size": ((int,), True)},
    "scheduler": {"_class_name": ((str,), True), "flow_shift": ((float, int, type(None)), False)},
}


class ConfigDoc:
    """A config as read: its fields and the problems found (with JSON paths)."""

    def __init__(self, path: Path, data: dict[str, Any], problems: list[str]) -> None:
        self.path, self.data, self.problems = path, data, problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _quick_problems(kind: str, doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return [f"$: expected a JSON object, got {type(doc).__name__}"]
    problems = []
    for key, (types, required) in _FIELDS.get(kind, {}).items():
        value = doc.get(key, _MISSING)
        if value is _MISSING:
            if required:
                problems.append(f"$.{key}: missing")
        elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problems.append(f"$.{key}: wrong type {type(value).__name__}")
    if kind == "model_index":
        for key, value in doc.items():
            if not key.startswith("_") and isinstance(value, list) and not (
                len(value) == 2 and (all(isinstance(v, str) and v for v in value) or value == [None, None])
            ):
                problems.append(f"$.{key}: not [library, class]")
        ratio = doc.get("boundary_ratio")
        if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and not 0 < ratio < 1:
            problems.append("$.boundary_ratio: out of range")
    if kind == "vae" and isinstance(doc.get("z_dim"), int):
        for key in ("latents_mean", "latents_std"):
            if isinstance(doc.get(key), list) and len(doc[key]) != doc["z_dim"]:
                problems.append(f"$.{key}: length differs from z_dim")
    return problems


def read(kind: str, path: Path) -> ConfigDoc:
    """Read one config and validate it against its schema; the schema's findings (every problem,
    with its JSON path) replace the quick reader's when it has any."""
    try:
        doc = safe_json.load_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return ConfigDoc(path, {}, [f"$: not valid JSON ({exc})"])
    from . import schemas  # here, not at import: only a config read needs pydantic

    problems = schemas.validate(kind, doc) or _quick_problems(kind, doc)
    return ConfigDoc(path, doc if isinstance(doc, dict) else {}, problems)
