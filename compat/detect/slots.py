"""Component slots of a `model_index.json`: names are identifiers, never paths, and only the slots a
Wan pipeline has are read.

diffusers joins a slot name to the folder (`folder / name`), so a slot named `../x` or `/etc` would
read configs and weights from anywhere; a slot the pack does not know would be loaded by the library
with rules the pack never checked (a `.bin` beside a decoy `.safetensors`). Detection reports both
as errors and the loader refuses them (`compat/loading/sources.py`), before either opens a file of
the slot.
"""
from __future__ import annotations

import re

# Every slot of the Wan pipelines diffusers ships (WanPipeline, WanImageToVideoPipeline, VACE, Animate).
WEIGHT_SLOTS = ("transformer", "transformer_2", "vae", "text_encoder", "image_encoder")
AUX_SLOTS = ("scheduler", "tokenizer", "image_processor")
KNOWN_SLOTS = WEIGHT_SLOTS + AUX_SLOTS
# What each slot of a Wan pipeline holds (the classes diffusers/transformers ship for it); a scheduler
# is any diffusers class named *Scheduler.
WAN_TRANSFORMERS = ("WanTransformer3DModel", "WanVACETransformer3DModel", "WanAnimateTransformer3DModel")
SLOT_CLASSES: dict[str, tuple[str, ...]] = {
    "transformer": WAN_TRANSFORMERS,
    "transformer_2": WAN_TRANSFORMERS,
    "vae": ("AutoencoderKLWan",),
    "text_encoder": ("UMT5EncoderModel",),
    "image_encoder": ("CLIPVisionModel", "CLIPVisionModelWithProjection"),
    "tokenizer": ("T5Tokenizer", "T5TokenizerFast", "AutoTokenizer"),
    "image_processor": ("CLIPImageProcessor", "CLIPImageProcessorPil", "CLIPImageProcessorFast"),
}
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_LIBRARY_NAME = 64


def standard_parts(components: dict[str, dict[str, object]]) -> bool:
    """Every component of a detected folder is a class diffusers/transformers ship for that slot."""
    for slot, spec in components.items():
        library, name = spec.get("library"), spec.get("class")
        if library is None and name is None:
            continue
        if library not in ("diffusers", "transformers") or not isinstance(name, str):
            return False
        if not (name in SLOT_CLASSES.get(slot, ()) or (slot == "scheduler" and library == "diffusers" and name.endswith("Scheduler"))):
            return False
    return True


def is_slot_name(name: object) -> bool:
    """A lower-case identifier of at most 64 characters: never a path, never hidden, never long."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def component_entries(index: dict[str, object]) -> dict[str, object]:
    """The entries of a model_index that name a component (`[library, class]` lists, `[null, null]`
    included): every key that is not private and whose value is a list."""
    return {k: v for k, v in index.items() if not k.startswith("_") and isinstance(v, list)}


def slot_problems(index: dict[str, object]) -> list[tuple[str, str, str]]:
    """(slot, code, detail) for each component entry the pack will not read: a name that is not a slot
    identifier (COMPONENT_SLOT_INVALID), a slot no Wan pipeline has (COMPONENT_SLOT_UNKNOWN), a
    library or class that is not a short identifier (FOREIGN_COMPONENT_LIBRARY)."""
    found: list[tuple[str, str, str]] = []
    for name, spec in component_entries(index).items():
        shown = repr(name[:80] + ("..." if len(name) > 80 else ""))
        if not is_slot_name(name):
            found.append((name, "COMPONENT_SLOT_INVALID", f"model_index.json: {shown} is not a component name (lower-case identifier, no path)"))
            continue
        if name not in KNOWN_SLOTS:
            found.append((name, "COMPONENT_SLOT_UNKNOWN", f"model_index.json: {shown}"))
            continue
        if spec == [None, None]:
            continue
        if not (len(spec) == 2 and all(isinstance(x, str) and x.isidentifier() and len(x) <= MAX_LIBRARY_NAME for x in spec)):
            text = repr(spec)[:120]
            found.append((name, "FOREIGN_COMPONENT_LIBRARY", f"model_index.json: {name} = {text}"))
    return found
