"""Wan VAE Fix's backend: checks of the VAE against the transformer(s) (`checks`), finding and
loading a VAE that fits (`swap`), chunked temporal decode (`decode`) and the stage itself (`fix`).
Import from here: `fix_vae`, `VaeFixReport`, `DecodeOptions`, `decode_to_frames`, `decode_chunks`,
`check_pipeline_vae`, `vae_problems`."""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "fix_vae": "fix", "VaeFixReport": "fix",
    "DecodeOptions": "decode", "decode_to_frames": "decode", "decode_chunks": "decode",
    "check_pipeline_vae": "checks", "vae_problems": "checks",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch or diffusers
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
