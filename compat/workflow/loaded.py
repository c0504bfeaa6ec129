"""The parts ComfyUI has already loaded (MODEL, CLIP, VAE, CLIP_VISION), checked against each other
from their state-dict shapes: the same facts and pairwise checks as the file headers, without
opening any file again. Used by the Wan Check Models node, which also predicts which keys of the
LoRAs applied upstream (read from the prompt) load into the loaded model (`loras_on_loaded`).
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.errors import CompatibilityError, Problem, problem
from ..detect import registry
from ..detect.facts import Facts, Shapes, classify
from ..detect.validate import Part, check_parts

# Prefixes ComfyUI's text-encoder wrappers put before the Hugging Face names.
TEXT_ENCODER_PREFIXES = ("umt5xxl.transformer.", "t5xxl.transformer.", "clip_l.transformer.", "clip_g.transformer.",
                         "llama.transformer.", "t5base.transformer.", "qwen25_7b.transformer.", "gemma2_2b.transformer.")


def strip_text_encoder(shapes: Shapes) -> tuple[Shapes, str]:
    """The shapes of the first wrapped encoder inside a ComfyUI CLIP object, and its wrapper name."""
    for prefix in TEXT_ENCODER_PREFIXES:
        inner = {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)}
        if inner:
            return inner, prefix.split(".", 1)[0]
    return shapes, ""


def _part(kind: str, facts: Facts, label: str) -> Part:
    variant = registry.match(kind, facts.values).unique if kind in ("transformer", "vae", "text_encoder", "clip_vision") else None
    family = facts.family if facts.family else ("wan" if kind in ("transformer", "vae") else None)
    return Part(kind, facts.values, variant, family, label=label)


def check_loaded(model: Shapes | None = None, clip: Shapes | None = None, vae: Shapes | None = None,
                 clip_vision: Shapes | None = None) -> list[Problem]:
    """Every problem between the loaded parts given (errors and warnings)."""
    if not model:
        return []
    facts = classify(model)
    if facts.kind != "transformer" or facts.family not in (None, "wan"):
        return [problem("WF_NOT_WAN_MODEL", "the MODEL input is not a Wan diffusion model",
                        name="the MODEL input", family=facts.family or facts.kind)]
    transformer = _part("transformer", facts, "the MODEL input")
    parts: dict[str, Part] = {}
    out: list[Problem] = []
    if vae:
        parts["vae"] = _part("vae", classify(vae), "the VAE input")
    if clip:
        inner, wrapper = strip_text_encoder(clip)
        te = classify(inner)
        if te.kind != "text_encoder" and wrapper:
            te.family = wrapper
        if te.kind == "text_encoder" or wrapper:
            parts["text_encoder"] = Part("text_encoder", te.values, None, te.family or ("umt5" if wrapper == "umt5xxl" else None),
                                         label=f"the CLIP input ({wrapper or 'unknown encoder'})")
    if clip_vision:
        parts["clip_vision"] = _part("clip_vision", classify(clip_vision), "the CLIP_VISION input")
    out += check_parts(transformer, vae=parts.get("vae"), text_encoder=parts.get("text_encoder"),
                       clip_vision=parts.get("clip_vision"), clip_given=clip_vision is not None)
    return out


def loras_on_loaded(prompt: Any, node_id: str, model_keys: list[str], resolve: Callable[[str], str | None]) -> list[Problem]:
    """The LoRA loaders between the model loader and `node_id`'s model input in an API prompt, each
    predicted on the loaded model's parameter names (`detect.lora_coverage`, ComfyUI's mapping).
    `resolve` gives a LoRA name's path (None: not found, nothing to say)."""
    from ..detect.lora_coverage import header_keys, predict
    from .execution import execute
    from .graph import parse
    from .trace import origin

    run = execute(parse(prompt))
    out: list[Problem] = []
    for node in origin(run, node_id, "model", "MODEL").loras:
        name = node.widgets.get("lora_name")
        path = resolve(name) if isinstance(name, str) else None
        if path is None:
            continue
        cover = predict(header_keys(path), model_keys, "comfy")
        if cover.none_loaded:
            out.append(problem("WF_LORA_NOT_APPLIED", f"{name}: {cover.describe()}", lora=name, model="the MODEL input", loader="ComfyUI"))
        elif cover.counts:
            out.append(problem("WF_LORA_KEYS_SKIPPED", f"{name}: {cover.describe()}", lora=name, model="the MODEL input",
                               skipped=cover.total - cover.loaded, total=cover.total, loader="ComfyUI"))
    return out


def raise_first_error(problems: list[Problem]) -> None:
    """Stop the run with the first error, the others in its detail."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    first = errors[0]
    others = "; ".join(f"{p.code}: {p.summary}" for p in errors[1:])
    detail = first.detail + (f" (also: {others})" if others else "")
    raise CompatibilityError(first.code, detail, **first.context)
