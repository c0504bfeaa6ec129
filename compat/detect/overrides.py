"""What the settings force: `advanced.pipeline_overrides` applied to a detector's verdict.

An override names a glob (`match`, against the model's path or its name) and forces the pipeline
class, the registry variant, or both, for a model the detector gets wrong (a fine-tune whose
`model_index.json` names the wrong class, a single file whose name does not say 2.1 or 2.2). It is
applied where detection and loading decide (the Detect node, `inspect`/`scan`, Wan Safe Load), and
the verdict says so (`PIPELINE_CLASS_FORCED`, the evidence line "pipeline class forced by settings",
`forced` in `--json`). A forced class or variant the weights cannot take is refused with what
differs (`PIPELINE_OVERRIDE_UNFIT`), never loaded on trust: the override decides between what the
weights allow, it does not make a T2V transformer take an image.

Detection is layer 1 and cannot read the settings: callers pass the override (anything with
`match`, `pipeline_class` and `variant`, e.g. `settings.PipelineOverride`).
"""
from __future__ import annotations

from . import registry
from ..core.errors import problem
from .model_info import ModelInfo
from .validate import PIPELINE_TASKS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

# Problems a forced choice settles: the class or version the detector could not decide on.
SETTLED_BY_CLASS = ("UNKNOWN_PIPELINE_CLASS", "PIPELINE_CLASS_MISMATCH", "PIPELINE_CLASS_FALLBACK")
SETTLED_BY_VARIANT = ("AMBIGUOUS_VERSION", "VERSION_FROM_HINT")


def override_for(overrides: Sequence[Any], path: str) -> tuple[int, Any] | None:
    """(index, override) of the first override whose glob matches `path` or its name."""
    from fnmatch import fnmatch
    from pathlib import Path

    name = Path(path).name
    for i, item in enumerate(overrides or ()):
        if fnmatch(path, item.match) or fnmatch(name, item.match):
            return i, item
    return None


def apply_overrides(info: ModelInfo, overrides: Sequence[Any]) -> ModelInfo:
    """`info` with the first matching override applied (a new ModelInfo), or `info` itself when
    none matches or it was applied already."""
    found = override_for(overrides, info.path)
    if found is None:
        return info
    index, item = found
    where = f"advanced.pipeline_overrides[{index}] (match {item.match!r})"
    forced = {"by": where, "pipeline_class": item.pipeline_class, "variant": item.variant}
    if getattr(info, "forced", None) == forced:
        return info
    out = info.copy()
    out.forced = forced
    if item.variant:
        _force_variant(out, item.variant, where)
    if item.pipeline_class:
        _force_class(out, item.pipeline_class, where)
    return out


def _transformer_facts(info: ModelInfo) -> dict[str, Any]:
    return dict(info.components.get("transformer") or {})


def _force_variant(info: ModelInfo, variant_id: str, where: str) -> None:
    variant = registry.by_id(variant_id)
    facts = _transformer_facts(info)
    kind = "transformer" if info.kind in ("pipeline", "transformer") else info.kind
    if variant.kind != kind or not facts and kind == "transformer":
        info.add(problem("PIPELINE_OVERRIDE_UNFIT", f"{where} forces {variant.name}, a {variant.kind.replace('_', ' ')}; "
                         f"{info.path} holds a {info.kind.replace('_', ' ')}", setting=where))
        return
    values = facts if kind == "transformer" else dict(info.components.get(kind) or {})
    allowed = registry.match(kind, values).candidates
    if variant not in allowed:
        differences = [d for d in _differences(variant, values)] or ["its signature"]
        info.add(problem("PIPELINE_OVERRIDE_UNFIT", f"{where} forces {variant.name}, but the weights differ: {'; '.join(differences)}",
                         setting=where))
        return
    info.variant, info.candidates = variant.id, [variant.id]
    info.version, info.task, info.size = variant.get("version"), variant.get("task"), variant.get("size")
    if kind == "transformer":
        info.moe = bool(variant.get("moe")) or info.moe
        info.requirements = dict(variant.requires)
        info.pipeline_class = variant.requires.get("pipeline_class") or info.pipeline_class
        info.boundary_ratio = info.boundary_ratio if info.boundary_ratio is not None else variant.requires.get("boundary_ratio")
    info.problems = [p for p in info.problems if p.code not in SETTLED_BY_VARIANT]
    info.evidence.append(f"variant forced by settings: {variant.name} ({where})")
    info.add(problem("PIPELINE_CLASS_FORCED", f"variant forced by settings: {variant.name}", severity="info", setting=where))


def _differences(variant: registry.Variant, values: dict[str, Any]) -> list[str]:
    return [f"{registry.FACT_LABELS.get(k, k)}: {variant.name} has {registry._fmt(v)}, the weights {registry._fmt(values.get(k))}"
            for k, v in variant.signature.items() if not registry._fact_equal(k, v, values.get(k))]


def _force_class(info: ModelInfo, class_name: str, where: str) -> None:
    declared = info.pipeline_class
    if class_name not in PIPELINE_TASKS:
        info.add(problem("PIPELINE_OVERRIDE_UNFIT", f"{where} forces {class_name}, which is not a Wan pipeline diffusers ships "
                         f"({', '.join(PIPELINE_TASKS)})", setting=where))
        return
    if info.kind not in ("pipeline", "transformer"):
        info.add(problem("PIPELINE_OVERRIDE_UNFIT", f"{where} forces {class_name} on a {info.kind.replace('_', ' ')}", setting=where))
        return
    tasks = _possible_tasks(info)
    takes = PIPELINE_TASKS[class_name]
    if tasks is not None and not set(tasks) & set(takes):
        facts = _transformer_facts(info)
        info.add(problem("PIPELINE_OVERRIDE_UNFIT",
                         f"{where} forces {class_name} (runs {'/'.join(takes).upper()}), but the transformer is a "
                         f"{'/'.join(tasks).upper()} model ({facts.get('in_channels')} input channels"
                         f"{', an image embedder' if facts.get('image_dim') else ''})", setting=where))
        return
    info.pipeline_class = class_name
    if tasks is not None and info.task not in takes:
        info.task = next((t for t in tasks if t in takes), info.task)
    info.problems = [p for p in info.problems if p.code not in SETTLED_BY_CLASS]
    was = f"; model_index.json names {declared}" if declared and declared != class_name and info.kind == "pipeline" else ""
    info.evidence.append(f"pipeline class forced by settings: {class_name} ({where}{was})")
    info.add(problem("PIPELINE_CLASS_FORCED", f"pipeline class forced by settings: {class_name}{was}", severity="info", setting=where))


def _possible_tasks(info: ModelInfo) -> list[str] | None:
    """The tasks the transformer's layout allows: its candidates' tasks, or, for a layout no variant
    matches, input channels equal to the output (text/video) or 2z+4 (an image as condition)."""
    tasks = sorted({registry.by_id(v).get("task") for v in info.candidates} - {None})
    if tasks:
        return tasks
    facts = _transformer_facts(info)
    z, channels = facts.get("out_channels"), facts.get("in_channels")
    if not z or not channels:
        return None
    if channels == z:
        return ["t2v", "ti2v"] if z == 48 else ["t2v"]
    if channels == 2 * z + 4:
        return ["flf2v", "i2v"] if facts.get("image_dim") else ["i2v"]
    return None
