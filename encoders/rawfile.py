"""uint8 frames that already lie on disk as raw RGB: ffmpeg reads the file itself.

A C-order uint8 .npy is a small header followed by exactly the bytes ffmpeg's rawvideo demuxer
wants, so `wan-compat encode frames.npy` hands ffmpeg the file with `-skip_initial_bytes` instead
of piping it: no copy, no numpy import, the same work as bare ffmpeg. The header is parsed here
(it is a Python dict literal, read with `ast.literal_eval`, never executed); anything unusual
(other dtypes, Fortran order, pickles) returns None and goes the general way.
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

_MAGIC = b"\x93NUMPY"
_UINT8 = ("|u1", "<u1", ">u1", "u1", "=u1")


@dataclass(frozen=True)
class RawFrameFile:
    path: Path
    offset: int
    shape: tuple[int, int, int, int]
    dtype: str = "uint8"

    def __getitem__(self, index: slice) -> Any:
        """Frames as numpy (for consumers that need pixels, e.g. a PNG fallback)."""
        import numpy as np

        return np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=self.shape)[index]


def open_uint8_npy(path: Path | str) -> RawFrameFile | None:
    """The frames of a plain (F, H, W, C) uint8 C-order .npy, or None to use numpy instead."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 10 or head[:6] != _MAGIC or head[6] not in (1, 2, 3):
                return None
            if head[6] == 1:
                length, start = int.from_bytes(head[8:10], "little"), 10
            else:
                length, start = int.from_bytes(head[8:12], "little"), 12
            if length > 1 << 16:
                return None
            handle.seek(start)
            header = ast.literal_eval(handle.read(length).decode("latin-1"))
        size = os.path.getsize(path)
    except (OSError, ValueError, SyntaxError, MemoryError):
        return None
    if not isinstance(header, dict) or header.get("descr") not in _UINT8 or header.get("fortran_order") is not False:
        return None
    shape = header.get("shape")
    if not (isinstance(shape, tuple) and len(shape) == 4 and all(isinstance(n, int) and n >= 0 for n in shape)):
        return None
    offset = start + length
    if size < offset + prod(shape):
        return None  # truncated: numpy's loader reports it
    return RawFrameFile(path=path, offset=offset, shape=shape)  # type: ignore[arg-type]
