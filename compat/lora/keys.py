"""LoRA tensor names in the formats Wan LoRAs ship in, matched to the layers of a loaded transformer.

A LoRA key is `<layer alias>.<part>`. The layer alias is the layer's path in one of the namings:
- diffusers / PEFT: `blocks.0.attn1.to_q`, optionally after `transformer.` or `base_model.model.`;
- ComfyUI / the original Wan naming: `diffusion_model.blocks.0.self_attn.q` (also bare or after
  `model.diffusion_model.`), as ComfyUI, Musubi tuner and the lightx2v / CausVid LoRAs write them;
- kohya: `lora_unet_blocks_0_self_attn_q` (dots as underscores, either naming).
The part is `lora_down.weight` / `lora_up.weight` (also PEFT's `lora_A` / `lora_B`, with or
without `.default`), `alpha`, or a full difference: `diff` (a weight) and `diff_b` (a bias), which
lightx2v LoRAs carry for norms and biases. The table of aliases is built from the model's own
parameter names, so a key either names a real layer or is reported as unmatched. One layer given
twice (the same part under two namings) is refused: keeping either would drop the other silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.errors import ModelFileError
from ..loading import key_naming

PARTS = {  # longest first: `lora_A.default.weight` before `weight`
    "lora_A.default.weight": "down", "lora_B.default.weight": "up",
    "lora_down.weight": "down", "lora_up.weight": "up",
    "lora_A.weight": "down", "lora_B.weight": "up",
    "lora.down.weight": "down", "lora.up.weight": "up",
    "alpha": "alpha", "diff_b": "diff_b", "diff": "diff",
}
DIFFUSERS_PREFIXES = ("", "transformer.", "base_model.model.", "base_model.model.transformer.")
ORIGINAL_PREFIXES = ("", "diffusion_model.", "model.diffusion_model.")


@dataclass
class LayerParts:
    """What a LoRA holds for one layer, with the file's key of each part (for messages)."""

    alias: str
    layer: str  # the layer (or parameter) path in the model's (diffusers) naming
    tensors: dict[str, Any] = field(default_factory=dict)  # part -> tensor
    keys: dict[str, str] = field(default_factory=dict)  # part -> the file's key


def alias_table(parameter_names: list[str]) -> dict[str, str]:
    """alias -> layer path, for every parameter of the model (a `.weight` names its layer; any
    other parameter, such as `scale_shift_table`, names itself)."""
    table: dict[str, str] = {}
    original = key_naming.transformer_to_original(parameter_names, strict=False)
    for name, orig in zip(parameter_names, original):
        if name.endswith(".bias"):
            continue
        layer = name[: -len(".weight")] if name.endswith(".weight") else name
        orig_layer = orig[: -len(".weight")] if orig.endswith(".weight") else orig
        for prefix in DIFFUSERS_PREFIXES:
            table.setdefault(prefix + layer, layer)
        for prefix in ORIGINAL_PREFIXES:
            table.setdefault(prefix + orig_layer, layer)
        table.setdefault("lora_unet_" + orig_layer.replace(".", "_"), layer)
        table.setdefault("lora_unet_" + layer.replace(".", "_"), layer)
    return table


def split_key(key: str) -> tuple[str, str] | None:
    """(layer alias, part) of a LoRA key, or None when it ends in no known part."""
    for part in PARTS:
        if key.endswith("." + part):
            return key[: -len(part) - 1], PARTS[part]
    return None


def match(tensors: Mapping[str, Any], table: Mapping[str, str]) -> tuple[dict[str, LayerParts], list[str], list[str]]:
    """(layers by model path, keys with a known part but no layer, keys with no known part)."""
    layers: dict[str, LayerParts] = {}
    unmatched: list[str] = []
    unknown: list[str] = []
    for key, value in tensors.items():
        split = split_key(key)
        if split is None:
            unknown.append(key)
            continue
        alias, part = split
        layer = table.get(alias)
        if layer is None:
            unmatched.append(key)
            continue
        entry = layers.setdefault(layer, LayerParts(alias, layer))
        if part in entry.tensors:
            reason = f"{entry.keys[part]} and {key} are the same {part} of {layer} in two namings"
            raise ModelFileError("LORA_INVALID", reason, reason=reason)
        entry.tensors[part] = value
        entry.keys[part] = key
    return layers, sorted(unmatched), sorted(unknown)
