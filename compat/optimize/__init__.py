"""Wan Optimize's backend: the machine (`resources`), the memory estimate (`memory`), the plan
(`manager`: OptimizationManager) and the plan applied for one run (`runtime`: `applied`). Import
from here: `plan`, `plan_for_run`, `preview`, `applied`, `OptimizationManager`, `OptimizationPlan`,
`SystemResources`, `probe`, `ModelShape`, `Sizes`, `estimate`."""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "plan": "manager", "plan_for_run": "manager", "preview": "manager", "OptimizationManager": "manager",
    "OptimizationPlan": "manager", "Choice": "manager", "applied": "runtime",
    "SystemResources": "resources", "Accelerator": "resources", "probe": "resources",
    "ModelShape": "memory", "Sizes": "memory", "estimate": "memory", "MemoryEstimate": "memory",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch or diffusers
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
