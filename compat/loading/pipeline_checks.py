"""The `WAN_PIPELINE` handle as the VAE-fix, optimize and sample stages check it.

The handle is Wan Safe Load's frozen `PipelineHandle`. Stages never change the handle they are
given: ComfyUI caches node outputs, so a later stage changing an earlier node's output would leak
into the next run. Each stage returns `dataclasses.replace(handle, ...)` with its own result.
"""
from __future__ import annotations

from typing import Any

from ..core.errors import UsageError
from .handle import PipelineHandle

WAN_PIPELINES = ("WanPipeline", "WanImageToVideoPipeline")


def require_wan_pipeline(handle: Any, stage: str) -> Any:
    """The diffusers pipeline inside `handle`, or a typed error saying why this stage cannot use it."""
    if not isinstance(handle, PipelineHandle) or handle.pipeline is None:
        raise UsageError("PIPELINE_HANDLE_INVALID", f"{stage} got a {type(handle).__name__}", stage=stage)
    pipeline = handle.pipeline
    if handle.sandboxed:
        raise UsageError("PIPELINE_UNSUPPORTED", f"{stage}: the pipeline runs in the sandbox (trusted custom code)",
                         stage=stage, pipeline_class=type(pipeline).__name__)
    if type(pipeline).__name__ not in WAN_PIPELINES:
        raise UsageError("PIPELINE_UNSUPPORTED", f"{stage}: {type(pipeline).__name__}", stage=stage,
                         pipeline_class=type(pipeline).__name__)
    return pipeline
