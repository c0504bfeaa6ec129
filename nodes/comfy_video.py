"""ComfyUI's VIDEO type (comfy_api's VideoInput): frames and rate out of one, a file into one.

The only module that touches `comfy_api`. A VideoFromComponents (core CreateVideo) hands over its
IMAGE tensor as it is, so Wan Encode Video still streams those frames to ffmpeg without a float
copy; a VideoFromFile is decoded by ComfyUI's own reader.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def components(video: Any) -> tuple[Any, float, Any]:
    """(IMAGE frames, frames per second, AUDIO or None) of a VIDEO input; ComfyUI decodes the
    audio of a file with PyAV into its AUDIO format ({"waveform", "sample_rate"})."""
    parts = video.get_components()
    return parts.images, float(parts.frame_rate), parts.audio


def from_file(path: Path) -> Any:
    """A VIDEO for a written file (what core SaveVideo and other packs' video nodes take); None
    outside ComfyUI, where there is no VIDEO type."""
    try:
        from comfy_api.latest import InputImpl  # ComfyUI's module
    except ImportError:
        return None
    return InputImpl.VideoFromFile(str(path))
