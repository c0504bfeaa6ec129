"""Frame tensors already checked in this run: finite, with known bounds, so later stages skip the scan.

Wan Sample checks the frames it decodes (shape, NaN/inf, range); Wan Frame Process and Wan Encode
Video would scan the same tensor again. `mark_checked(tensor, low, high)` records that every value
of the tensor is finite and within [low, high]; `checked_bounds(x)` gives those bounds back while the
tensor is provably unchanged, else None (and the stage scans as before).

Only torch tensors with a version counter are recorded (so the stages that make frames make them
outside `torch.inference_mode`, which ComfyUI runs nodes in: see vae/decode.py), by identity (weakly: a freed tensor's entry goes with it), with
their `_version` (bumped by every in-place torch operation, on the tensor and on every view of it),
`data_ptr()`, shape, strides and dtype: any in-place change, `set_()` or resize invalidates the
entry. A view of a checked tensor (e.g. one video of a batch, `frames[a:b]`) holds a subset of its
values, so it counts as checked too. numpy arrays carry no version counter and are always scanned.
What is not seen: writes through a numpy view of the tensor (`t.numpy()[...] = x`) do not bump
`_version`; ComfyUI nodes must not change their inputs anyway (outputs are cached and shared).
"""
from __future__ import annotations

import threading
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LOCK = threading.Lock()
_ENTRIES: dict[int, tuple[weakref.ref[Any], tuple[Any, ...], float, float]] = {}


def _is_tensor(x: Any) -> bool:
    """A torch tensor with a version counter (inference tensors, made inside torch.inference_mode
    as ComfyUI runs nodes, have none: they are always scanned)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr") and not x.is_inference()


def _state(x: Any) -> tuple[Any, ...]:
    return (x._version, x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.storage_offset(), x.dtype, x.device)


def _forget(key: int) -> None:
    with _LOCK:
        _ENTRIES.pop(key, None)


def mark_checked(x: Any, low: float, high: float) -> bool:
    """Record that every value of tensor `x` is finite and within [low, high]. False for anything
    that cannot be tracked (numpy, tensors that need grad)."""
    if not _is_tensor(x) or getattr(x, "requires_grad", False):
        return False
    key = id(x)
    try:
        ref = weakref.ref(x, lambda _ref, key=key: _forget(key))
    except TypeError:
        return False
    with _LOCK:
        _ENTRIES[key] = (ref, _state(x), float(low), float(high))
    return True


def _lookup(x: Any) -> tuple[float, float] | None:
    with _LOCK:
        entry = _ENTRIES.get(id(x))
    if entry is None:
        return None
    ref, state, low, high = entry
    if ref() is not x or _state(x) != state:
        return None
    return low, high


def checked_bounds(x: Any) -> tuple[float, float] | None:
    """(low, high) if `x` was checked and is unchanged since, or if it only reads memory of a checked,
    unchanged contiguous tensor it shares a version counter with (a view of it, of its base, or its
    base): e.g. one video `frames[a:b]` of a checked batch. Else None."""
    if not _is_tensor(x):
        return None
    found = _lookup(x)
    if found is not None or x.numel() == 0:
        return found
    root = x._base if x._base is not None else x
    storage, first, last = _span(x)
    with _LOCK:
        entries = list(_ENTRIES.values())
    for ref, state, low, high in entries:
        t = ref()
        if t is None or t is x or (t._base if t._base is not None else t) is not root:
            continue  # only views of one base share its version counter: a write through x shows on t
        if t.dtype != x.dtype or t.device != x.device or not t.is_contiguous() or _state(t) != state:
            continue
        t_storage, t_first, t_last = _span(t)
        if t_storage == storage and t_first <= first and last <= t_last:
            return low, high
    return None


def _span(x: Any) -> tuple[int, int, int]:
    """The storage and the first and last element offsets `x` can read."""
    first = x.storage_offset()
    last = first + sum((n - 1) * s for n, s in zip(x.shape, x.stride()) if n > 0)
    return x.untyped_storage().data_ptr(), first, last
