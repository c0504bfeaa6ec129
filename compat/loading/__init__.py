"""Safe loading of Wan pipelines (the Wan Safe Load node's backend). Import from here:
`load_pipeline`, `LoadOptions`, `PipelineHandle` (the WAN_PIPELINE type), `LoadReport`, and
`load_component` (one component file alone, as `wan-compat load` does)."""
from __future__ import annotations

from typing import Any

__all__ = ["load_pipeline", "LoadOptions", "PipelineHandle", "LoadReport", "load_component", "LoadedComponent"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch or diffusers
    if name in ("load_pipeline", "LoadOptions"):
        from . import loader

        return getattr(loader, name)
    if name in ("load_component", "LoadedComponent"):
        from . import component_file

        return getattr(component_file, name)
    if name == "PipelineHandle":
        from .handle import PipelineHandle

        return PipelineHandle
    if name == "LoadReport":
        from .report import LoadReport

        return LoadReport
    raise AttributeError(name)
