"""GGUF transformers (ComfyUI-GGUF's Wan files) through diffusers' GGUF support.

The file is read with llama.cpp's `gguf` package as diffusers' `load_gguf_checkpoint` reads it
(quantized tensors become diffusers' `GGUFParameter`s that keep their ggml bytes and type; F16/F32
tensors plain tensors; all copied out of the memory map), in one parse that also reads
ComfyUI-GGUF's shape fields, and computed with diffusers' `GGUFLinear`, which dequantizes a weight
for each call. Here that is wrapped in the pack's checks: the names (original naming and
ComfyUI-GGUF's `comfy.gguf.orig_shape.*` for tensors flattened to 4 dims are undone first), then
every name and *logical* shape against the model, before anything is assigned. A missing `gguf`
package is GGUF_PACKAGE_MISSING, which names it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..core.errors import LoadError, ModelFileError
from ..detect.facts import classify
from . import checks, components, key_naming, materialize
from .report import FileRecord, LoadReport

ORIG_SHAPE = "comfy.gguf.orig_shape."


def require_gguf() -> Any:
    """The `gguf` module, or GGUF_PACKAGE_MISSING naming the package to install."""
    try:
        import gguf
    except ImportError:
        raise ModelFileError("GGUF_PACKAGE_MISSING", "import gguf failed: the package 'gguf' (>= 0.10) is not installed") from None
    return gguf


def read_gguf(path: Path) -> dict[str, Any]:
    """name -> tensor as diffusers' `load_gguf_checkpoint` gives it (GGUFParameter for quantized
    types, copied out of the memory map), read with one parse of the file, and ComfyUI-GGUF's
    flattened shapes undone."""
    gguf = require_gguf()
    import torch
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES, GGUFParameter

    reader = gguf.GGUFReader(str(path))
    plain_types = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    shapes = {name[len(ORIG_SHAPE):]: tuple(int(field.parts[i][0]) for i in field.data)
              for name, field in reader.fields.items() if name.startswith(ORIG_SHAPE)}
    tensors: dict[str, Any] = {}
    with open(path, "rb") as fh:  # one readinto per tensor into a fresh buffer: no page faults on the map
        for tensor in sorted(reader.tensors, key=lambda t: t.data_offset):
            kind = tensor.tensor_type
            if kind not in plain_types and kind not in SUPPORTED_GGUF_QUANT_TYPES:
                raise ModelFileError("GGUF_QUANT_UNSUPPORTED", f"{tensor.name}: {kind.name}", quant=kind.name)
            tensors[tensor.name] = (kind, _read(fh, tensor, torch))
    for name, (kind, value) in list(tensors.items()):
        if kind in plain_types:
            tensors[name] = value.reshape(shapes[name]) if name in shapes else value
        else:
            tensors[name] = GGUFParameter(value, quant_type=kind)
    return tensors


def _read(fh: Any, tensor: Any, torch: Any) -> Any:
    """The bytes of one GGUF tensor in a buffer of its own, as the dtype and shape the reader gives."""
    buffer = torch.empty(int(tensor.n_bytes), dtype=torch.uint8)
    fh.seek(int(tensor.data_offset))
    if fh.readinto(memoryview(buffer.numpy())) != buffer.numel():
        raise ModelFileError("GGUF_INVALID", f"{tensor.name} ends past the end of the file")
    dtype = {"float16": torch.float16, "float32": torch.float32}.get(str(tensor.data.dtype), torch.uint8)
    return buffer.view(dtype).reshape(tuple(int(d) for d in tensor.data.shape))


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
