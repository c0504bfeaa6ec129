"""Wan Optimize: your memory/speed preferences (precision, offload, a GPU memory cap) recorded on
the pipeline for Wan Sample, which plans for the size it runs and applies the plan for that run
only; here, a preview of the plan at the model's recommended size. Backend: `compat/optimize`."""
from __future__ import annotations

from typing import Any

from . import comfy_env

CATEGORY = "Wan Compat/Prepare"
FROM_SETTINGS = "settings"
PRECISIONS = [FROM_SETTINGS, "auto", "bf16", "fp16", "fp32"]
OFFLOADS = [FROM_SETTINGS, "auto", "none", "model", "group", "sequential"]


def preferences(precision: str = FROM_SETTINGS, offload: str = FROM_SETTINGS, max_vram_gb: float = 0.0) -> Any:
    """The user's optimization settings, with this node's explicit choices on top."""
    from ..compat.settings.store import load_settings

    prefs = load_settings(comfy_env.user_directory()).optimization
    update: dict[str, Any] = {}
    if precision != FROM_SETTINGS:
        update["precision"] = precision
    if offload != FROM_SETTINGS:
        update["offload"] = offload
    if max_vram_gb > 0:
        update["max_vram_gb"] = max_vram_gb
    return prefs.model_copy(update=update) if update else prefs


class WanOptimize:
    DESCRIPTION = (
        "Sets how Wan Sample uses this machine's memory (RAM, GPU memory and compute capability; CPU-only too): "
        "precision, offload (none, model, group block-level, sequential; on CPU only what works there) and a GPU "
        "memory cap, over your settings (wan-compat config). Wan Sample makes the plan for the size it runs (VAE "
        "tiling, slicing and chunked decode too, each with its reason) and applies it for that run only: the loaded "
        "model is never changed, so the next run with other choices starts clean. The plan shown here is a preview "
        "at the model's recommended size."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_PIPELINE", "WAN_PLAN", "STRING")
    RETURN_NAMES = ("pipeline", "plan", "summary")
    OUTPUT_TOOLTIPS = (
        "The pipeline with these preferences attached (the modules are unchanged; Wan Sample applies the plan per run).",
        "A preview plan at the model's recommended size, for Wan Diagnose (the plan a run applied comes with Wan Sample's stats).",
        "The preferences and the preview plan, each choice with its reason.",
    )
    FUNCTION = "optimize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "pipeline": ("WAN_PIPELINE", {"tooltip": "The pipeline from Wan Safe Load or Wan VAE Fix."}),
            },
            "optional": {
                "precision": (PRECISIONS, {"default": FROM_SETTINGS, "tooltip": "settings: optimization.precision from your settings; auto: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."}),
                "offload": (OFFLOADS, {"default": FROM_SETTINGS, "tooltip": "settings: optimization.offload from your settings; auto: the fastest mode whose estimate fits. model/sequential need a GPU."}),
                "max_vram_gb": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1024.0, "step": 0.5, "tooltip": "Plan for at most this much GPU memory (0: the settings' value, else the whole GPU)."}),
            },
        }

    def optimize(self, pipeline: Any, precision: str = FROM_SETTINGS, offload: str = FROM_SETTINGS,
                 max_vram_gb: float = 0.0) -> dict[str, Any]:
        from dataclasses import replace

        from ..compat.optimize import preview
        from ..compat.sampling.perf_history import with_history

        prefs = preferences(precision, offload, max_vram_gb)
        shown = preview(pipeline, prefs)  # refuses what is not a WAN_PIPELINE, with a typed error
        user_dir = comfy_env.user_directory()
        shown = with_history(shown, pipeline.model_info, str(user_dir) if user_dir else None)  # what earlier runs measured
        optimized = replace(pipeline, preferences=prefs, plan=None)
        chosen = ", ".join(f"{k} {v}" for k, v in (("precision", prefs.precision), ("offload", prefs.offload),
                                                     ("max_vram_gb", prefs.max_vram_gb or "none")))
        text = f"preferences for Wan Sample: {chosen}\n{shown.summary()}"
        return {"ui": {"text": [text]}, "result": (optimized, shown, text)}


NODES = {"WanOptimize": WanOptimize}
DISPLAY_NAMES = {"WanOptimize": "Wan Optimize"}
