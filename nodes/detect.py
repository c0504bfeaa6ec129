"""Wan Detect Architecture and Wan Check Compatibility nodes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env, input_paths, shown_paths
from .comfy_env import NONE
from .missing_model import check_choice

CATEGORY = "Wan Compat/Check models"
PATH_TOOLTIP = "An absolute path to a diffusers folder or a .safetensors file; when set it wins over the list above."
PARTS = ("vae", "text_encoder", "clip_vision")


def _resolve(choice: str, path: str, slot: str = "model") -> Path | None:
    """The path a choice of `slot` (model, vae, text_encoder, clip_vision, lora) or a typed path
    names, under the pack's one path policy (a refused path raises PATH_OUTSIDE_ROOTS before
    anything is opened)."""
    if path and path.strip():
        return input_paths.admitted(path)
    return comfy_env.resolve_choice(choice, slot)


def _problem(choice: str, path: str, what: str = "model", slot: str = "model") -> str | None:
    """VALIDATE_INPUTS' message for a choice or typed path, or None when it may be used."""
    if path and path.strip():
        return input_paths.problem(path, what)
    found = comfy_env.resolve_choice(choice, slot)
    return None if found is None else input_paths.problem(found, what)


def path_input(tooltip: str) -> tuple[str, dict[str, Any]]:
    """A typed-path input: kept for scripts and odd setups, hidden with ComfyUI's advanced inputs."""
    return ("STRING", {"default": "", "tooltip": tooltip, "advanced": True})


def _file_fingerprint(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        targets = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors"))
        return ";".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in targets)
    except OSError:
        return "missing"


def verdict_ui(info: Any, checked: str = "") -> dict[str, list[Any]]:
    """What the web extension shows on the node: the colour of the verdict, a short badge, one line
    in a user's words, each problem with its fix, and the evidence (one click away); paths are
    shown relative to ComfyUI's model folders. `checked` says what a check compared."""
    from ..compat.detect.verdict_words import face, model_words

    status = "error" if not info.ok else ("warning" if any(p.severity == "warning" for p in info.problems) else "ok")
    words = face(info, shown_paths.relative, checked)
    text = "\n".join([words["headline"], *words["problems"], *([checked] if checked else [])])
    badge = model_words(info) if info.family == "wan" else info.family
    return {"text": [text], "wan_verdict": [{"badge": badge, "status": status, **words}]}


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
                "model_path": path_input(PATH_TOOLTIP),
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
        from ..compat.security.link_rule import LinkCheckedDetector
        from ..compat.settings.store import load_settings

        path = _resolve(model, model_path)
        if path is None:
            from ..compat.core.errors import UsageError

            raise UsageError("MODEL_NOT_CHOSEN", "model: none, model_path: empty")
        overrides = load_settings(comfy_env.user_directory()).advanced.pipeline_overrides  # what the settings force
        info = LinkCheckedDetector(overrides).inspect(path)
        return {"ui": verdict_ui(info), "result": (info, shown_paths.relative(info.summary()))}


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
                "vae": comfy_env.model_combo("vae", "A VAE from models/vae. none: the VAE the model_info already names (Wan Safe Load (native), a diffusers folder), if any."),
                "text_encoder": comfy_env.model_combo("text_encoder", "A text encoder from models/text_encoders. none: the one the model_info already names, if any."),
                "clip_vision": comfy_env.model_combo("clip_vision", "CLIP vision from models/clip_vision (Wan 2.1 I2V/FLF2V only). none: the one the model_info already names, if any."),
            },
            "optional": {
                "vae_path": path_input("Absolute path of a VAE file; wins over the list."),
                "text_encoder_path": path_input("Absolute path of a text-encoder file; wins over the list."),
                "clip_vision_path": path_input("Absolute path of a CLIP vision file; wins over the list."),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, vae: str = NONE, text_encoder: str = NONE, clip_vision: str = NONE, vae_path: str = "",
                        text_encoder_path: str = "", clip_vision_path: str = "") -> bool | str:
        # A picked part that is not installed gets the one message (missing_model.py); a typed path wins over the list.
        picks = (("vae", vae, vae_path), ("text_encoder", text_encoder, text_encoder_path), ("clip_vision", clip_vision, clip_vision_path))
        for slot, choice, typed in picks:
            if not typed.strip() and (missing := check_choice(choice, slot)) is not True:
                return missing
        return True

    def check(self, model_info: Any, vae: str = NONE, text_encoder: str = NONE, clip_vision: str = NONE,
              vae_path: str = "", text_encoder_path: str = "", clip_vision_path: str = "") -> dict[str, Any]:
        from ..compat.detect.verdict_words import parts_checked
        from ..compat.security.link_rule import LinkCheckedDetector

        picked = {
            "vae": _resolve(vae, vae_path, "vae"),
            "text_encoder": _resolve(text_encoder, text_encoder_path, "text_encoder"),
            "clip_vision": _resolve(clip_vision, clip_vision_path, "clip_vision"),
        }
        # A part left at none is the one the incoming verdict already names (Wan Safe Load (native)
        # checked it at load): it is checked again here, so the face says what fits.
        named = {slot: Path(str(facts["path"])) for slot, facts in parts_checked(model_info).items()} if model_info is not None else {}
        parts = {slot: picked[slot] or named.get(slot) for slot in PARTS}
        # The model's verdict is re-used (detected again only if its files changed); only the parts are read.
        detector = LinkCheckedDetector()
        info = detector.check_parts(detector.reuse(model_info), **parts)
        return {"ui": verdict_ui(info, _checked_words(picked, named)), "result": (info, shown_paths.relative(info.summary()))}


def _checked_words(picked: dict[str, Path | None], named: dict[str, Path]) -> str:
    """What Check Compatibility compared, in one line: each part and where it came from."""
    from ..compat.detect.verdict_words import PART_WORDS

    said = []
    for slot in PARTS:
        if picked[slot] is not None:
            said.append(f"{PART_WORDS[slot]} {picked[slot].name} (picked here)")
        elif slot in named:
            said.append(f"{PART_WORDS[slot]} {named[slot].name} (from model_info)")
    return "Checked the model against: " + ", ".join(said) if said else "Checked the model alone: no VAE, text encoder or CLIP vision was picked"


NODES = {"WanDetectArchitecture": WanDetectArchitecture, "WanCheckCompatibility": WanCheckCompatibility}
DISPLAY_NAMES = {"WanDetectArchitecture": "Wan Detect Architecture", "WanCheckCompatibility": "Wan Check Compatibility"}
