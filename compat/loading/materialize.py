"""The tensors a model will own, made from the file's tensors one at a time, in their final dtype.

Why here and not after `load_state_dict`: a cast of the whole model afterwards first holds every
tensor twice. Converting each tensor before it is assigned gives each its final dtype at once (the
peak is the final size plus one tensor). The tensors come from `sources.read_state_dict`, which
reads them into memory of their own (`file_read.py`), so after the load nothing depends on the
file: a later write into the file cannot change the model (the README says so). Models loaded by
diffusers itself (folders) map their files; `detach_from_files` copies those tensors.

The dtype each tensor gets (`target`):
- a linear weight the file stores in fp8 stays fp8 (computed in the compute dtype, see `fp8.py`);
- with fp8 weight storage, the linear weights `fp8.storable` allows become fp8;
- tensors of the modules the library keeps in fp32 become fp32 (from the file's values);
- every other floating tensor becomes the compute dtype; integer tensors are copied as they are.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import dtypes, fp8


def target(model: Any, name: str, source_dtype: Any, compute: Any, storage: Any, fp32: tuple[str, ...], linears: Mapping[str, Any]) -> Any:
    """The dtype `name` is held in after the load (see the module doc); `linears`: the linear
    weights that may stay in fp8 (none for models whose own code casts activations to the weight's
    dtype, such as transformers' T5)."""
    import torch

    if not source_dtype.is_floating_point:
        return source_dtype
    if name in linears:
        if fp8.is_fp8(source_dtype):
            return source_dtype
        if storage is not None and fp8.storable(model, name, fp32):
            return storage
    if fp32 and dtypes.matches(name, fp32):
        return torch.float32
    return compute


def private(value: Any, dtype: Any) -> Any:
    """`value` in `dtype`, in memory of its own (a cast to another dtype already is)."""
    out = value.to(dtype=dtype)
    if out.untyped_storage().data_ptr() == value.untyped_storage().data_ptr():
        out = out.clone()
    return out


def converted(value: Any, dtype: Any) -> Any:
    """`value` in `dtype`: the tensor itself when it has that dtype (the readers of this package,
    `sources.read_state_dict` and the GGUF reader, already hand out memory of its own)."""
    return value.to(dtype=dtype)


def materialize(model: Any, tensors: dict[str, Any], compute: Any, storage: Any = None, keep_fp8: bool = True) -> dict[str, Any]:
    """Each tensor of `tensors` (emptied on the way) in its final dtype and memory of its own;
    `keep_fp8`: linear weights may stay (or, with `storage`, become) fp8."""
    fp32 = dtypes.fp32_patterns(model, compute)
    linears = fp8.linear_weights(model) if keep_fp8 else {}
    out: dict[str, Any] = {}
    for name in list(tensors):
        value = tensors.pop(name)
        out[name] = converted(value, target(model, name, value.dtype, compute, storage, fp32, linears))
        del value
    return out


def detach_from_files(model: Any) -> None:
    """After a library's own load (diffusers folders): give every tensor memory of its own."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if not tensor.is_meta:
            tensor.data = private(tensor.data, tensor.dtype)


def store_in_fp8(model: Any, storage: Any, compute: Any) -> int:
    """fp8 weight storage after a library's own load: the storable linear weights become fp8."""
    weights = fp8_storable(model, compute)
    for weight in weights:
        weight.data = weight.data.to(storage)
    return len(weights)


def fp8_storable(model: Any, compute: Any) -> list[Any]:
    """The linear weights fp8 storage would take (not yet fp8), for a per-run cast."""
    fp32 = dtypes.fp32_patterns(model, compute)
    return [m.weight for name, m in fp8.linear_weights(model).items()
            if m.weight.is_floating_point() and not fp8.is_fp8(m.weight.dtype) and fp8.storable(model, name, fp32)]
