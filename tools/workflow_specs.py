"""The example workflows as compact graphs: nodes (key, type, widget values) and links.

Model choices name the official Wan-AI diffusers folders under ComfyUI's models/diffusers;
sizes, frames, steps, guidance and shift are each variant's recommended defaults from the registry.
"""
from __future__ import annotations

from typing import Any

CHECK_MODELS: dict[str, Any] = {
    "name": "wan_check_my_models",
    "id": "6f1c6a52-7d36-4f0e-9b7e-0b5d7c1e2a01",
    "title": "Check my Wan models",
    "description": "Detects a Wan model, checks a VAE, text encoder and CLIP vision against it, and writes a diagnosis. Loads no weights.",
    "nodes": [
        ("detect", "WanDetectArchitecture", {"model": "diffusers/Wan2.1-T2V-1.3B-Diffusers"}),
        ("check", "WanCheckCompatibility", {}),
        ("diagnose", "WanDiagnose", {"level": "detailed", "filename_prefix": "wan_check"}),
    ],
    "links": [
        ("detect", "model_info", "check", "model_info"),
        ("check", "model_info", "diagnose", "model_info"),
    ],
    "layout": {"detect": (0, 0), "check": (1, 0), "diagnose": (2, 0)},
}

SPECS: list[dict[str, Any]] = [CHECK_MODELS]
