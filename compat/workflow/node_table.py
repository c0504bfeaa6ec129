"""What the checker knows about node types, as data: which widgets name files (and in which model
folder), what each loader can read, the widget order UI files store values in, and which inputs
carry the model, latent and conditioning through samplers and decoders.

Facts come from ComfyUI's `nodes.py` / `comfy_extras/*`, ComfyUI-GGUF `nodes.py`, WanVideoWrapper
`nodes_model_loading.py` / `nodes.py` and KJNodes `nodes/*.py`; the role of every other node type
is in `data/workflow/node_roles.json`. The Wan conditioning nodes are in `conditioning.py`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# node type -> [(widget name, model folder, role)]; role: model | text_encoder | vae | clip_vision |
# lora | checkpoint | audio_encoder | model_patch | vace_module | tiny_vae
LOADERS: dict[str, list[tuple[str, str, str]]] = {
    "UNETLoader": [("unet_name", "diffusion_models", "model")],
    "UnetLoaderGGUF": [("unet_name", "diffusion_models", "model")],
    "UnetLoaderGGUFAdvanced": [("unet_name", "diffusion_models", "model")],
    "DiffusionModelLoaderKJ": [("model_name", "diffusion_models", "model")],
    "CLIPLoader": [("clip_name", "text_encoders", "text_encoder")],
    "CLIPLoaderGGUF": [("clip_name", "text_encoders", "text_encoder")],
    "DualCLIPLoader": [("clip_name1", "text_encoders", "text_encoder"), ("clip_name2", "text_encoders", "text_encoder")],
    "DualCLIPLoaderGGUF": [("clip_name1", "text_encoders", "text_encoder"), ("clip_name2", "text_encoders", "text_encoder")],
    "VAELoader": [("vae_name", "vae", "vae")],
    "VAELoaderKJ": [("vae_name", "vae", "vae")],
    "CLIPVisionLoader": [("clip_name", "clip_vision", "clip_vision")],
    "LoraLoader": [("lora_name", "loras", "lora")],
    "LoraLoaderModelOnly": [("lora_name", "loras", "lora")],
    "DiTBlockLoraLoader": [("lora_name", "loras", "lora")],
    "CheckpointLoaderSimple": [("ckpt_name", "checkpoints", "checkpoint")],
    "DiffusersLoader": [("model_path", "diffusers", "checkpoint")],
    "AudioEncoderLoader": [("audio_encoder_name", "audio_encoders", "audio_encoder")],
    "ModelPatchLoader": [("name", "model_patches", "model_patch")],
    # WanVideoWrapper (kijai): its own types between its nodes (WANVIDEOMODEL, WANVAE, ...)
    "WanVideoModelLoader": [("model", "diffusion_models", "model")],
    "WanVideoVAELoader": [("model_name", "vae", "vae")],
    "WanVideoTinyVAELoader": [("model_name", "vae_approx", "tiny_vae")],
    "LoadWanVideoT5TextEncoder": [("model_name", "text_encoders", "text_encoder")],
    "LoadWanVideoClipTextEncoder": [("model_name", "clip_vision", "clip_vision")],
    "WanVideoLoraSelect": [("lora", "loras", "lora")],
    "WanVideoLoraSelectMulti": [(f"lora_{i}", "loras", "lora") for i in range(5)],
    "WanVideoVACEModelSelect": [("vace_model", "diffusion_models", "vace_module")],
    "WanVideoExtraModelSelect": [("extra_model", "diffusion_models", "vace_module")],
    # this pack: its pickers (folder "*") hold a name of the folders their role lists (folders.PICKER_FOLDERS);
    # raw *_path strings are never opened
    "WanDetectArchitecture": [("model", "*", "model")],
    "WanCheckCompatibility": [("vae", "*", "vae"), ("text_encoder", "*", "text_encoder"), ("clip_vision", "*", "clip_vision")],
    "WanSafeLoadNative": [("model", "*", "model"), ("vae", "*", "vae"), ("text_encoder", "*", "text_encoder"),
                          ("clip_vision", "*", "clip_vision")],
    "WanSafeLoad": [("model", "*", "model"), ("transformer_2", "*", "model"), ("vae", "*", "vae"),
                    ("text_encoder", "*", "text_encoder"), ("clip_vision", "*", "clip_vision")],
}

# Where a loader looks after its first folder. LoadWanVideoClipTextEncoder lists clip_vision +
# text_encoders and falls back to text_encoders for "legacy setups" (nodes_model_loading.py);
# `models/clip` is the legacy name of text_encoders (folders.ALIASES).
FALLBACK_FOLDERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("LoadWanVideoClipTextEncoder", "model_name"): ("text_encoders",),
    ("VAELoaderKJ", "vae_name"): ("vae_approx",),  # KJNodes nodes.py VAELoaderKJ: video TAEs from vae_approx
}

# What a loader can read. formats: the file formats its list and loader accept (ComfyUI's own
# lists hold safetensors/pickle; ComfyUI-GGUF adds `.gguf` lists, `unet_gguf` / `clip_gguf`).
# namings: the layouts it converts (others fail for certain); refuse: markers it raises on.
READS: dict[str, dict[str, Any]] = {
    "UNETLoader": {"formats": ("single_file", "pickle")},
    "DiffusionModelLoaderKJ": {"formats": ("single_file", "pickle")},
    "UnetLoaderGGUF": {"formats": ("gguf",)},
    "UnetLoaderGGUFAdvanced": {"formats": ("gguf",)},
    "WanVideoModelLoader": {"formats": ("single_file", "pickle", "gguf")},
    # comfy/sd.py detect_te_model knows only the Hugging Face T5 names; anything else becomes CLIP-L.
    "CLIPLoader": {"formats": ("single_file", "pickle"), "namings": ("hf",), "clip_type": "type"},
    "DualCLIPLoader": {"formats": ("single_file", "pickle"), "namings": ("hf",), "clip_type": "type"},
    # ComfyUI-GGUF nodes.py CLIPLoaderGGUF.load_data: "Mixing scaled FP8 with GGUF is not supported".
    "CLIPLoaderGGUF": {"formats": ("single_file", "pickle", "gguf"), "namings": ("hf",), "clip_type": "type", "refuse": ("scaled_fp8",)},
    "DualCLIPLoaderGGUF": {"formats": ("single_file", "pickle", "gguf"), "namings": ("hf",), "clip_type": "type", "refuse": ("scaled_fp8",)},
    # WanVideoWrapper LoadWanVideoT5TextEncoder: needs token_embedding or shared, refuses scaled_fp8.
    "LoadWanVideoT5TextEncoder": {"formats": ("single_file", "pickle"), "namings": ("hf", "wan_t5"), "refuse": ("scaled_fp8",)},
    # comfy/clip_vision.py load(): Hugging Face or open_clip resblocks; the Wan layout returns None.
    "CLIPVisionLoader": {"formats": ("single_file", "pickle"), "namings": ("hf", "open_clip")},
    # WanVideoWrapper LoadWanVideoClipTextEncoder: "log_scale" must be in the file.
    "LoadWanVideoClipTextEncoder": {"formats": ("single_file", "pickle"), "namings": ("wan_clip",)},
    "VAELoader": {"formats": ("single_file", "pickle")},
    # WanVideoWrapper WanVideoVAELoader reads decoder.conv1 / conv2: the original Wan VAE names.
    "WanVideoVAELoader": {"formats": ("single_file", "pickle"), "namings": ("original",)},
}

# Widget order of UI files (`widgets_values` is positional: required widgets, then optional ones).
# `control_after_generate` is the UI's extra value after every seed widget.
WIDGETS: dict[str, list[str]] = {
    "UNETLoader": ["unet_name", "weight_dtype"],
    "UnetLoaderGGUF": ["unet_name"],
    "UnetLoaderGGUFAdvanced": ["unet_name", "dequant_dtype", "patch_dtype", "patch_on_device"],
    "DiffusionModelLoaderKJ": ["model_name", "weight_dtype", "compute_dtype", "patch_cublaslinear", "sage_attention", "enable_fp16_accumulation"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "CLIPLoaderGGUF": ["clip_name", "type"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "DualCLIPLoaderGGUF": ["clip_name1", "clip_name2", "type"],
    "VAELoader": ["vae_name"],
    "VAELoaderKJ": ["vae_name", "device", "weight_dtype"],
    "CLIPVisionLoader": ["clip_name"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "DiTBlockLoraLoader": ["strength_model", "lora_name"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "DiffusersLoader": ["model_path"],
    "AudioEncoderLoader": ["audio_encoder_name"],
    "ModelPatchLoader": ["name"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler",
                         "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "ComfySwitchNode": ["switch"],
    "PrimitiveBoolean": ["value"],
    "WanVideoModelLoader": ["model", "base_precision", "quantization", "load_device", "attention_mode", "rms_norm_function"],
    "WanVideoVAELoader": ["model_name", "precision", "use_cpu_cache", "verbose"],
    "WanVideoTinyVAELoader": ["model_name", "precision", "parallel"],
    "LoadWanVideoT5TextEncoder": ["model_name", "precision", "load_device", "quantization"],
    "LoadWanVideoClipTextEncoder": ["model_name", "precision", "load_device"],
    "WanVideoLoraSelect": ["lora", "strength", "low_mem_load", "merge_loras"],
    "WanVideoLoraSelectMulti": [x for i in range(5) for x in (f"lora_{i}", f"strength_{i}")] + ["low_mem_load", "merge_loras"],
    "WanVideoVACEModelSelect": ["vace_model"],
    "WanVideoExtraModelSelect": ["extra_model"],
    "WanDetectArchitecture": ["model", "model_path"],
    "WanCheckCompatibility": ["vae", "text_encoder", "clip_vision", "vae_path", "text_encoder_path", "clip_vision_path"],
    "WanSafeLoadNative": ["model", "vae", "text_encoder", "weight_dtype", "clip_vision", "config_path"],
    "WanSafeLoad": ["model", "dtype", "model_path", "transformer_2", "transformer_2_path", "vae", "vae_path", "text_encoder",
                    "text_encoder_path", "clip_vision", "clip_vision_path", "config_path", "tokenizer_path", "vae_dtype",
                    "weight_storage"],
}

# Samplers: which input holds the model (or the guider), the latent that chains two experts, and
# the conditioning. WanVideoWrapper's sampler takes its image conditioning as `image_embeds`.
SAMPLERS: dict[str, dict[str, str]] = {
    "KSampler": {"model": "model", "latent": "latent_image", "cond": "positive"},
    "KSamplerAdvanced": {"model": "model", "latent": "latent_image", "cond": "positive"},
    "SamplerCustom": {"model": "model", "latent": "latent_image", "cond": "positive"},
    "SamplerCustomAdvanced": {"guider": "guider", "latent": "latent_image"},
    "WanVideoSampler": {"model": "model", "latent": "samples", "cond": "image_embeds"},
}
DECODERS: dict[str, dict[str, str]] = {
    "VAEDecode": {"vae": "vae", "latent": "samples"},
    "VAEDecodeTiled": {"vae": "vae", "latent": "samples"},
    "WanVideoDecode": {"vae": "vae", "latent": "samples"},
}
# WanVideoWrapper nodes that VAE-encode an image for the sampler's image_embeds.
WRAPPER_ENCODERS: dict[str, str] = {"WanVideoImageToVideoEncode": "vae", "WanVideoImageClipEncode": "vae"}

# The same value under the wrapper's own type names: a WANVIDEOMODEL is a Wan transformer, ...
KIND_ALIASES: dict[str, tuple[str, ...]] = {
    "MODEL": ("MODEL", "WANVIDEOMODEL"), "VAE": ("VAE", "WANVAE"), "CLIP": ("CLIP", "WANTEXTENCODER"),
    "CLIP_VISION": ("CLIP_VISION", "WANCLIP"), "LORA": ("WANVIDLORA",),
}

# Inputs ComfyUI requires ("Required input is missing" at validation when they get nothing).
REQUIRED: dict[str, tuple[str, ...]] = {
    "KSampler": ("model", "positive", "negative", "latent_image"),
    "KSamplerAdvanced": ("model", "positive", "negative", "latent_image"),
    "SamplerCustomAdvanced": ("noise", "guider", "sampler", "sigmas", "latent_image"),
    "CFGGuider": ("model", "positive", "negative"),
    "VAEDecode": ("samples", "vae"),
    "VAEDecodeTiled": ("samples", "vae"),
    "VAEEncode": ("pixels", "vae"),
    "CLIPTextEncode": ("clip",),
    "CLIPVisionEncode": ("clip_vision", "image"),
    "LoraLoaderModelOnly": ("model",),
    "LoraLoader": ("model", "clip"),
    "ModelSamplingSD3": ("model",),
    "WanVideoSampler": ("model",),
    "WanVideoDecode": ("vae", "samples"),
    "WanVideoTextEncode": ("t5",),
}

_ROLES = Path(__file__).resolve().parents[1] / "data" / "workflow" / "node_roles.json"


@lru_cache(maxsize=1)
def node_roles() -> dict[str, str]:
    """node type -> role, for every type the check has classified (node_roles.json)."""
    doc = json.loads(_ROLES.read_text(encoding="utf-8"))
    return {node_type: role for role, types in doc["roles"].items() for node_type in types}


def widget_names(node_type: str) -> list[str] | None:
    return WIDGETS.get(node_type)

