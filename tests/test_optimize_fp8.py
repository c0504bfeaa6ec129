"""Wan Optimize's fp8 weight-storage choice: kept when the transformers are loaded in fp8, chosen for
the run on a GPU when memory is short and fp8 linear weights fit, advised for the next load on a
CPU; and the per-run fp8 storage applied by `runtime.applied` and taken away after the run."""
from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.optimize import Accelerator, ModelShape, OptimizationManager, Sizes, SystemResources, estimate  # noqa: E402
from wan_compat.compat.settings.store import OptimizationPreferences  # noqa: E402

GIB = 1024**3
SIZES = Sizes(832, 480, 81)


@pytest.fixture(scope="module")
def shape(sparse_pipeline) -> ModelShape:
    return ModelShape.from_model_info(ArchitectureDetector().inspect(sparse_pipeline("wan2.1-t2v-1.3b")))


def _between(shape: ModelShape, device: str) -> tuple[int, int, int]:
    """(full peak, fp8 peak, a memory size whose budget lies between them)."""
    full = estimate(shape, SIZES, precision="bf16", device=device, offload="none").device_peak
    small = estimate(shape, SIZES, precision="bf16", device=device, offload="none", storage="fp8_e4m3fn").device_peak
    assert small < full
    return full, small, int((full + small) / 2 / 0.9)


def test_gpu_short_of_memory_gets_fp8_storage_and_says_so(shape) -> None:
    full, small, total = _between(shape, "cuda:0")
    gpu = Accelerator("cuda", 0, "a 9 GB GPU", total, total, "8.9")
    plan = OptimizationManager(SystemResources(64 * GIB, 60 * GIB, 16, [gpu]), OptimizationPreferences()).plan(shape, SIZES)
    choice = plan.choice("weight_storage")
    assert plan.weight_storage == "fp8_e4m3fn" and choice.value == "fp8_e4m3fn" and plan.offload == "none" and plan.fits
    assert "memory is short" in choice.reason and "fp8" in choice.reason
    assert plan.estimate.device_peak == small and plan.to_dict()["weight_storage"] == "fp8_e4m3fn"
    roomy = Accelerator("cuda", 0, "a big GPU", 4 * full, 4 * full, "9.0")
    plan = OptimizationManager(SystemResources(64 * GIB, 60 * GIB, 16, [roomy]), OptimizationPreferences()).plan(shape, SIZES)
    assert plan.weight_storage == "default" and "fit" in plan.choice("weight_storage").reason


def test_user_offload_setting_turns_per_run_fp8_off(shape) -> None:
    _, _, total = _between(shape, "cuda:0")
    gpu = Accelerator("cuda", 0, "a 9 GB GPU", total, total, "8.9")
    plan = OptimizationManager(SystemResources(64 * GIB, 60 * GIB, 16, [gpu]), OptimizationPreferences(offload="model")).plan(shape, SIZES)
    assert plan.offload == "model" and plan.weight_storage == "default"


def test_cpu_short_of_memory_is_told_to_load_in_fp8(shape) -> None:
    full, small, total = _between(shape, "cpu")
    plan = OptimizationManager(SystemResources(total, total, 16, []), OptimizationPreferences(precision="bf16")).plan(shape, SIZES)
    assert plan.weight_storage == "default"
    assert "weight_storage fp8_e4m3fn in Wan Safe Load" in plan.choice("weight_storage").reason
    assert any("fp8_e4m3fn" in p.detail for p in plan.problems)


def test_fp8_loaded_transformer_is_planned_at_one_byte(shape) -> None:
    loaded = dataclasses.replace(shape, fp8_params={"transformer": int(shape.params["transformer"] * 0.9)})
    plan = OptimizationManager(SystemResources(64 * GIB, 60 * GIB, 16, []), OptimizationPreferences(precision="bf16")).plan(loaded, SIZES)
    assert plan.choice("weight_storage").value == "fp8 (as loaded)" and plan.weight_storage == "default"
    assert plan.estimate.parts["weights.transformer"] < estimate(shape, SIZES, precision="bf16").parts["weights.transformer"]


def test_per_run_fp8_storage_is_applied_and_removed(tiny_loaded, private_settings) -> None:
    """The runtime's per-run fp8 (here on the CPU device, which the planner never picks itself):
    linear weights fp8 during the run, the same tensors and forwards after it."""
    from wan_compat.compat.optimize.manager import plan as make_plan
    from wan_compat.compat.optimize.runtime import applied

    handle = tiny_loaded("wan2.1-t2v", dtype="bf16")
    t = handle.pipeline.transformer
    before = {n: (p, p.data_ptr(), p.detach().clone()) for n, p in t.named_parameters()}
    base = make_plan(handle, 32, 32, 5, resources=SystemResources(64 * GIB, 60 * GIB, 16, []), preferences=OptimizationPreferences(precision="bf16"))
    plan = dataclasses.replace(base, weight_storage="fp8_e4m3fn")
    with applied(handle.pipeline, plan):
        q = t.blocks[0].attn1.to_q
        assert q.weight.dtype == torch.float8_e4m3fn and "forward" in q.__dict__
        assert t.blocks[0].attn1.to_q.bias.dtype == torch.bfloat16
        x = torch.randn(1, 5, 24).to(torch.bfloat16)
        assert torch.equal(q(x), torch.nn.functional.linear(x, q.weight.to(torch.bfloat16), q.bias))
    q = t.blocks[0].attn1.to_q
    assert "forward" not in q.__dict__
    for name, p in t.named_parameters():
        assert before[name][0] is p and before[name][1] == p.data_ptr() and torch.equal(before[name][2], p.detach()), name


def test_keep_fp8_storage_off_upcasts_for_the_run_only(tiny_path, private_settings) -> None:
    """optimization.keep_fp8_storage false: a transformer loaded with fp8 storage runs with its
    linear weights upcast to the run's precision (not per call), the same frames, and stays fp8."""
    from wan_compat.compat.loading import LoadOptions, load_pipeline
    from wan_compat.compat.sampling import SampleRequest, sample

    handle = load_pipeline(tiny_path("wan2.1-t2v"), options=LoadOptions(dtype="fp32", weight_storage="fp8_e4m3fn"))
    q = handle.pipeline.transformer.blocks[0].attn1.to_q
    assert q.weight.dtype == torch.float8_e4m3fn
    seen: list[torch.dtype] = []
    q.register_forward_pre_hook(lambda module, args: seen.append(module.weight.dtype))
    request = SampleRequest(prompt="a lighthouse", width=32, height=32, num_frames=5, steps=2, seed=3)
    kept = sample(dataclasses.replace(handle, preferences=OptimizationPreferences(precision="fp32")), request, record=False)
    assert set(seen) == {torch.float8_e4m3fn} and kept.stats.plan.choice("weight_storage").value == "fp8 (as loaded)"
    seen.clear()
    off = OptimizationPreferences(precision="fp32", keep_fp8_storage=False)
    upcast = sample(dataclasses.replace(handle, preferences=off), request, record=False)
    choice = upcast.stats.plan.choice("weight_storage")
    assert set(seen) == {torch.float32} and upcast.stats.plan.weight_storage == "upcast" and "keep_fp8_storage is off" in choice.reason
    assert q.weight.dtype == torch.float8_e4m3fn  # the loaded weights stay fp8
    assert torch.equal(upcast.frames, kept.frames)  # fp8 -> fp32 is exact: the same numbers, cast once instead of per call
