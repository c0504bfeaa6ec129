"""Container metadata through an ffmetadata file (`-f ffmetadata -i FILE -map_metadata 1`).

A file, not `-metadata key=value` arguments: ComfyUI workflows easily exceed Linux's 128 KiB limit
for one command-line argument. Keys follow ComfyUI's own video nodes (`prompt`, `workflow`, one key
per extra_pnginfo entry), which its frontend reads back when a video is dropped on the canvas
(Matroska tags; MP4/MOV `mdta` keys, written because the formats set `-movflags use_metadata_tags`).
Our own facts (model verdict, frame info) go under `wan_compat`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_SPECIAL = ("\\", "=", ";", "#", "\n")


def _escape(text: str) -> str:
    for ch in _SPECIAL:
        text = text.replace(ch, "\\" + ch)
    return text


def ffmetadata_text(tags: dict[str, Any]) -> str:
    """The ffmetadata document for these tags; non-string values are stored as compact JSON."""
    lines = [";FFMETADATA1"]
    for key, value in tags.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
        safe_key = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(key)) or "tag"
        lines.append(f"{safe_key}={_escape(text)}")
    return "\n".join(lines) + "\n"


def write_ffmetadata(temp_video: Path, tags: dict[str, Any]) -> Path | None:
    """Write the tags next to the temp video (same disk, same cleanup); None when there are none."""
    if not any(v is not None for v in tags.values()):
        return None
    path = temp_video.with_name(temp_video.name + ".ffmeta")
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(ffmetadata_text(tags))
    return path


def remove_quietly(path: Path | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass
