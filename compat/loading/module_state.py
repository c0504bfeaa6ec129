"""What the loaded modules look like now: dtypes, devices and the hooks attached to them.

Wan Optimize's choices (casts, offload hooks, device moves) are applied for one Wan Sample run
and removed after it; this is how a report (and a test) sees that nothing stayed behind on the
modules ComfyUI caches: per component, the dtypes and devices of its tensors, and the hooks
present (accelerate's `_hf_hook`, diffusers' hook registry `_diffusers_hook`, torch forward and
forward-pre hooks, and `forward` methods replaced on the instance, which hooks leave behind).
"""
from __future__ import annotations

import hashlib
from typing import Any


def _hooks(module: Any) -> dict[str, Any]:
    accelerate = diffusers = forward = pre = wrapped = 0
    names: set[str] = set()
    for sub in module.modules():
        accelerate += hasattr(sub, "_hf_hook")
        registry = sub.__dict__.get("_diffusers_hook")
        if registry is not None and getattr(registry, "hooks", None):
            diffusers += len(registry.hooks)
            names.update(registry.hooks)
        forward += len(sub._forward_hooks)
        pre += len(sub._forward_pre_hooks)
        wrapped += "forward" in sub.__dict__
    return {"accelerate": accelerate, "diffusers": diffusers, "diffusers_names": sorted(names), "torch_forward": forward,
            "torch_forward_pre": pre, "forward_replaced": wrapped}


def module_state(module: Any) -> dict[str, Any]:
    """dtype -> element count, device -> element count, the hooks, and a digest of the tensors'
    storage addresses (it changes when any tensor of the module is replaced, not when values are)."""
    dtypes: dict[str, int] = {}
    devices: dict[str, int] = {}
    digest = hashlib.sha256()
    for name, tensor in list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False)):
        dtype, device = str(tensor.dtype).replace("torch.", ""), str(tensor.device)
        dtypes[dtype] = dtypes.get(dtype, 0) + tensor.numel()
        devices[device] = devices.get(device, 0) + tensor.numel()
        pointer = 0 if tensor.is_meta else tensor.data_ptr()
        digest.update(f"{name}:{dtype}:{device}:{pointer};".encode())
    hooks = _hooks(module)
    return {"dtypes": dtypes, "devices": devices, "hooks": hooks,
            "hooked": any(v for k, v in hooks.items() if k != "diffusers_names"), "tensors_digest": digest.hexdigest()[:16]}


def pipeline_state(pipeline: Any) -> dict[str, dict[str, Any]]:
    """`module_state` of every torch module among the pipeline's components."""
    components = getattr(pipeline, "components", None) or {}
    return {name: module_state(m) for name, m in components.items() if hasattr(m, "named_parameters") and hasattr(m, "modules")}
