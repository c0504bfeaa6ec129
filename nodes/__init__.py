"""ComfyUI nodes: one module per stage, each a thin layer over `compat/` and `encoders/`.

Each stage module exports `NODES` (class name -> class) and `DISPLAY_NAMES`; adding a stage
means adding its module name to `_STAGE_MODULES`.
"""
from __future__ import annotations

import importlib

_STAGE_MODULES = (
    "detect",
    "check_models",
    "safe_load",
    "lora",
    "native_load",
    "vae_fix",
    "optimize",
    "sample",
    "frame_process",
    "encode_video",
    "diagnose",
)

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}

for _name in _STAGE_MODULES:
    _module = importlib.import_module(f".{_name}", __name__)
    NODE_CLASS_MAPPINGS.update(_module.NODES)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.DISPLAY_NAMES)

# Server routes, no-ops outside a running ComfyUI server: the report page, the queue check and its
# on-prompt log, the queue dialog's downloads from the Hub.
from . import comfy_hub_route, comfy_report_route, comfy_routes  # noqa: E402

comfy_report_route.register()
comfy_routes.register()
comfy_hub_route.register()
