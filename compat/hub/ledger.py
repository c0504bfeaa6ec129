"""The record of every verified download: which repository, path and pinned commit a model file
came from, and its sha256. One JSON line per file in `downloads.jsonl` beside the settings (no
token, no header, nothing from the environment), so `wan-compat` and the report can say later
exactly where a file in models/ came from.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILE_NAME = "downloads.jsonl"


def ledger_path(user_dir: str | os.PathLike[str] | None = None) -> Path:
    from ..settings.store import settings_dir

    return settings_dir(user_dir) / FILE_NAME


def record(entries: list[dict[str, Any]], user_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Append the entries; a ledger that cannot be written never fails the download it records."""
    path = ledger_path(user_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with open(path, "a", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps({"time": stamp, **entry}, sort_keys=True) + "\n")
    except OSError:
        return None
    return path


def entries(user_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    path = ledger_path(user_dir)
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found
