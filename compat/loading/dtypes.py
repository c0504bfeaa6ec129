"""Precision: bf16, fp16 or fp32 compute, optional fp8 weight storage, and the modules each library
declares must stay in fp32 kept in fp32.

diffusers keeps `_keep_in_fp32_modules` (Wan: rope, time embedder, modulation tables, norms) in
fp32 for any half dtype when loading a folder, but `from_single_file` honours it only for fp16 and
then casts the whole model; transformers keeps its list for fp16 only (UMT5's `wo` overflows in
fp16, not in bf16). `cast` applies each library's rule after every load, taking fp32 values from
the source tensors so no precision is lost on the way.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..core.errors import ResourceError

DTYPE_NAMES = ("bf16", "fp16", "fp32")
STORAGE_NAMES = ("default", "fp8_e4m3fn", "fp8_e5m2")


def torch_dtype(name: str) -> Any:
    import torch

    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if name not in table:
        raise ResourceError("DTYPE_UNSUPPORTED", f"dtype {name!r}", detail_reason=f"choose one of {', '.join(DTYPE_NAMES)}")
    return table[name]


def storage_dtype(name: str) -> Any:
    """The fp8 storage dtype, or None for `default`; refused where this torch has no fp8."""
    import torch

    if name == "default":
        return None
    if name not in STORAGE_NAMES:
        raise ResourceError("DTYPE_UNSUPPORTED", f"weight storage {name!r}", detail_reason=f"choose one of {', '.join(STORAGE_NAMES)}")
    found = getattr(torch, name.replace("fp8_", "float8_"), None)
    if found is None:
        raise ResourceError("DTYPE_UNSUPPORTED", f"weight storage {name}",
                            detail_reason=f"torch {torch.__version__} has no {name} dtype (fp8 needs torch >= 2.1)")
    return found


def fp32_patterns(model: Any, dtype: Any) -> tuple[str, ...]:
    """Module names that must stay fp32 in `model` at `dtype`, by the rule of its library."""
    import torch

    if dtype == torch.float32:
        return ()
    patterns = list(getattr(model, "_keep_in_fp32_modules_strict", None) or ())
    keep = list(getattr(model, "_keep_in_fp32_modules", None) or ())
    is_diffusers = type(model).__module__.startswith("diffusers.")
    if is_diffusers or dtype == torch.float16:
        patterns += keep
    return tuple(dict.fromkeys(patterns))


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether `name` lies in one of the modules `patterns` names (a path part or a dotted path)."""
    parts = name.split(".")
    return any(p in parts or ("." in p and p in name) for p in patterns)


def cast_targets(model: Any, dtype: Any) -> Iterator[tuple[str, Any, Any, bool]]:
    """(name, tensor, the dtype it must have at `dtype`, kept in fp32) for every floating tensor:
    the rule `cast` applies, shared with the per-run casts of Wan Optimize's plan."""
    import torch

    patterns = fp32_patterns(model, dtype)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_meta or not tensor.is_floating_point():
            continue
        keep = bool(patterns) and matches(name, patterns)
        yield name, tensor, (torch.float32 if keep else dtype), keep


def cast(model: Any, dtype: Any, source: Mapping[str, Any] | None = None) -> list[str]:
    """Cast floating parameters and buffers to `dtype`, except those of the fp32 modules, which
    become (or stay) fp32; returns the names kept in fp32.

    Values of fp32 tensors come from `source` (the state dict that was loaded, in diffusers
    naming) when it has them, so a weight stored in fp32 is never rounded through `dtype` and back.
    Casting tensor by tensor also avoids `model.to(dtype)`, which would cast the fp32 modules too.
    """
    from .fp8 import is_fp8

    kept = []
    for name, tensor, target, keep in cast_targets(model, dtype):
        if keep:
            kept.append(name)
        if tensor.dtype == target or is_fp8(tensor.dtype):  # fp8 is storage, chosen by `materialize`
            continue
        original = source.get(name) if (keep and source is not None) else None
        value = original if original is not None and tuple(original.shape) == tuple(tensor.shape) else tensor.data
        tensor.data = value.to(device=tensor.device, dtype=target)
    return kept


def describe(model: Any) -> dict[str, Any]:
    """dtype -> parameter count, and the bytes the parameters take."""
    counts: dict[str, int] = {}
    nbytes = 0
    for _, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        key = str(tensor.dtype).replace("torch.", "")
        counts[key] = counts.get(key, 0) + tensor.numel()
        nbytes += tensor.numel() * tensor.element_size()
    return {"dtypes": dict(sorted(counts.items(), key=lambda kv: -kv[1])), "parameter_bytes": nbytes,
            "parameters": sum(p.numel() for p in model.parameters())}
