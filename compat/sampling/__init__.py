"""Wan Sample's backend: requests (`request`), the run (`run`), its stats (`stats`), IMAGE helpers
(`images`) and peak memory (`memory`). Import from here: `sample`, `SampleRequest`, `SampleResult`,
`SampleStats`, `resolve`."""
from __future__ import annotations

from typing import Any

_EXPORTS = {"sample": "run", "SampleResult": "stats", "SampleRequest": "request", "resolve": "request",
            "SampleStats": "stats", "PeakMemory": "memory"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch or diffusers
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
