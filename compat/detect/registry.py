"""The registry of known Wan variants and components, read from `data/registry.json`.

Variants are data (signature, config, requirements); matching is one function that compares a
signature with the facts read from the weights and says which facts decided. Adding a variant means
adding a row to the JSON file, never another branch here.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_DATA = Path(__file__).resolve().parents[1] / "data" / "registry.json"

# Facts named in signatures, and how to say them to a user.
FACT_LABELS = {
    "hidden": "hidden size",
    "in_channels": "input channels",
    "out_channels": "output channels",
    "blocks": "transformer blocks",
    "image_dim": "image-embedder width",
    "flf_pos_embed": "first/last-frame position embedding",
    "vace": "VACE blocks",
    "markers": "special modules",
    "has_image_embedder": "image embedder",
    "per_layer_relative_bias": "per-layer relative attention bias (UMT5)",
    "z_dim": "latent channels",
    "base_dim": "base width",
    "d_model": "width",
    "vocab": "vocabulary",
    "layers": "layers",
    "patch": "patch size",
}


class Variant:
    """One known component variant (a transformer, VAE, text encoder or CLIP vision model)."""

    __slots__ = ("id", "name", "kind", "data")

    def __init__(self, id: str, name: str, kind: str, data: dict[str, Any]) -> None:  # noqa: A002
        self.id, self.name, self.kind, self.data = id, name, kind, data

    def __repr__(self) -> str:
        return f"Variant({self.id!r})"

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def signature(self) -> dict[str, Any]:
        return self.data["signature"]

    @property
    def requires(self) -> dict[str, Any]:
        return self.data.get("requires") or {}


class Match:
    """The outcome of matching facts against every variant of one kind."""

    def __init__(self, candidates: list[Variant], evidence: list[str], closest: Variant | None = None,
                 differences: list[str] | None = None) -> None:
        self.candidates, self.evidence, self.closest = candidates, evidence, closest
        self.differences = differences or []

    @property
    def unique(self) -> Variant | None:
        return self.candidates[0] if len(self.candidates) == 1 else None


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    return json.loads(_DATA.read_text(encoding="utf-8"))


_SECTIONS = {
    "transformer": "transformers",
    "vae": "vaes",
    "text_encoder": "text_encoders",
    "clip_vision": "clip_visions",
}


@lru_cache(maxsize=None)
def variants(kind: str) -> tuple[Variant, ...]:
    return tuple(Variant(row["id"], row["name"], kind, row) for row in _raw()[_SECTIONS[kind]])


def by_id(variant_id: str) -> Variant:
    for kind in _SECTIONS:
        for variant in variants(kind):
            if variant.id == variant_id:
                return variant
    raise KeyError(variant_id)


def naming() -> dict[str, Any]:
    return _raw()["naming"]


def other_families() -> list[dict[str, Any]]:
    return _raw()["other_families"]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(sorted(str(v) for v in value)) or "none"
    return str(value)


def _fact_equal(key: str, expected: Any, found: Any) -> bool:
    if key == "markers":
        return set(expected or ()) == set(found or ())
    return expected == found


def structure_keys(kind: str) -> list[str]:
    """The signature keys that describe layout rather than size (see registry.json)."""
    return list(_raw()["naming"]["structure_keys"][kind])


def match(kind: str, facts: dict[str, Any], keys: list[str] | None = None) -> Match:
    """Every variant of `kind` whose signature agrees with `facts` on every signature field
    (or only on `keys`, e.g. the structure keys, when given).

    A signature without `markers` requires that no special module is present, so an Animate or S2V
    model never passes for plain I2V. When nothing matches, the closest variant (with the same
    special modules, then the fewest differing facts) and those differences are returned, so a
    pruned or custom model is reported against its nearest relative.
    """
    candidates: list[Variant] = []
    best: tuple[tuple[int, int], Variant | None, list[str]] = ((2, 10**6), None, [])
    for variant in variants(kind):
        signature = dict(variant.signature)
        signature.setdefault("markers", [])
        if keys is not None:
            signature = {k: v for k, v in signature.items() if k in keys}
        diffs = [
            f"{FACT_LABELS.get(key, key)}: expected {_fmt(expected)}, found {_fmt(facts.get(key))}"
            for key, expected in signature.items()
            if not _fact_equal(key, expected, facts.get(key))
        ]
        rank = (0 if _fact_equal("markers", signature.get("markers"), facts.get("markers")) else 1, len(diffs))
        if not diffs:
            candidates.append(variant)
        elif rank < best[0]:
            best = (rank, variant, diffs)
    evidence = []
    if candidates:
        keys = [k for k in candidates[0].signature if k != "markers" or facts.get("markers")]
        decided = ", ".join(f"{FACT_LABELS.get(k, k)} {_fmt(facts.get(k))}" for k in keys)
        names = " or ".join(v.name for v in candidates)
        evidence.append(f"{decided} -> {names}")
    return Match(candidates, evidence, closest=None if candidates else best[1], differences=[] if candidates else best[2])


def size_for_hidden(hidden: int | None) -> str | None:
    """Parameter class of a Wan transformer by its hidden size (for marker-only variants)."""
    return {1536: "1.3B", 3072: "5B", 5120: "14B"}.get(hidden or 0)
