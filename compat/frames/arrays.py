"""Frame arrays as the stages see them (numpy or torch, (F, H, W, C)): type tests, chunking, and the
NaN/inf and range scans, done chunk by chunk so no full-size temporary is made."""
from __future__ import annotations

from typing import Any, Iterator

from ..core.errors import FrameError

CHUNK_BYTES = 16 << 20
CHANNELS = (1, 3, 4)
# Frames scanned for NaN/inf and for their range since start-up (or `reset_scan_counts()`): a video
# checked once per run adds its frame count once to each (see checked.py).
SCAN_COUNTS = {"nan_frames": 0, "range_frames": 0}


def reset_scan_counts() -> dict[str, int]:
    """The counts so far, then zero."""
    before = dict(SCAN_COUNTS)
    for key in SCAN_COUNTS:
        SCAN_COUNTS[key] = 0
    return before


def is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def is_float(x: Any) -> bool:
    if is_torch(x):
        return bool(x.is_floating_point())
    return getattr(getattr(x, "dtype", None), "kind", "") == "f"


def is_uint8(x: Any) -> bool:
    return str(getattr(x, "dtype", "")).endswith("uint8")


def numpy_chunk(x: Any, start: int, stop: int) -> Any:
    """Frames [start:stop] as a numpy array: a view for numpy and CPU float32/uint8 tensors."""
    import numpy as np

    part = x[start:stop]
    if is_torch(part):
        part = part.detach()
        if part.device.type != "cpu":
            part = part.cpu()
        if part.dtype.is_floating_point and part.dtype not in _numpy_float_dtypes():
            part = part.float()  # bfloat16 has no numpy dtype
        return part.numpy()
    return np.asarray(part)


def _numpy_float_dtypes() -> tuple[Any, ...]:
    import torch

    return (torch.float16, torch.float32, torch.float64)


def chunk_frames(shape: tuple[int, ...], itemsize: int = 4, budget: int = CHUNK_BYTES) -> int:
    """How many frames fit in one working chunk (at least one)."""
    per_frame = itemsize
    for n in shape[1:]:
        per_frame *= max(int(n), 1)
    return max(1, budget // max(per_frame, 1))


def iter_chunks(total: int, step: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, step):
        yield start, min(total, start + step)


def first_non_finite(x: Any) -> int | None:
    """Index of the first frame holding NaN or inf, or None. Integer frames are always finite.

    One cheap reduction per chunk (a sum is NaN/inf when any element is); only a chunk that fails
    it is searched element by element, so a clean video costs one read pass and no large temporary.
    """
    if not is_float(x):
        return None
    import numpy as np

    total = int(x.shape[0])
    SCAN_COUNTS["nan_frames"] += total
    for start, stop in iter_chunks(total, chunk_frames(tuple(x.shape))):
        part = numpy_chunk(x, start, stop)
        if np.isfinite(part.sum(dtype=np.float32 if part.itemsize < 4 else None)):
            continue
        for i in range(part.shape[0]):
            if not np.isfinite(part[i]).all():
                return start + i
    return None


def value_bounds(x: Any) -> tuple[float, float]:
    """(min, max) over all frames, chunk by chunk."""
    lo, hi = float("inf"), float("-inf")
    total = int(x.shape[0])
    SCAN_COUNTS["range_frames"] += total
    for start, stop in iter_chunks(total, chunk_frames(tuple(x.shape))):
        part = numpy_chunk(x, start, stop)
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return lo, hi


def check_video_array(x: Any, *, what: str = "frames") -> tuple[int, int, int, int]:
    """Shape (F, H, W, C) of a channels-last video the encoder can take, or a typed error."""
    shape = tuple(int(n) for n in getattr(x, "shape", ()))
    if len(shape) != 4:
        raise FrameError("FRAMES_BAD_SHAPE", f"{what} must be (F, H, W, C), got shape {shape or type(x).__name__}")
    f, h, w, c = shape
    if f == 0:
        raise FrameError("FRAMES_EMPTY", f"{what} has shape {shape}")
    if h < 1 or w < 1 or c not in CHANNELS:
        raise FrameError("FRAMES_BAD_SHAPE", f"{what} has shape {shape}: need H, W >= 1 and C in {CHANNELS}")
    if not (is_float(x) or is_uint8(x)):
        raise FrameError("FRAMES_BAD_TYPE", f"{what} has dtype {getattr(x, 'dtype', '?')}: need uint8 or a float type")
    return f, h, w, c
