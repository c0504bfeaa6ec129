"""What to use when the user left format, crf, preset or fps open: the settings' `encoder` section.

The settings name one format with its crf and preset (`{"format": "mp4", "crf": 19, "preset":
"medium"}`), so their crf and preset apply only when that format is the one being written; any
other format keeps its own defaults (an x264 preset means nothing to VP9). The settings file is
read only when something is left open, so a fully specified `wan-compat encode` never imports
pydantic.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .formats import VideoFormat, get_format

DEFAULT_FPS = 16.0


@dataclass(frozen=True)
class Choice:
    fmt: VideoFormat
    crf: int | None
    preset: str | None
    fps: float
    png_fallback: bool = True


def _encoder_settings(user_dir: str | os.PathLike[str] | None) -> Any:
    from ..compat.settings.store import load_settings

    return load_settings(user_dir).encoder


def choose(fmt: str | VideoFormat | None, crf: int | None, preset: str | None, fps: float | None, *,
           user_dir: str | os.PathLike[str] | None = None, need_fallback_flag: bool = False) -> Choice:
    """Fill what is None from the settings (read only then); a SettingsError names a broken file."""
    if fmt is not None and crf is not None and preset is not None and fps is not None and not need_fallback_flag:
        return Choice(get_format(fmt), crf, preset, fps)
    section = _encoder_settings(user_dir)
    chosen = get_format(fmt if fmt is not None else section.format)
    configured = get_format(section.format)
    same = configured.name == chosen.name
    if crf is None and same and chosen.quality is not None:
        crf = section.crf
    if preset is None and same and section.preset in chosen.presets:
        preset = section.preset
    if fps is None:
        fps = section.fps or DEFAULT_FPS
    return Choice(chosen, crf, preset, float(fps), bool(section.png_fallback))
