"""LoRA files: what model a low-rank patch belongs to, from the shapes of its rank-decomposed pairs.

A LoRA carries, for each patched matrix W (out x in), a `down` (rank x in) and an `up` (out x rank)
tensor. The `in` width of the attention/FFN-input matrices is the hidden size of the model it was
trained on (1536: 1.3B, 3072: 5B, 5120: 14B), so a header alone says which model it fits. Namings
seen in the wild, all handled by suffix so one pass over the keys is enough:

- ComfyUI / lightx2v: `diffusion_model.blocks.0.self_attn.q.lora_down.weight` (+ `.alpha`, `.diff`);
- diffusers / PEFT: `transformer.blocks.0.attn1.to_q.lora_A.weight` / `.lora_B.weight`;
- kohya: `lora_unet_blocks_0_self_attn_q.lora_down.weight`;
- older: `....lora.down.weight` / `.lora.up.weight`;
- Stand-In: `diffusion_model.blocks.0.self_attn.q_loras.down.weight` / `..._loras.up.weight`.
"""
from __future__ import annotations

from collections import Counter

from ..core.errors import problem
from . import registry
from .facts import Facts, Shapes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model_info import ModelInfo

# (down suffix, up suffix, naming)
_PAIRS = (
    (".lora_down.weight", ".lora_up.weight", "comfy"),
    (".lora_A.weight", ".lora_B.weight", "peft"),
    (".lora.down.weight", ".lora.up.weight", "lora"),
    # Stand-In (WanVideoWrapper patch_stand_in_lora): `blocks.N.self_attn.q_loras.down.weight`
    ("_loras.down.weight", "_loras.up.weight", "standin"),
)
# Substrings of normalised key names (kohya `_` -> `.`) that identify the base architecture.
_WAN_MARKS = ("self.attn", "cross.attn", "self_attn", "cross_attn", ".attn1.", ".attn2.", ".ffn.")
_OTHER_FAMILIES = (
    ("double_blocks", "flux or hunyuan_video"),
    ("single_blocks", "flux or hunyuan_video"),
    ("single_transformer_blocks", "flux"),
    ("input_blocks", "sd1/sdxl"),
    ("down_blocks", "sd1/sdxl"),
    ("transformer_blocks", "a non-Wan transformer (e.g. LTX, CogVideoX, Flux in diffusers naming)"),
)
_IMAGE_MARKS = ("k_img", "v_img", "add_k_proj", "add_v_proj")


def lora_facts(shapes: Shapes) -> Facts | None:
    """Facts of kind `lora` when at least one rank-decomposed pair is present, else None."""
    downs: dict[str, tuple[int, ...]] = {}
    naming = None
    for key, shape in shapes.items():
        for down, up, name in _PAIRS:
            if key.endswith(down):
                base = key[: -len(down)]
                if base + up in shapes:
                    downs[base] = shape
                    naming = naming or name
                break
    if not downs:
        return None
    if naming == "comfy" and any(k.startswith("lora_unet_") for k in downs):
        naming = "kohya"
    matrices = [s for s in downs.values() if len(s) == 2]
    ranks = Counter(s[0] for s in downs.values() if s)
    widths = Counter(s[1] for s in matrices)
    rank = ranks.most_common(1)[0][0] if ranks else None
    hidden = widths.most_common(1)[0][0] if widths else None
    names = [k.replace("lora_unet_", "").replace("_", ".") for k in downs]
    family, why = _family(list(downs), names)
    blocks = _blocks(names)
    values = {
        "rank": rank,
        "hidden": hidden,
        "pairs": len(downs),
        "blocks": blocks,
        "image_layers": any(m in k for k in downs for m in _IMAGE_MARKS),
        "naming": naming,
    }
    evidence = [
        f"{len(downs)} rank-decomposed pairs ({naming} naming) -> a LoRA, not a full model",
        f"down matrices are {rank} x {hidden} -> rank {rank}, hidden size {hidden}",
        why,
    ]
    if family == "wan":
        size = registry.size_for_hidden(hidden)
        values["size"] = size
        evidence.append(f"hidden size {hidden} -> a Wan {size or '(unknown size)'} LoRA" + (f" over {blocks} blocks" if blocks else ""))
        if values["image_layers"]:
            evidence.append("patches the image cross-attention (k_img/v_img) -> made for an I2V/FLF2V model with CLIP vision")
    return Facts("lora", values, naming=naming, evidence=evidence, family=family)


def _family(keys: list[str], names: list[str]) -> tuple[str, str]:
    for mark, family in _OTHER_FAMILIES:
        if any(mark in k for k in keys):
            return family, f"keys name '{mark}' -> a LoRA for {family}, not Wan"
    if any("blocks." in n and any(m in n for m in _WAN_MARKS) for n in names):
        return "wan", "keys name blocks.N with self/cross attention and ffn -> a Wan transformer LoRA"
    return "unknown", "the patched module names match no known model"


def _blocks(names: list[str]) -> int:
    found = set()
    for name in names:
        at = name.find("blocks.")
        if at >= 0 and (at == 0 or name[at - 1] == "."):
            index = name[at + 7:].split(".", 1)[0]
            if index.isdigit():
                found.add(index)
    return len(found)


def apply(info: ModelInfo, facts: Facts) -> None:
    """Fill a ModelInfo for a LoRA file: kind `lora`, the base family and size, and a note that it
    patches a model rather than being one."""
    info.kind, info.naming = "lora", facts.naming
    info.family = facts.family or "unknown"
    info.size = facts.values.get("size")
    info.components = {"lora": dict(facts.values)}
    info.evidence += facts.evidence
    what = f"a {info.family} {info.size or ''} LoRA".replace("  ", " ")
    info.add(problem("IS_LORA", f"{what}, rank {facts.values.get('rank')}, hidden size {facts.values.get('hidden')}",
                     severity="info", what=what.strip()))
