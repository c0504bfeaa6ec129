"""One path policy for every node input that names a file (Detect, Check, VAE Fix, Safe Load) and
for the routes that take paths (the workflow check): inside ComfyUI only ComfyUI's model folders
plus the configured roots (`security.extra_model_roots`, `$WAN_COMPAT_MODEL_ROOTS`); outside
ComfyUI only the configured roots.

A refused path reveals nothing: it is refused before anything is opened or tested for existence,
with the same message whether something is there or not (`compat/security/paths.py` decides).
"""
from __future__ import annotations

import os
from pathlib import Path

from . import comfy_env


def allowed_roots() -> list[str]:
    """The folders a node may read models from (their real paths, and as ComfyUI writes them)."""
    from ..compat.security.paths import roots_from
    from ..compat.settings.store import load_settings

    extra = list(load_settings(comfy_env.user_directory()).security.extra_model_roots)
    return roots_from(comfy_env.model_roots() + extra)


def admitted(path: str | os.PathLike[str]) -> Path:
    """`path` as written (`~` expanded) when the policy admits it; SecurityError PATH_OUTSIDE_ROOTS
    otherwise (the same error for a file that exists and one that does not)."""
    from ..compat.core.errors import SecurityError
    from ..compat.security.paths import admits

    given = Path(os.path.expanduser(str(path).strip()))
    roots = allowed_roots()
    if not admits(given, roots):
        shown = ", ".join(r for r in roots if os.path.realpath(r) == r) or "none (no model folder is configured)"
        raise SecurityError("PATH_OUTSIDE_ROOTS", str(given), path=str(given), roots=shown)
    return given


def problem(path: str | os.PathLike[str] | None, what: str = "model") -> str | None:
    """For VALIDATE_INPUTS: why `path` cannot be used (refused, or admitted but missing), or None."""
    from ..compat.core.errors import WanCompatError

    if path is None:
        return None
    try:
        given = admitted(path)
    except WanCompatError as err:
        return err.message()
    if not given.exists():
        return f"The {what} path does not exist: {given}"
    return None
