"""Wan Optimize: the machine probe, the memory estimate on real sizes (sparse files), plans for this
CPU and for described GPUs, user preferences over the plan, and the node's preview. Applying a plan
for one run: tests/test_runtime.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.optimize import (  # noqa: E402
    Accelerator, ModelShape, OptimizationManager, Sizes, SystemResources, estimate, plan, probe,
)
from wan_compat.compat.optimize.memory import weight_bytes  # noqa: E402
from wan_compat.compat.settings.store import OptimizationPreferences, SettingsStore  # noqa: E402
from wan_compat.compat.vae import fix_vae  # noqa: E402

GIB = 1024**3
H100 = Accelerator("cuda", 0, "NVIDIA H100 80GB HBM3", 80 * GIB, 79 * GIB, "9.0")
RTX4090 = Accelerator("cuda", 0, "NVIDIA GeForce RTX 4090", 24 * GIB, 23 * GIB, "8.9")
T4 = Accelerator("cuda", 0, "Tesla T4", 16 * GIB, 15 * GIB, "7.5")
SIZES_720P = Sizes(1280, 720, 81)
SIZES_480P = Sizes(832, 480, 81)


def machine(*accelerators: Accelerator, ram_gb: float = 64) -> SystemResources:
    return SystemResources(int(ram_gb * GIB), int(ram_gb * GIB * 0.9), 16, list(accelerators))


def prefs(**values) -> OptimizationPreferences:
    return OptimizationPreferences(**values)


@pytest.fixture(scope="module")
def info_14b(sparse_pipeline):
    return ArchitectureDetector().inspect(sparse_pipeline("wan2.1-t2v-14b"))


@pytest.fixture(scope="module")
def info_1_3b(sparse_pipeline):
    return ArchitectureDetector().inspect(sparse_pipeline("wan2.1-t2v-1.3b"))


def test_probe_sees_this_cpu_only_machine() -> None:
    found = probe()
    assert found.ram_total_bytes > found.ram_available_bytes > 0
    if not torch.cuda.is_available():
        assert found.accelerators == [] and found.device == "cpu" and found.notes
    json.dumps(found.to_dict())


# ------------------------------------------------------------------------------------ estimate
def test_weights_come_from_the_header_sizes(info_14b) -> None:
    shape = ModelShape.from_model_info(info_14b)
    assert shape.hidden == 5120 and shape.ffn_dim == 13824 and shape.vae_version == "2.1" and shape.z_dim == 16
    vae_dtype = info_14b.components["vae"]["dtype"]
    weights = weight_bytes(shape, "bf16", vae_precision=vae_dtype)
    for name, size in (("transformer", 2), ("text_encoder", 2), ("vae", {"bf16": 2, "fp32": 4}[vae_dtype])):
        component = info_14b.components[name]
        assert weights[name] == size * component["params"]  # at the files' own dtypes: the bytes of the tensors
        assert abs(weights[name] - component["bytes"]) < 0.001 * component["bytes"]  # the files hold little more
    assert 26 * GIB < weights["transformer"] < 27 * GIB


def test_activations_grow_with_the_video_and_chunking_saves_frames(info_1_3b) -> None:
    shape = ModelShape.from_model_info(info_1_3b)
    small = estimate(shape, Sizes(480, 272, 17), precision="fp32")
    large = estimate(shape, SIZES_480P, precision="fp32")
    assert large.parts["activations.transformer"] > 4 * small.parts["activations.transformer"]
    assert large.parts["weights.transformer"] == small.parts["weights.transformer"]
    # On CPU the frames end up in RAM either way; the copies of a full decode come after its activations are freed.
    full = estimate(shape, SIZES_480P, precision="fp32", chunked_decode=False)
    assert full.phases["vae_decode"] == large.phases["vae_decode"]
    # On a GPU a full decode keeps the whole video in VRAM; chunked decode sends it to RAM chunk by chunk.
    gpu = {mode: estimate(shape, SIZES_480P, precision="bf16", device="cuda:0", chunked_decode=mode) for mode in (True, False)}
    assert gpu[False].phases["vae_decode"] - gpu[True].phases["vae_decode"] == large.parts["activations.frames"]
    long = {mode: estimate(shape, Sizes(832, 480, 1601), precision="fp32", chunked_decode=mode) for mode in (True, False)}
    assert long[False].phases["vae_decode"] > long[True].phases["vae_decode"]  # very long videos: the copies set the peak
    tiled = estimate(shape, Sizes(1280, 720, 81), precision="fp32", tiling=True)
    untiled = estimate(shape, Sizes(1280, 720, 81), precision="fp32")
    assert tiled.parts["activations.vae_decode"] == untiled.parts["activations.vae_decode"]
    assert tiled.phases["vae_decode"] < untiled.phases["vae_decode"]


def test_live_pipeline_and_headers_agree_on_parameters(tiny_loaded, tiny_path) -> None:
    live = ModelShape.from_pipeline(tiny_loaded("wan2.1-i2v").pipeline)
    headers = ModelShape.from_model_info(ArchitectureDetector().inspect(tiny_path("wan2.1-i2v")))
    assert live.params == headers.params and live.image_conditioned and headers.image_conditioned
    assert (live.hidden, live.ffn_dim, live.z_dim) == (headers.hidden, headers.ffn_dim, headers.z_dim)


# ------------------------------------------------------------------------------------ plans
def test_plan_for_this_cpu(tiny_loaded) -> None:
    handle = fix_vae(tiny_loaded("wan2.1-t2v"))
    result = plan(handle, 32, 32, 5, resources=probe(), preferences=prefs())
    assert (result.device, result.precision, result.offload) == ("cpu", "fp32", "none")
    assert result.decode.chunked and not result.decode.tiling and not result.decode.slicing
    assert {c.name for c in result.choices} == {"precision", "weight_storage", "offload", "chunked", "tiling", "slicing"}
    assert all(c.reason and c.source == "auto" for c in result.choices)
    assert "requires accelerator" not in result.summary() and "model/sequential offload need an accelerator" in result.choice("offload").reason
    assert result.fits and result.problems == []
    assert result.estimate.device_peak >= sum(v for k, v in result.estimate.parts.items() if k.startswith("weights."))
    json.dumps(result.to_dict())


@pytest.mark.parametrize(("gpu", "info", "sizes", "precision", "offload"), [
    (H100, "info_14b", SIZES_720P, "bf16", "none"),
    (RTX4090, "info_14b", SIZES_720P, "bf16", "group"),
    (T4, "info_1_3b", SIZES_480P, "fp16", "model"),
    # The VAE decode figure is CPU-measured (conservative on GPUs): with 11.4 GiB of bf16 UMT5 the
    # 24 GiB card is planned with model offload rather than none.
    (RTX4090, "info_1_3b", SIZES_480P, "bf16", "model"),
])
def test_plans_for_described_gpus(request, gpu, info, sizes, precision, offload) -> None:
    result = OptimizationManager(machine(gpu), prefs()).plan(request.getfixturevalue(info), sizes)
    assert (result.device, result.precision, result.offload) == ("cuda:0", precision, offload), result.summary()
    assert result.fits, result.summary()
    assert gpu.name in result.choice("precision").reason or "compute" in result.choice("precision").reason


def test_max_vram_preference_caps_the_budget(info_14b) -> None:
    free = OptimizationManager(machine(H100), prefs()).plan(info_14b, SIZES_720P)
    capped = OptimizationManager(machine(H100), prefs(max_vram_gb=20)).plan(info_14b, SIZES_720P)
    assert free.offload == "none" and capped.offload == "group" and capped.budget["device_bytes"] == 20 * GIB


def test_cpu_without_enough_ram_goes_bf16_then_group_offload(info_14b) -> None:
    result = OptimizationManager(machine(ram_gb=24), prefs()).plan(info_14b, Sizes(832, 480, 33))
    assert result.precision == "bf16" and "over the RAM budget" in result.choice("precision").reason
    assert result.offload == "group" and "disk" in result.choice("offload").reason


def test_preferences_override_and_impossible_ones_fall_back_with_a_warning(info_1_3b) -> None:
    on_cpu = OptimizationManager(machine(), prefs(precision="bf16", offload="model", vae_tiling="on")).plan(info_1_3b, SIZES_480P)
    assert on_cpu.precision == "bf16" and on_cpu.choice("precision").source == "settings"
    assert on_cpu.offload == "none" and [p.code for p in on_cpu.problems] == ["OFFLOAD_UNAVAILABLE"]
    assert on_cpu.decode.tiling and on_cpu.choice("tiling").source == "settings"
    on_t4 = OptimizationManager(machine(T4), prefs(precision="bf16", offload="sequential")).plan(info_1_3b, SIZES_480P)
    assert on_t4.precision == "fp16" and on_t4.offload == "sequential"
    assert [p.code for p in on_t4.problems] == ["PRECISION_UNAVAILABLE"]


def test_a_plan_that_cannot_fit_says_so(info_14b) -> None:
    result = OptimizationManager(machine(Accelerator("cuda", 0, "small", 4 * GIB, 4 * GIB, "8.6"), ram_gb=16), prefs()).plan(info_14b, SIZES_720P)
    assert not result.fits and result.offload == "sequential"
    assert "PLAN_EXCEEDS_MEMORY" in [p.code for p in result.problems]


def test_explicit_vae_fix_choices_are_kept(tiny_loaded) -> None:
    handle = fix_vae(tiny_loaded("wan2.1-t2v"), tiling="on", chunked="off")
    result = plan(handle, 32, 32, 5, resources=probe(), preferences=prefs(vae_tiling="off"))
    assert result.decode.tiling and not result.decode.chunked
    assert result.choice("tiling").source == "vae_fix" and result.choice("chunked").source == "vae_fix"


def test_node_records_preferences_from_the_settings_file_and_its_widgets_win(tiny_loaded, private_settings: Path) -> None:
    from wan_compat.nodes.optimize import WanOptimize

    SettingsStore(private_settings).set("optimization.precision", "bf16")
    handle = tiny_loaded("wan2.1-t2v")
    optimized, preview, text = WanOptimize().optimize(handle)["result"]
    assert optimized.preferences.precision == "bf16" and preview.precision == "bf16" and "precision: bf16 (settings)" in text
    assert optimized.dtype == "fp32" and handle.preferences is None  # nothing cast; the input handle unchanged
    assert text.startswith("preferences for Wan Sample: precision bf16") and "PREVIEW" in text
    _, widget, _ = WanOptimize().optimize(tiny_loaded("wan2.1-t2v"), precision="fp32")["result"]
    assert widget.precision == "fp32"


def test_preview_is_at_the_recommended_size(info_14b) -> None:
    from wan_compat.compat.optimize.manager import recommended_sizes

    sizes, source = recommended_sizes(info_14b)
    assert (sizes.width, sizes.height, sizes.num_frames) == (1280, 720, 81) and "wan2.1-t2v-14b" in source
    unknown, why = recommended_sizes(type("Info", (), {"requirements": {}, "variant": None})())
    assert (unknown.width, unknown.height, unknown.num_frames) == (832, 480, 81) and "no recommended size" in why
