"""Wan VAE Fix: the VAE checked against the transformer(s), replaced when it does not fit, and how
latents are decoded (tiling, slicing, chunked temporal decode). Backend: `compat/vae`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env, input_paths
from .comfy_env import NONE
from .detect import _file_fingerprint, _problem, _resolve, path_input
from .missing_model import check_choice

CATEGORY = "Wan Compat/Prepare"
SWITCH = ["auto", "on", "off"]


def _settings() -> Any:
    from ..compat.settings.store import load_settings

    return load_settings(comfy_env.user_directory())


class WanVAEFix:
    DESCRIPTION = (
        "Checks the pipeline's VAE against its transformer(s) before any sampling: latent channels (z_dim vs "
        "out_channels, in_channels z or 2z+4), latents_mean/std lengths, spatial scale, a 2D image VAE, a Wan 2.1 VAE "
        "on Wan 2.2 TI2V-5B or the reverse, and weights left on meta, NaN or absurd. A VAE that does not fit is "
        "replaced by one that does (the model folder's vae/, or models/vae); when none is there the error names the "
        "file to download. Also records VAE tiling, slicing and chunked temporal decode (same frames, bounded memory), "
        "which Wan Sample sets on the VAE for its run only."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_PIPELINE", "STRING")
    RETURN_NAMES = ("pipeline", "report")
    OUTPUT_TOOLTIPS = (
        "A new pipeline handle: a VAE that fits (the pipeline rebuilt when it was replaced), its VAE report and decode settings attached.",
        "What was checked, found and done, as text.",
    )
    FUNCTION = "fix"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "pipeline": ("WAN_PIPELINE", {"tooltip": "The pipeline from Wan Safe Load."}),
            },
            "optional": {
                "vae": comfy_env.model_combo("vae", "Use this VAE from models/vae instead of the pipeline's (refused if it does not fit). none: keep the pipeline's, replacing it only if it does not fit."),
                "vae_path": path_input("Absolute path of a VAE file or diffusers vae folder to use; wins over the list."),
                "search_models_vae": ("BOOLEAN", {"default": True, "tooltip": "When the pipeline's VAE does not fit, look for one that does in models/vae (the model folder's own vae/ is always tried first)."}),
                "tiling": (SWITCH, {"default": "auto", "tooltip": "Spatial tiling of the VAE decode (less memory at high resolution; tile seams are blended). auto: the plan decides for the size sampled."}),
                "slicing": (SWITCH, {"default": "auto", "tooltip": "Decode several videos one at a time. auto: the plan decides."}),
                "chunked_decode": (SWITCH, {"default": "auto", "tooltip": "Decode a few latent frames at a time, keeping the causal cache between chunks: bit-identical frames with bounded memory. auto: on."}),
                "chunk_latent_frames": ("INT", {"default": 1, "min": 1, "max": 64, "tooltip": "Latent frames per decode chunk (each gives 4 video frames). Every value gives the same frames; 1 uses the least memory."}),
                "config_path": path_input("A VAE file of unofficial size needs its config: a diffusers folder of the same model (its vae/config.json is used)."),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, vae: str = NONE, vae_path: str = "", config_path: str = "") -> bool | str:
        # Named inputs only: ComfyUI repeats a message once per named input (all of them with **kwargs).
        if not vae_path.strip() and (missing := check_choice(vae, "vae")) is not True:
            return missing
        wrong = _problem(vae, vae_path, "VAE", "vae") or (input_paths.problem(config_path, "config") if config_path.strip() else None)
        if wrong:
            return wrong
        if config_path.strip() and not Path(config_path.strip()).expanduser().is_dir():
            return f"config_path must be an existing folder: {config_path}"
        return True

    @classmethod
    def IS_CHANGED(cls, vae: str = NONE, vae_path: str = "", **_: Any) -> str:
        return _file_fingerprint(_resolve(vae, vae_path, "vae"))

    def fix(self, pipeline: Any, vae: str = NONE, vae_path: str = "", search_models_vae: bool = True, tiling: str = "auto",
            slicing: str = "auto", chunked_decode: str = "auto", chunk_latent_frames: int = 1, config_path: str = "") -> dict[str, Any]:
        from ..compat.vae import fix_vae

        fixed = fix_vae(
            pipeline,
            vae=_resolve(vae, vae_path, "vae"),
            search=comfy_env.model_files("vae") if search_models_vae else (),
            tiling=tiling, slicing=slicing, chunked=chunked_decode, chunk_latent_frames=chunk_latent_frames,
            config_source=input_paths.admitted(config_path) if config_path.strip() else None,
            policy=_settings().security,
            roots=comfy_env.model_roots(),
            on_progress=comfy_env.progress_reporter(),  # the checks, and the bytes of a VAE swapped in
        )
        text = fixed.vae_report.summary()
        return {"ui": {"text": [text]}, "result": (fixed, text)}


NODES = {"WanVAEFix": WanVAEFix}
DISPLAY_NAMES = {"WanVAEFix": "Wan VAE Fix"}
