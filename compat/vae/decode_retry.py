"""An out-of-memory at VAE decode, after every denoising step, costs the decode only: the same
latents are decoded again with a strategy that needs less memory, each retry said in the stats.

The order: a full decode (all frames at once) is retried chunked (one latent frame at a time); a
chunked one with spatial tiling (diffusers' tiled decode: tiles of 256 px, blended, which changes
the frames by the blending where the latent is larger than a tile, and not at all where it is
smaller); a tiled one on the CPU (chunked, the VAE's tensors moved for the decode and back after).
Only when the CPU decode fails too is the run lost (VAE_DECODE_OUT_OF_MEMORY).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ..core.translate import out_of_memory
from .decode import DecodeOptions, decode_to_frames

log = logging.getLogger("wan_compat.decode")

# What to try after each mode ran out of memory.
NEXT = {"full": "chunked", "chunked": "tiled", "tiled": "cpu"}


@dataclass
class Retry:
    """One retry: where the run was, what failed, and what was changed."""

    stage: str
    error: str
    changed: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def _mode(vae: Any, latents: Any, options: DecodeOptions) -> str:
    from .decode import uses_tiling, vae_flags

    with vae_flags(vae, options):
        tiled = uses_tiling(vae, latents)
    return "tiled" if tiled else ("chunked" if options.chunked else "full")


@contextmanager
def on_cpu(vae: Any) -> Iterator[None]:
    """The VAE's parameters and buffers on the CPU for the body of the `with` (by swapping each
    tensor's data), and back where they were after it."""
    saved = [(t, t.data) for t in [*vae.parameters(), *vae.buffers()] if not t.is_meta]
    try:
        for tensor, data in saved:
            tensor.data = data.to("cpu")
        yield
    finally:
        for tensor, data in saved:
            tensor.data = data


def decode_with_retries(vae: Any, latents: Any, options: DecodeOptions,
                        on_chunk: Callable[[int, int], None] | None = None) -> tuple[Any, str, list[Retry]]:
    """`decode_to_frames`, retried on out-of-memory as the module says; (frames, mode, retries)."""
    retries: list[Retry] = []
    current = options
    mode = _mode(vae, latents, current)
    while True:
        try:
            if mode == "cpu":
                with on_cpu(vae):
                    frames, _ = decode_to_frames(vae, latents.to("cpu"), current, on_chunk=on_chunk, onload=False)
                return frames, "cpu (chunked)", retries
            frames, used = decode_to_frames(vae, latents, current, on_chunk=on_chunk)
            return frames, used, retries
        except Exception as exc:
            if not out_of_memory(exc) or mode not in NEXT:
                raise
            following = NEXT[mode]
            current = {"chunked": replace(current, chunked=True, tiling=False),
                       "tiled": replace(current, tiling=True, chunked=False), "cpu": replace(current, chunked=True, tiling=False)}[following]
            what = {"chunked": "chunked decode (one latent frame at a time)", "tiled": "tiled decode (spatial tiles)",
                    "cpu": "decode on the CPU (chunked)"}[following]
            retries.append(Retry("decode", f"out of memory in the {mode} decode ({type(exc).__name__})", f"retried with {what}"))
            log.warning("out of memory in the %s decode; retrying with %s on the same latents", mode, what)
            mode = following
            import gc

            gc.collect()
            _empty_cache()


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
