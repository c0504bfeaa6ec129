"""Where ComfyUI keeps its user folder, so the CLI and the nodes share one settings file.

The nodes pass ComfyUI's user directory (`folder_paths.get_user_directory()`, `<ComfyUI>/user`);
the CLI finds the same folder when pointed at ComfyUI (`wan-compat --comfyui DIR`, which sets
`$WAN_COMPAT_COMFYUI_DIR`) or when run from inside a ComfyUI folder (the current folder or one of
its parents is a ComfyUI checkout or base directory). `$WAN_COMPAT_CONFIG_DIR` still wins over both.
A ComfyUI started with `--user-directory` elsewhere needs `$WAN_COMPAT_CONFIG_DIR`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

COMFYUI_DIR_ENV = "WAN_COMPAT_COMFYUI_DIR"


def is_comfyui_folder(folder: Path) -> bool:
    """A ComfyUI checkout (`main.py` beside `folder_paths.py`) or a base directory made by
    `--base-directory` (`models/`, `user/` and `custom_nodes/` together)."""
    try:
        checkout = (folder / "main.py").is_file() and (folder / "folder_paths.py").is_file()
        base = all((folder / name).is_dir() for name in ("models", "user", "custom_nodes"))
    except OSError:
        return False
    return checkout or base


def comfyui_user_dir(environ: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> Path | None:
    """`<ComfyUI>/user` for the ComfyUI named by `$WAN_COMPAT_COMFYUI_DIR` or around `cwd`; None
    when neither applies."""
    env = os.environ if environ is None else environ
    if env.get(COMFYUI_DIR_ENV):
        return Path(env[COMFYUI_DIR_ENV]).expanduser() / "user"
    try:
        start = Path(cwd if cwd is not None else os.getcwd()).resolve()
    except OSError:  # the current folder was deleted
        return None
    for folder in (start, *start.parents):
        if is_comfyui_folder(folder):
            return folder / "user"
    return None
