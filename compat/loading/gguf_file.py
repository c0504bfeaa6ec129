"""GGUF transformers (ComfyUI-GGUF's Wan files) through diffusers' GGUF support.

The file's table is read with the pack's own header reader (`detect/gguf_header.py`: names, ggml
types, logical shapes with ComfyUI-GGUF's `comfy.gguf.orig_shape.*` applied, byte spans checked
against the file size), and each tensor's bytes with one `readinto` from the file held open from
the first check to the last, into a buffer of its own: no memory map, so a file truncated while it
is read is a typed error (GGUF_INVALID), never a SIGBUS, and a file changed meanwhile is
FILE_CHANGED_DURING_LOAD. Quantized tensors become diffusers' `GGUFParameter`s (their ggml bytes
and type), F16/F32 plain tensors, as diffusers' `load_gguf_checkpoint` gives them; they are computed
with diffusers' `GGUFLinear`, which dequantizes a weight for each call. Around that, the pack's
checks: the names (original naming undone) and every *logical* shape against the model, before
anything is assigned. A missing `gguf` package is GGUF_PACKAGE_MISSING, which names it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..core.errors import LoadError, ModelFileError
from ..detect.facts import classify
from ..detect.gguf_header import GGML_TYPES, read_gguf_header
from ..security.pinned import PinnedFile
from . import checks, components, key_naming, materialize
from .report import FileRecord, LoadReport

PLAIN = {"F32": "float32", "F16": "float16"}


def require_gguf() -> Any:
    """The `gguf` module, or GGUF_PACKAGE_MISSING naming the package to install."""
    try:
        import gguf
    except ImportError:
        raise ModelFileError("GGUF_PACKAGE_MISSING", "import gguf failed: the package 'gguf' (>= 0.10) is not installed") from None
    return gguf


def read_gguf(path: Path) -> dict[str, Any]:
    """name -> tensor as diffusers' `load_gguf_checkpoint` gives it (GGUFParameter for quantized
    types, plain F16/F32 tensors in their logical shape), each in memory of its own."""
    gguf = require_gguf()
    import torch
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES, GGUFParameter

    with PinnedFile(path) as pinned:
        header = read_gguf_header(path)
        tensors: dict[str, Any] = {}
        for name, info in sorted(header.tensors.items(), key=lambda kv: kv[1].start):
            if info.dtype in PLAIN:
                tensors[name] = _read(pinned, name, info).view(getattr(torch, PLAIN[info.dtype])).reshape(info.shape)
                continue
            kind = getattr(gguf.GGMLQuantizationType, info.dtype, None)
            if kind is None or kind not in SUPPORTED_GGUF_QUANT_TYPES:
                raise ModelFileError("GGUF_QUANT_UNSUPPORTED", f"{name}: {info.dtype}", quant=info.dtype)
            tensors[name] = GGUFParameter(_read(pinned, name, info).reshape(_byte_shape(path, name, info)), quant_type=kind)
        pinned.verify_unchanged()
    return tensors


def _byte_shape(path: Path, name: str, info: Any) -> tuple[int, ...]:
    """The shape diffusers gives a quantized tensor's bytes: its rows, then the bytes of one row."""
    _, block, block_bytes = GGML_TYPES[next(k for k, v in GGML_TYPES.items() if v[0] == info.dtype)]
    *rows, columns = info.shape
    if not rows or columns % block:
        raise ModelFileError("GGUF_INVALID", f"{path.name}: {name} is {info.dtype} with shape {list(info.shape)}, "
                             f"whose rows do not split into blocks of {block}", path=str(path))
    return (*rows, columns // block * block_bytes)


def _read(pinned: PinnedFile, name: str, info: Any) -> Any:
    """The bytes of one tensor in a buffer of its own (one readinto; a short read is a typed error)."""
    import torch

    buffer = torch.empty(info.nbytes, dtype=torch.uint8)
    pinned.fh.seek(info.start)
    if buffer.numel() and pinned.fh.readinto(memoryview(buffer.numpy())) != buffer.numel():
        pinned.verify_unchanged()
        raise ModelFileError("GGUF_INVALID", f"{pinned.path.name}: {name} ends past the end of the file", path=str(pinned.path))
    return buffer


def logical_shape(tensor: Any) -> tuple[int, ...]:
    return tuple(getattr(tensor, "quant_shape", None) or tensor.shape)


def _assign(model: Any, name: str, value: Any) -> None:
    import torch

    owner, _, leaf = name.rpartition(".")
    module = model.get_submodule(owner) if owner else model
    if leaf in module._parameters:
        module._parameters[leaf] = value if isinstance(value, torch.nn.Parameter) else torch.nn.Parameter(value, requires_grad=False)
    elif leaf in module._buffers:
        module._buffers[leaf] = value
    else:
        raise LoadError("LOAD_UNEXPECTED_KEYS", f"1 unexpected: {name}", component="transformer")


def load_gguf_transformer(path: Path, config: dict[str, Any], cls_name: str, *, dtype: Any, report: LoadReport,
                          name: str = "transformer") -> Any:
    """The model of one GGUF transformer file (config and class decided by the caller); every name
    and logical shape checked before anything is assigned."""
    import diffusers
    from diffusers.quantizers.gguf.utils import _replace_with_gguf_linear

    started = time.perf_counter()
    with report.timed(f"{name} read"):
        tensors = read_gguf(path)
    report.files.append(FileRecord(name, str(path), "gguf", path.stat().st_size))
    facts = classify({k: logical_shape(v) for k, v in tensors.items()})
    old = list(tensors)
    if facts.naming == "original":
        tensors = key_naming.transformer_to_diffusers(tensors, facts.prefix or None, strict=False)
        to_file = key_naming.transformer_file_name(facts.prefix)
    else:
        tensors = {k[len(facts.prefix):] if facts.prefix and k.startswith(facts.prefix) else k: v for k, v in tensors.items()}
        to_file = (lambda key: facts.prefix + key)
    names = key_naming.file_namer(dict(zip(tensors, old)), to_file)
    cls = getattr(diffusers, cls_name)
    model = components.meta_model(cls, config)
    found = {k: logical_shape(v) for k, v in tensors.items()}
    checks.compare_keys(checks.expected_shapes(model), found).raise_if_any(name, file_names=names)
    quantized = {k: v for k, v in tensors.items() if hasattr(v, "quant_type")}
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False), components.no_init(cls):  # the GGUF linears' weights come from the file
        _replace_with_gguf_linear(model, dtype, quantized)
    plain = materialize.materialize(model, {k: v for k, v in tensors.items() if k not in quantized}, dtype, keep_fp8=False)
    for key, value in list(quantized.items()) + list(plain.items()):
        _assign(model, key, value)
    checks.verify_loaded(model, name, {k: tuple(v.shape) for k, v in list(quantized.items()) + list(plain.items())}, file_names=names)
    quant_types = sorted({str(getattr(v.quant_type, "name", v.quant_type)) for v in quantized.values()})
    report.allow(name, f"GGUF through diffusers' GGUF support: {len(quantized)} quantized linear weights ({', '.join(quant_types)}) "
                 "dequantized per call; the rest in the compute dtype")
    model = components._finish(model, name, cls, dtype, report, started)
    report.components[name]["gguf_quant_types"] = quant_types
    return model
