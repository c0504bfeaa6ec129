"""ComfyUI's modules and this pack in one process, without a server: for scripts that run in
ComfyUI's own Python (tests/comfy_scripts, benchmarks/native_load.py) and compare the pack's
native loader with ComfyUI's loaders call for call.

`start(comfy_dir, models)` parses ComfyUI's arguments (`--cpu`), points its model folders at
`models/` (diffusion_models, vae, text_encoders, clip_vision) and imports this pack the way ComfyUI
imports a custom node (its folder as a package), returning the pack's module. The loaders of
ComfyUI's own nodes are reproduced by `comfy_*` below exactly as v0.3.64's `UNETLoader`,
`VAELoader` and `CLIPLoader` call them (nodes.py).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

PACK_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("diffusion_models", "vae", "text_encoders", "clip_vision")


def start(comfy_dir: str | Path, models: Path, pack_name: str = "wan_compat") -> Any:
    """ComfyUI's modules importable and configured for CPU with `models/` as its model folders;
    the pack imported as the package `pack_name` (returned)."""
    sys.argv = sys.argv[:1] + ["--cpu"]
    sys.path.insert(0, str(comfy_dir))
    import comfy.options

    comfy.options.enable_args_parsing()
    import folder_paths

    for folder in FOLDERS:
        (models / folder).mkdir(parents=True, exist_ok=True)
        folder_paths.add_model_folder_path(folder, str(models / folder), is_default=True)
    if pack_name in sys.modules:
        return sys.modules[pack_name]
    spec = importlib.util.spec_from_file_location(pack_name, PACK_ROOT / "__init__.py", submodule_search_locations=[str(PACK_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[pack_name] = module
    spec.loader.exec_module(module)
    return module


def comfy_unet(path: Path) -> Any:
    """UNETLoader.load_unet with weight_dtype "default"."""
    import comfy.sd

    return comfy.sd.load_diffusion_model(str(path), model_options={})


def comfy_vae(path: Path) -> Any:
    """VAELoader.load_vae for a file."""
    import comfy.sd
    import comfy.utils

    sd = comfy.utils.load_torch_file(str(path))
    vae = comfy.sd.VAE(sd=sd)
    vae.throw_exception_if_invalid()
    return vae


def comfy_clip(path: Path) -> Any:
    """CLIPLoader.load_clip with type "wan"."""
    import comfy.sd
    import folder_paths

    return comfy.sd.load_clip(ckpt_paths=[str(path)], embedding_directory=folder_paths.get_folder_paths("embeddings"),
                              clip_type=comfy.sd.CLIPType.WAN, model_options={})


def digests(module: Any) -> dict[str, str]:
    """name -> sha256 of the bytes (and dtype, shape) of every tensor of a torch module's state
    dict: two models compared bit for bit without holding both."""
    import hashlib

    import torch

    out = {}
    for name, tensor in module.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        raw = data.reshape(-1).view(torch.uint8).numpy() if data.numel() else b""
        out[name] = f"{data.dtype}:{list(data.shape)}:" + hashlib.sha256(raw).hexdigest()
    return out


def anon_bytes() -> int:
    """This process's anonymous resident memory (RssAnon), the memory that is not a file's pages."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0
