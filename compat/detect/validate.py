"""Do the parts fit together? Checked from facts alone, before any weight is loaded.

transformer vs VAE latent channels, text-encoder width vs `text_dim`, CLIP vision needed or not,
`transformer_2` exactly when `boundary_ratio`, pipeline class vs task, diffusers version vs features.
Each check returns Problems from the catalogue, naming the right file to use.
"""
from __future__ import annotations

import re

from . import registry
from .pipeline_releases import version_tuple
from ..core.errors import Problem, problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .registry import Variant

# Pipeline classes diffusers ships for Wan, and the tasks each can run.
PIPELINE_TASKS: dict[str, tuple[str, ...]] = {
    "WanPipeline": ("t2v", "ti2v"),
    "WanImageToVideoPipeline": ("i2v", "flf2v", "ti2v"),
    "WanVACEPipeline": ("vace",),
    "WanVideoToVideoPipeline": ("t2v",),
    "WanAnimatePipeline": ("animate",),
}
# The pipeline the official releases use for each task (a folder naming a class diffusers does not
# ship falls back to it when its parts are standard: pipeline_folder.py).
PIPELINE_FOR_TASK = {"t2v": "WanPipeline", "ti2v": "WanPipeline", "i2v": "WanImageToVideoPipeline",
                     "flf2v": "WanImageToVideoPipeline", "vace": "WanVACEPipeline", "animate": "WanAnimatePipeline"}


class Part:
    """One component as detection saw it."""

    def __init__(self, kind: str, values: dict[str, Any] | None = None, variant: Variant | None = None,
                 family: str | None = None, label: str = "") -> None:
        self.kind, self.variant, self.family, self.label = kind, variant, family, label
        self.values = values if values is not None else {}


def right_vae_text(transformer: Variant | None, z_dim: int | None = None) -> str:
    """Name the VAE a transformer needs, with its ComfyUI file name."""
    vae_id = transformer.requires.get("vae") if transformer else None
    vae = registry.by_id(vae_id) if vae_id else next((v for v in registry.variants("vae") if v["z_dim"] == z_dim), None)
    if vae is None:
        return f"a Wan VAE with {z_dim} latent channels"
    files = vae.get("comfy_files") or []
    return f"the {vae.name} ({files[0] if files else vae.id}, z_dim {vae['z_dim']}; used by {vae['used_by']})"


def check_vae(transformer: Part, vae: Part) -> list[Problem]:
    found_z = vae.values.get("z_dim")
    expected_z = transformer.values.get("out_channels")
    in_channels = transformer.values.get("in_channels")
    right = right_vae_text(transformer.variant, expected_z)
    if not vae.values.get("is_3d", True):
        return [problem("VAE_NOT_3D", f"{vae.label or 'the VAE'} has {vae.values.get('conv_ndim')}-D convolutions", right_vae=right)]
    if vae.family not in (None, "wan"):
        return [problem("WRONG_VAE", f"{vae.label or 'the VAE'} is not a Wan VAE ({vae.family})",
                        expected_z=expected_z, found_z=found_z, right_vae=right)]
    problems = []
    if expected_z is not None and found_z is not None and found_z != expected_z:
        problems.append(problem(
            "WRONG_VAE",
            f"transformer output channels {expected_z} vs VAE z_dim {found_z}",
            expected_z=expected_z, found_z=found_z, right_vae=right,
        ))
    elif found_z is not None and in_channels is not None and in_channels not in (found_z, 2 * found_z + 4):
        problems.append(problem(
            "WRONG_VAE",
            f"transformer input channels {in_channels} fit neither z ({found_z}) nor 2z+4 ({2 * found_z + 4})",
            expected_z=expected_z, found_z=found_z, right_vae=right,
        ))
    return problems


def check_text_encoder(transformer: Part, text_encoder: Part) -> list[Problem]:
    text_dim = transformer.values.get("text_dim")
    width = text_encoder.values.get("d_model")
    if text_encoder.family == "t5":
        return [problem("WRONG_TEXT_ENCODER", f"{text_encoder.label or 'the text encoder'} is T5 v1.1 (e.g. Flux's t5xxl), not UMT5",
                        expected=f"UMT5 {text_dim}-wide", found=f"T5 {width}-wide")]
    if text_encoder.family not in (None, "umt5", "wan"):  # CLIP-L, Llama...: no width to compare, never UMT5
        return [problem("WRONG_TEXT_ENCODER", f"{text_encoder.label or 'the text encoder'} is {text_encoder.family}, not UMT5",
                        expected=f"UMT5 {text_dim or 4096}-wide", found=str(text_encoder.family))]
    if text_dim is not None and width is not None and text_dim != width:
        return [problem("WRONG_TEXT_ENCODER", f"transformer text_dim {text_dim} vs text encoder width {width}",
                        expected=f"{text_dim}-wide", found=f"{width}-wide")]
    return []


def check_clip_vision(transformer: Part, clip: Part | None) -> list[Problem]:
    image_dim = transformer.values.get("image_dim")
    if image_dim and clip is None:
        return [problem("CLIP_VISION_MISSING", f"the transformer has an image embedder of width {image_dim}")]
    if not image_dim and clip is not None:
        return [problem("CLIP_VISION_UNUSED", "the transformer has no image embedder", severity="warning")]
    if image_dim and clip is not None and clip.values.get("hidden") != image_dim:
        return [problem("WRONG_CLIP_VISION", f"image_dim {image_dim} vs CLIP width {clip.values.get('hidden')}",
                        expected=image_dim, found=clip.values.get("hidden"))]
    return []


def check_moe(has_transformer_2: bool, boundary_ratio: Any) -> list[Problem]:
    if boundary_ratio is not None and not (isinstance(boundary_ratio, (int, float)) and 0 < boundary_ratio < 1):
        return [problem("BOUNDARY_RATIO_INVALID", f"boundary_ratio is {boundary_ratio!r}")]
    if has_transformer_2 and boundary_ratio is None:
        return [problem("MOE_LAYOUT_INVALID", "transformer_2 is present but boundary_ratio is not set",
                        fix_detail="Add the official boundary_ratio to model_index.json (0.875 for T2V-A14B, 0.9 for I2V-A14B).")]
    if boundary_ratio is not None and not has_transformer_2:
        return [problem("MOE_LAYOUT_INVALID", f"boundary_ratio is {boundary_ratio} but there is no transformer_2",
                        fix_detail="Download the transformer_2 (low-noise expert) folder, or remove boundary_ratio for a single-transformer model.")]
    return []


def check_experts(first: Part, second: Part) -> list[Problem]:
    keys = ("hidden", "in_channels", "out_channels", "blocks", "image_dim")
    diffs = [f"{k}: {first.values.get(k)} vs {second.values.get(k)}" for k in keys if first.values.get(k) != second.values.get(k)]
    return [problem("EXPERT_PAIR_MISMATCH", "; ".join(diffs))] if diffs else []


def check_pipeline_class(class_name: str | None, task: str | None) -> list[Problem]:
    if not class_name:
        return []
    if class_name not in PIPELINE_TASKS:
        from .pipeline_releases import explain

        return [problem("UNKNOWN_PIPELINE_CLASS", f"_class_name is {class_name!r}; {explain(class_name)}")]
    if task and task not in PIPELINE_TASKS[class_name]:
        expected = next((c for c, tasks in PIPELINE_TASKS.items() if task in tasks), "a Wan pipeline")
        return [problem("PIPELINE_CLASS_MISMATCH", f"{class_name} cannot run a {task} transformer",
                        found=class_name, expected=expected, task=task.upper())]
    return []


def check_diffusers_version(required: str | None, installed: str | None, feature: str) -> list[Problem]:
    if not required or not installed:
        return []
    if version_tuple(installed) < version_tuple(required):
        return [problem("DIFFUSERS_TOO_OLD", f"installed {installed}, needed {required}",
                        feature=feature, required=required, installed=installed)]
    return []


def check_parts(
    transformer: Part,
    *,
    vae: Part | None = None,
    text_encoder: Part | None = None,
    clip_vision: Part | None = None,
    clip_given: bool = False,
) -> list[Problem]:
    """Every pairwise check that applies to the parts given. `clip_given` says the caller supplied
    a CLIP slot at all (a pipeline folder or an explicit --clip-vision), so its absence is a finding."""
    problems: list[Problem] = []
    if vae is not None:
        problems += check_vae(transformer, vae)
    if text_encoder is not None:
        problems += check_text_encoder(transformer, text_encoder)
    if clip_given or clip_vision is not None:
        problems += check_clip_vision(transformer, clip_vision)
    return problems


def installed_diffusers_version() -> str | None:
    """diffusers' version read from its source without importing it (importing costs seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("diffusers")
    if spec is None or not spec.origin:
        return None
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    found = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", head)
    return found.group(1) if found else None
