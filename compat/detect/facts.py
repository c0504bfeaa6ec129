"""Facts read from tensor names and shapes: what kind of component a set of weights is, and the
numbers (hidden size, channels, blocks, latent width...) that the registry's signatures compare.

Works for both namings: diffusers (`proj_out`, `attn1.to_q`) and the original/ComfyUI naming
(`head.head`, `self_attn.q`, optional `model.diffusion_model.` prefix).
"""
from __future__ import annotations

from math import prod

from . import encoders, registry
from .fact_types import Facts, Shapes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCALED_FP8_MARKER = "scaled_fp8"

# Wan transformers with these modules are other tasks (Animate, S2V, camera, HuMo; ref_conv: Wan 2.2 Fun Control).
# SCAIL / SCAIL-2 / WanDancer by the keys ComfyUI's model_detection.py reads (patch_embedding_pose,
# patch_embedding_mask, patch_embedding_global).
SPECIAL_MARKERS = ("motion_encoder.", "face_adapter.", "casual_audio_encoder.", "control_adapter.", "audio_proj.", "ref_conv.",
                   "patch_embedding_pose.", "patch_embedding_mask.", "patch_embedding_global.")

# A wrapper prefix is stripped only when what follows it looks like a known component.
_ANCHORS = ("patch_embedding.", "blocks.", "encoder.", "decoder.", "vision_model.", "visual.")
# Numbered containers whose distinct indices count blocks/layers.
_BLOCK = "blocks."
_VACE_BLOCK = "vace_blocks."
_PREFIXES = ("", "model.diffusion_model.", "diffusion_model.", "model.", "transformer.", "net.", "text_encoders.clip_l.transformer.", "text_encoders.t5xxl.transformer.")


def is_scaled_fp8_marker(key: str) -> bool:
    """ComfyUI's scaled-fp8 marker, bare (`scaled_fp8`) or after a wrapper prefix: ComfyUI strips
    the prefix its keys carry and then looks for `scaled_fp8` (comfy/sd.py
    `load_diffusion_model_state_dict`, comfy/model_detection.py `model_config_from_unet`), so the
    Comfy-Org files whose keys carry `model.diffusion_model.` carry the marker with it."""
    if key == SCALED_FP8_MARKER:
        return True
    return key.endswith("." + SCALED_FP8_MARKER) and key[: -len(SCALED_FP8_MARKER)] in registry.naming()["prefixes"]


def strip_prefix(shapes: Shapes) -> tuple[str, Shapes]:
    """Remove a wrapper prefix such as `model.diffusion_model.` that (nearly) every key carries."""
    total = len(shapes)
    for prefix in registry.naming()["prefixes"]:
        count = sum(1 for k in shapes if k.startswith(prefix))
        if total and count >= max(1, int(total * 0.9)) and any(k.startswith(prefix + a) for a in _ANCHORS for k in shapes):
            n = len(prefix)
            return prefix, {(k[n:] if k.startswith(prefix) else k): v for k, v in shapes.items()}
    return "", shapes


_count = encoders.count_indices


def classify(shapes: Shapes) -> Facts:
    """Decide the component kind and read its facts; never raises on unexpected content."""
    renamed = encoders.is_gguf_t5(shapes)
    if renamed:  # llama.cpp names, as ComfyUI-GGUF renames them before ComfyUI sees them
        shapes = encoders.from_gguf_t5(shapes)
    prefix, stripped = strip_prefix(shapes)
    for reader in (_transformer, _vae, encoders.text_encoder, encoders.clip_vision):
        facts = reader(stripped)
        if facts is not None:
            facts.prefix = prefix
            if prefix:
                facts.evidence.insert(0, f"keys carry the prefix '{prefix}'")
            if renamed:
                facts.evidence.insert(0, "llama.cpp tensor names (enc.blk.N.attn_q ...) read as ComfyUI-GGUF renames them (T5_SD_MAP)")
            return facts
    facts = Facts("unknown", prefix=prefix)
    for row in registry.other_families():
        # ComfyUI saves other families under its wrapper prefixes too (model.diffusion_model.double_blocks...).
        if all(any(p + k in shapes for p in _PREFIXES) or k in stripped for k in row["all"]):
            facts.family = row["family"]
            facts.kind = row["kind"] if row["kind"] in ("transformer", "text_encoder", "vae", "clip_vision") else "unknown"
            facts.evidence.append(f"marker key(s) {', '.join(row['all'])} -> {row['family']}")
            break
    return facts


def _role_key(shapes: Shapes, role: str) -> tuple[str | None, str | None]:
    """The key that plays `role` and the naming it belongs to."""
    names = registry.naming()["transformer_roles"][role]
    for naming in ("diffusers", "original"):
        if names[naming] in shapes:
            return names[naming], naming
    return None, None


def _transformer(shapes: Shapes) -> Facts | None:
    patch_key, _ = _role_key(shapes, "patch_embed")
    if patch_key is None or len(shapes[patch_key]) != 5:
        return None
    _, naming = _role_key(shapes, "self_attn_q")
    if naming is None:
        _, naming = _role_key(shapes, "proj_out")
    patch = shapes[patch_key]
    hidden, in_channels = patch[0], patch[1]
    patch_size = list(patch[2:])
    values: dict[str, Any] = {
        "hidden": hidden,
        "in_channels": in_channels,
        "patch_size": patch_size,
        "blocks": _count(_BLOCK, shapes),
    }
    evidence = [f"{patch_key} {list(patch)} -> hidden {hidden}, input channels {in_channels}"]
    out_key, _ = _role_key(shapes, "proj_out")
    if out_key:
        values["out_channels"] = shapes[out_key][0] // max(1, prod(patch_size))
        evidence.append(f"{out_key} {list(shapes[out_key])} -> output channels {values['out_channels']}")
    text_key, _ = _role_key(shapes, "text_embed")
    if text_key:
        values["text_dim"] = shapes[text_key][1]
    ffn_key, _ = _role_key(shapes, "ffn_in")
    if ffn_key:
        values["ffn_dim"] = shapes[ffn_key][0]
    image_key, _ = _role_key(shapes, "image_norm")
    values["image_dim"] = shapes[image_key][0] if image_key else None
    values["has_image_embedder"] = image_key is not None
    if image_key:
        evidence.append(f"{image_key} present -> image embedder of width {values['image_dim']} (CLIP vision input)")
    flf_key, _ = _role_key(shapes, "flf_pos_embed")
    values["flf_pos_embed"] = flf_key is not None
    if flf_key:
        values["flf_pos_len"] = shapes[flf_key][1] if len(shapes[flf_key]) > 1 else None
        evidence.append(f"{flf_key} present -> first/last-frame position embedding")
    vace_key, _ = _role_key(shapes, "vace_patch_embed")
    values["vace"] = vace_key is not None
    if vace_key:
        values["vace_blocks"] = _count(_VACE_BLOCK, shapes)
        evidence.append(f"{vace_key} present -> VACE control blocks ({values['vace_blocks']})")
    markers = sorted(m for m in SPECIAL_MARKERS if any(k.startswith(m) for k in shapes))
    values["markers"] = markers
    if markers:
        evidence.append(f"special modules present: {', '.join(markers)}")
    evidence.append(f"{values['blocks']} transformer blocks")
    return Facts("transformer", values, naming=naming, evidence=evidence)


def _vae(shapes: Shapes) -> Facts | None:
    if "encoder.conv_in.weight" in shapes and "post_quant_conv.weight" in shapes:
        naming, conv_in, post = "diffusers", "encoder.conv_in.weight", "post_quant_conv.weight"
    elif "encoder.conv1.weight" in shapes and "conv2.weight" in shapes:
        naming, conv_in, post = "original", "encoder.conv1.weight", "conv2.weight"
    elif "encoder.conv_in.weight" in shapes and "decoder.conv_in.weight" in shapes:
        naming, conv_in, post = "diffusers", "encoder.conv_in.weight", "decoder.conv_in.weight"
    else:
        return None
    conv = shapes[conv_in]
    is_3d = len(conv) == 5
    z_dim = shapes[post][0] if post != "decoder.conv_in.weight" else shapes[post][1]
    wan_marker = any(k.endswith(".gamma") for k in shapes) and is_3d
    values = {"z_dim": z_dim, "in_channels": conv[1], "base_dim": conv[0], "is_3d": is_3d, "conv_ndim": len(conv)}
    evidence = [
        f"{conv_in} {list(conv)} -> {'3D (video)' if is_3d else '2D (image)'} convolutions, base width {conv[0]}, {conv[1]} input channels",
        f"{post} {list(shapes[post])} -> {z_dim} latent channels",
    ]
    facts = Facts("vae", values, naming=naming, evidence=evidence)
    if not wan_marker:
        facts.family = "video_vae" if is_3d else "image_vae"
        evidence.append("no RMS-norm 'gamma' weights: not Wan's causal 3D VAE")
    return facts
