"""Wan Optimize: a memory/speed plan from this machine, the model and the video size (precision,
offload, VAE tiling/slicing, chunked decode, each with its reason), applied to the pipeline.
Backend: `compat/optimize`."""
from __future__ import annotations

from typing import Any

from . import comfy_env

CATEGORY = "Wan Compat/3 prepare"
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
        "Plans memory and speed for this machine (RAM, GPU memory and compute capability; CPU-only too): precision, "
        "offload (none, model, group block-level, sequential; on CPU only what works there), VAE tiling, slicing and "
        "chunked decode, each with its reason, from a memory estimate for the model, size and frame count. Your "
        "settings (wan-compat config) and the choices here override the plan. Wan Sample reports the estimate beside "
        "the measured peak."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_PIPELINE", "WAN_PLAN", "STRING")
    RETURN_NAMES = ("pipeline", "plan", "summary")
    OUTPUT_TOOLTIPS = (
        "The pipeline with the plan applied (cast, offloaded, VAE flags set) and the plan attached.",
        "The plan and its memory estimate, for Wan Diagnose.",
        "Each choice with its reason, and the estimate against the budget.",
    )
    FUNCTION = "optimize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "pipeline": ("WAN_PIPELINE", {"tooltip": "The pipeline from Wan Safe Load or Wan VAE Fix."}),
                "width": ("INT", {"default": 832, "min": 16, "max": 4096, "step": 16, "tooltip": "The width you will sample at (use the same value as Wan Sample)."}),
                "height": ("INT", {"default": 480, "min": 16, "max": 4096, "step": 16, "tooltip": "The height you will sample at (use the same value as Wan Sample)."}),
                "num_frames": ("INT", {"default": 81, "min": 1, "max": 1025, "step": 4, "tooltip": "The frame count you will sample (4k+1; use the same value as Wan Sample)."}),
            },
            "optional": {
                "videos": ("INT", {"default": 1, "min": 1, "max": 16, "tooltip": "Videos per prompt you will sample."}),
                "precision": (PRECISIONS, {"default": FROM_SETTINGS, "tooltip": "settings: optimization.precision from your settings; auto: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."}),
                "offload": (OFFLOADS, {"default": FROM_SETTINGS, "tooltip": "settings: optimization.offload from your settings; auto: the fastest mode whose estimate fits. model/sequential need a GPU."}),
                "max_vram_gb": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1024.0, "step": 0.5, "tooltip": "Plan for at most this much GPU memory (0: the settings' value, else the whole GPU)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, num_frames: int = 81, width: int = 832, height: int = 480, **_: Any) -> bool | str:
        if (num_frames - 1) % 4:
            return f"num_frames must be 4k+1 (e.g. {num_frames - (num_frames - 1) % 4} or {num_frames - (num_frames - 1) % 4 + 4}), got {num_frames}"
        if width % 16 or height % 16:
            return f"width and height must be multiples of 16, got {width}x{height}"
        return True

    def optimize(self, pipeline: Any, width: int = 832, height: int = 480, num_frames: int = 81, videos: int = 1,
                 precision: str = FROM_SETTINGS, offload: str = FROM_SETTINGS, max_vram_gb: float = 0.0) -> dict[str, Any]:
        from ..compat.optimize import OptimizationManager, Sizes

        manager = OptimizationManager(preferences=preferences(precision, offload, max_vram_gb))
        plan = manager.plan(pipeline, Sizes(width, height, num_frames, videos))
        optimized = manager.apply(pipeline, plan)
        text = plan.summary()
        return {"ui": {"text": [text]}, "result": (optimized, plan, text)}


NODES = {"WanOptimize": WanOptimize}
DISPLAY_NAMES = {"WanOptimize": "Wan Optimize"}
