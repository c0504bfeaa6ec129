"""Wan Detect Architecture and Wan Check Compatibility nodes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env, input_paths
from .comfy_env import NONE
from .missing_model import check_choice

CATEGORY = "Wan Compat/Check models"
PATH_TOOLTIP = "An absolute path to a diffusers folder or a .safetensors file; when set it wins over the list above."


def _resolve(choice: str, path: str) -> Path | None:
    """The path a choice or a typed path names, under the pack's one path policy (a refused path
    raises PATH_OUTSIDE_ROOTS before anything is opened)."""
    if path and path.strip():
        return input_paths.admitted(path)
    return comfy_env.resolve_choice(choice)


def _problem(choice: str, path: str, what: str = "model") -> str | None:
    """VALIDATE_INPUTS' message for a choice or typed path, or None when it may be used."""
    if path and path.strip():
        return input_paths.problem(path, what)
    found = comfy_env.resolve_choice(choice)
    return None if found is None else input_paths.problem(found, what)


def _file_fingerprint(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        targets = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors"))
        return ";".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in targets)
    except OSError:
        return "missing"


def verdict_ui(info: Any) -> dict[str, list[Any]]:
    """What the web extension shows on the node: a short badge and the colour of the verdict."""
    if info.family == "wan":
        badge = " ".join(x for x in (f"Wan {info.version}" if info.version else "Wan ?", (info.task or "").upper(), info.size or "") if x)
    else:
        badge = info.family
    status = "error" if not info.ok else ("warning" if any(p.severity == "warning" for p in info.problems) else "ok")
    return {
        "text": [info.summary()],
        "wan_verdict": [{"badge": badge, "status": status, "problems": [p.to_dict() for p in info.problems]}],
    }


class WanDetectArchitecture:
    DESCRIPTION = (
        "Tells what a Wan model really is (version 2.1/2.2, task, size, MoE, dtype, naming) from its headers "
        "and configs, without loading weights, and lists every problem with its fix."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_MODEL_INFO", "STRING")
    RETURN_NAMES = ("model_info", "summary")
    OUTPUT_TOOLTIPS = ("The detection report, for the Check, Safe Load and Diagnose nodes.", "The report as readable text.")
    FUNCTION = "detect"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": comfy_env.model_combo("model", "A diffusers folder (models/diffusers) or a single file (models/diffusion_models)."),
            },
            "optional": {
                "model_path": ("STRING", {"default": "", "tooltip": PATH_TOOLTIP}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model: str = NONE) -> bool | str:
        # Only the picker is named: ComfyUI repeats a message once per named input, so a missing
        # model is said once (missing_model.py); model_path is checked when the node runs.
        return check_choice(model)

    @classmethod
    def IS_CHANGED(cls, model: str = NONE, model_path: str = "") -> str:
        return _file_fingerprint(_resolve(model, model_path))

    def detect(self, model: str = NONE, model_path: str = "") -> dict[str, Any]:
        from ..compat.detect.detector import ArchitectureDetector
        from ..compat.settings.store import load_settings

        path = _resolve(model, model_path)
        if path is None:
            from ..compat.core.errors import UsageError

            raise UsageError("MODEL_NOT_CHOSEN", "model: none, model_path: empty")
        overrides = load_settings(comfy_env.user_directory()).advanced.pipeline_overrides  # what the settings force
        info = ArchitectureDetector(overrides).inspect(path)
        summary = info.summary()
        return {"ui": verdict_ui(info), "result": (info, summary)}


class WanCheckCompatibility:
    DESCRIPTION = (
        "Checks that a Wan model and the VAE, text encoder and CLIP vision you picked fit together "
        "(latent channels, text width, CLIP needed or not) before anything is loaded."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_MODEL_INFO", "STRING")
    RETURN_NAMES = ("model_info", "summary")
    OUTPUT_TOOLTIPS = ("The detection report with the compatibility findings added.", "The findings as readable text.")
    FUNCTION = "check"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_info": ("WAN_MODEL_INFO", {"tooltip": "The report from Wan Detect Architecture."}),
                "vae": comfy_env.model_combo("vae", "A VAE from models/vae, or none to use the one in the model folder."),
                "text_encoder": comfy_env.model_combo("text_encoder", "A text encoder from models/text_encoders, or none."),
                "clip_vision": comfy_env.model_combo("clip_vision", "CLIP vision from models/clip_vision (Wan 2.1 I2V/FLF2V only), or none."),
            },
            "optional": {
                "vae_path": ("STRING", {"default": "", "tooltip": "Absolute path of a VAE file; wins over the list."}),
                "text_encoder_path": ("STRING", {"default": "", "tooltip": "Absolute path of a text-encoder file; wins over the list."}),
                "clip_vision_path": ("STRING", {"default": "", "tooltip": "Absolute path of a CLIP vision file; wins over the list."}),
            },
        }

    def check(self, model_info: Any, vae: str = NONE, text_encoder: str = NONE, clip_vision: str = NONE,
              vae_path: str = "", text_encoder_path: str = "", clip_vision_path: str = "") -> dict[str, Any]:
        from ..compat.detect.detector import ArchitectureDetector

        parts = {
            "vae": _resolve(vae, vae_path),
            "text_encoder": _resolve(text_encoder, text_encoder_path),
            "clip_vision": _resolve(clip_vision, clip_vision_path),
        }
        # The model's verdict is re-used (detected again only if its files changed); only the parts are read.
        detector = ArchitectureDetector()
        info = detector.check_parts(detector.reuse(model_info), **parts)
        summary = info.summary()
        return {"ui": verdict_ui(info), "result": (info, summary)}


NODES = {"WanDetectArchitecture": WanDetectArchitecture, "WanCheckCompatibility": WanCheckCompatibility}
DISPLAY_NAMES = {"WanDetectArchitecture": "Wan Detect Architecture", "WanCheckCompatibility": "Wan Check Compatibility"}
