"""Configs for a pipeline assembled from single files.

Single files carry no config. For every known Wan release the configs come from the registry rows
shipped with the pack (`data/registry.json`: transformer, VAE, UMT5 and CLIP configs, the pipeline
class, boundary ratio, `expand_timesteps` and the scheduler's flow shift), offline and exact. For
anything else (a custom size, the tiny test models) the user names a diffusers folder of the same
model as the config source: its JSON configs, scheduler and tokenizer are used, never its weights
or code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import safe_json
from ..detect import configs, registry
from ..core.errors import LoadError, ModelFileError
from ..detect.model_info import ModelInfo

# As the official Wan '-Diffusers' folders: UniPC on flow sigmas.
SCHEDULER_BASE = {"_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction", "use_flow_sigmas": True,
                  "num_train_timesteps": 1000}
CLIP_PROCESSOR = {"crop_size": {"height": 224, "width": 224}, "size": {"shortest_edge": 224}, "do_center_crop": True,
                  "do_normalize": True, "do_resize": True, "do_rescale": True, "do_convert_rgb": True, "resample": 3,
                  "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}


@dataclass
class PipelineConfigs:
    origin: str
    pipeline_class: str
    transformer_class: str
    transformer: dict[str, Any]
    vae: dict[str, Any]
    text_encoder: dict[str, Any]
    scheduler: dict[str, Any]
    image_encoder: dict[str, Any] | None = None
    image_processor: dict[str, Any] | None = None
    scalars: dict[str, Any] = field(default_factory=dict)  # boundary_ratio, expand_timesteps
    folder: Path | None = None  # the config source folder, when one was given
    transformer_2: dict[str, Any] | None = None


def choose_variant(info: ModelInfo, moe: bool) -> registry.Variant | None:
    """The registry variant of a single transformer file, with the MoE layout deciding between
    weight-identical candidates (a 2.1 T2V-14B file and a 2.2 A14B expert)."""
    rows = [registry.by_id(v) for v in info.candidates] or ([registry.by_id(info.variant)] if info.variant else [])
    by_layout = [v for v in rows if bool(v.get("moe")) == moe] or rows
    if len(by_layout) == 1:
        return by_layout[0]
    same = {json.dumps([v.get("config"), v.requires.get("pipeline_class"), v.requires.get("boundary_ratio")], sort_keys=True) for v in by_layout}
    return by_layout[0] if len(same) == 1 and by_layout else None


def from_registry(info: ModelInfo, moe: bool) -> PipelineConfigs:
    if any(p.code == "UNKNOWN_WAN_VARIANT" for p in info.problems):
        # The detector may still name the release the layout resembles; its config would not fit.
        raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", f"{Path(info.path).name}: its sizes match no official Wan release",
                        matched="no official release (a custom or pruned size)")
    variant = choose_variant(info, moe)
    if variant is None or not variant.get("config") or not variant.get("transformer_class"):
        matched = variant.name if variant else (" or ".join(info.candidates) or "no known variant")
        raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", f"{Path(info.path).name} matched {matched}", matched=matched)
    requires = variant.requires
    vae = registry.by_id(requires["vae"])
    text = registry.by_id(requires["text_encoder"])
    clip = registry.by_id(requires["clip_vision"]) if requires.get("clip_vision") else None
    transformer = {"_class_name": variant["transformer_class"], **variant["config"]}
    return PipelineConfigs(
        origin=f"registry: {variant.name} ({variant.id})",
        pipeline_class=requires["pipeline_class"],
        transformer_class=variant["transformer_class"],
        transformer=transformer,
        transformer_2=transformer if variant.get("moe") else None,
        vae={"_class_name": "AutoencoderKLWan", **vae["config"]},
        text_encoder=dict(text["config"]),
        scheduler={**SCHEDULER_BASE, "flow_shift": requires["flow_shift"]},
        image_encoder=dict(clip["config"]) if clip else None,
        image_processor=dict(CLIP_PROCESSOR) if clip else None,
        scalars={"boundary_ratio": requires.get("boundary_ratio"), "expand_timesteps": bool(requires.get("expand_timesteps"))},
    )


def _json(path: Path, kind: str | None = None) -> dict[str, Any]:
    """A config read and, for the kinds the schemas know, validated (detect/schemas.py)."""
    doc = configs.read(kind, path) if kind else None
    if doc is not None:
        if not doc.ok:
            raise ModelFileError("CONFIG_INVALID", f"{path}: " + "; ".join(doc.problems))
        return doc.data
    try:
        found = safe_json.load_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError("CONFIG_INVALID", f"{path}: {exc}") from None
    if not isinstance(found, dict):
        raise ModelFileError("CONFIG_INVALID", f"{path}: not a JSON object")
    return found


def from_folder(folder: Path, index: dict[str, Any]) -> PipelineConfigs:
    """Configs of a diffusers folder (already path- and code-checked by the caller), each validated."""
    def optional(name: str, file: str, kind: str | None = None) -> dict[str, Any] | None:
        present = isinstance(index.get(name), list) and index[name][0] and (folder / name / file).is_file()
        return _json(folder / name / file, kind) if present else None

    transformer = _json(folder / "transformer" / "config.json", "transformer")
    return PipelineConfigs(
        origin=f"config folder: {folder}",
        pipeline_class=str(index.get("_class_name")),
        transformer_class=str(transformer.get("_class_name") or index["transformer"][1]),
        transformer=transformer,
        transformer_2=optional("transformer_2", "config.json", "transformer"),
        vae=_json(folder / "vae" / "config.json", "vae"),
        text_encoder=_json(folder / "text_encoder" / "config.json", "text_encoder"),
        scheduler=_json(folder / "scheduler" / "scheduler_config.json", "scheduler"),
        image_encoder=optional("image_encoder", "config.json", "clip_vision"),
        image_processor=optional("image_processor", "preprocessor_config.json"),
        scalars={k: index.get(k) for k in ("boundary_ratio", "expand_timesteps") if k in index},
        folder=folder,
    )
