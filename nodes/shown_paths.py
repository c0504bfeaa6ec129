"""Paths as nodes show them: relative to ComfyUI's model folders (`diffusion_models/x.safetensors`,
`vae/wan_2.1_vae.safetensors`), its output folder (`output/...`) or the home folder (`~`), never
absolute. Everything a node writes on its face, and the text outputs a user may display, pass here.
"""
from __future__ import annotations

import re

from . import comfy_env


def relative(text: str) -> str:
    """`text` with every absolute path under a known folder shown relative to it."""
    from ..compat.diagnostics.redact import Scrubber

    labels = comfy_env.path_labels()
    if labels:
        # A folder matches a whole path component only: /models/vae must not eat /models/vae2.
        pattern = re.compile("|".join(f"({re.escape(folder)})(?=[/\\\\]|$|[^\\w.-])" for folder, _ in labels))
        names = [label for _, label in labels]

        def label_for(found: re.Match[str]) -> str:
            return names[found.lastindex - 1] if found.lastindex else found.group(0)

        text = pattern.sub(label_for, text)
    return Scrubber().text(text)
