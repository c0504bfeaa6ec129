"""Wan Sample on the tiny pipelines: every variant through the nodes, MoE expert switching, seeds,
frames equal to a raw diffusers call, and each bad input refused before any step with nothing left
behind (the caller's pipeline, hooks and scheduler unchanged; the next run gives the same frames)."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import CompatibilityError, SampleError  # noqa: E402
from wan_compat.compat.fixtures.tiny import TEST_PROMPTS, TINY_VARIANTS  # noqa: E402
from wan_compat.compat.sampling.perf_history import PerfHistory  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.compat.vae.swap import rebuild  # noqa: E402
from wan_compat.nodes.optimize import WanOptimize  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402
from wan_compat.nodes.sample import WanSample  # noqa: E402
from wan_compat.nodes.vae_fix import WanVAEFix  # noqa: E402
from tolerances import assert_frames_differ  # noqa: E402

SIZE, FRAMES, STEPS = 32, 5, 4
IMAGE = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(7))
LAST = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(8))
# Inputs each variant needs, and the mode it runs.
CASES = {
    "wan2.1-t2v": ({}, "t2v"),
    "wan2.1-i2v": ({"image": IMAGE}, "i2v"),
    "wan2.1-flf2v": ({"image": IMAGE, "last_image": LAST}, "flf2v"),
    "wan2.2-t2v-a14b": ({}, "t2v"),
    "wan2.2-i2v-a14b": ({"image": IMAGE}, "i2v"),
    "wan2.2-ti2v-5b": ({}, "ti2v"),
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tiny_cache: Path, tmp_path: Path, private_settings: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tiny_cache))
    monkeypatch.setenv("WAN_COMPAT_OUTPUT_DIR", str(tmp_path / "output"))


def request(**changes) -> SampleRequest:
    values = dict(prompt=TEST_PROMPTS[0], negative_prompt=TEST_PROMPTS[3], width=SIZE, height=SIZE, num_frames=FRAMES, steps=STEPS, seed=0)
    values.update(changes)
    return SampleRequest(**values)


class Counter:
    """Progress callback that counts the steps the pipeline really ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


def _untouched(handle, pipeline, scheduler) -> None:
    """Nothing of a run stays behind on the caller's objects."""
    assert handle.pipeline is pipeline and pipeline.scheduler is scheduler
    for name in ("transformer", "transformer_2"):
        module = getattr(pipeline, name, None)
        if module is not None:
            assert not module._forward_pre_hooks, name
    assert all(c is None for c in getattr(pipeline.vae, "_feat_map", [None]))


def _through_nodes(folder: Path, **inputs):
    loaded = WanSafeLoad().load(model_path=str(folder), dtype="fp32")["result"][0]
    fixed = WanVAEFix().fix(loaded)["result"][0]
    optimized, _, _ = WanOptimize().optimize(fixed)["result"]  # preferences; the plan is made by the run
    assert WanSample.VALIDATE_INPUTS(num_frames=FRAMES, width=SIZE, height=SIZE) is True
    out = WanSample().sample(optimized, prompt=TEST_PROMPTS[0], negative_prompt=TEST_PROMPTS[3], width=SIZE, height=SIZE,
                             num_frames=FRAMES, steps=STEPS, seed=0, cfg=5.0, **inputs)
    frames, stats, fps, text = out["result"]
    assert out["ui"]["text"] == [text]
    return optimized, stats.plan, frames, stats, fps


@pytest.mark.parametrize("variant", list(CASES))
def test_every_tiny_variant_samples_through_the_nodes(tiny_pipelines, variant: str) -> None:
    inputs, mode = CASES[variant]
    handle, plan, frames, stats, fps = _through_nodes(tiny_pipelines[variant], **inputs)
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.dtype == torch.float32
    assert bool(torch.isfinite(frames).all()) and 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert stats.mode == mode and stats.frames_shape == [FRAMES, SIZE, SIZE, 3] and len(stats.step_seconds) == STEPS
    assert fps == TINY_VARIANTS[variant].requires["fps"] and stats.seed == 0
    assert stats.peak_memory_bytes > 0 and stats.estimate["device_peak_bytes"] > 0 and stats.decode_mode == "chunked"
    json.dumps(stats.to_dict())  # the report is JSON-ready
    if TINY_VARIANTS[variant].moe:
        boundary = stats.boundary_ratio * 1000
        expected = next(i + 1 for i, t in enumerate(stats.timesteps) if t < boundary)
        assert stats.switch_step == expected and 1 < expected <= STEPS
        assert stats.experts == ["high_noise"] * (expected - 1) + ["low_noise"] * (STEPS - expected + 1)
        assert f"low-noise from step {expected}" in stats.summary()
        assert stats.cfg_2 == stats.cfg  # -1 in the node: the same guidance for both experts
    else:
        assert stats.experts == ["transformer"] * STEPS and stats.switch_step is None
    assert plan.device == "cpu" and plan.offload == "none" and plan.precision == "fp32"


def test_ti2v_with_a_first_frame_runs_image_to_video(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.2-ti2v-5b")
    result = sample(handle, request(image=IMAGE))
    assert result.stats.mode == "ti2v" and result.stats.pipeline_class == "WanImageToVideoPipeline"
    assert type(handle.pipeline).__name__ == "WanPipeline"  # the caller's pipeline keeps its class
    text_only = sample(handle, request())
    assert_frames_differ(result.frames, text_only.frames, dtype=torch.float32, path="pipeline")  # not just another pipeline class's rounding


@pytest.mark.parametrize("variant", ["wan2.1-t2v", "wan2.2-t2v-a14b", "wan2.2-ti2v-5b", "wan2.1-flf2v"])
def test_frames_equal_a_raw_diffusers_call_and_seeds_reproduce(tiny_loaded, variant: str) -> None:
    from PIL import Image

    handle = tiny_loaded(variant)
    inputs, _ = CASES[variant]
    ours = sample(handle, request(**inputs)).frames
    again = sample(handle, request(**inputs)).frames
    other = sample(handle, request(seed=1, **inputs)).frames
    assert torch.equal(ours, again)  # the same path and seed: bit-identical
    assert_frames_differ(ours, other, dtype=torch.float32, path="pipeline")
    raw_inputs = {k: Image.fromarray((v[0].numpy() * 255).round().astype("uint8")) for k, v in inputs.items()}
    raw = handle.pipeline(prompt=TEST_PROMPTS[0], negative_prompt=TEST_PROMPTS[3], height=SIZE, width=SIZE, num_frames=FRAMES,
                          num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0), output_type="pt", **raw_inputs).frames
    assert torch.equal(ours, raw[0].permute(0, 2, 3, 1))


def test_progress_per_step_and_per_chunk(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    counter = Counter()
    sample(handle, request(), on_progress=counter)
    total = STEPS + 2  # 2 latent frames, one chunk each
    assert counter.calls == [(i, total) for i in range(1, total + 1)]


def test_overrides_apply_to_the_run_only(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.2-t2v-a14b")
    pipeline, scheduler = handle.pipeline, handle.pipeline.scheduler
    default = sample(handle, request())
    shifted = sample(handle, request(shift=2.0, boundary_ratio=0.95, cfg_2=1.5))
    assert shifted.stats.shift == 2.0 and shifted.stats.boundary_ratio == 0.95 and shifted.stats.cfg_2 == 1.5
    assert shifted.stats.switch_step == next(i + 1 for i, t in enumerate(shifted.stats.timesteps) if t < 950)
    assert_frames_differ(default.frames, shifted.frames, dtype=torch.float32, path="pipeline")
    assert scheduler.config.flow_shift == 12.0 and pipeline.config.boundary_ratio == 0.875
    _untouched(handle, pipeline, scheduler)
    assert torch.equal(sample(handle, request()).frames, default.frames)


def test_several_videos_per_prompt_are_concatenated(tiny_loaded) -> None:
    result = sample(tiny_loaded("wan2.1-t2v"), request(videos=2))
    assert result.frames.shape == (2 * FRAMES, SIZE, SIZE, 3)
    assert_frames_differ(result.frames[:FRAMES], result.frames[FRAMES:], dtype=torch.float32, path="pipeline")  # not one noise in a batch
    assert "concatenated" in result.stats.frames_note and result.stats.to_dict()["videos"] == 2


def test_runs_are_recorded_in_the_performance_history(tiny_loaded, private_settings: Path) -> None:
    result = sample(tiny_loaded("wan2.1-t2v"), request())
    runs = PerfHistory.in_directory(private_settings).runs()
    assert len(runs) == 1 and runs[0].steps == STEPS and runs[0].frames == FRAMES
    assert runs[0].peak_memory_bytes == result.stats.peak_memory_bytes and runs[0].estimate_bytes > 0
    assert runs[0].extra["mode"] == "t2v"


# ------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("variant", "changes", "code", "words"), [
    ("wan2.1-t2v", {"num_frames": 6}, "SAMPLE_FRAMES_INVALID", "5 or 9"),
    ("wan2.1-t2v", {"num_frames": 0}, "SAMPLE_VALUE_INVALID", "num_frames"),
    ("wan2.1-t2v", {"width": 40}, "SAMPLE_SIZE_INVALID", "32 or 48"),
    ("wan2.2-ti2v-5b", {"height": 48}, "SAMPLE_SIZE_INVALID", "multiple of 32"),
    ("wan2.1-t2v", {"steps": 0}, "SAMPLE_VALUE_INVALID", "steps"),
    ("wan2.1-t2v", {"seed": -1}, "SAMPLE_VALUE_INVALID", "seed"),
    ("wan2.1-t2v", {"cfg": float("nan")}, "SAMPLE_VALUE_INVALID", "cfg"),
    ("wan2.1-t2v", {"videos": 0}, "SAMPLE_VALUE_INVALID", "videos"),
    ("wan2.1-t2v", {"shift": 0.0}, "SAMPLE_VALUE_INVALID", "shift"),
    ("wan2.1-t2v", {"image": IMAGE}, "SAMPLE_IMAGE_UNUSED", "takes no image"),
    ("wan2.1-i2v", {}, "SAMPLE_IMAGE_REQUIRED", "start image"),
    ("wan2.1-flf2v", {"image": IMAGE}, "SAMPLE_IMAGE_REQUIRED", "last_image"),
    ("wan2.1-i2v", {"image": IMAGE, "last_image": LAST}, "SAMPLE_LAST_IMAGE_UNSUPPORTED", "last frame"),
    ("wan2.2-ti2v-5b", {"image": IMAGE, "last_image": LAST}, "SAMPLE_LAST_IMAGE_UNSUPPORTED", "TI2V-5B"),
    ("wan2.1-i2v", {"image": torch.rand(1, SIZE, SIZE, 5)}, "SAMPLE_IMAGE_INVALID", "shape"),
    ("wan2.1-i2v", {"image": IMAGE * 2}, "SAMPLE_IMAGE_INVALID", "[0, 1]"),
    ("wan2.1-i2v", {"image": IMAGE.clone().fill_(float("nan"))}, "SAMPLE_IMAGE_INVALID", "NaN"),
    ("wan2.1-t2v", {"boundary_ratio": 0.5}, "SAMPLE_MOE_ONLY", "boundary_ratio"),
    ("wan2.2-t2v-a14b", {"boundary_ratio": 1.5}, "BOUNDARY_RATIO_INVALID", "1.5"),
])
def test_bad_inputs_are_refused_before_any_step(tiny_loaded, variant: str, changes: dict, code: str, words: str) -> None:
    handle = tiny_loaded(variant)
    pipeline, scheduler = handle.pipeline, handle.pipeline.scheduler
    counter = Counter()
    with pytest.raises(SampleError) as err:
        sample(handle, request(**changes), on_progress=counter)
    assert err.value.code == code and words in str(err.value)
    assert counter.calls == []
    _untouched(handle, pipeline, scheduler)


def test_node_validates_frames_and_sizes_before_the_graph_runs() -> None:
    assert "4k+1" in WanSample.VALIDATE_INPUTS(num_frames=80) and "81" in WanSample.VALIDATE_INPUTS(num_frames=80)
    assert "multiples of 16" in WanSample.VALIDATE_INPUTS(width=840)


def test_cfg_2_on_a_single_transformer_is_a_warning(tiny_loaded) -> None:
    result = sample(tiny_loaded("wan2.1-t2v"), request(cfg_2=2.0))
    assert [p.code for p in result.stats.problems if p.severity == "warning"] == ["SAMPLE_MOE_ONLY"]
    assert result.stats.cfg_2 is None


@pytest.mark.parametrize(("variant", "wrong"), [("wan2.2-ti2v-5b", "wan2.1-t2v"), ("wan2.1-t2v", "wan2.2-ti2v-5b"),
                                                 ("wan2.2-i2v-a14b", "wan2.2-ti2v-5b")])
def test_wrong_vae_is_refused_before_the_first_step(tiny_loaded, tiny_path, variant: str, wrong: str) -> None:
    from diffusers import AutoencoderKLWan

    loaded = tiny_loaded(variant)
    handle = dataclasses.replace(loaded, pipeline=rebuild(loaded.pipeline, vae=AutoencoderKLWan.from_pretrained(tiny_path(wrong), subfolder="vae")))
    forwards = []
    hook = handle.pipeline.transformer.register_forward_pre_hook(lambda module, args: forwards.append(1))
    counter = Counter()
    inputs, _ = CASES[variant]
    with pytest.raises(CompatibilityError) as err:
        sample(handle, request(**inputs), on_progress=counter)
    assert err.value.code == "WRONG_VAE" and forwards == [] and counter.calls == []
    right = "wan2.2_vae.safetensors" if TINY_VARIANTS[variant].z_dim == 48 else "wan_2.1_vae.safetensors"
    assert right in err.value.fix
    if variant == "wan2.2-ti2v-5b":
        # What diffusers does with the same pipeline: every step runs, then the decode fails.
        steps = []
        with pytest.raises(RuntimeError, match=r"size of tensor a \(48\) must match the size of tensor b \(16\)"):
            handle.pipeline(prompt=TEST_PROMPTS[0], height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=STEPS,
                            callback_on_step_end=lambda p, i, t, kw: steps.append(i) or {})
        assert steps == list(range(STEPS))
    hook.remove()


def test_image_vae_is_refused_before_the_first_step(tiny_loaded) -> None:
    from diffusers import AutoencoderKL

    handle = tiny_loaded("wan2.1-t2v")
    handle.pipeline.vae = AutoencoderKL(latent_channels=16, block_out_channels=(8,), norm_num_groups=4,
                                        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",))
    counter = Counter()
    with pytest.raises(CompatibilityError) as err:
        sample(handle, request(), on_progress=counter)
    assert err.value.code == "VAE_NOT_3D" and counter.calls == []


def test_nan_latents_stop_the_run_at_their_step(tiny_loaded, private_settings: Path) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    pipeline, scheduler = handle.pipeline, handle.pipeline.scheduler
    reference = sample(handle, request(), record=False).frames
    bias = pipeline.transformer.proj_out.bias
    saved = bias.detach().clone()

    def corrupt_after_first_step(done: int, total: int) -> None:
        if done == 1:  # a weight goes bad mid-run (as an fp16 overflow would): step 2 makes NaN
            with torch.no_grad():
                bias[0] = float("nan")

    with pytest.raises(SampleError) as err:
        sample(handle, request(), on_progress=corrupt_after_first_step)
    assert err.value.code == "SAMPLE_NONFINITE_LATENTS" and "step 2 of" in err.value.detail and "step 2" in err.value.summary
    _untouched(handle, pipeline, scheduler)
    assert PerfHistory.in_directory(private_settings).runs() == []  # a failed run is not recorded
    with torch.no_grad():
        bias.copy_(saved)
    assert torch.equal(sample(handle, request(), record=False).frames, reference)


class Interrupted(Exception):
    """What ComfyUI's interrupt check raises (comfy.model_management.InterruptProcessingException)."""


def test_interrupt_stops_between_steps_and_is_raised_unchanged(tiny_loaded, private_settings: Path) -> None:
    handle = tiny_loaded("wan2.2-t2v-a14b")
    pipeline, scheduler = handle.pipeline, handle.pipeline.scheduler
    reference = sample(handle, request(), record=False).frames
    counter = Counter()
    raised = Interrupted("cancelled by the user")

    def interrupt_at_step_two() -> None:
        if len(counter.calls) == 2:
            raise raised

    with pytest.raises(Interrupted) as err:
        sample(handle, request(), on_progress=counter, check_interrupt=interrupt_at_step_two)
    assert err.value is raised and [done for done, _ in counter.calls] == [1, 2]
    _untouched(handle, pipeline, scheduler)
    assert PerfHistory.in_directory(private_settings).runs() == []
    assert torch.equal(sample(handle, request(), record=False).frames, reference)


def test_interrupt_during_the_decode_is_raised_unchanged(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    counter = Counter()
    raised = Interrupted("cancelled while decoding")

    def interrupt_after_the_steps() -> None:
        if len(counter.calls) > STEPS:
            raise raised

    with pytest.raises(Interrupted) as err:
        sample(handle, request(), on_progress=counter, check_interrupt=interrupt_after_the_steps)
    assert err.value is raised and len(counter.calls) == STEPS + 1
    assert all(c is None for c in getattr(handle.pipeline.vae, "_feat_map", [None]))  # no causal cache left behind


def test_full_decode_completes_the_progress(tiny_loaded) -> None:
    from wan_compat.compat.vae import fix_vae

    handle = fix_vae(tiny_loaded("wan2.1-t2v"), chunked="off")
    counter = Counter()
    result = sample(handle, request(), on_progress=counter)
    assert result.stats.decode_mode == "full" and counter.calls[-1] == (STEPS + 1, STEPS + 1)


@pytest.mark.skipif(not os.environ.get("COMFYUI_DIR"), reason="COMFYUI_DIR is not set (a ComfyUI checkout to import comfy from)")
def test_comfyui_interrupt_reaches_the_node(tiny_pipelines, tmp_path: Path) -> None:
    """The node with ComfyUI's own ProgressBar and interrupt flag (comfy.utils, comfy.model_management),
    in a separate process: the progress hook ComfyUI's server installs sees each step, and the
    interrupt set after the first step stops the run there."""
    import subprocess

    from comfyui_server import comfy_python

    python = comfy_python(Path(os.environ["COMFYUI_DIR"]))
    assert python, "COMFYUI_DIR has no venv with ComfyUI's requirements (COMFYUI_PYTHON)"
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "wan_compat").symlink_to(Path(__file__).resolve().parents[1])  # the pack, importable by ComfyUI's Python
    code = f"""
import sys, json
sys.path[:0] = [{os.environ['COMFYUI_DIR']!r}, {str(tmp_path / 'pack')!r}]
import comfy.options; comfy.options.enable_args_parsing(); sys.argv = ['main', '--cpu']
import comfy.model_management as mm
import comfy.utils
from wan_compat.compat.loading import LoadOptions, load_pipeline
from wan_compat.nodes.sample import WanSample
import wan_compat.nodes.comfy_env as env
handle = load_pipeline({str(tiny_pipelines['wan2.1-t2v'])!r}, options=LoadOptions(dtype='fp32'))
steps = []
def hook(value, total, preview, node_id=None):  # as ComfyUI's server hooks every ProgressBar
    steps.append([value, total])
    if value == 1: mm.interrupt_current_processing(True)
comfy.utils.set_progress_bar_global_hook(hook)
assert type(env.progress_bar(4)) is comfy.utils.ProgressBar
try:
    WanSample().sample(handle, prompt='dance monkey', width=32, height=32, num_frames=5, steps=4, seed=0)
except mm.InterruptProcessingException:
    print(json.dumps({{'interrupted': True, 'steps': steps}}))
"""
    env = dict(os.environ, WAN_COMPAT_CONFIG_DIR=str(tmp_path / "settings"))
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    # 4 steps + 2 decoded chunks (5 frames: 2 latent frames, one per chunk)
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"interrupted": True, "steps": [[1, 6]]}


def test_diagnose_takes_the_pipeline_plan_and_stats(tiny_pipelines, tmp_path: Path) -> None:
    from wan_compat.nodes.diagnose import WanDiagnose

    handle, plan, frames, stats, fps = _through_nodes(tiny_pipelines["wan2.1-t2v"])
    out = WanDiagnose().diagnose(level="full", pipeline=handle, plan=plan, sample_stats=stats, include_system=False)
    report, text, path = out["result"]
    stages = json.loads(Path(path).read_text())["stages"]
    assert {"load", "vae", "plan", "sample"} <= set(stages)
    assert stages["sample"]["data"]["steps"] == STEPS and stages["plan"]["data"]["offload"] == "none"
    assert stages["plan"]["data"]["sizes"] == {"width": SIZE, "height": SIZE, "num_frames": FRAMES, "videos": 1}
    assert stages["vae"]["data"]["decode"]["chunked"] is True and "fits the model" in stages["vae"]["summary"]


@pytest.mark.parametrize("method", ["hwm", "sampled"])
def test_peak_memory_sees_a_short_lived_allocation(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    import time

    from wan_compat.compat.sampling import memory

    if method == "sampled":  # where /proc/self/clear_refs cannot be written: a thread samples RSS
        monkeypatch.setattr(memory, "_CLEAR_REFS", "/nonexistent/clear_refs")
    elif not memory._reset_hwm():
        pytest.skip("this kernel does not reset VmHWM")
    with memory.PeakMemory("cpu") as peak:
        block = torch.ones(64 * 2**20, dtype=torch.float32)  # 256 MiB, touched
        time.sleep(0.05)
        del block
    assert peak.bytes - peak.baseline > 200 * 2**20
    assert ("VmHWM" in peak.method) == (method == "hwm") and peak.to_dict()["peak_bytes"] == peak.bytes


def test_bad_decoded_frames_are_refused() -> None:
    from wan_compat.compat.sampling.images import check_frames

    good = torch.rand(5, 32, 32, 3)
    check_frames(good, (5, 32, 32, 3))
    for frames, words in ((good[:4], "shape [4, 32, 32, 3]"), (good.double(), "float64"), (good * 2, "values span"),
                          (torch.cat([good[:2], torch.full((3, 32, 32, 3), float("nan"))]), "frame 2 holds NaN"),
                          (good[0], "must be (F, H, W, C)")):
        with pytest.raises(SampleError) as err:
            check_frames(frames, (5, 32, 32, 3))
        assert err.value.code == "SAMPLE_OUTPUT_INVALID" and words in err.value.detail, err.value.detail
