"""Wan Check Models: a pass-through node for native graphs that stops the run before sampling when
the loaded MODEL / CLIP / VAE / CLIP_VISION do not fit, with the typed error and its fix.

It reads the shapes of the objects ComfyUI has already loaded (never the files again) and hands
every input on unchanged, so it can sit between the loaders and the rest of any graph.
"""
from __future__ import annotations

import logging
from typing import Any

CATEGORY = "Wan Compat/Check models"


def _shapes(module: Any) -> dict[str, tuple[int, ...]] | None:
    if module is None:
        return None
    try:
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}
    except Exception:  # an object of another pack: nothing to read
        return None


def model_shapes(model: Any) -> dict[str, tuple[int, ...]] | None:
    """A ComfyUI MODEL (ModelPatcher) -> its diffusion model's state-dict shapes."""
    inner = getattr(getattr(model, "model", None), "diffusion_model", None)
    return _shapes(inner)


def clip_shapes(clip: Any) -> dict[str, tuple[int, ...]] | None:
    return _shapes(getattr(clip, "cond_stage_model", None))


def vae_shapes(vae: Any) -> dict[str, tuple[int, ...]] | None:
    return _shapes(getattr(vae, "first_stage_model", None))


def clip_vision_shapes(clip_vision: Any) -> dict[str, tuple[int, ...]] | None:
    return _shapes(getattr(clip_vision, "model", None))


class WanCheckModels:
    DESCRIPTION = (
        "Put between the native loaders (UNETLoader, CLIPLoader, VAELoader, CLIPVisionLoader) and the rest of the graph: "
        "passes every input on unchanged and stops the run before sampling when they do not fit (wrong VAE, "
        "not the UMT5 text encoder, missing or wrong CLIP vision, a LoRA upstream none of whose keys load into the model), with the fix."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "CLIP_VISION")
    RETURN_NAMES = ("model", "clip", "vae", "clip_vision")
    OUTPUT_TOOLTIPS = ("The MODEL input, unchanged.", "The CLIP input, unchanged.", "The VAE input, unchanged.",
                       "The CLIP_VISION input, unchanged.")
    FUNCTION = "check"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {
            "required": {},
            "optional": {
                "model": ("MODEL", {"tooltip": "From UNETLoader (after LoRAs is fine: their keys are checked against this model)."}),
                "clip": ("CLIP", {"tooltip": "From CLIPLoader (type wan)."}),
                "vae": ("VAE", {"tooltip": "From VAELoader."}),
                "clip_vision": ("CLIP_VISION", {"tooltip": "From CLIPVisionLoader (Wan 2.1 I2V/FLF2V only)."}),
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        }

    def check(self, model: Any = None, clip: Any = None, vae: Any = None, clip_vision: Any = None,
              prompt: Any = None, unique_id: Any = None) -> tuple[Any, Any, Any, Any]:
        from ..compat.workflow.loaded import check_loaded, loras_on_loaded, raise_first_error
        from .comfy_env import resolve_choice

        shapes = model_shapes(model)
        problems = check_loaded(shapes, clip_shapes(clip), vae_shapes(vae), clip_vision_shapes(clip_vision))
        if shapes and isinstance(prompt, dict) and unique_id is not None:
            def resolve(name: str) -> str | None:
                found = resolve_choice(name, "lora")
                return str(found) if found else None

            lora_problems = loras_on_loaded(prompt, str(unique_id), list(shapes), resolve)
            for item in lora_problems:
                if item.severity != "error":
                    logging.getLogger("wan_compat.check_models").warning("%s: %s", item.summary, item.detail)
            problems += lora_problems
        raise_first_error(problems)
        return (model, clip, vae, clip_vision)


NODES = {"WanCheckModels": WanCheckModels}
DISPLAY_NAMES = {"WanCheckModels": "Wan Check Models"}
