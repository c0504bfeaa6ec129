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


def parse_ffmetadata(text: str) -> dict[str, str]:
    """The global tags of an ffmetadata document (the inverse of `ffmetadata_text`)."""
    tags: dict[str, str] = {}
    body = text.split("\n", 1)[1] if text.startswith(";FFMETADATA") else text
    entry: list[str] = []
    escaped = False
    for ch in body + "\n":
        if escaped:
            entry.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "\n":
            line = "".join(entry)
            entry = []
            if line.startswith("["):
                break  # stream/chapter sections follow the global tags
            key, sep, value = line.partition("=")  # keys never hold '=' (ffmetadata_text makes them safe)
            if sep and not key.startswith((";", "#")):
                tags[key] = value
        else:
            entry.append(ch)
    return tags


def read_metadata(path: Path | str, ffmpeg_path: str) -> dict[str, str]:
    """A video's global tags, whole (ffmpeg's console listing truncates long values), keys in lower
    case (Matroska stores them upper-case)."""
    import subprocess

    done = subprocess.run([ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                          capture_output=True, timeout=60)
    if done.returncode != 0:
        return {}
    return {k.lower(): v for k, v in parse_ffmetadata(done.stdout.decode("utf-8", "replace")).items()}
