"""ComfyUI IMAGE tensors in and out of sampling.

IMAGE is (batch, height, width, channels) float32 in [0, 1]. A conditioning image is handed to
diffusers as a PIL image: its image processors (the VAE's resize/normalise, CLIP's) expect what
an image file holds, and an IMAGE loaded from an 8-bit file converts back to exactly those bytes.
"""
from __future__ import annotations

from typing import Any

from ..core.errors import SampleError


def to_pil(image: Any, name: str) -> Any:
    """The first image of an IMAGE batch (or a PIL image, unchanged) as an RGB PIL image."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) == 3:
        image, shape = image[None], (1, *shape)
    if len(shape) != 4 or shape[0] < 1 or shape[3] not in (1, 3, 4) or shape[1] < 1 or shape[2] < 1:
        raise SampleError("SAMPLE_IMAGE_INVALID", f"{name} has shape {list(shape)}; expected (batch, height, width, 3) as ComfyUI's IMAGE", name=name)
    first = image[0]
    array = first.detach().cpu().float().numpy() if hasattr(first, "detach") else np.asarray(first, dtype=np.float32)
    if not np.isfinite(array).all():
        raise SampleError("SAMPLE_IMAGE_INVALID", f"{name} holds NaN or infinite values", name=name)
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise SampleError("SAMPLE_IMAGE_INVALID", f"{name} values span [{low:.3g}, {high:.3g}]; IMAGE values lie in [0, 1]", name=name)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return Image.fromarray(np.rint(array[:, :, :3] * 255).astype(np.uint8), "RGB")


def check_frames(frames: Any, expected: tuple[int, int, int, int]) -> None:
    """Frames must be the requested (F, H, W, 3) float32, finite and within [0, 1] (the frame
    stage's own checks); SAMPLE_OUTPUT_INVALID otherwise: the decode went wrong, not the input."""
    import torch

    from ..core.errors import FrameError
    from ..frames.arrays import check_video_array, first_non_finite, value_bounds

    try:
        shape = check_video_array(frames, what="the decoded frames")
    except FrameError as err:
        raise SampleError("SAMPLE_OUTPUT_INVALID", err.detail) from None
    problems = []
    if shape != expected:
        problems.append(f"shape {list(shape)}, expected {list(expected)}")
    if frames.dtype != torch.float32:
        problems.append(f"dtype {frames.dtype}, expected float32")
    bad = first_non_finite(frames)
    if bad is not None:
        problems.append(f"frame {bad} holds NaN/Inf")
    else:
        low, high = value_bounds(frames)
        if low < 0 or high > 1:
            problems.append(f"values span [{low:.4g}, {high:.4g}]")
    if problems:
        raise SampleError("SAMPLE_OUTPUT_INVALID", "; ".join(problems))
    from ..frames.checked import mark_checked

    mark_checked(frames, low, high)  # Wan Frame Process and Wan Encode Video need not scan them again
