"""Tensors of a checked safetensors file read into memory of their own.

safetensors' `load_file` maps the file: its tensors live in the page cache of that file, so a write
into the file after the load changes the model, and copying them out afterwards costs a page fault
per 4 KiB. Here each tensor is read with one `readinto` from the pinned (already open and checked)
file into a fresh buffer, in file order, using the header our own reader validated: as fast as a
bare read of the file, and nothing refers to the file once it returns.
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.errors import ModelFileError
from ..detect.safetensors_header import SafetensorsHeader
from ..security.pinned import PinnedFile

TORCH_DTYPES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3fn",
                "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz", "I16": "int16", "U16": "uint16",
                "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32", "F32": "float32", "I64": "int64",
                "U64": "uint64", "F64": "float64", "C64": "complex64"}


def read_tensors(pinned: PinnedFile, header: SafetensorsHeader, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """name -> tensor (in the header's order), each in a buffer of its own; `on_bytes(n)` after each
    tensor's n bytes were read (progress)."""
    import torch

    base = 8 + header.header_size
    out: dict[str, Any] = dict.fromkeys(header.tensors)
    fh = pinned.fh
    for name, info in sorted(header.tensors.items(), key=lambda kv: kv[1].start):
        dtype = getattr(torch, TORCH_DTYPES.get(info.dtype, ""), None)
        if dtype is None:
            raise ModelFileError("DTYPE_UNSUPPORTED", f"{pinned.path.name}: {name} is {info.dtype}, which torch {torch.__version__} cannot hold",
                                 path=str(pinned.path), detail_reason=f"torch {torch.__version__} has no {info.dtype} dtype")
        buffer = torch.empty(info.end - info.start, dtype=torch.uint8)
        fh.seek(base + info.start)
        if buffer.numel() and fh.readinto(memoryview(buffer.numpy())) != buffer.numel():
            raise ModelFileError("SAFETENSORS_TRUNCATED", f"{pinned.path.name}: {name} ends past the end of the file", path=str(pinned.path))
        out[name] = buffer.view(dtype).reshape(info.shape)
        if on_bytes is not None:
            on_bytes(info.end - info.start)
    return out
