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


def is_trackable(x: Any) -> bool:
    """A torch tensor with a version counter (inference tensors, made inside torch.inference_mode
    as ComfyUI runs nodes, have none: they are always scanned)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr") and not x.is_inference()


def tensor_state(x: Any) -> tuple[Any, ...]:
    """What any change of `x` (in place, `set_()`, resize) changes."""
    return (x._version, x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.storage_offset(), x.dtype, x.device)


class TensorMarks:
    """Facts about tensors, by identity (weakly: a freed tensor's entry goes with it), each valid only
    while the tensor is unchanged (`tensor_state`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[weakref.ref[Any], tuple[Any, ...], Any]] = {}

    def _forget(self, key: int) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def mark(self, x: Any, value: Any) -> bool:
        """Record `value` for tensor `x`; False for anything that cannot be tracked (numpy, tensors
        that need grad)."""
        if not is_trackable(x) or getattr(x, "requires_grad", False):
            return False
        key = id(x)
        try:
            ref = weakref.ref(x, lambda _ref, key=key: self._forget(key))
        except TypeError:
            return False
        with self._lock:
            self._entries[key] = (ref, tensor_state(x), value)
        return True

    def get(self, x: Any) -> Any:
        """The value recorded for exactly `x` while it is unchanged, else None."""
        if not is_trackable(x):
            return None
        with self._lock:
            entry = self._entries.get(id(x))
        if entry is None:
            return None
        ref, state, value = entry
        return value if ref() is x and tensor_state(x) == state else None

    def entries(self) -> list[tuple[Any, tuple[Any, ...], Any]]:
        """(tensor, its state when marked, value) for every live entry."""
        with self._lock:
            items = list(self._entries.values())
        return [(t, state, value) for ref, state, value in items if (t := ref()) is not None]


_CHECKED = TensorMarks()


def mark_checked(x: Any, low: float, high: float) -> bool:
    """Record that every value of tensor `x` is finite and within [low, high]. False for anything
    that cannot be tracked (numpy, tensors that need grad)."""
    return _CHECKED.mark(x, (float(low), float(high)))


def checked_bounds(x: Any) -> tuple[float, float] | None:
    """(low, high) if `x` was checked and is unchanged since, or if it only reads memory of a checked,
    unchanged contiguous tensor it shares a version counter with (a view of it, of its base, or its
    base): e.g. one video `frames[a:b]` of a checked batch. Else None."""
    if not is_trackable(x):
        return None
    found = _CHECKED.get(x)
    if found is not None or x.numel() == 0:
        return found
    root = x._base if x._base is not None else x
    storage, first, last = _span(x)
    for t, state, (low, high) in _CHECKED.entries():
        if t is x or (t._base if t._base is not None else t) is not root:
            continue  # only views of one base share its version counter: a write through x shows on t
        if t.dtype != x.dtype or t.device != x.device or not t.is_contiguous() or tensor_state(t) != state:
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
