"""Wan Safe Load (native): the pack's checks, then ComfyUI's own MODEL / CLIP / VAE / CLIP_VISION.

For native graphs (KSampler, WanImageToVideo, LoRA loaders, SaveVideo): every file is read under
the security policy and every name and shape checked against the detected variant
(`compat/loading/verified_state.py`) before ComfyUI's constructors (`comfy_native.py`) see it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env, comfy_memory, comfy_native, input_paths, shown_paths
from .comfy_env import NONE
from .detect import _file_fingerprint, _resolve, path_input, verdict_ui
from .missing_model import check_choice
from .safe_load import _path, _settings

CATEGORY = "Wan Compat/Load"
PARTS = ("vae", "text_encoder", "clip_vision")
BUILDERS = {
    "model": ("diffusion model", comfy_native.diffusion_model),
    "text_encoder": ("text encoder", comfy_native.text_encoder),
    "vae": ("VAE", comfy_native.vae),
    "clip_vision": ("CLIP vision", comfy_native.clip_vision),
}


def _file_combo(slot: str, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    """Like model_combo, without diffusers folders: ComfyUI's constructors take single files."""
    from ..compat.workflow.folders import picker_folder

    choices, options = comfy_env.model_combo(slot, tooltip)
    return [c for c in choices if c == NONE or picker_folder(slot, c)[0] != "diffusers"], options


class WanSafeLoadNative:
    DESCRIPTION = (
        "Loads Wan single files (the Comfy-Org files of the official templates) for native ComfyUI nodes: each file "
        "under the pack's security policy, every weight name and shape checked against the detected model (a missing, "
        "unexpected or mismatched tensor is refused by name instead of left random), then built by ComfyUI's own "
        "loaders. Outputs MODEL, CLIP (type wan), VAE and CLIP_VISION, plus the pack's verdict on the set."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "CLIP_VISION", "WAN_MODEL_INFO", "STRING")
    RETURN_NAMES = ("model", "clip", "vae", "clip_vision", "model_info", "report")
    OUTPUT_TOOLTIPS = (
        "The diffusion model for KSampler, LoRA loaders and model patches.",
        "The UMT5-XXL text encoder (ComfyUI type wan) for CLIPTextEncode; None when no file was chosen.",
        "The Wan 2.1 or 2.2 VAE for WanImageToVideo, VAEDecode and VAEEncode; None when no file was chosen.",
        "CLIP vision (Wan 2.1 I2V/FLF2V) for CLIPVisionEncode; None when no file was chosen.",
        "The pack's verdict on the set, for Wan Check Compatibility and Wan Diagnose.",
        "What was checked: files, policy decisions, number of names and shapes compared, timings.",
    )
    FUNCTION = "load"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": _file_combo("model", "The diffusion model file (models/diffusion_models), e.g. wan2.1_t2v_1.3B_fp16.safetensors."),
                "vae": _file_combo("vae", "wan_2.1_vae.safetensors (Wan 2.1 and the 2.2 14B models) or wan2.2_vae.safetensors (TI2V-5B); none: no VAE output."),
                "text_encoder": _file_combo("text_encoder", "umt5_xxl_fp8_e4m3fn_scaled.safetensors or umt5_xxl_fp16.safetensors; none: no CLIP output."),
                "weight_dtype": (list(comfy_native.WEIGHT_DTYPES), {"default": "default", "tooltip": "As Load Diffusion Model: the dtype ComfyUI stores the diffusion model in."}),
            },
            "optional": {
                "clip_vision": _file_combo("clip_vision", "Wan 2.1 I2V/FLF2V only: clip_vision_h.safetensors."),
                "model_info": ("WAN_MODEL_INFO", {"tooltip": "From Wan Detect Architecture on the same model: its verdict is re-used while the file is unchanged."}),
                "config_path": path_input("A model size the pack has no config for: a diffusers folder of the same model (only its JSON configs are read), inside the model folders."),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model: str = NONE, vae: str = NONE, text_encoder: str = NONE, clip_vision: str = NONE,
                        config_path: str = "") -> bool | str:
        # Named inputs only: ComfyUI repeats a message once per named input.
        if config_path.strip():
            wrong = input_paths.problem(config_path, "config")  # the one path policy: outside the roots says nothing more
            if wrong:
                return wrong
            if not _path(config_path).is_dir():
                return f"config_path must be an existing folder: {config_path.strip()}"
        for slot, choice in (("model", model), ("vae", vae), ("text_encoder", text_encoder), ("clip_vision", clip_vision)):
            if (missing := check_choice(choice, slot)) is not True:
                return missing  # a picked file that is not installed: what it is and where to get it
        if _resolve(model, "") is None:
            return "Choose the diffusion model file."
        return True

    @classmethod
    def IS_CHANGED(cls, model: str = NONE, vae: str = NONE, text_encoder: str = NONE, clip_vision: str = NONE, **kwargs: Any) -> str:
        picks = (("model", model), ("vae", vae), ("text_encoder", text_encoder), ("clip_vision", clip_vision))
        return "|".join(_file_fingerprint(_resolve(choice, "", slot)) for slot, choice in picks)

    def load(self, model: str = NONE, vae: str = NONE, text_encoder: str = NONE, weight_dtype: str = "default",
             clip_vision: str = NONE, model_info: Any = None, config_path: str = "") -> dict[str, Any]:
        from ..compat.loading.verified_state import verified_state_dicts

        parts: dict[str, Path | None] = {"vae": _resolve(vae, "", "vae"), "text_encoder": _resolve(text_encoder, "", "text_encoder"),
                                         "clip_vision": _resolve(clip_vision, "", "clip_vision")}
        comfy_memory.make_room(comfy_memory.file_bytes(_resolve(model, ""), *parts.values()))  # each file read once, by ComfyUI
        checked = verified_state_dicts(_resolve(model, ""), **parts, config_source=_path(config_path), model_info=model_info,
                                       policy=_settings().security, roots=comfy_env.model_roots(),
                                       on_progress=comfy_env.progress_reporter())  # file by file, as ComfyUI reads each
        built: dict[str, Any] = {}
        with checked:  # the tensors map the checked files: each is verified unchanged after ComfyUI read it
            for part in ("model", *PARTS):
                state = checked.tensors.pop(part, None)
                if state is None:
                    built[part] = None
                    continue
                label, constructor = BUILDERS[part]
                args = (weight_dtype,) if part == "model" else ()
                built[part] = comfy_native.build(label, constructor, state, *args)
                checked.built(part)  # ComfyUI has read this file: the bar moves by its bytes
                del state
        text = shown_paths.relative(checked.summary())
        said = ", ".join(f"{BUILDERS[part][0]} ({n} tensors)" for part, n in checked.checked.items())
        ui = verdict_ui(checked.info, f"Every weight name and shape checked before ComfyUI built them: {said}")
        return {"ui": ui, "result": (built["model"], built["text_encoder"], built["vae"], built["clip_vision"], checked.info, text)}


NODES = {"WanSafeLoadNative": WanSafeLoadNative}
DISPLAY_NAMES = {"WanSafeLoadNative": "Wan Safe Load (native)"}
