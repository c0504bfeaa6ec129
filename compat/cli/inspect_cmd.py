"""`wan-compat inspect PATH [--vae PATH] [--text-encoder PATH] [--clip-vision PATH] [--json]`.

Detection plus the loader's refusals (`refusals.py`): a file the loader would refuse is an error
(exit 1) with the reason, and a hostile file never stops the JSON from being printed."""
from __future__ import annotations

import argparse

from ..security.link_rule import LinkCheckedDetector
from .output import emit_json, emit_text
from .refusals import inspect_checked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a diffusers folder, a component folder or a single .safetensors file")
    parser.add_argument("--vae", help="a VAE file or folder to check against the model")
    parser.add_argument("--text-encoder", help="a text-encoder file or folder to check against the model")
    parser.add_argument("--clip-vision", help="a CLIP vision file or folder to check against the model")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def cli_settings() -> object:
    """The CLI's settings: its security policy and pipeline overrides (the defaults, strict, when
    there is no settings file or it cannot be read)."""
    from ..core.errors import WanCompatError
    from ..settings.store import Settings, load_settings

    try:
        return load_settings(None)
    except WanCompatError:
        return Settings()


def run(args: argparse.Namespace) -> int:
    from functools import cache

    from ..settings.location import settings_are_default

    settings = cache(cli_settings)  # read at most once a run, and only when something needs it

    def overrides() -> tuple:
        """No overrides, without reading settings (or importing pydantic), when no settings file and no
        WAN_COMPAT__ variable exist: the common case stays fast."""
        return () if settings_are_default() else tuple(settings().advanced.pipeline_overrides)

    info = inspect_checked(args.path, lambda: LinkCheckedDetector(overrides()).inspect(
        args.path, vae=args.vae, text_encoder=args.text_encoder, clip_vision=args.clip_vision
    ), lambda: settings().security)  # the policy: read only for a pickle or a folder
    if args.json:
        emit_json(info.to_dict())
    else:
        emit_text(info.summary())
    return 0 if info.ok else 1
