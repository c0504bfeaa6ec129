"""How close two results must be when they come from two *different* paths, and why.

The same computation on the same tensors in the same process is bit-identical: compare it with
`torch.equal` (a run repeated with the same seed, chunked against diffusers' decode on the same VAE,
weights through any load path). A tolerance is for two paths that run other CPU kernels: the same
weights at other addresses (an mmap at an offset that is not 64-byte aligned, a copy, a file that
group offload reloads) or another batch size make BLAS/oneDNN choose another kernel, which sums in
another order. How far apart the results land depends on the CPU, so no test asserts that they differ.

Tolerances are relative to the expected result's scale (its largest magnitude; frames are in [0, 1]),
by the dtype the computation ran in and the path. Each is a few ulps for one kernel and, for whole
runs, more than ten times the largest difference measured, yet far below what a wrong result gives
(another seed or a wrong weight moves tiny-pipeline frames by more than 1e-1).
"""
from __future__ import annotations

from typing import Any

import torch

# One fp32 matmul or convolution whose operands sit elsewhere in memory: another summation order,
# a few ulps (2**-24) of the largest output; measured up to 3.6e-7 (nn.Linear, one row, K=4096).
FP32_KERNEL = 1e-6
# One bf16 matmul (fp32 accumulation, rounded once to bf16): at most one bf16 ulp (2**-8 relative) apart.
BF16_KERNEL = 1e-2
# A whole fp32 generation (text encoder, denoising steps with CFG, VAE decode) through another load or
# offload path: the per-kernel differences carried through every layer and step; measured 1.3e-6
# (single files against the folder) and 6.2e-6 (group offload to disk).
FP32_PIPELINE = 1e-4
# fp32 VAE decode of a batch against one video at a time: a batch runs other convolution kernels;
# measured 4.1e-6 (Wan 2.1 VAE) and 1.4e-6 (Wan 2.2 VAE).
FP32_BATCHED_DECODE = 1e-4

TOLERANCES: dict[tuple[str, torch.dtype], float] = {
    ("kernel", torch.float32): FP32_KERNEL,
    ("kernel", torch.bfloat16): BF16_KERNEL,
    ("pipeline", torch.float32): FP32_PIPELINE,
    ("batched_decode", torch.float32): FP32_BATCHED_DECODE,
}


def tolerance(dtype: torch.dtype, path: str) -> float:
    """The relative tolerance for results computed in `dtype` that took `path` ("kernel", "pipeline",
    "batched_decode"); a combination nobody measured is an error, not a guess."""
    try:
        return TOLERANCES[(path, dtype)]
    except KeyError:
        raise KeyError(f"no tolerance for path {path!r} in {dtype}; measure one and add it to tests/tolerances.py") from None


def _gap(actual: Any, expected: Any) -> tuple[float, float]:
    """(largest absolute difference, scale of `expected`) in float64."""
    a, b = torch.as_tensor(actual).double(), torch.as_tensor(expected).double()
    assert a.shape == b.shape, f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    assert bool(torch.isfinite(a).all() and torch.isfinite(b).all()), "non-finite values"
    return float((a - b).abs().max()), max(float(b.abs().max()), 1e-30)


def assert_frames_close(actual: Any, expected: Any, *, dtype: torch.dtype, path: str) -> None:
    """`actual` is within the tolerance of (dtype, path) of `expected`, relative to `expected`'s scale."""
    tol = tolerance(dtype, path)
    gap, scale = _gap(actual, expected)
    assert gap <= tol * scale, f"{path} ({dtype}): max difference {gap:.3g} exceeds {tol:g} x scale {scale:.3g}"


def assert_frames_differ(actual: Any, other: Any, *, dtype: torch.dtype, path: str) -> None:
    """Two results that must differ do so by more than two paths of one computation could drift apart
    (so a difference of rounding alone does not count as, say, the image having been used)."""
    tol = tolerance(dtype, path)
    gap, scale = _gap(actual, other)
    assert gap > tol * scale, f"{path} ({dtype}): max difference {gap:.3g} is within {tol:g} x scale {scale:.3g}: no real difference"
