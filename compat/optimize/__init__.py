"""Wan Optimize's backend: the machine (`resources`), the memory estimate (`memory`) and the plan
(`manager`: OptimizationManager). Import from here: `plan`, `apply_plan`, `OptimizationManager`,
`OptimizationPlan`, `SystemResources`, `probe`, `ModelShape`, `Sizes`, `estimate`."""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "plan": "manager", "apply_plan": "manager", "OptimizationManager": "manager", "OptimizationPlan": "manager", "Choice": "manager",
    "SystemResources": "resources", "Accelerator": "resources", "probe": "resources",
    "ModelShape": "memory", "Sizes": "memory", "estimate": "memory", "MemoryEstimate": "memory",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch or diffusers
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
