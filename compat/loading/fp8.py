"""fp8 weights held in fp8 and computed in the dtype of the input.

A linear layer whose weight is fp8 (because the file stores it so, or because the policy asks for
fp8 storage) keeps that fp8 tensor as its parameter; its forward upcasts the weight for the one
call, so resident memory is the fp8 size and the arithmetic runs in the compute dtype. Only linear
*weights* are ever fp8: biases, norms, embeddings, modulation tables and the fp32 modules keep the
dtype the loader gives them (the file's values, never rounded to fp8).

ComfyUI's scaled-fp8 files carry one `scale_weight` per fp8 matrix. ComfyUI (`comfy/ops.py`,
`scaled_fp8_op.Linear` without fp8 matrix multiplies) casts the weight and the scale to the
compute dtype and then multiplies the scale into the weight when the weight has fewer elements
than the input, otherwise into the input; `scale_input` is used only by fp8 matrix multiplies and
is dropped. `linear_forward` does the same, in the same order, so the numbers match ComfyUI's.

The forward is an instance attribute (not a torch hook) so that offload hooks of accelerate and
diffusers, which wrap `forward`, move the fp8 weight first and the upcast happens on the device.
"""
from __future__ import annotations

import types
from typing import Any, Mapping

from ..detect.facts import SCALED_FP8_MARKER as MARKER, is_scaled_fp8_marker

SCALE = "scale_weight"
DROPPED_SUFFIXES = (".scale_input",)
SCALE_SUFFIXES = (".scale_weight", ".scale_input", MARKER)
FP8_NAMES = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")


def is_fp8(dtype: Any) -> bool:
    return str(dtype).replace("torch.", "") in FP8_NAMES


def split_scales(tensors: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(weights, scales): the `.scale_weight` tensors by the name of the weight they scale; the
    `scaled_fp8` marker (bare or prefixed) and `.scale_input` tensors are left out (see the module doc)."""
    weights: dict[str, Any] = {}
    scales: dict[str, Any] = {}
    for key, value in tensors.items():
        if key.endswith("." + SCALE):
            scales[key[: -len(SCALE)] + "weight"] = value
        elif not is_scaled_fp8_marker(key) and not key.endswith(DROPPED_SUFFIXES):
            weights[key] = value
    return weights, scales


def dequantize(tensors: dict[str, Any], scales: Mapping[str, Any]) -> dict[str, Any]:
    """weight * scale in fp32, for models that cannot keep fp8 linears (the UMT5 text encoder)."""
    import torch

    from ..core.errors import LoadError

    out = dict(tensors)
    orphans = sorted(k for k in scales if k not in out)
    if orphans:
        raise LoadError("LOAD_UNEXPECTED_KEYS", f"{len(orphans)} scale_weight tensor(s) without their weight: {', '.join(orphans[:12])}", component="text_encoder")
    for name, scale in scales.items():
        if name in out:
            out[name] = out[name].to(torch.float32) * scale.to(torch.float32)
    return out


def linear_forward(self: Any, input: Any) -> Any:  # noqa: A002 - torch's name
    """nn.Linear.forward with an fp8 weight: upcast to the input's dtype (and scale, as ComfyUI)."""
    import torch.nn.functional as F

    dtype, device = input.dtype, input.device
    weight = self.weight.to(device=device, dtype=dtype)
    bias = self.bias.to(device=device, dtype=dtype) if self.bias is not None else None
    scale = getattr(self, SCALE, None)
    if scale is None:
        return F.linear(input, weight, bias)
    scale = scale.to(device=device, dtype=dtype)
    if weight.numel() < input.numel():
        return F.linear(input, weight * scale, bias)
    return F.linear(input * scale, weight, bias)


def storable(model: Any, name: str, fp32: tuple[str, ...]) -> bool:
    """Whether the policy's fp8 storage may take this linear weight: not in an fp32 module, not
    in a module the model asks layerwise casting to skip (Wan: patch embedding, condition
    embedder, norms)."""
    import re

    module = name.rsplit(".", 1)[0]
    skip = tuple(getattr(model, "_skip_layerwise_casting_patterns", None) or ()) + fp32
    parts = module.split(".")
    return not any(p in parts or ("." in p and p in module) or re.search(p, module) for p in skip)


def linear_weights(model: Any) -> dict[str, Any]:
    """name of the weight -> the nn.Linear holding it."""
    import torch

    return {f"{n}.weight" if n else "weight": m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def install(model: Any, scales: Mapping[str, Any] | None = None) -> list[str]:
    """Give every linear whose weight is fp8 the upcasting forward (and its scale as a
    non-persistent buffer, so it moves with the module); returns their weight names."""
    done = []
    for name, module in linear_weights(model).items():
        if not is_fp8(module.weight.dtype):
            continue
        scale = (scales or {}).get(name)
        if scale is not None:
            module.register_buffer(SCALE, scale.detach().clone().reshape(()) if scale.numel() == 1 else scale.detach().clone(), persistent=False)
        module.forward = types.MethodType(linear_forward, module)
        done.append(name)
    return done


def unused_scales(model: Any, scales: Mapping[str, Any]) -> list[str]:
    """Scales whose weight is not an fp8 linear weight of `model`: never silently dropped."""
    fp8 = {n for n, m in linear_weights(model).items() if is_fp8(m.weight.dtype)}
    return sorted(k for k in scales if k not in fp8)


def dtype_changes(found: Mapping[str, Any], model: Any) -> dict[str, int]:
    """'file dtype -> loaded dtype' -> how many tensors, for the load report."""
    state = model.state_dict()
    out: dict[str, int] = {}
    for name, dtype in found.items():
        if name in state:
            key = f"{_short(dtype)} -> {_short(state[name].dtype)}"
            out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _short(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")

