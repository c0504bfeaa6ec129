"""Tensors of a checked safetensors file: read into memory of their own, or mapped for a host.

`read_tensors`, for models the pack keeps: safetensors' `load_file` maps the file, so its tensors
live in the page cache of that file, a write into the file after the load changes the model, and
copying them out afterwards costs a page fault per 4 KiB. Here each tensor is read with one
`readinto` from the pinned (already open and checked) file into a fresh buffer, in file order,
using the header our own reader validated: as fast as a bare read of the file, and nothing refers
to the file once it returns.

`mapped_tensors`, for a host that copies the tensors into models of its own (ComfyUI): the file's
tensors mapped exactly as ComfyUI's `load_torch_file` maps them (safetensors' `safe_open`), from
the pinned file, so the host reads every byte once and no second copy is made. The caller checks
afterwards that the file did not change (`PinnedFile.verify_unchanged`).
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


def torch_dtypes(pinned: PinnedFile, header: SafetensorsHeader) -> dict[str, Any]:
    """safetensors dtype -> torch dtype for every dtype the header uses; DTYPE_UNSUPPORTED naming
    the first tensor whose dtype this torch cannot hold."""
    import torch

    found: dict[str, Any] = {}
    for name, info in header.tensors.items():
        if info.dtype not in found:
            found[info.dtype] = getattr(torch, TORCH_DTYPES.get(info.dtype, ""), None)
            if found[info.dtype] is None:
                raise ModelFileError("DTYPE_UNSUPPORTED", f"{pinned.path.name}: {name} is {info.dtype}, which torch {torch.__version__} cannot hold",
                                     path=str(pinned.path), detail_reason=f"torch {torch.__version__} has no {info.dtype} dtype")
    return found


def read_tensors(pinned: PinnedFile, header: SafetensorsHeader, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """name -> tensor (in the header's order), each in a buffer of its own; `on_bytes(n)` after each
    tensor's n bytes were read (progress)."""
    import torch

    dtypes = torch_dtypes(pinned, header)
    base = 8 + header.header_size
    out: dict[str, Any] = dict.fromkeys(header.tensors)
    fh = pinned.fh
    for name, info in sorted(header.tensors.items(), key=lambda kv: kv[1].start):
        dtype = dtypes[info.dtype]
        buffer = torch.empty(info.end - info.start, dtype=torch.uint8)
        fh.seek(base + info.start)
        if buffer.numel() and fh.readinto(memoryview(buffer.numpy())) != buffer.numel():
            raise ModelFileError("SAFETENSORS_TRUNCATED", f"{pinned.path.name}: {name} ends past the end of the file", path=str(pinned.path))
        out[name] = buffer.view(dtype).reshape(info.shape)
        if on_bytes is not None:
            on_bytes(info.end - info.start)
    return out


def mapped_tensors(pinned: PinnedFile, header: SafetensorsHeader) -> dict[str, Any]:
    """name -> tensor mapped from the pinned file (the header's names, validated by our reader),
    as ComfyUI's `load_torch_file` gives them; a failure of the library is a typed error."""
    from safetensors import safe_open

    torch_dtypes(pinned, header)
    try:
        with safe_open(pinned.load_path, framework="pt", device="cpu") as f:
            return {name: f.get_tensor(name) for name in header.tensors}
    except Exception as exc:  # the file was valid when checked: it changed, or the library refused it
        pinned.verify_unchanged()
        raise ModelFileError("SAFETENSORS_HEADER_INVALID", f"{pinned.path.name}: safetensors could not map it: {type(exc).__name__}: {str(exc)[:300]}",
                             path=str(pinned.path)) from None
