"""One pipeline part built from the tensors of a single file: the transformer(s) (original/ComfyUI or
diffusers naming, fp8, scaled fp8), the VAE (renamed from the original naming), the UMT5 text
encoder (scaled fp8 multiplied out) or CLIP vision, each strictly into a model built from its config.

Shared by single-file loads (every part a file) and folder loads with a part replaced by a file
(`folder_loader.py`): the same checks and conversions whichever way the part arrives.
"""
from __future__ import annotations

from typing import Any

from ..core.errors import LoadError
from ..detect.facts import classify
from . import component_file, components, dtypes, fp8, key_naming
from .report import LoadReport


def build(name: str, tensors: dict[str, Any], config: dict[str, Any] | None, *, options: Any, report: LoadReport,
          transformer_class: str = "WanTransformer3DModel", origin: str = "") -> Any:
    """The part `name` (transformer, transformer_2, vae, text_encoder, image_encoder) from `tensors`
    (emptied on the way) and its `config`; `options`: the load's LoadOptions."""
    import diffusers
    import transformers

    if config is None:
        raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", f"{'CLIP vision' if name == 'image_encoder' else name} was given but "
                        f"the config source has no {name}", matched=origin or "no config")
    facts = classify({k: tuple(v.shape) for k, v in tensors.items() if not k.endswith(fp8.SCALE_SUFFIXES)})
    if name.startswith("transformer"):
        return component_file.transformer_from_tensors(getattr(diffusers, transformer_class), config, tensors, name, facts,
                                                       dtype=dtypes.torch_dtype(options.dtype), report=report,
                                                       storage=dtypes.storage_dtype(options.weight_storage))
    tensors, scales = fp8.split_scales(tensors)
    if scales:
        tensors = fp8.dequantize(tensors, scales)
        report.allow(name, f"ComfyUI scaled-fp8 weights: {len(scales)} multiplied by their scale_weight")
    if name == "vae":
        origin_names = {}
        if facts.naming == "original":
            version = "2.2" if config.get("is_residual") else "2.1"
            old = list(tensors)
            tensors = key_naming.vae_to_diffusers(tensors, version, strict=False)
            origin_names = dict(zip(tensors, old))
        return components.load_from_state_dict(diffusers.AutoencoderKLWan, config, tensors, name, dtype=dtypes.torch_dtype(options.vae_dtype),
                                               report=report, file_names=key_naming.file_namer(origin_names))
    if name == "text_encoder":
        return components.load_from_state_dict(transformers.UMT5EncoderModel, config, tensors, name, dtype=dtypes.torch_dtype(options.dtype),
                                               report=report)
    # ComfyUI's clip_vision_h keeps the projection head (`vision_model.*` + `visual_projection`);
    # transformers 5's CLIPVisionModel has no `vision_model.` level, so bare files drop the prefix.
    if "visual_projection.weight" in tensors:
        cls = transformers.CLIPVisionModelWithProjection
    else:
        cls = transformers.CLIPVisionModel
        tensors = {k.removeprefix("vision_model."): v for k, v in tensors.items()}
    return components.load_from_state_dict(cls, config, tensors, name, dtype=dtypes.torch_dtype(options.vae_dtype), report=report)


def image_processor(config: dict[str, Any]) -> Any:
    import transformers

    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return cls(**{k: v for k, v in config.items() if k != "image_processor_type"})
