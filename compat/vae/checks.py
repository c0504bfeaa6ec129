"""Does the pipeline's VAE fit its transformer(s)? Checked on the live modules, before any sampling.

diffusers does not check this: a Wan 2.1 VAE in a TI2V-5B pipeline (or the reverse) runs every
denoising step and only then fails ("The size of tensor a (48) must match the size of tensor b
(16)"). The channel rules themselves are `validate.check_vae`, shared with detection; this module
reads the facts from the modules and adds what only a built pipeline can get wrong: the
`latents_mean`/`latents_std` lengths, the spatial scale the pipeline sized its latents with, the
VAE release the model needs, and weights that were never loaded (meta, NaN/Inf, absurd values).
"""
from __future__ import annotations

from typing import Any

from ..detect import registry
from ..core.errors import CompatibilityError, LoadError, Problem, problem
from ..detect.validate import Part, check_vae, right_vae_text

# Trained Wan weights stay orders of magnitude below this; uninitialised memory does not.
IMPLAUSIBLE_MAGNITUDE = 1e5
TRANSFORMERS = ("transformer", "transformer_2")


def transformers_of(pipeline: Any) -> list[tuple[str, Any]]:
    return [(name, getattr(pipeline, name)) for name in TRANSFORMERS if getattr(pipeline, name, None) is not None]


def needed_vae(model_info: Any) -> registry.Variant | None:
    """The VAE release the model needs, from the detector's requirements (None when unknown)."""
    vae_id = (getattr(model_info, "requirements", None) or {}).get("vae")
    return registry.by_id(vae_id) if vae_id else None


def right_vae(pipeline: Any, model_info: Any = None) -> str:
    """The VAE to use, named with its ComfyUI file name: the one the detector says the model needs,
    else the Wan VAE whose latent channels match the transformer's output."""
    needed = needed_vae(model_info)
    z = needed["z_dim"] if needed is not None else next((t.config.out_channels for _, t in transformers_of(pipeline)), None)
    return right_vae_text(None, z)


def conv_ndim(vae: Any) -> int | None:
    """Dimensions of the VAE's first convolution: 5 for Wan's causal 3D VAE, 4 for image VAEs."""
    encoder = getattr(vae, "encoder", None)
    conv = getattr(encoder, "conv_in", None) or getattr(encoder, "conv1", None)
    weight = getattr(conv, "weight", None)
    return weight.dim() if weight is not None else None


def vae_part(vae: Any) -> Part:
    config = vae.config
    ndim = conv_ndim(vae)
    is_wan = type(vae).__name__ == "AutoencoderKLWan"
    values = {
        "z_dim": config.get("z_dim") or config.get("latent_channels"),
        "is_3d": ndim == 5 if ndim is not None else is_wan,
        "conv_ndim": ndim,
    }
    family = None if is_wan else ("image_vae" if ndim == 4 else type(vae).__name__)
    return Part("vae", values, family=family, label=f"the pipeline's VAE ({type(vae).__name__})")


def architecture_scale(vae: Any) -> int:
    """The spatial compression the VAE's layers give: 2 per down/up stage, times the patch size."""
    config = vae.config
    return 2 ** (len(config.get("dim_mult") or [1, 2, 4, 4]) - 1) * int(config.get("patch_size") or 1)


def vae_problems(pipeline: Any, model_info: Any = None) -> list[Problem]:
    """Every way the pipeline's VAE does not fit its transformer(s); empty when it fits."""
    vae = getattr(pipeline, "vae", None)
    right = right_vae(pipeline, model_info)
    if vae is None:
        return [problem("VAE_MISSING", f"{type(pipeline).__name__} has vae=None", right_vae=right)]
    found = vae_part(vae)
    problems: list[Problem] = []
    shapes: dict[tuple[int, int], list[str]] = {}  # (out, in) channels -> transformers (the two experts share them)
    for name, transformer in transformers_of(pipeline):
        shapes.setdefault((transformer.config.out_channels, transformer.config.in_channels), []).append(name)
    for (out_channels, in_channels), names in shapes.items():
        part = Part("transformer", {"out_channels": out_channels, "in_channels": in_channels})
        for item in check_vae(part, found):
            item.detail = f"{' and '.join(names)}: {item.detail}"
            problems.append(item)
    if problems or not found.values["is_3d"] or found.family is not None:
        return _unique(problems)
    config = vae.config
    z = config.z_dim
    for key in ("latents_mean", "latents_std"):
        values = config.get(key)
        if values is None or len(values) != z:
            problems.append(problem("VAE_LATENT_STATS_INVALID", f"{key} has {len(values) if values is not None else 'no'} values for z_dim {z}", right_vae=right))
    stated = config.get("scale_factor_spatial")
    built = architecture_scale(vae)
    if stated != built:
        problems.append(problem("VAE_SCALE_INVALID", f"config scale_factor_spatial {stated}, the layers compress {built}x", right_vae=right))
    cached = getattr(pipeline, "vae_scale_factor_spatial", stated)
    if cached != stated:
        problems.append(problem("VAE_PIPELINE_STALE", f"the pipeline sizes latents for {cached}x, its VAE compresses {stated}x"))
    needed = needed_vae(model_info)
    if needed is not None:
        wrong = [f"{label} {have} (the {needed.name} has {want})" for label, have, want in (
            ("z_dim", z, needed["z_dim"]),
            ("spatial compression", stated, needed["spatial"]),
            ("temporal compression", config.get("scale_factor_temporal"), needed["temporal"]),
        ) if have != want]
        if wrong:
            problems.append(problem("WRONG_VAE", "the model needs the " + needed.name + "; this VAE has " + ", ".join(wrong),
                                    expected_z=needed["z_dim"], found_z=z, right_vae=right))
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in problems:
        if (item.code, item.detail) not in seen:
            seen.add((item.code, item.detail))
            out.append(item)
    return out


def weight_problems(module: Any, component: str, *, values: bool = True) -> list[Problem]:
    """Parameters or buffers left on `meta`, and (with `values`) NaN/Inf or absurd magnitudes.

    The meta check reads no data; the value check reads every weight once (about 0.2 s for the real
    Wan 2.1 VAE on CPU), so it is run on the VAE, not on 14B transformers."""
    import torch

    tensors = list(module.named_parameters()) + list(module.named_buffers())
    meta = [name for name, t in tensors if t.is_meta]
    if meta:
        return [problem("WEIGHTS_META", f"{len(meta)} tensors on meta, e.g. {', '.join(meta[:5])}", component=component)]
    if not values:
        return []
    nonfinite, huge = [], []
    with torch.no_grad():
        for name, tensor in tensors:
            if not tensor.is_floating_point() or tensor.numel() == 0:
                continue
            if not bool(torch.isfinite(tensor).all()):
                nonfinite.append(name)
            elif float(tensor.abs().max()) > IMPLAUSIBLE_MAGNITUDE:
                huge.append(f"{name} (max |x| {float(tensor.abs().max()):.3g})")
    out = []
    if nonfinite:
        out.append(problem("WEIGHTS_NONFINITE", f"{len(nonfinite)} tensors, e.g. {', '.join(nonfinite[:5])}", component=component))
    if huge:
        out.append(problem("WEIGHTS_IMPLAUSIBLE", f"{len(huge)} tensors, e.g. {', '.join(huge[:5])}", component=component,
                           limit=f"{IMPLAUSIBLE_MAGNITUDE:g}"))
    return out


def pipeline_weight_problems(pipeline: Any, *, vae_values: bool = True) -> list[Problem]:
    """Meta weights in any component (free to check); NaN/Inf and absurd values in the VAE."""
    problems: list[Problem] = []
    for name, module in (getattr(pipeline, "components", None) or {}).items():
        if hasattr(module, "named_parameters"):
            problems += weight_problems(module, name, values=vae_values and name == "vae")
    return problems


# Codes that are about parts that do not fit (CompatibilityError) rather than broken weights (LoadError).
_LOAD_CODES = ("WEIGHTS_META", "WEIGHTS_NONFINITE", "WEIGHTS_IMPLAUSIBLE")


def raise_first(problems: list[Problem]) -> None:
    """Raise the first error-severity problem as its typed error, with the others in the detail."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    first = errors[0]
    detail = first.detail + "".join(f"; also [{p.code}] {p.detail}" for p in errors[1:])
    cls = LoadError if first.code in _LOAD_CODES else CompatibilityError
    raise cls(first.code, detail, **first.context)


def check_pipeline_vae(pipeline: Any, model_info: Any = None, *, vae_values: bool = True) -> None:
    """Raise the typed error for a VAE that does not fit or weights that were never loaded."""
    raise_first(vae_problems(pipeline, model_info) + pipeline_weight_problems(pipeline, vae_values=vae_values))
