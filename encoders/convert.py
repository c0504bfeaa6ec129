"""Float frames in [0, 1] to uint8 bytes for ffmpeg: rounded, clipped, chunk by chunk.

The caller's frames are never modified (ComfyUI caches node outputs, so converting in place would
corrupt them) and never copied whole: each chunk goes through two small buffers allocated once
(float32 scratch and uint8 result) with in-place ufuncs, so the extra memory is a few MB whatever
the video length. benchmarks/encode.py compares this with the naive expression.
"""
from __future__ import annotations

from typing import Any

from ..compat.core.errors import FrameError
from ..compat.frames.arrays import SCAN_COUNTS, chunk_frames, first_non_finite, is_uint8

# Small enough to stay in cache between the four passes over a chunk, large enough to amortise calls.
CONVERT_CHUNK_BYTES = 4 << 20


class Uint8Converter:
    """Reusable buffers for one frame size; `convert` returns a view valid until the next call."""

    def __init__(self, frame_shape: tuple[int, int, int], *, chunk_bytes: int = CONVERT_CHUNK_BYTES,
                 check_finite: bool = True) -> None:
        """`check_finite=False`: the frames were checked already (compat/frames/checked.py)."""
        import numpy as np

        self.check_finite = check_finite
        self.frames_per_chunk = chunk_frames((1, *frame_shape), itemsize=4, budget=chunk_bytes)
        self._scratch = np.empty((self.frames_per_chunk, *frame_shape), dtype=np.float32)
        self._result = np.empty((self.frames_per_chunk, *frame_shape), dtype=np.uint8)

    def convert(self, part: Any, first_frame: int = 0) -> Any:
        """uint8 frames for a chunk of at most `frames_per_chunk` frames (uint8 input passes through).

        Float chunks are checked for NaN/inf here, on the scratch copy that is in cache anyway, so a
        clean video is read once (a separate check pass would read a memory-mapped file twice);
        `first_frame` is the chunk's position, for the error message.
        """
        import numpy as np

        if is_uint8(part):
            return np.ascontiguousarray(part)
        n = part.shape[0]
        scratch, result = self._scratch[:n], self._result[:n]
        with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow to inf, then clip to 255
            np.multiply(part, 255.0, out=scratch, casting="same_kind")
        if self.check_finite:
            self._check_chunk(scratch, part, first_frame)
        np.add(scratch, 0.5, out=scratch)  # +0.5 then truncation == round half up for values >= 0
        np.clip(scratch, 0.0, 255.0, out=scratch)
        np.copyto(result, scratch, casting="unsafe")
        return result

    @staticmethod
    def _check_chunk(scratch: Any, part: Any, first_frame: int) -> None:
        """FRAMES_NOT_FINITE if the chunk holds NaN/inf (one sum of the scratch copy, in cache)."""
        import numpy as np

        SCAN_COUNTS["nan_frames"] += int(part.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            total = scratch.sum()
        if not np.isfinite(total):  # overflow of huge finite values also lands here: look closer
            bad = first_non_finite(part)
            if bad is not None:
                raise FrameError("FRAMES_NOT_FINITE", f"frame {first_frame + bad} holds NaN or inf")


def to_uint8_naive(frames: Any) -> Any:
    """The usual one-liner (for the benchmark only): three full-size temporaries."""
    import numpy as np

    return np.clip(np.asarray(frames) * 255.0 + 0.5, 0, 255).astype(np.uint8)
