"""One picked file against the loader that picks it: what is certainly wrong (the loader cannot
read it, it is another kind of model, another family, a layout or a marker the loader refuses),
and what the check cannot vouch for (a file it does not recognise: a warning, never an error).

The loaders' limits are node_table.READS, each with its source.
"""
from __future__ import annotations

from typing import Any

from ..detect.where_to_get import missing
from .node_table import READS
from .picks import Pick

# Roles the pack identifies; a file of another role (audio encoders, model patches, tiny VAEs) it
# does not claim to know, so "not recognised" is only information there.
CHECKED_ROLES = ("model", "vae", "text_encoder", "clip_vision", "lora", "vace_module")
_FORMAT_NAMES = {"single_file": "safetensors", "pickle": "pickle (.ckpt/.pt)", "gguf": "GGUF", "sharded": "sharded safetensors",
                 "diffusers": "diffusers folder"}
_NAMING_NAMES = {"hf": "Hugging Face", "wan_t5": "original Wan T5 (WanVideoWrapper)", "wan_clip": "original Wan open-clip XLM-RoBERTa",
                 "open_clip": "open_clip", "original": "original Wan / ComfyUI", "diffusers": "diffusers"}
_ROLE_NAMES = {"model": "diffusion model", "text_encoder": "text encoder", "clip_vision": "CLIP vision model", "vae": "VAE",
               "lora": "LoRA", "vace_module": "VACE module"}

Found = tuple[str, str, str, dict[str, Any]]  # (code, severity, detail, context)


def _what(info: Any) -> str:
    return info.kind.replace("_", " ") if info.kind != "unknown" else "file of unknown layout"


def check_file(pick: Pick, widgets: dict[str, Any], wan: bool, urls: dict[str, str]) -> list[Found]:
    """Every finding about `pick` on its own."""
    if pick.path is None:
        return [("WF_FILE_MISSING", "error", f"{pick.node_type} #{pick.node_id} picks {pick.name}",
                 missing(pick.folder, pick.name, urls.get(pick.name)))]
    info = pick.info
    assert info is not None
    out: list[Found] = [(p.code, "error", f"{pick.name}: {p.detail}" if p.detail else pick.name, {})
                        for p in info.problems if p.severity == "error"]
    reads = READS.get(pick.node_type, {})
    formats = reads.get("formats")
    if formats and info.format in _FORMAT_NAMES and info.format not in formats:
        out.append(_cannot_read(pick, f"it is a {_FORMAT_NAMES[info.format]} file; {pick.node_type} reads "
                                      f"{', '.join(_FORMAT_NAMES.get(f, f) for f in formats)}"))
    if out or not pick.runs:  # unreadable, or on a branch that never runs: nothing more to say
        return out
    if info.kind == "unknown" and info.family == "unknown":
        severity = "warning" if pick.role in CHECKED_ROLES else "info"
        return [("WF_NOT_RECOGNISED", severity, f"{pick.name}: {'; '.join(info.evidence[:2]) or 'no layout the pack knows'}",
                 {"name": pick.name, "role": _ROLE_NAMES.get(pick.role, pick.role.replace("_", " "))})]
    return out + _by_role(pick, info, widgets, reads, wan)


def _cannot_read(pick: Pick, why: str) -> Found:
    return ("WF_LOADER_CANNOT_READ", "error", f"{pick.name}: {why}", {"name": pick.name, "node": pick.node_type})


def _by_role(pick: Pick, info: Any, widgets: dict[str, Any], reads: dict[str, Any], wan: bool) -> list[Found]:
    kind, family, role = info.kind, info.family, pick.role
    expected = {"model": "transformer", "vace_module": "transformer", "lora": "lora"}.get(role, role)
    if role == "model" and kind == "lora":
        return [("WF_LORA_AS_MODEL", "error", f"{pick.name}: {'; '.join(info.evidence[:2])}", {"name": pick.name, "node": pick.node_type})]
    if role == "lora" and kind not in ("lora", "unknown"):
        return [("WF_NOT_A_LORA", "error", pick.name, {"name": pick.name, "found": _what(info)})]
    if role in ("model", "vae", "text_encoder", "clip_vision") and kind not in (expected, "unknown") and not (role == "model" and kind == "pipeline"):
        return [("WF_WRONG_KIND", "error", pick.name, {"name": pick.name, "found": _what(info),
                                                       "expected": _ROLE_NAMES[role], "node": pick.node_type})]
    if not wan or role not in ("model", "vae", "text_encoder", "clip_vision", "lora"):
        return []
    if role == "text_encoder":
        return _text_encoder(pick, info, widgets, reads)
    if family not in ("wan", "unknown", "clip_vision"):
        return [("WF_NOT_WAN_MODEL", "error", pick.name, {"name": pick.name, "family": family + (" (LoRA)" if role == "lora" else "")})]
    namings = reads.get("namings")
    if namings and info.naming and info.naming not in namings:
        return [_layout(pick, info, namings)]
    if role == "clip_vision" and pick.node_type == "LoadWanVideoClipTextEncoder" and not (info.components.get("clip_vision") or {}).get("log_scale"):
        return [_cannot_read(pick, "it has no log_scale tensor, which LoadWanVideoClipTextEncoder requires (the open-clip XLM-RoBERTa file)")]
    return []


def _layout(pick: Pick, info: Any, namings: tuple[str, ...]) -> Found:
    return _cannot_read(pick, f"it is in the {_NAMING_NAMES.get(info.naming, info.naming)} layout; {pick.node_type} reads only the "
                              f"{' or '.join(_NAMING_NAMES.get(n, n) for n in namings)} layout")


def _text_encoder(pick: Pick, info: Any, widgets: dict[str, Any], reads: dict[str, Any]) -> list[Found]:
    if info.family not in ("umt5", "unknown"):
        return [("WF_TEXT_ENCODER_NOT_UMT5", "error", f"{pick.name} is {info.family}", {"name": pick.name, "found": info.family})]
    if info.family == "unknown":
        return [("WF_NOT_RECOGNISED", "warning", f"{pick.name}: a text encoder of a size the pack does not know",
                 {"name": pick.name, "role": "text encoder"})]
    namings = reads.get("namings")
    if namings and info.naming not in namings:
        return [_layout(pick, info, namings)]
    facts = info.components.get("text_encoder") or {}
    if "scaled_fp8" in reads.get("refuse", ()) and (facts.get("scaled_fp8") or info.quantization == "fp8_scaled"):
        return [_cannot_read(pick, f"it is a scaled-fp8 file, which {pick.node_type} refuses")]
    clip_type = widgets.get(reads["clip_type"]) if reads.get("clip_type") else None
    if isinstance(clip_type, str) and clip_type != "wan":
        return [("WF_CLIP_TYPE_NOT_WAN", "error", f"{pick.name} with type '{clip_type}'", {"node": pick.node_type, "type": clip_type})]
    return []
