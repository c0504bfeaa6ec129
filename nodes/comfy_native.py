"""ComfyUI's own model constructors, fed with state dicts the pack has already verified.

The only module that builds native MODEL / CLIP / VAE / CLIP_VISION objects. ComfyUI loads these
non-strictly (a missing tensor stays random and is only logged), so nothing reaches them that
`compat/loading/verified_state.py` did not check name by name first. The imports are ComfyUI's
top-level modules, made inside the functions.
"""
from __future__ import annotations

from typing import Any

# UNETLoader's weight_dtype choices, passed to ComfyUI the same way.
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")


def build(component: str, constructor: Any, state: dict[str, Any], *args: Any) -> Any:
    """`constructor(state, *args)`, with ComfyUI's raw errors (size mismatches of its fixed configs,
    asserts) as NATIVE_BUILD_FAILED naming the part."""
    from ..compat.core.errors import LoadError, WanCompatError

    try:
        return constructor(state, *args)
    except WanCompatError:
        raise
    except Exception as exc:  # ComfyUI raises RuntimeError/AssertionError/ValueError with prose
        raise LoadError("NATIVE_BUILD_FAILED", f"{type(exc).__name__}: {str(exc)[:1500]}", component=component) from None


def _model_options(weight_dtype: str) -> dict[str, Any]:
    import torch

    options: dict[str, Any] = {}
    if weight_dtype in ("fp8_e4m3fn", "fp8_e4m3fn_fast"):
        options["dtype"] = torch.float8_e4m3fn
        if weight_dtype.endswith("_fast"):
            options["fp8_optimizations"] = True
    elif weight_dtype == "fp8_e5m2":
        options["dtype"] = torch.float8_e5m2
    return options


def diffusion_model(state: dict[str, Any], weight_dtype: str = "default") -> Any:
    """MODEL (a ModelPatcher) by ComfyUI's detection of the Wan config from the state dict."""
    import comfy.sd

    model = comfy.sd.load_diffusion_model_state_dict(state, model_options=_model_options(weight_dtype))
    if model is None:
        from ..compat.core.errors import LoadError

        raise LoadError("NATIVE_BUILD_FAILED", "ComfyUI detected no model config from the state dict", component="diffusion model")
    return model


def text_encoder(state: dict[str, Any]) -> Any:
    """CLIP of ComfyUI's type `wan` (UMT5-XXL, a fixed config: only the real size loads)."""
    import comfy.sd
    import folder_paths

    return comfy.sd.load_text_encoder_state_dicts([state], embedding_directory=folder_paths.get_folder_paths("embeddings"),
                                                  clip_type=comfy.sd.CLIPType.WAN)


def vae(state: dict[str, Any]) -> Any:
    """VAE (ComfyUI picks the Wan 2.1 or 2.2 layout from the keys; both are fixed real sizes)."""
    import comfy.sd

    built = comfy.sd.VAE(sd=state)
    built.throw_exception_if_invalid()
    return built


def clip_vision(state: dict[str, Any]) -> Any:
    """CLIP_VISION (ComfyUI picks the config from the keys: clip_vision_h for Wan 2.1 I2V/FLF2V)."""
    import comfy.clip_vision

    built = comfy.clip_vision.load_clipvision_from_sd(state)
    if built is None:
        from ..compat.core.errors import LoadError

        raise LoadError("NATIVE_BUILD_FAILED", "ComfyUI knows no CLIP vision config for these keys", component="CLIP vision")
    return built
