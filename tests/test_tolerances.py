"""The shared tolerances (tests/tolerances.py): why two load paths may give frames a few ulps apart
(one nn.Linear, bit-identical weights, one copy at an unaligned address), and that the helpers still
fail on a wrong result."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tolerances import FP32_PIPELINE, assert_frames_close, assert_frames_differ, tolerance  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("k", [64, 1024])
def test_the_same_linear_at_an_unaligned_address_stays_within_the_kernel_tolerance(dtype: torch.dtype, k: int) -> None:
    """As in a safetensors mmap: the weight sits inside a larger buffer at an offset that is not
    64-byte aligned. The CPU library may then take another kernel (on some CPUs, for one input row,
    the outputs differ by a few ulps); whether it does depends on the CPU, so only what always holds
    is asserted: the weights are equal and the outputs are within the kernel tolerance."""
    g = torch.Generator().manual_seed(k)
    linear = torch.nn.Linear(k, 16).to(dtype)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(16, k, generator=g))
    x = torch.randn(1, 1, k, generator=g).to(dtype)  # one row: the matrix-vector kernels
    buffer = torch.empty(linear.weight.numel() + 1, dtype=dtype)
    unaligned = buffer[1:].view(16, k)
    unaligned.copy_(linear.weight.detach())
    assert unaligned.data_ptr() % 64 != 0 and torch.equal(unaligned, linear.weight)
    with torch.no_grad():
        fresh = linear(x)
        shifted = torch.nn.functional.linear(x, unaligned, linear.bias)
        again = linear(x)
    assert torch.equal(fresh, again)  # the same kernel on the same memory: bit-identical
    assert_frames_close(shifted.float(), fresh.float(), dtype=dtype, path="kernel")


def test_a_wrong_result_is_outside_the_pipeline_tolerance() -> None:
    frames = torch.rand(5, 16, 16, 3, generator=torch.Generator().manual_seed(0))
    assert_frames_close(frames, frames.clone(), dtype=torch.float32, path="pipeline")
    drifted = frames + FP32_PIPELINE / 2
    assert_frames_close(drifted, frames, dtype=torch.float32, path="pipeline")
    with pytest.raises(AssertionError, match="no real difference"):
        assert_frames_differ(drifted, frames, dtype=torch.float32, path="pipeline")  # rounding drift is no difference
    wrong = frames.clone()
    wrong[2, 3, 4, 1] += 1e-3  # one value off by a quarter of an 8-bit grey level
    with pytest.raises(AssertionError, match="exceeds"):
        assert_frames_close(wrong, frames, dtype=torch.float32, path="pipeline")
    assert_frames_differ(wrong, frames, dtype=torch.float32, path="pipeline")
    with pytest.raises(AssertionError, match="shapes"):
        assert_frames_close(frames[:4], frames, dtype=torch.float32, path="pipeline")
    nan = frames.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(AssertionError, match="non-finite"):
        assert_frames_close(nan, frames, dtype=torch.float32, path="pipeline")


def test_tolerances_are_relative_to_the_scale_and_never_guessed() -> None:
    big = torch.full((4,), 1000.0)
    assert_frames_close(big + 1000.0 * FP32_PIPELINE / 2, big, dtype=torch.float32, path="pipeline")
    with pytest.raises(AssertionError):
        assert_frames_close(big / 1000 + FP32_PIPELINE * 2, big / 1000, dtype=torch.float32, path="pipeline")
    with pytest.raises(KeyError, match="measure one"):
        tolerance(torch.float16, "pipeline")
