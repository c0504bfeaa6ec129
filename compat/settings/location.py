"""Where ComfyUI keeps its user folder, so the CLI and the nodes share one settings file.

The nodes pass ComfyUI's user directory (`folder_paths.get_user_directory()`, `<ComfyUI>/user`);
the CLI finds the same folder when pointed at ComfyUI (`wan-compat --comfyui DIR`, which sets
`$WAN_COMPAT_COMFYUI_DIR`) or when run from inside a ComfyUI folder (the current folder or one of
its parents is a ComfyUI checkout or base directory). `$WAN_COMPAT_CONFIG_DIR` still wins over both.
A ComfyUI started with `--user-directory` elsewhere needs `$WAN_COMPAT_CONFIG_DIR`, which must not
lie in a user folder that ComfyUI's clients can write (`refuse_client_writable`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..core.errors import SettingsError

COMFYUI_DIR_ENV = "WAN_COMPAT_COMFYUI_DIR"
CONFIG_DIR_ENV = "WAN_COMPAT_CONFIG_DIR"
SUB_FOLDER = "wan-compat"
FILE_NAME = "settings.json"
ENV_PREFIX = "WAN_COMPAT__"  # WAN_COMPAT__SECTION__FIELD variables override the file


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


def refuse_client_writable(folder: Path, user_dir: Path, variable: str) -> None:
    """ComfyUI's `POST /userdata` writes anywhere in a user's folder (`<user dir>/<user id>/...`,
    `default` for the single user); only the pack's own `<user dir>/wan-compat` (no user id can be
    named so: ComfyUI adds a uuid to every id) is safe inside the user data."""
    real, users = os.path.realpath(folder), os.path.realpath(user_dir)
    own = os.path.join(users, SUB_FOLDER)
    try:
        inside = os.path.commonpath([real, users]) == users and os.path.commonpath([real, own]) != own
    except ValueError:  # different drives (Windows): not inside
        inside = False
    if inside:
        raise SettingsError("SETTINGS_DIR_CLIENT_WRITABLE", f"{variable}={folder}", path=str(folder), user_dir=str(user_dir))


def settings_dir(user_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The folder of settings.json (see the module's doc); SETTINGS_DIR_CLIENT_WRITABLE for a
    $WAN_COMPAT_CONFIG_DIR that lies in ComfyUI's client-writable user folders."""
    env = os.environ if environ is None else environ
    if user_dir is None:
        user_dir = comfyui_user_dir(env)  # the CLI pointed at, or run from, a ComfyUI folder
    if env.get(CONFIG_DIR_ENV):
        chosen = Path(env[CONFIG_DIR_ENV]).expanduser()
        if user_dir is not None:
            refuse_client_writable(chosen, Path(user_dir), CONFIG_DIR_ENV)
        return chosen
    if user_dir is not None:
        return Path(user_dir) / SUB_FOLDER
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / SUB_FOLDER


def settings_are_default(environ: Mapping[str, str] | None = None) -> bool:
    """True when no settings file exists and no WAN_COMPAT__ variable is set: the effective
    settings are the defaults, known without reading them (or importing pydantic)."""
    env = os.environ if environ is None else environ
    if any(name.upper().startswith(ENV_PREFIX) for name in env):
        return False
    try:
        return not (settings_dir(None, env) / FILE_NAME).exists()
    except SettingsError:  # a refused $WAN_COMPAT_CONFIG_DIR: let the loader say so
        return False
