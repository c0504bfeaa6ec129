"""The example workflows as compact graphs: nodes (key, type, widget values) and links.

Model choices name the Comfy-Org single files as the official ComfyUI templates name them (each
listed with its download link in `properties.models`); the official Wan-AI diffusers folders under
ComfyUI's models/diffusers are the alternative, picked in Wan Detect Architecture. Sizes, frames,
steps, guidance and shift are each variant's recommended defaults from the registry.
Each value is entered once and carried by links: the model is picked in Wan Detect Architecture
(Wan Safe Load takes its model_info), sizes live in Wan Sample, and fps comes from the model through
Wan Sample's fps output into the fps widgets of Wan Frame Process and Wan Encode Video (a link into a
widget input, as the frontend saves a widget converted to a socket). tests/test_workflows.py fails
when a value is entered on two nodes.
"""
from __future__ import annotations

from typing import Any

# The Comfy-Org repackaged files, named and linked as the official ComfyUI templates name them
# (comfyui-workflow-templates 0.1.95: text_to_video_wan.json, video_wan2_2_5B_ti2v.json).
COMFY_ORG_21 = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
COMFY_ORG_22 = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
UMT5 = ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", COMFY_ORG_21)
WAN21_VAE = ("vae", "wan_2.1_vae.safetensors", COMFY_ORG_21)
WAN21_VAE_FROM_22 = ("vae", "wan_2.1_vae.safetensors", COMFY_ORG_22)  # the 2.2 14B templates link the 2.2 repo's copy
CLIP_VISION_H = ("clip_vision", "clip_vision_h.safetensors", COMFY_ORG_21)
NATIVE_T2V_FILES = {
    "model": ("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors", COMFY_ORG_21),
    "vae": WAN21_VAE,
    "text_encoder": UMT5,
}
NATIVE_TI2V_FILES = {
    "model": ("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors", COMFY_ORG_22),
    "vae": ("vae", "wan2.2_vae.safetensors", COMFY_ORG_22),
    "text_encoder": UMT5,
}


# The single files of each generation workflow, as the official template of the same model names them
# (text_to_video_wan, image_to_video_wan, video_wan2_2_14B_t2v, video_wan2_2_14B_i2v, video_wan2_2_5B_ti2v):
# Safe Load input -> (models/ folder, file name, repository). "model" is picked in Wan Detect
# Architecture; for the A14B MoE models it is the high-noise expert and `transformer_2` the low-noise one.
GENERATION_FILES: dict[str, dict[str, tuple[str, str, str]]] = {
    "wan2.1-t2v-1.3b": NATIVE_T2V_FILES,
    "wan2.1-i2v-14b-480p": {
        "model": ("diffusion_models", "wan2.1_i2v_480p_14B_fp16.safetensors", COMFY_ORG_21),
        "vae": WAN21_VAE, "text_encoder": UMT5, "clip_vision": CLIP_VISION_H,
    },
    "wan2.2-t2v-a14b": {
        "model": ("diffusion_models", "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", COMFY_ORG_22),
        "transformer_2": ("diffusion_models", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", COMFY_ORG_22),
        "vae": WAN21_VAE_FROM_22, "text_encoder": UMT5,
    },
    "wan2.2-i2v-a14b": {
        "model": ("diffusion_models", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", COMFY_ORG_22),
        "transformer_2": ("diffusion_models", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors", COMFY_ORG_22),
        "vae": WAN21_VAE_FROM_22, "text_encoder": UMT5,
    },
    "wan2.2-ti2v-5b": NATIVE_TI2V_FILES,
}


def _listed(files: dict[str, tuple[str, str, str]]) -> list[dict[str, str]]:
    """`properties.models` entries, in the official templates' format."""
    return [{"name": file, "url": f"{repo}/{folder}/{file}", "directory": folder} for folder, file, repo in files.values()]


CHECK_MODELS: dict[str, Any] = {
    "name": "wan_check_my_models",
    "file": "Check my Wan models",
    "id": "6f1c6a52-7d36-4f0e-9b7e-0b5d7c1e2a01",
    "title": "Check my Wan models",
    "description": "Detects a Wan model, checks a VAE, text encoder and CLIP vision against it, and writes a diagnosis. "
                   "Loads no weights. Set up for the Comfy-Org Wan 2.1 T2V 1.3B files (listed with their download links); "
                   "pick any other model file or diffusers folder in Wan Detect Architecture and its parts in Wan Check Compatibility.",
    "nodes": [
        ("detect", "WanDetectArchitecture", {"model": "wan2.1_t2v_1.3B_fp16.safetensors"}),
        ("check", "WanCheckCompatibility", {"vae": "wan_2.1_vae.safetensors", "text_encoder": "umt5_xxl_fp8_e4m3fn_scaled.safetensors"}),
        ("diagnose", "WanDiagnose", {"level": "detailed", "filename_prefix": "wan_check"}),
    ],
    "links": [
        ("detect", "model_info", "check", "model_info"),
        ("check", "model_info", "diagnose", "model_info"),
    ],
    "columns": [("1 Which model", ["detect"]), ("2 Do the parts fit", ["check"]), ("3 Report", ["diagnose"])],
    "models": {"detect": _listed({"model": NATIVE_T2V_FILES["model"]}),
               "check": _listed({k: NATIVE_T2V_FILES[k] for k in ("vae", "text_encoder")})},
}

NEGATIVE = ("static, blurry, low quality, worst quality, jpeg artifacts, ugly, deformed, extra fingers, "
            "bad hands, bad face, overexposed, subtitles, watermark, text")


def generation(name: str, file: str, uuid: str, variant_id: str, title: str, prompt: str, image: bool = False) -> dict[str, Any]:
    """detect -> safe load -> VAE fix -> optimize -> sample -> frame process -> encode -> diagnose,
    with the variant's recommended size, frames, steps, guidance and shift (fps follows the model)."""
    from wan_compat.compat.detect import registry

    variant = registry.by_id(variant_id)
    needs = variant.requires
    width, height = needs["resolution"]
    folder = variant["repo"].split("/")[-1]  # the diffusers alternative
    files = GENERATION_FILES[variant_id]
    picks = {slot: file for slot, (_, file, _) in files.items()}  # named as ComfyUI's loaders name them
    parts = [slot for slot in files if slot != "model"]
    sample = {
        "prompt": prompt, "negative_prompt": NEGATIVE, "width": width, "height": height,
        "num_frames": needs["frames"], "steps": needs["steps"], "seed": 42, "cfg": needs["guidance_scale"],
    }  # shift and boundary_ratio stay at "model default": the model's own values
    if needs.get("guidance_scale_2") is not None:
        sample["cfg_2"] = f"{needs['guidance_scale_2']:g}"
    nodes = [
        ("detect", "WanDetectArchitecture", {"model": picks["model"]}),
        # the model comes from detect's model_info; the other single files are picked here
        ("load", "WanSafeLoad", {"dtype": "bf16", **{slot: picks[slot] for slot in parts}}),
        ("vae", "WanVAEFix", {}),
        ("optimize", "WanOptimize", {}),  # no sizes: they live in Wan Sample
        ("sample", "WanSample", sample),
        ("frames", "WanFrameProcess", {}),  # fps linked from Wan Sample
        ("encode", "WanEncodeVideo", {"format": "h264-mp4", "filename_prefix": name}),  # fps linked from Frame Process
        ("diagnose", "WanDiagnose", {"level": "basic", "filename_prefix": f"{name}_report"}),
    ]
    links = [
        ("detect", "model_info", "load", "model_info"),
        ("load", "pipeline", "vae", "pipeline"),
        ("vae", "pipeline", "optimize", "pipeline"),
        ("optimize", "pipeline", "sample", "pipeline"),
        ("sample", "frames", "frames", "images"),
        ("sample", "fps", "frames", "fps"),
        ("frames", "fps", "encode", "fps"),
        ("detect", "model_info", "frames", "model_info"),
        ("frames", "images", "encode", "images"),
        ("frames", "frames_info", "encode", "frames_info"),
        ("detect", "model_info", "encode", "model_info"),
        ("detect", "model_info", "diagnose", "model_info"),
        ("optimize", "pipeline", "diagnose", "pipeline"),
        ("optimize", "plan", "diagnose", "plan"),
        ("sample", "stats", "diagnose", "sample_stats"),
        ("encode", "encode_result", "diagnose", "encode_result"),
    ]
    columns = [("1 Model", ["detect", "load"]), ("2 Prepare", ["vae", "optimize"]), ("3 Generate", ["sample"]),
               ("4 Video and report", ["frames", "encode", "diagnose"])]
    if image:
        nodes.insert(0, ("image", "LoadImage", {"image": "example.png"}))
        links.append(("image", "IMAGE", "sample", "image"))
        columns[2][1].insert(0, "image")
    models = {"detect": _listed({"model": files["model"]}), "load": _listed({slot: files[slot] for slot in parts})}
    names = ", ".join(f"{file} ({where})" for where, file, _ in files.values())
    return {
        "name": name, "file": file, "id": uuid, "title": title, "nodes": nodes, "links": links, "columns": columns, "models": models,
        "description": f"{variant.name}: {needs['resolution'][0]}x{needs['resolution'][1]}, {needs['frames']} frames at "
                       f"{needs['fps']} fps, {needs['steps']} steps. Uses the Comfy-Org single files {names}, listed with "
                       f"their download links. Or use the diffusers folder {folder} (models/diffusers): pick it in Wan Detect "
                       f"Architecture and set {', '.join(parts)} in Wan Safe Load to none.",
    }


def native(name: str, file: str, uuid: str, title: str, files: dict[str, tuple[str, str, str]], latent: tuple[str, dict[str, Any]],
           sampler: dict[str, Any], fps: float, prompt: str, image: bool = False) -> dict[str, Any]:
    """ComfyUI's own sampling (CLIPTextEncode, ModelSamplingSD3, KSampler, VAEDecode) between the
    pack's guards: Wan Safe Load (native) checks every weight of the Comfy-Org files before ComfyUI
    builds them, Wan Check Compatibility and Wan Diagnose report on the set, Wan Encode Video writes
    the file. Values as the official template of the same model."""
    load = {slot: file for slot, (_, file, _) in files.items()}
    nodes = [
        ("load", "WanSafeLoadNative", load),
        ("check", "WanCheckCompatibility", {}),
        ("positive", "CLIPTextEncode", {"text": prompt}),
        ("negative", "CLIPTextEncode", {"text": NEGATIVE}),
        ("shift", "ModelSamplingSD3", {"shift": 8.0}),
        ("latent", latent[0], latent[1]),
        ("sampler", "KSampler", {"seed": 42, "sampler_name": "uni_pc", "scheduler": "simple", "denoise": 1.0, **sampler}),
        ("decode", "VAEDecode", {}),
        ("encode", "WanEncodeVideo", {"fps": fps, "format": "h264-mp4", "filename_prefix": name}),
        ("diagnose", "WanDiagnose", {"level": "basic", "filename_prefix": f"{name}_report"}),
    ]
    links = [
        ("load", "model_info", "check", "model_info"),
        ("load", "clip", "positive", "clip"),
        ("load", "clip", "negative", "clip"),
        ("load", "model", "shift", "model"),
        ("shift", "MODEL", "sampler", "model"),
        ("positive", "CONDITIONING", "sampler", "positive"),
        ("negative", "CONDITIONING", "sampler", "negative"),
        ("latent", "LATENT", "sampler", "latent_image"),
        ("sampler", "LATENT", "decode", "samples"),
        ("load", "vae", "decode", "vae"),
        ("decode", "IMAGE", "encode", "images"),
        ("check", "model_info", "encode", "model_info"),
        ("check", "model_info", "diagnose", "model_info"),
        ("encode", "encode_result", "diagnose", "encode_result"),
    ]
    columns = [("1 Checked models", ["load", "check"]), ("2 Prompt", ["positive", "negative"]),
               ("3 Sample", ["shift", "latent", "sampler"]), ("4 Video and report", ["decode", "encode", "diagnose"])]
    if latent[0] == "Wan22ImageToVideoLatent":
        links.append(("load", "vae", "latent", "vae"))
    if image:
        nodes.insert(0, ("image", "LoadImage", {"image": "example.png"}))
        links.append(("image", "IMAGE", "latent", "start_image"))
        columns[1][1].append("image")
    models = {"load": _listed(files)}
    return {
        "name": name, "file": file, "id": uuid, "title": title, "nodes": nodes, "links": links, "columns": columns, "models": models,
        "description": f"ComfyUI's KSampler graph for {title.split(' (')[0]} on the Comfy-Org single files, with the pack's checked "
                       "loader, compatibility check, encoder and diagnosis around it. The files are listed with their download links.",
    }


NATIVE = [
    native("wan21_t2v_1.3B_native", "Wan 2.1 text to video 1.3B (native sampling)", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e06", "Wan 2.1 T2V 1.3B (native sampling, checked files)",
           NATIVE_T2V_FILES, ("EmptyHunyuanLatentVideo", {"width": 832, "height": 480, "length": 33, "batch_size": 1}),
           {"steps": 30, "cfg": 6.0}, 16.0, "A red fox runs through fresh snow at dawn, tracking camera, cinematic lighting."),
    native("wan22_ti2v_5B_native", "Wan 2.2 text and image to video 5B (native sampling)", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e07", "Wan 2.2 TI2V 5B (native sampling, checked files)",
           NATIVE_TI2V_FILES, ("Wan22ImageToVideoLatent", {"width": 1280, "height": 704, "length": 121, "batch_size": 1}),
           {"steps": 20, "cfg": 5.0}, 24.0, "Waves roll onto a sandy beach at sunset, gentle camera pan.", image=True),
]


# Template cards are titled with the file name (the frontends show a custom node pack's templates by
# file name, and sort them by it): a title a user reads, A to Z in a useful order.
SPECS: list[dict[str, Any]] = [
    *NATIVE,
    generation("wan21_t2v_1.3B", "Wan 2.1 text to video 1.3B", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e01", "wan2.1-t2v-1.3b", "Wan 2.1 T2V 1.3B",
               "A cat walks on the grass, realistic, sunny afternoon."),
    generation("wan22_t2v_A14B", "Wan 2.2 text to video A14B", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e02", "wan2.2-t2v-a14b", "Wan 2.2 T2V A14B (MoE)",
               "A red fox runs through fresh snow at dawn, cinematic lighting."),
    generation("wan22_ti2v_5B", "Wan 2.2 text and image to video 5B", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e03", "wan2.2-ti2v-5b", "Wan 2.2 TI2V 5B",
               "Waves roll onto a sandy beach at sunset, gentle camera pan."),
    generation("wan21_i2v_14B_480p", "Wan 2.1 image to video 14B 480p", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e04", "wan2.1-i2v-14b-480p", "Wan 2.1 I2V 14B 480P",
               "The scene comes to life with a slow camera push-in.", image=True),
    generation("wan22_i2v_A14B", "Wan 2.2 image to video A14B", "4b0f6f0e-1a57-4e56-9d0d-2a1b3c4d5e05", "wan2.2-i2v-a14b", "Wan 2.2 I2V A14B (MoE)",
               "The scene comes to life with a slow camera push-in.", image=True),
    CHECK_MODELS,
]


def workflow_path(name: str) -> "Path":
    """The shipped file of the workflow with this `name` (tests and benchmarks refer to workflows by name)."""
    from pathlib import Path

    spec = next(s for s in SPECS if s["name"] == name)
    return Path(__file__).resolve().parents[1] / "workflows" / f"{spec['file']}.json"
