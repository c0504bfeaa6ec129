"""The real ComfyUI the server and browser tests run against: `$COMFYUI_DIR` (CI sets it to the
ComfyUI it unpacks from ../shared/comfyui) and the Python of its venv."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from comfyui_server import comfy_python


def comfy_install() -> tuple[Path, str]:
    """(ComfyUI folder, its Python), or skip the test with what to set when none is configured."""
    given = os.environ.get("COMFYUI_DIR", "")
    if not given:
        pytest.skip("COMFYUI_DIR is not set: point it at a ComfyUI checkout with its venv to run the real-server tests")
    root = Path(given)
    python = comfy_python(root)
    if not (root / "main.py").is_file() or python is None:
        pytest.skip(f"COMFYUI_DIR={root} has no main.py or no Python (set COMFYUI_PYTHON)")
    return root, python
