"""Wan Sample: T2V, I2V, FLF2V, TI2V and Wan 2.2 MoE generation with ComfyUI's progress bar and
interrupt, NaN/Inf checks per step and reproducible seeds. Backend: `compat/sampling`."""
from __future__ import annotations

from typing import Any

from . import comfy_env, comfy_memory

CATEGORY = "Wan Compat/Generate"
MODEL_DEFAULT = "model default"
MAX_SEED = 2**64 - 1
# Settings whose best value is the model's own: a list that starts with "model default" (what the
# registry and the model's configs give) instead of a -1 sentinel; any other number still
# validates (API prompts, workflows of pack versions up to 0.2, where -1 meant the default).
CHOICES = {
    "shift": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 16.0, 20.0),
    "cfg_2": (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0),
    "boundary_ratio": (0.8, 0.825, 0.85, 0.875, 0.9, 0.925, 0.95),
}
LIMITS = {"shift": (0.0, 100.0), "cfg_2": (0.0, 30.0), "boundary_ratio": (0.0, 0.999)}


def _default_combo(name: str, tooltip: str, **options: Any) -> tuple[list[str], dict[str, Any]]:
    return [MODEL_DEFAULT, *(f"{v:g}" for v in CHOICES[name])], {"default": MODEL_DEFAULT, "tooltip": tooltip, **options}


def setting(value: Any) -> float | None:
    """A "model default" choice as None, a number as a float (negative: the 0.2 sentinel, None)."""
    if value is None or value == MODEL_DEFAULT:
        return None
    number = float(value)
    return None if number < 0 else number


def _setting_problem(name: str, value: Any) -> str | None:
    try:
        number = setting(value)
    except (TypeError, ValueError):
        return f"{name} must be {MODEL_DEFAULT!r} or a number, got {value!r}"
    low, high = LIMITS[name]
    if number is not None and not low <= number <= high:
        return f"{name} must be between {low:g} and {high:g} (or {MODEL_DEFAULT}), got {number:g}"
    return None


class WanSample:
    DESCRIPTION = (
        "Generates a video with the loaded Wan pipeline: text-to-video, image-to-video (connect image), first/last "
        "frame (image and last_image, Wan 2.1 FLF2V), TI2V-5B (image optional) and Wan 2.2 A14B's two experts (cfg "
        "for the high-noise expert, cfg_2 for the low-noise one, boundary_ratio where they switch). Frame count and "
        "size are checked against the model before anything runs, and a VAE that does not fit is refused before "
        "the first step. The memory plan (Wan Optimize's preferences, else your settings) is made for the size "
        "entered here and applied for this run only. The progress bar moves per step, Cancel stops between steps, "
        "NaN/Inf stops the run at the step it appears, and the same seed gives the same frames."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "WAN_SAMPLE_STATS", "FLOAT", "STRING")
    RETURN_NAMES = ("frames", "stats", "fps", "summary")
    OUTPUT_TOOLTIPS = (
        "The frames as IMAGE (frames, height, width, 3) in [0, 1]; several videos per prompt follow one another and stay apart: Wan Frame Process and Wan Encode Video write one file per video.",
        "Run statistics: time per step, peak memory beside the estimate, the plan applied, the step where the experts switched, seed and sizes.",
        "The model's frame rate (16 for Wan 2.1 and 2.2 A14B, 24 for TI2V-5B), for the video encoder.",
        "The statistics as text.",
    )
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "pipeline": ("WAN_PIPELINE", {"tooltip": "The pipeline from Wan Safe Load, Wan VAE Fix or Wan Optimize."}),
                "prompt": ("STRING", {"multiline": True, "default": "", "tooltip": "What the video shows."}),
                "negative_prompt": ("STRING", {"multiline": True, "default": "", "tooltip": "What to avoid (used when cfg > 1)."}),
                "width": ("INT", {"default": 832, "min": 16, "max": 4096, "step": 16, "tooltip": "Width in pixels: a multiple of 16 (32 for Wan 2.2 TI2V-5B)."}),
                "height": ("INT", {"default": 480, "min": 16, "max": 4096, "step": 16, "tooltip": "Height in pixels: a multiple of 16 (32 for Wan 2.2 TI2V-5B)."}),
                "num_frames": ("INT", {"default": 81, "min": 1, "max": 1025, "step": 4, "tooltip": "Frames in the video: 4k+1 (81 = 5 s at 16 fps; 121 for TI2V-5B at 24 fps)."}),
                "steps": ("INT", {"default": 30, "min": 1, "max": 200, "tooltip": "Denoising steps."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True, "tooltip": "The same seed, inputs and model give the same frames."}),
                "cfg": ("FLOAT", {"default": 5.0, "min": 0.0, "max": 30.0, "step": 0.1, "round": 0.01, "tooltip": "Classifier-free guidance (the high-noise expert's, for Wan 2.2 A14B). 1 or less disables the negative prompt."}),
                "shift": _default_combo("shift", "Flow shift of the scheduler. model default: the model's own (3 for 480p, 5 for 720p Wan 2.1; 12 for T2V-A14B)."),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "The first frame: required for I2V/FLF2V, optional for TI2V-5B, refused by T2V models."}),
                "last_image": ("IMAGE", {"tooltip": "The last frame (Wan 2.1 FLF2V only)."}),
                "cfg_2": _default_combo("cfg_2", "Wan 2.2 A14B only: guidance of the low-noise expert. model default: the same as cfg (the shipped A14B workflows set the recommended 3 for T2V, 3.5 for I2V).", advanced=True),
                "boundary_ratio": _default_combo("boundary_ratio", "Wan 2.2 A14B only: the experts switch when the timestep falls below boundary_ratio x 1000. model default: 0.875 T2V, 0.9 I2V.", advanced=True),
                "videos": ("INT", {"default": 1, "min": 1, "max": 16, "advanced": True, "tooltip": "Videos per prompt (different noise, same seed): one IMAGE holding them one after another, written as one file each by Wan Encode Video (Wan Frame Process can merge them)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, num_frames: int = 81, width: int = 832, height: int = 480, shift: Any = MODEL_DEFAULT,
                        cfg_2: Any = MODEL_DEFAULT, boundary_ratio: Any = MODEL_DEFAULT) -> bool | str:
        # Named inputs only: with **kwargs ComfyUI would repeat a message once per input of the node.
        # shift, cfg_2 and boundary_ratio are named so that a number outside their lists passes.
        for name, value in (("shift", shift), ("cfg_2", cfg_2), ("boundary_ratio", boundary_ratio)):
            if (wrong := _setting_problem(name, value)) is not None:
                return wrong
        if (num_frames - 1) % 4:
            low = num_frames - (num_frames - 1) % 4
            return f"num_frames must be 4k+1 (e.g. {low} or {low + 4}), got {num_frames}"
        if width % 16 or height % 16:
            return f"width and height must be multiples of 16, got {width}x{height}"
        return True

    def sample(self, pipeline: Any, prompt: str, negative_prompt: str = "", width: int = 832, height: int = 480,
               num_frames: int = 81, steps: int = 30, seed: int = 0, cfg: float = 5.0, shift: Any = MODEL_DEFAULT,
               image: Any = None, last_image: Any = None, cfg_2: Any = MODEL_DEFAULT, boundary_ratio: Any = MODEL_DEFAULT,
               videos: int = 1) -> dict[str, Any]:
        from ..compat.sampling import SampleRequest, sample

        on_progress = comfy_env.progress_reporter()
        request = SampleRequest(
            prompt=prompt, negative_prompt=negative_prompt, width=width, height=height, num_frames=num_frames, steps=steps,
            seed=seed, cfg=cfg, shift=setting(shift), cfg_2=setting(cfg_2), boundary_ratio=setting(boundary_ratio),
            image=image, last_image=last_image, videos=videos,
        )
        user_dir = comfy_env.user_directory()
        comfy_memory.make_room(comfy_memory.weight_bytes(pipeline.pipeline))
        try:
            result = sample(pipeline, request, on_progress=on_progress, check_interrupt=comfy_env.throw_if_interrupted,
                            user_dir=str(user_dir) if user_dir else None)
        finally:
            comfy_memory.after_run()
        text = result.stats.summary()
        fps = float(result.stats.fps or 16)
        return {"ui": {"text": [text]}, "result": (result.frames, result.stats, fps, text)}


NODES = {"WanSample": WanSample}
DISPLAY_NAMES = {"WanSample": "Wan Sample"}
