"""A plan applied to the pipeline's modules for ONE run, and removed after it.

ComfyUI caches Wan Safe Load's output and hands the same modules to every run; if a run's
precision cast, offload hooks or VAE flags stayed on them, the next run (with other Optimize
settings) would inherit them. `applied(pipeline, plan)` is the only place they are changed:

    with applied(run_pipeline, plan):
        ...                                  # cast, offloaded, on the device, VAE flags set
    # the modules are exactly as before, also when the run raised (NaN, interrupt, OOM)

On entry the state of every submodule is recorded: its attributes (the hook attributes
`_hf_hook`, `_old_forward`, `_diffusers_hook`, an instance `forward`, the VAE's tiling and slicing
flags, lazily set markers), the entries of its parameter, buffer, submodule and torch hook dicts,
and its tensors (`.data`); plus the pipeline object's attributes (model offload state). Casts and
device moves swap `param.data` for a converted copy; accelerate and diffusers hooks are added by
their own functions. On exit the hooks are removed by the same libraries, then every recorded
object is put back as it was, so weights are the original tensors (bit-exact, no fp32 -> bf16 ->
fp32 round trip) and nothing of the run stays. The originals stay referenced during the run, so a
cast or an offload cannot free the memory the cached weights hold.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

from ..vae.decode import set_vae_flags

CAST = ("transformer", "transformer_2", "text_encoder")  # the VAE and CLIP keep the dtype they were loaded in
OFFLOADED = ("transformer", "transformer_2", "text_encoder")  # group offload: block by block
# The dicts of a module whose entries a run may change (offload replaces parameters, hooks are added).
TABLES = ("_parameters", "_buffers", "_modules", "_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
          "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_hooks", "_backward_pre_hooks",
          "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
_ABSENT = object()


class _ModuleState:
    """One submodule as it was: its attributes (a shallow copy of `__dict__`: hook attributes,
    flags, lazily set markers such as transformers' `_output_capturing_hooks_installed`) and the
    entries of its parameter, buffer, submodule and torch hook dicts."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.attributes = dict(module.__dict__)
        self.tables = {name: dict(self.attributes[name]) for name in TABLES if isinstance(self.attributes.get(name), dict)}
        registry = self.attributes.get("_diffusers_hook")
        self.diffusers_hooks = list(getattr(registry, "_hook_order", ())) if registry is not None else []

    @property
    def parameters(self) -> dict[str, Any]:
        return self.tables.get("_parameters", {})

    @property
    def buffers(self) -> dict[str, Any]:
        return self.tables.get("_buffers", {})

    def remove_new_hooks(self) -> None:
        """The hooks added since, removed by their own library (which undoes what it did)."""
        module = self.module
        if "_hf_hook" in module.__dict__ and "_hf_hook" not in self.attributes:
            from accelerate.hooks import remove_hook_from_module

            remove_hook_from_module(module, recurse=False)
        registry = module.__dict__.get("_diffusers_hook")
        if registry is not None:
            for name in reversed([n for n in getattr(registry, "_hook_order", ()) if n not in self.diffusers_hooks]):
                registry.remove_hook(name, recurse=False)

    def restore(self) -> None:
        _put_back(self.module.__dict__, self.attributes)
        for name, saved in self.tables.items():
            _put_back(self.attributes[name], saved)


def _put_back(live: dict[Any, Any], saved: dict[Any, Any]) -> None:
    """Make `live` hold exactly `saved`'s entries (the same objects), changing it only if it differs."""
    if len(live) != len(saved) or any(live.get(key, _ABSENT) is not value for key, value in saved.items()):
        live.clear()
        live.update(saved)


class _Snapshot:
    """Everything `applied` may change, recorded before it changes anything."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.components = {n: m for n, m in pipeline.components.items() if hasattr(m, "modules") and hasattr(m, "_parameters")}
        seen: set[int] = set()
        self.modules: list[_ModuleState] = []
        self.tensors: dict[int, tuple[Any, Any]] = {}  # id -> (parameter or buffer, its tensor data)
        for component in self.components.values():
            for module in component.modules():
                if id(module) in seen:
                    continue
                seen.add(id(module))
                state = _ModuleState(module)
                self.modules.append(state)
                for tensor in list(state.parameters.values()) + list(state.buffers.values()):
                    if tensor is not None and id(tensor) not in self.tensors:
                        self.tensors[id(tensor)] = (tensor, tensor.data)
        self.attributes = dict(pipeline.__dict__)  # offload state (`_all_hooks`, `_offload_device`...) and the rest

    def restore(self) -> None:
        try:
            for state in self.modules:
                state.remove_new_hooks()
        finally:  # whatever the libraries did or failed to do, every recorded object goes back
            for state in self.modules:
                state.restore()
            for tensor, data in self.tensors.values():
                tensor.data = data
            _put_back(self.pipeline.__dict__, self.attributes)


def _convert(components: dict[str, Any], plan: Any) -> None:
    """Cast the transformers and the text encoder to the plan's precision (the fp32 modules each
    library declares stay fp32; fp8 storage stays fp8) and, without offload, move every module to
    the plan's device (with group offload the VAE and CLIP only): by swapping each tensor's data."""
    import torch

    from ..loading import dtypes
    from ..loading.fp8 import install as install_fp8, is_fp8
    from ..loading.materialize import fp8_storable

    compute = dtypes.torch_dtype(plan.precision)
    castable = (torch.float32, torch.bfloat16, torch.float16)
    upcast = getattr(plan, "weight_storage", "default") == "upcast"  # keep_fp8_storage off: fp8 weights in `compute` for the run
    storage = None if upcast else dtypes.storage_dtype(getattr(plan, "weight_storage", "default"))
    for name, module in components.items():
        move = plan.offload == "none" or (plan.offload == "group" and name not in OFFLOADED)
        device = torch.device(plan.device) if move else None
        targets = {id(t): target for _, t, target, _ in dtypes.cast_targets(module, compute)} if name in CAST else {}
        if storage is not None and move and name.startswith("transformer"):  # the plan's per-run fp8 storage (GPU, no offload)
            targets.update({id(t): storage for t in fp8_storable(module, compute)})
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.is_meta:
                continue
            dtype = targets.get(id(tensor), tensor.dtype) if tensor.dtype in castable else tensor.dtype
            if upcast and name in CAST and is_fp8(tensor.dtype):  # the per-call upcast then casts to its own dtype: no-op
                dtype = compute
            where = device if device is not None else tensor.device
            if tensor.dtype != dtype or tensor.device != where:
                tensor.data = tensor.data.to(device=where, dtype=dtype)
        if storage is not None and move and name.startswith("transformer"):
            install_fp8(module)  # an instance `forward` per fp8 linear: the snapshot's attributes take it away after the run


def _offload(pipeline: Any, components: dict[str, Any], plan: Any, folder: str | None) -> None:
    """Add the plan's offload hooks (group offload on CPU writes its blocks to `folder`)."""
    import torch

    device = torch.device(plan.device)
    if plan.offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif plan.offload == "sequential":
        pipeline.enable_sequential_cpu_offload(device=device)
    elif plan.offload == "group":
        from diffusers.hooks import apply_group_offloading

        for name in OFFLOADED:
            if components.get(name) is not None:
                # One folder per component: diffusers names block files after the block ("blocks_0_0"),
                # so both Wan 2.2 experts in one folder would share (and load) the first one's files.
                apply_group_offloading(components[name], onload_device=device, offload_device=torch.device("cpu"),
                                       offload_type="block_level", num_blocks_per_group=1, use_stream=device.type == "cuda",
                                       offload_to_disk_path=os.path.join(folder, name) if folder else None)


@contextmanager
def applied(pipeline: Any, plan: Any, decode: Any = None) -> Iterator[Any]:
    """Apply `plan` (precision, offload, device) and `decode`'s VAE flags (default: the plan's) to
    `pipeline`'s modules for the body of the `with`; everything is restored when it ends, however
    it ends. Yields the pipeline."""
    decode = decode if decode is not None else plan.decode
    snapshot = _Snapshot(pipeline)
    on_disk = plan.offload == "group" and plan.device == "cpu"  # on a GPU the blocks wait in RAM
    folder = tempfile.mkdtemp(prefix="wan-compat-offload-") if on_disk else None
    try:
        _convert(snapshot.components, plan)
        _offload(pipeline, snapshot.components, plan, folder)
        vae = getattr(pipeline, "vae", None)
        if vae is not None:
            set_vae_flags(vae, decode)
        yield pipeline
    finally:
        try:
            snapshot.restore()
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
