"""Name hints: the only way to tell variants apart whose weights are identical.

A Wan 2.1 T2V-14B transformer and one expert of Wan 2.2 T2V-A14B have the same tensor names and
shapes; so do the 480P and 720P I2V models. File and folder names (and safetensors metadata) often
say which one a file is. A hint only ever chooses between candidates the weights allow, and the
report always says that a name, not the weights, decided.
"""
from __future__ import annotations

from pathlib import Path

from . import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .registry import Variant

_SEPARATORS = str.maketrans({"-": ".", "_": ".", " ": ".", "\t": "."})


def normalise(text: str) -> str:
    """Lower-case, with '-', '_' and blanks turned into '.' so 'Wan2_1-T2V' reads 'wan2.1.t2v'."""
    return text.lower().translate(_SEPARATORS)


def name_text(path: Path, metadata: dict[str, str] | None = None, depth: int = 2) -> str:
    """The file name, its nearest folder names and any metadata values, normalised for hint search."""
    parts = [path.name] + [p.name for p in list(path.parents)[:depth]]
    if metadata:
        parts += [f"{k}={v}" for k, v in metadata.items() if len(v) < 200]
    return normalise(" ".join(parts))


def choose(candidates: list[Variant], text: str) -> tuple[list[Variant], list[str]]:
    """Narrow candidates to those whose name hints occur in `text`; returns (kept, hints found)."""
    hits = {v.id: [h for h in v.get("name_hints", []) if h in text] for v in candidates}
    # A `hint_only` variant (same weights as an older, far more common one: Wan 2.2 VACE-Fun) is a
    # candidate only when its name says so; otherwise the common variant stands alone.
    candidates = [v for v in candidates if not v.get("hint_only") or hits[v.id]] or candidates
    kept = [v for v in candidates if hits[v.id]]
    if not kept:
        return candidates, []
    return kept, sorted({h for v in kept for h in hits[v.id]})


def expert_role(text: str) -> str | None:
    """high_noise / low_noise when the name says which Wan 2.2 A14B expert this is: a hint inside
    the name (`high_noise`, QuantStack's `HighNoise`) or a whole word (kijai's `...-A14B-HIGH_fp8`)."""
    names = registry.naming()
    for role, words in names["expert_hints"].items():
        if any(w in text for w in words):
            return role
    tokens = set(text.replace(" ", ".").split("."))
    for role, words in names.get("expert_tokens", {}).items():
        if tokens.intersection(words):
            return role
    return None
