"""The names and shapes a model of a known config holds, shipped as data for every registry component.

Checking a file against its model needs that model's names and shapes; built on `meta` they cost an
import of diffusers (and, for the text encoder and CLIP, of transformers' modeling code): seconds on
the first native load of a ComfyUI session, which otherwise never imports either. So the shapes of
every registry component (each transformer variant's config, both VAEs, UMT5-XXL, CLIP vision with
and without its projection) are written once by `tools/gen_expected_weights.py` from those very
meta models into `data/expected_weights.json`, and `tests/test_expected_weights.py` rebuilds them
from the installed libraries and compares, so the data never drifts from the code it stands for.
A config that is not there (a custom size from a config folder) is built on `meta` as before.

Stored compactly: a run of identical numbered blocks (`blocks.N.`, `encoder.block.N.`, ...) is one
entry with the block's names and shapes and the count (the first block apart when it differs);
everything keeps the model's own order.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

DATA = Path(__file__).resolve().parents[1] / "data" / "expected_weights.json"
CONTAINERS = ("blocks.", "vace_blocks.", "encoder.block.", "vision_model.encoder.layers.", "encoder.layers.")

Shapes = dict[str, tuple[int, ...]]


def config_key(class_name: str, config: Mapping[str, Any]) -> str:
    """The identity of a model: its class and every config value a constructor reads."""
    public = {k: v for k, v in config.items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps([class_name, public], sort_keys=True, default=str).encode()).hexdigest()[:24]


def _runs(names: list[str], container: str) -> dict[int, list[str]]:
    """index -> names of `container<index>.` in order (only when every such name is well formed)."""
    found: dict[int, list[str]] = {}
    for name in names:
        if not name.startswith(container):
            continue
        index, _, rest = name[len(container):].partition(".")
        if index.isdigit() and rest:
            found.setdefault(int(index), []).append(name)
    return found


def pack(shapes: Shapes) -> list[Any]:
    """`shapes` (in the model's order) as a list of [name, shape] and, for a run of numbered blocks
    whose blocks 1.. are alike, one {"repeat": container, "count", "first", "each"}."""
    names = list(shapes)
    for container in CONTAINERS:
        runs = _runs(names, container)
        if len(runs) < 2 or sorted(runs) != list(range(len(runs))):
            continue
        members = [[(n[len(f"{container}{i}."):], shapes[n]) for n in runs[i]] for i in range(len(runs))]
        if any(m != members[1] for m in members[2:]):
            continue
        start = names.index(runs[0][0])
        block = {n for i in runs for n in runs[i]}
        if names[start:start + len(block)] != [n for i in range(len(runs)) for n in runs[i]]:
            continue  # not one contiguous run in the model's order
        before = {n: shapes[n] for n in names[:start]}
        after = {n: shapes[n] for n in names[start + len(block):]}
        entry = {"repeat": container, "count": len(runs), "each": [[s, list(v)] for s, v in members[1]]}
        if members[0] != members[1]:
            entry["first"] = [[s, list(v)] for s, v in members[0]]
        return pack(before) + [entry] + pack(after)
    return [[n, list(v)] for n, v in shapes.items()]


def unpack(packed: list[Any]) -> Shapes:
    shapes: Shapes = {}
    for item in packed:
        if isinstance(item, dict):
            for index in range(item["count"]):
                rows = item.get("first", item["each"]) if index == 0 else item["each"]
                for suffix, shape in rows:
                    shapes[f"{item['repeat']}{index}.{suffix}"] = tuple(shape)
        else:
            shapes[item[0]] = tuple(item[1])
    return shapes


@lru_cache(maxsize=1)
def _entries() -> dict[str, Any]:
    try:
        return json.loads(DATA.read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError):
        return {}


def lookup(class_name: str, config: Mapping[str, Any]) -> tuple[Shapes, dict[str, str | None]] | None:
    """(names -> shapes, tied names) of a registry component's model, or None for another config."""
    entry = _entries().get(config_key(class_name, config))
    if entry is None or entry.get("class") != class_name:
        return None
    return unpack(entry["weights"]), dict(entry.get("tied", {}))
