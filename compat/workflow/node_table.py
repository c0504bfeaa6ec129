"""What the checker knows about node types, as data: which widgets name files (and in which model
folder), the widget order UI files store values in, and what each Wan conditioning node feeds the
model. Facts come from ComfyUI's nodes.py / comfy_extras/nodes_wan.py, ComfyUI-GGUF and
WanVideoWrapper; a node type missing here is simply not checked.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# node type -> [(widget name, model folder, role)]; role: model | text_encoder | vae | clip_vision | lora | checkpoint
LOADERS: dict[str, list[tuple[str, str, str]]] = {
    "UNETLoader": [("unet_name", "diffusion_models", "model")],
    "UnetLoaderGGUF": [("unet_name", "diffusion_models", "model")],
    "UnetLoaderGGUFAdvanced": [("unet_name", "diffusion_models", "model")],
    "CLIPLoader": [("clip_name", "text_encoders", "text_encoder")],
    "CLIPLoaderGGUF": [("clip_name", "text_encoders", "text_encoder")],
    "DualCLIPLoader": [("clip_name1", "text_encoders", "text_encoder"), ("clip_name2", "text_encoders", "text_encoder")],
    "VAELoader": [("vae_name", "vae", "vae")],
    "CLIPVisionLoader": [("clip_name", "clip_vision", "clip_vision")],
    "LoraLoader": [("lora_name", "loras", "lora")],
    "LoraLoaderModelOnly": [("lora_name", "loras", "lora")],
    "CheckpointLoaderSimple": [("ckpt_name", "checkpoints", "checkpoint")],
    "DiffusersLoader": [("model_path", "diffusers", "checkpoint")],
    # WanVideoWrapper (kijai): file checks only, its graphs use its own types
    "WanVideoModelLoader": [("model", "diffusion_models", "model")],
    "WanVideoVAELoader": [("model_name", "vae", "vae")],
    "LoadWanVideoT5TextEncoder": [("model_name", "text_encoders", "text_encoder")],
    "LoadWanVideoClipTextEncoder": [("model_name", "clip_vision", "clip_vision")],
    "WanVideoLoraSelect": [("lora", "loras", "lora")],
    # this pack: its pickers (folder "*") hold a name of the folders their role lists (folders.PICKER_FOLDERS);
    # raw *_path strings are never opened
    "WanDetectArchitecture": [("model", "*", "model")],
    "WanCheckCompatibility": [("vae", "*", "vae"), ("text_encoder", "*", "text_encoder"), ("clip_vision", "*", "clip_vision")],
    "WanSafeLoadNative": [("model", "*", "model"), ("vae", "*", "vae"), ("text_encoder", "*", "text_encoder"),
                          ("clip_vision", "*", "clip_vision")],
    "WanSafeLoad": [("model", "*", "model"), ("transformer_2", "*", "model"), ("vae", "*", "vae"),
                    ("text_encoder", "*", "text_encoder"), ("clip_vision", "*", "clip_vision")],
}

# Widget order of UI files (`widgets_values` is positional). `control_after_generate` is the UI's
# extra value after every seed widget.
WIDGETS: dict[str, list[str]] = {
    "UNETLoader": ["unet_name", "weight_dtype"],
    "UnetLoaderGGUF": ["unet_name"],
    "UnetLoaderGGUFAdvanced": ["unet_name", "dequant_dtype", "patch_dtype", "patch_on_device"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "CLIPLoaderGGUF": ["clip_name", "type"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "VAELoader": ["vae_name"],
    "CLIPVisionLoader": ["clip_name"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "DiffusersLoader": ["model_path"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler",
                         "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "WanVideoModelLoader": ["model", "base_precision", "quantization", "load_device"],
    "WanVideoVAELoader": ["model_name", "precision"],
    "LoadWanVideoT5TextEncoder": ["model_name", "precision"],
    "LoadWanVideoClipTextEncoder": ["model_name", "precision"],
    "WanVideoLoraSelect": ["lora", "strength"],
    "WanDetectArchitecture": ["model", "model_path"],
    "WanCheckCompatibility": ["vae", "text_encoder", "clip_vision", "vae_path", "text_encoder_path", "clip_vision_path"],
    "WanSafeLoadNative": ["model", "vae", "text_encoder", "weight_dtype", "clip_vision", "config_path"],
    "WanSafeLoad": ["model", "dtype", "model_path", "transformer_2", "transformer_2_path", "vae", "vae_path", "text_encoder",
                    "text_encoder_path", "clip_vision", "clip_vision_path", "config_path", "tokenizer_path", "vae_dtype",
                    "weight_storage"],
}

SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})
DECODERS = frozenset({"VAEDecode", "VAEDecodeTiled", "VAEDecodeHunyuan3D"})
# Nodes that only pass a value on (the checker follows their input of the same type).
PASS_TYPES = ("MODEL", "CLIP", "VAE", "CLIP_VISION", "LATENT", "CONDITIONING", "CLIP_VISION_OUTPUT", "GUIDER")

# Wan conditioning nodes: what the model's input channels must be, given the latent channels z,
# from the concat latents each node builds in comfy_extras/nodes_wan.py; `vace`/`marker` name what
# the model must carry; `clip` whether the node takes a CLIP vision output.
CONDITIONING: dict[str, dict[str, Any]] = {
    "WanImageToVideo": {"in": "2z+4", "clip": True, "task": "image-to-video"},
    "WanFirstLastFrameToVideo": {"in": "2z+4", "clip": True, "task": "first/last-frame"},
    "WanFunInpaintToVideo": {"in": "2z+4", "clip": True, "task": "Fun inpaint"},
    "WanCameraImageToVideo": {"in": "2z+4", "clip": True, "task": "camera control", "marker": "control_adapter."},
    "WanTrackToVideo": {"in": "2z+4", "clip": True, "task": "ATI track control"},
    "WanAnimateToVideo": {"in": "2z+4", "clip": True, "task": "Animate", "marker": "face_adapter."},
    "WanFunControlToVideo": {"in": "3z", "clip": True, "task": "Fun control (2.1)"},
    "Wan22FunControlToVideo": {"in": "3z+4", "clip": False, "task": "Fun control (2.2)"},
    "Wan22ImageToVideoLatent": {"in": "z", "clip": False, "task": "TI2V (image in the latent)"},
    "WanVaceToVideo": {"in": "z", "clip": False, "task": "VACE", "vace": True},
    "WanSoundImageToVideo": {"in": "z", "clip": False, "task": "speech-to-video", "marker": "casual_audio_encoder."},
    "WanSoundImageToVideoExtend": {"in": "z", "clip": False, "task": "speech-to-video", "marker": "casual_audio_encoder."},
    "WanPhantomSubjectToVideo": {"in": "z", "clip": False, "task": "Phantom subject"},
    "WanHuMoImageToVideo": {"in": "z", "clip": False, "task": "HuMo", "marker": "audio_proj."},
}


def widget_names(node_type: str) -> list[str] | None:
    return WIDGETS.get(node_type)


def expected_in_channels(rule: str, z: int) -> int:
    """`2z+4` etc. for latent channels z."""
    return {"z": z, "2z+4": 2 * z + 4, "3z": 3 * z, "3z+4": 3 * z + 4}[rule]
