"""Wan LoRAs on the pack's pipeline (the Wan LoRA node's backend). Import from here:
`prepare_lora` (read, match and check one LoRA against a pipeline's expert), `LoraSpec` (what a
WAN_PIPELINE carries), `lora_applied` (the LoRAs active for one run)."""
from __future__ import annotations

from typing import Any

__all__ = ["prepare_lora", "LoraSpec", "lora_applied", "with_loras"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch
    if name in ("prepare_lora", "LoraSpec", "with_loras"):
        from . import spec

        return getattr(spec, name)
    if name == "lora_applied":
        from .apply import lora_applied

        return lora_applied
    raise AttributeError(name)
