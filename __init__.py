"""Wan Compat: a ComfyUI node pack (and the `wan_compat` Python package) for Wan 2.1 / 2.2 video models.

ComfyUI imports this file at start-up, so it stays cheap: the node mappings are built on first
attribute access (PEP 562) and no node module imports torch or diffusers at import time.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.3.0"

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"):
        from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

        globals().update(
            NODE_CLASS_MAPPINGS=NODE_CLASS_MAPPINGS,
            NODE_DISPLAY_NAME_MAPPINGS=NODE_DISPLAY_NAME_MAPPINGS,
        )
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
