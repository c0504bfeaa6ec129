"""Latents to ComfyUI IMAGE frames: chunked temporal decode with bounded memory, or diffusers' own.

diffusers' `AutoencoderKLWan._decode` already runs the causal decoder one latent frame at a time,
carrying each causal convolution's last frames in `feat_cache`; but it concatenates every output
into one growing tensor (copied on every frame), clamps it into another, and the pipeline's
post-processing makes two more copies before frames exist, all on the decoder's device.
`decode_chunks` runs the same decoder calls in the same order with the same cache, and hands over
each chunk of frames as soon as it is decoded (to RAM, or to an encoder), so the whole video never
sits in the decoder's memory. On CPU the peak is the decoder's per-call activations either way
(`benchmarks/decode_chunked.py`). The frames
of a video are bit-identical to `vae.decode` followed by diffusers' post-processing, for any chunk
length (tests and `benchmarks/decode_chunked.py` check it on the Wan 2.1 and 2.2 VAEs). Several
videos are decoded one after the other: bit-identical to diffusers' sliced decode, and within 1e-4
of its batched decode (a batch runs other convolution kernels).

With VAE tiling on and a latent larger than one tile, diffusers' tiled decode is used instead
(tiles span all frames there); its frames differ from an untiled decode by the tile blending.
"""
from __future__ import annotations

from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class DecodeOptions:
    """How latents become frames. `chunk_latent_frames` latent frames per chunk (1 keeps the least
    memory; every chunk length gives the same frames)."""

    chunked: bool = True
    chunk_latent_frames: int = 1
    tiling: bool = False
    slicing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def unnormalize(vae: Any, latents: Any) -> Any:
    """Denoiser latents to VAE latents, with the same arithmetic (and dtype steps) as the pipelines."""
    import torch

    z = vae.config.z_dim
    from diffusers.utils.torch_utils import get_module_execution_device

    latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
    mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
    inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
    return latents / inverse_std + mean


def _onload(vae: Any) -> None:
    """With model CPU offload, move the VAE to its execution device as `vae.decode` would (its
    accelerate hook only fires on the decorated methods, not on `decoder` itself)."""
    hook = getattr(vae, "_hf_hook", None)
    if hook is not None and hasattr(hook, "pre_forward"):
        hook.pre_forward(vae)


def to_image(video: Any) -> Any:
    """(B, C, F, H, W) in [-1, 1] -> IMAGE frames (B*F, H, W, C) float32 in [0, 1] on the CPU, with
    diffusers' post-processing arithmetic (denormalise in the VAE's dtype, then float)."""
    import torch

    with torch.inference_mode(False):  # frames with a version counter, so later stages can trust one check (frames/checked.py)
        frames = (video * 0.5 + 0.5).clamp(0, 1)
        return frames.permute(0, 2, 3, 4, 1).reshape(-1, *frames.shape[3:], frames.shape[1]).cpu().float()


def uses_tiling(vae: Any, latents: Any) -> bool:
    """Whether `vae.decode` would take its tiled path for these latents."""
    if not getattr(vae, "use_tiling", False):
        return False
    scale = vae.spatial_compression_ratio
    return latents.shape[-1] > vae.tile_sample_min_width // scale or latents.shape[-2] > vae.tile_sample_min_height // scale


def decode_chunks(vae: Any, latents: Any, chunk_latent_frames: int = 1, onload: bool = True) -> Iterator[Any]:
    """Yield IMAGE chunks (frames, H, W, C) of ONE video's VAE latents (1, z, T, h, w), in order.

    The causal cache lives on the VAE (`clear_cache`, `_feat_map`, `_conv_idx`) exactly as in
    `AutoencoderKLWan._decode`; it is cleared before and after, also when the consumer stops early.
    """
    import torch

    from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

    if latents.shape[0] != 1:
        raise ValueError("decode_chunks takes one video; loop over the batch")
    step = max(1, int(chunk_latent_frames))
    patch = vae.config.patch_size
    if onload:  # not for a decode moved to the CPU on purpose (decode_retry.py)
        _onload(vae)
    with torch.no_grad():
        vae.clear_cache()
        try:
            x = vae.post_quant_conv(latents)  # 1x1x1 convolution: the same per frame as for the whole
            frames = x.shape[2]
            for start in range(0, frames, step):
                outputs = []
                for i in range(start, min(start + step, frames)):
                    vae._conv_idx = [0]
                    out = vae.decoder(x[:, :, i : i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx, first_chunk=(i == 0))
                    outputs.append(out)
                video = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 2)
                del outputs
                if patch is not None:
                    video = unpatchify(video, patch_size=patch)
                yield to_image(torch.clamp(video, min=-1.0, max=1.0))
        finally:
            vae.clear_cache()


def decode_full(vae: Any, latents: Any) -> Any:
    """diffusers' own path: `vae.decode` (tiled when tiling is on and the latent exceeds a tile,
    sliced per video when slicing is on), then the same post-processing."""
    import torch

    with torch.no_grad():
        video = vae.decode(latents, return_dict=False)[0]
    return to_image(video)


def set_vae_flags(vae: Any, options: DecodeOptions) -> None:
    """Tiling and slicing on or off exactly as `options` say (both ways: nothing is inherited)."""
    (vae.enable_tiling if options.tiling else vae.disable_tiling)()
    (vae.enable_slicing if options.slicing else vae.disable_slicing)()


@contextmanager
def vae_flags(vae: Any, options: DecodeOptions) -> Iterator[None]:
    """The VAE's tiling and slicing exactly as `options` say for the body of the `with`, and as
    they were after it (the VAE is shared by every run of a cached pipeline)."""
    before = (vae.use_tiling, vae.use_slicing)
    set_vae_flags(vae, options)
    try:
        yield
    finally:
        vae.use_tiling, vae.use_slicing = before


def decode_to_frames(vae: Any, latents: Any, options: DecodeOptions | None = None,
                     on_chunk: Callable[[int, int], None] | None = None, onload: bool = True) -> tuple[Any, str]:
    """VAE latents (B, z, T, h, w) -> (IMAGE frames (B*F, H, W, C), the mode used).

    Chunked decode writes every chunk into one preallocated frame tensor, videos one after the
    other; `on_chunk(done, total)` is called after each chunk."""
    import torch

    options = options or DecodeOptions()
    with vae_flags(vae, options):
        if uses_tiling(vae, latents):
            return decode_full(vae, latents), "tiled"
        if not options.chunked:
            return decode_full(vae, latents), "full"
    batch, _, latent_frames = latents.shape[:3]
    step = max(1, int(options.chunk_latent_frames))
    total = batch * -(-latent_frames // step)
    frames_per_video = (latent_frames - 1) * vae.config.scale_factor_temporal + 1
    out: Any = None
    written = done = 0
    for b in range(batch):
        with closing(decode_chunks(vae, latents[b : b + 1], step, onload=onload)) as chunks:  # the cache is cleared even if on_chunk raises
            for chunk in chunks:
                if out is None:
                    with torch.inference_mode(False):  # as in to_image
                        out = torch.empty((batch * frames_per_video, *chunk.shape[1:]), dtype=chunk.dtype)
                out[written : written + chunk.shape[0]] = chunk
                written += chunk.shape[0]
                done += 1
                if on_chunk is not None:
                    on_chunk(done, total)
    if written != batch * frames_per_video:
        raise RuntimeError(f"chunked decode produced {written} frames, expected {batch * frames_per_video}")
    return out, "chunked"
