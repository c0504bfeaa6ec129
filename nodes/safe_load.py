"""Wan Safe Load: a Wan pipeline from a diffusers folder or from ComfyUI single files, under the
security policy, with every weight checked (the backend is `compat/loading`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env, comfy_memory, shown_paths
from .comfy_env import NONE
from . import input_paths
from .detect import _file_fingerprint, _problem, _resolve, path_input
from .missing_model import check_choice

CATEGORY = "Wan Compat/Load"
DTYPES = ["bf16", "fp16", "fp32"]
STORAGE = ["default", "fp8_e4m3fn", "fp8_e5m2"]
PARTS = ("transformer_2", "vae", "text_encoder", "clip_vision")
_PART_SLOT = {"transformer_2": "model", "vae": "vae", "text_encoder": "text_encoder", "clip_vision": "clip_vision"}


def _settings() -> Any:
    """The pack's settings (strict defaults when there is no settings file): the security policy
    and the pipeline overrides of every load."""
    from ..compat.settings.store import load_settings

    return load_settings(comfy_env.user_directory())


def _path(text: str) -> Path | None:
    return input_paths.admitted(text) if text and text.strip() else None


def _parts(kwargs: dict[str, Any]) -> dict[str, Path | None]:
    return {part: _resolve(kwargs.get(part, NONE), kwargs.get(f"{part}_path", ""), _PART_SLOT[part]) for part in PARTS}


class WanSafeLoad:
    DESCRIPTION = (
        "Loads a Wan 2.1 / 2.2 pipeline safely: safetensors only unless a pickle's sha256 is allowlisted, no custom "
        "code, every path inside the model folders, and every weight checked (no missing, unexpected or mismatched "
        "key, nothing left uninitialised). Takes a diffusers folder, or ComfyUI single files (diffusion model, VAE, "
        "text encoder, CLIP vision for Wan 2.1 I2V/FLF2V, the low-noise expert for Wan 2.2 A14B); with a folder, a part "
        "given here replaces the folder's own, and a folder refused for one broken part names the input that replaces it."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_PIPELINE", "STRING")
    RETURN_NAMES = ("pipeline", "report")
    OUTPUT_TOOLTIPS = (
        "The loaded pipeline with the detector's verdict and the load report, for the sampling and diagnose nodes.",
        "The load report as readable text: files, policy decisions, dtypes, timings and memory.",
    )
    FUNCTION = "load"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": comfy_env.model_combo("model", "A diffusers folder (models/diffusers) or a diffusion model file (models/diffusion_models); for Wan 2.2 A14B single files, the high-noise expert. Hidden (advanced) because the shipped workflows connect model_info from Wan Detect Architecture instead; show the advanced inputs to pick here without Detect.", advanced=True),
                "dtype": (DTYPES, {"default": "bf16", "tooltip": "Compute precision of the transformer(s) and the text encoder; the modules Wan needs in fp32 stay fp32."}),
            },
            "optional": {
                "model_info": ("WAN_MODEL_INFO", {"tooltip": "From Wan Detect Architecture: the model to load and its verdict, re-used instead of detecting again while the files are unchanged."}),
                "model_path": path_input("Absolute path of a diffusers folder or diffusion model file; wins over the list. Must lie inside the model folders."),
                "transformer_2": comfy_env.model_combo("model", "Wan 2.2 A14B: the low-noise expert (single files), or a replacement for a diffusers folder's transformer_2."),
                "transformer_2_path": path_input("Absolute path of the low-noise expert; wins over the list."),
                "vae": comfy_env.model_combo("vae", "The VAE (wan_2.1_vae for every 14B model, wan2.2_vae for TI2V-5B): for single files, or to replace a diffusers folder's vae/ (its own is then never read)."),
                "vae_path": path_input("Absolute path of a VAE file, or of another diffusers folder's vae/ folder; wins over the list."),
                "text_encoder": comfy_env.model_combo("text_encoder", "The UMT5-XXL text encoder (umt5_xxl_*.safetensors; its embedded tokenizer is used): for single files, or to replace a diffusers folder's text_encoder/."),
                "text_encoder_path": path_input("Absolute path of a text-encoder file, or of another diffusers folder's text_encoder/ folder; wins over the list."),
                "clip_vision": comfy_env.model_combo("clip_vision", "Wan 2.1 I2V/FLF2V only: clip_vision_h.safetensors, for single files or to replace a diffusers folder's image_encoder/."),
                "clip_vision_path": path_input("Absolute path of a CLIP vision file, or of another diffusers folder's image_encoder/ folder; wins over the list."),
                "config_path": path_input("Single files of a model the pack has no config for: a diffusers folder of the same model; only its configs, scheduler and tokenizer are used."),
                "tokenizer_path": path_input("Single files: a tokenizer folder to use instead of the one embedded in the text encoder."),
                "vae_dtype": (DTYPES, {"default": "fp32", "advanced": True, "tooltip": "Precision of the VAE and CLIP vision (fp32 as in the official Wan examples)."}),
                "weight_storage": (STORAGE, {"default": "default", "advanced": True, "tooltip": "Store the transformer's large matrices in fp8 and compute in dtype (halves their memory; needs torch with fp8)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model: str = NONE, model_path: str = "", transformer_2: str = NONE, transformer_2_path: str = "",
                        vae: str = NONE, vae_path: str = "", text_encoder: str = NONE, text_encoder_path: str = "",
                        clip_vision: str = NONE, clip_vision_path: str = "", config_path: str = "",
                        tokenizer_path: str = "", input_types: dict[str, Any] | None = None) -> bool | str:
        # Named arguments only (no **kwargs): ComfyUI skips its own checks for the inputs named
        # here, and for every input when **kwargs is present; the other combos stay checked.
        # `input_types` names the linked inputs (model_info's value is not known before the run);
        # asking for it turns off ComfyUI's check of linked types, so it is made here.
        linked = input_types or {}
        wrong = comfy_env.linked_type_problem(cls, linked)
        if wrong:
            return wrong
        if not model_path.strip() and (missing := check_choice(model)) is not True:
            return missing  # a picked model that is not installed: what it is and where to get it
        picks = {"transformer_2": (transformer_2, transformer_2_path), "vae": (vae, vae_path), "text_encoder": (text_encoder, text_encoder_path),
                 "clip_vision": (clip_vision, clip_vision_path)}
        for part, (choice, typed) in picks.items():
            if not typed.strip() and (missing := check_choice(choice, _PART_SLOT[part])) is not True:
                return missing
        given_model = (model_path or "").strip() or comfy_env.resolve_choice(model, "model")
        if given_model is None and not ({"model", "model_path", "model_info"} & set(linked)):
            return "Connect model_info from Wan Detect Architecture, or choose a model from the list (or enter a model_path)."
        wrong = _problem(model, model_path)
        if wrong:
            return wrong
        given = {"transformer_2": transformer_2_path, "vae": vae_path, "text_encoder": text_encoder_path, "clip_vision": clip_vision_path}
        for part, text in given.items():
            wrong = input_paths.problem(text.strip(), part.replace('_', ' ')) if text and text.strip() else None
            if wrong:
                return wrong
        for name, text in (("config_path", config_path), ("tokenizer_path", tokenizer_path)):
            wrong = input_paths.problem(text.strip(), name) if text and text.strip() else None
            if wrong:
                return wrong
            if text and text.strip() and not _path(text).is_dir():
                return f"{name} must be an existing folder: {text.strip()}"
        return True

    @classmethod
    def IS_CHANGED(cls, model: str = NONE, model_path: str = "", **kwargs: Any) -> str:
        paths = [_resolve(model, model_path), *_parts(kwargs).values()]
        # A new generation after ComfyUI's unload released the pipeline: load it again.
        return "|".join(_file_fingerprint(p) for p in paths) + f"|g{comfy_memory.generation()}"

    def load(self, model: str = NONE, dtype: str = "bf16", model_path: str = "", vae_dtype: str = "fp32",
             weight_storage: str = "default", config_path: str = "", tokenizer_path: str = "", model_info: Any = None,
             **kwargs: Any) -> dict[str, Any]:
        from ..compat.loading import LoadOptions, load_pipeline

        parts = _parts(kwargs)
        comfy_memory.make_room(comfy_memory.file_bytes(_resolve(model, model_path) or getattr(model_info, "path", None), *parts.values()))
        settings = _settings()
        # No model and no model_info: MODEL_NOT_GIVEN; both, naming different models: MODEL_INFO_MISMATCH.
        loaded = load_pipeline(
            _resolve(model, model_path),
            model_info=model_info,
            **{part: path for part, path in parts.items() if path is not None},
            config_source=_path(config_path),
            tokenizer=_path(tokenizer_path),
            policy=settings.security,
            roots=comfy_env.model_roots(),
            options=LoadOptions(dtype=dtype, vae_dtype=vae_dtype, weight_storage=weight_storage),
            overrides=settings.advanced.pipeline_overrides,
            on_progress=comfy_env.progress_reporter(),  # the weight bytes read
        )
        comfy_memory.register(loaded.pipeline)
        text = shown_paths.relative(loaded.summary())
        return {"ui": {"text": [text]}, "result": (loaded, text)}


NODES = {"WanSafeLoad": WanSafeLoad}
DISPLAY_NAMES = {"WanSafeLoad": "Wan Safe Load"}
