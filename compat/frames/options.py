"""The choices Wan Frame Process offers, apart from the handler that acts on them, so that the
node's inputs are declared at ComfyUI start-up without importing the handler."""
from __future__ import annotations

VALUE_RANGES: tuple[str, ...] = ("auto", "0..1", "-1..1", "0..255")
SIZE_MODES: tuple[str, ...] = ("keep", "pad", "resize")
