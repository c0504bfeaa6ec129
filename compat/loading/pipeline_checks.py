"""The `WAN_PIPELINE` handle as the VAE-fix, optimize and sample stages use it.

The handle is Wan Safe Load's `LoadedPipeline` (pipeline, model_info, report, dtype, sandboxed).
Stages never mutate the handle they are given: ComfyUI caches node outputs, so a later stage
changing an earlier node's output would leak into the next run. Each stage returns a shallow copy
carrying its own report (`vae_report`, `plan`, `stats`) and, where it rebuilt the pipeline, the
new pipeline object (the modules themselves are shared: weights are never copied).
"""
from __future__ import annotations

import copy
from typing import Any

from ..core.errors import UsageError

WAN_PIPELINES = ("WanPipeline", "WanImageToVideoPipeline")


def require_wan_pipeline(handle: Any, stage: str) -> Any:
    """The diffusers pipeline inside `handle`, or a typed error saying why this stage cannot use it."""
    pipeline = getattr(handle, "pipeline", None)
    if pipeline is None or not hasattr(handle, "model_info"):
        raise UsageError("PIPELINE_HANDLE_INVALID", f"{stage} got a {type(handle).__name__}", stage=stage)
    if getattr(handle, "sandboxed", False):
        raise UsageError("PIPELINE_UNSUPPORTED", f"{stage}: the pipeline runs in the sandbox (trusted custom code)",
                         stage=stage, pipeline_class=type(pipeline).__name__)
    if type(pipeline).__name__ not in WAN_PIPELINES:
        raise UsageError("PIPELINE_UNSUPPORTED", f"{stage}: {type(pipeline).__name__}", stage=stage,
                         pipeline_class=type(pipeline).__name__)
    return pipeline


def derive(handle: Any, **attributes: Any) -> Any:
    """A shallow copy of `handle` with `attributes` set (reports of earlier stages are kept)."""
    out = copy.copy(handle)
    for name, value in attributes.items():
        setattr(out, name, value)
    return out
