"""The plan is applied for one run and removed after it: a cached WAN_PIPELINE handle sampled with
one Optimize setting and then another has, after each run, exactly the modules it had before
(the same parameter objects and tensors, bit for bit, the same dtypes and devices, no hooks), and
the second run gives what a fresh load gives for that setting; also when the run raises. Real
tiny pipelines and real diffusers / accelerate hooks throughout."""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.fixtures.tiny import TEST_PROMPTS  # noqa: E402
from wan_compat.compat.optimize import applied, plan  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.compat.settings.store import OptimizationPreferences  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

SIZE, FRAMES, STEPS = 32, 5, 3


@pytest.fixture(autouse=True)
def _env(private_settings: Path) -> None:
    """Settings (defaults) and the performance history in the test's own folder."""


def request(**changes) -> SampleRequest:
    values = dict(prompt=TEST_PROMPTS[0], negative_prompt=TEST_PROMPTS[3], width=SIZE, height=SIZE, num_frames=FRAMES, steps=STEPS, seed=0)
    values.update(changes)
    return SampleRequest(**values)


def prefs(**values) -> OptimizationPreferences:
    return OptimizationPreferences(**values)


def tensors(handle) -> dict[tuple[str, ...], tuple]:
    """Every parameter and buffer slot of every component: the object in it, its storage address,
    dtype, device and a copy of its values."""
    out = {}
    for component, module in handle.components.items():
        if not isinstance(module, torch.nn.Module):
            continue
        for path, sub in module.named_modules(remove_duplicate=False):
            for kind, table in (("parameter", sub._parameters), ("buffer", sub._buffers)):
                for name, t in table.items():
                    if t is not None:
                        out[(component, path, kind, name)] = (t, t.data_ptr(), t.dtype, t.device, t.detach().clone())
    return out


def assert_as_before(before: dict, handle) -> None:
    """The same objects holding the same storage with the same bits, dtypes and devices; no hooks."""
    after = tensors(handle)
    assert after.keys() == before.keys()
    for key, (obj, pointer, dtype, device, values) in before.items():
        now, now_pointer, now_dtype, now_device, _ = after[key]
        assert now is obj and now_pointer == pointer and (now_dtype, now_device) == (dtype, device), key
        assert torch.equal(now.detach(), values), key
    state = handle.module_state()
    assert state and not any(s["hooked"] for s in state.values()), {k: s["hooks"] for k, s in state.items()}
    vae = handle.pipeline.vae
    assert not vae.use_tiling and not vae.use_slicing


def offload_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("wan-compat-offload-*"))


IMAGE = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize(("variant", "first", "second"), [
    ("wan2.1-t2v", prefs(offload="group"), prefs(offload="none")),
    ("wan2.1-t2v", prefs(offload="none"), prefs(offload="group")),
    ("wan2.1-t2v", prefs(precision="fp32"), prefs(precision="bf16")),
    ("wan2.1-t2v", prefs(precision="bf16", offload="group"), prefs(precision="fp32")),
    ("wan2.1-flf2v", prefs(precision="bf16", offload="group"), prefs(precision="fp32")),  # CLIP vision too
])
def test_second_run_with_other_settings_equals_a_fresh_load(tiny_loaded, variant: str, first, second) -> None:
    inputs = {"image": IMAGE, "last_image": IMAGE.flip(1)} if variant == "wan2.1-flf2v" else {}
    cached = tiny_loaded(variant)
    before = tensors(cached)
    digest = {name: s["tensors_digest"] for name, s in cached.module_state().items()}
    one = sample(dataclasses.replace(cached, preferences=first), request(**inputs), record=False)
    on_cpu = {"auto": "fp32"}, {"auto": "none"}  # what the plan chooses on this CPU for `auto`
    assert one.stats.plan.precision == on_cpu[0].get(first.precision, first.precision)
    assert one.stats.plan.offload == on_cpu[1].get(first.offload, first.offload)
    assert_as_before(before, cached)
    two = sample(dataclasses.replace(cached, preferences=second), request(**inputs), record=False)
    assert_as_before(before, cached)
    assert {name: s["tensors_digest"] for name, s in cached.module_state().items()} == digest
    fresh = sample(dataclasses.replace(tiny_loaded(variant), preferences=second), request(**inputs), record=False)
    # The same weights, the same casts and the same kernels: the same bits.
    assert torch.equal(two.frames, fresh.frames)
    assert two.stats.dtype == {"fp32": "float32", "bf16": "bfloat16"}[two.stats.plan.precision]


def test_group_offload_really_runs_block_by_block_and_leaves_nothing(tiny_loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A temp folder of the test's own: another run's offload folders come and go in the shared one.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cached = tiny_loaded("wan2.2-t2v-a14b")
    before = tensors(cached)
    seen: list[dict] = []
    folders = offload_folders()

    def look(done: int, total: int) -> None:
        if done == 1:  # mid-run: the hooks are on, the blocks are on disk
            state = cached.module_state()
            new = offload_folders() - folders
            seen.append({"hooks": {n: s["hooks"]["diffusers"] for n, s in state.items()},
                         "files": sorted(p.parent.name for f in new for p in f.glob("*/*.safetensors"))})

    result = sample(dataclasses.replace(cached, preferences=prefs(offload="group")), request(), on_progress=look, record=False)
    assert seen[0]["hooks"]["transformer"] > 0 and seen[0]["hooks"]["transformer_2"] > 0
    assert {"transformer", "transformer_2", "text_encoder"} <= set(seen[0]["files"])  # each expert's blocks in its own folder
    assert_as_before(before, cached)
    assert offload_folders() == folders  # the run's folder is gone with the run
    reference = sample(tiny_loaded("wan2.2-t2v-a14b"), request(), record=False)
    # The same weights, read back from the block files into other memory: CPU kernels may sum in
    # another order there (measured: 1.6e-6 on this model); a wrong block would differ by ~1e-1.
    assert_frames_close(result.frames, reference.frames, dtype=torch.float32, path="pipeline")


class Interrupted(Exception):
    """What ComfyUI's interrupt check raises."""


@pytest.mark.parametrize("when", ["step", "decode"])
def test_an_interrupted_run_restores_everything(tiny_loaded, when: str) -> None:
    cached = dataclasses.replace(tiny_loaded("wan2.1-t2v"), preferences=prefs(precision="bf16", offload="group"))
    before = tensors(cached)
    reference = sample(cached, request(), record=False).frames
    calls: list[int] = []
    raised = Interrupted("cancelled")

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == (2 if when == "step" else STEPS + 1):
            raise raised

    folders = offload_folders()
    with pytest.raises(Interrupted) as err:
        sample(cached, request(), check_interrupt=interrupt, record=False)
    assert err.value is raised
    assert_as_before(before, cached)
    assert offload_folders() == folders
    assert torch.equal(sample(cached, request(), record=False).frames, reference)


def test_nan_latents_stop_the_run_and_restore_everything(tiny_loaded) -> None:
    from wan_compat.compat.core.errors import SampleError

    cached = dataclasses.replace(tiny_loaded("wan2.1-t2v"), preferences=prefs(precision="bf16"))
    before = tensors(cached)
    bias = cached.pipeline.transformer.proj_out.bias

    def corrupt(done: int, total: int) -> None:
        if done == 1:  # the run's bf16 copy goes bad: the cached fp32 weight must not
            with torch.no_grad():
                bias[0] = float("nan")

    with pytest.raises(SampleError) as err:
        sample(cached, request(), on_progress=corrupt, record=False)
    assert err.value.code == "SAMPLE_NONFINITE_LATENTS"
    assert_as_before(before, cached)


def test_what_accelerate_offload_replaces_is_put_back(tiny_loaded) -> None:
    """Sequential offload (accelerate's `cpu_offload`, as diffusers uses it) replaces parameter
    objects with meta tensors and wraps `forward`; model/sequential offload need a GPU, so the
    same accelerate call runs here with the CPU as its execution device."""
    from accelerate import cpu_offload

    handle = tiny_loaded("wan2.1-t2v")
    before = tensors(handle)
    the_plan = plan(handle, SIZE, SIZE, FRAMES, preferences=prefs(precision="bf16"))
    with applied(handle.pipeline, the_plan):
        cpu_offload(handle.pipeline.transformer, execution_device=torch.device("cpu"))
        state = handle.module_state()["transformer"]
        assert state["hooks"]["accelerate"] > 0 and "meta" in state["devices"]
    assert_as_before(before, handle)


def test_applied_changes_the_modules_only_inside(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.2-t2v-a14b")
    before = tensors(handle)
    the_plan = plan(handle, SIZE, SIZE, FRAMES, preferences=prefs(precision="bf16", vae_tiling="on"))
    with applied(handle.pipeline, the_plan):
        pipe = handle.pipeline
        for name in ("transformer", "transformer_2"):
            module = getattr(pipe, name)
            assert module.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
            assert module.scale_shift_table.dtype == torch.float32  # diffusers' fp32 modules stay fp32
        assert pipe.vae.decoder.conv_out.weight.dtype == torch.float32 and pipe.vae.use_tiling
        assert handle.module_state()["transformer"]["dtypes"].get("bfloat16")
    assert_as_before(before, handle)
    with pytest.raises(RuntimeError, match="raised inside"), applied(handle.pipeline, the_plan):
        raise RuntimeError("raised inside")
    assert_as_before(before, handle)


# ------------------------------------------------------------------------------ plans and sizes
def test_a_plan_for_another_size_is_made_again_and_said(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    other = plan(handle, 64, 64, 9, preferences=prefs())
    result = sample(dataclasses.replace(handle, plan=other), request(), record=False)
    assert result.stats.plan is not other and result.stats.plan.sizes.to_dict() == {"width": SIZE, "height": SIZE, "num_frames": FRAMES, "videos": 1}
    remade = [p for p in result.stats.problems if p.code == "PLAN_REMADE"]
    assert len(remade) == 1 and remade[0].severity == "warning" and "64x64, 9 frames" in remade[0].detail
    exact = plan(handle, SIZE, SIZE, FRAMES, preferences=prefs())
    pinned = sample(dataclasses.replace(handle, plan=exact), request(), record=False)
    assert pinned.stats.plan is exact and "PLAN_REMADE" not in [p.code for p in pinned.stats.problems]


def test_the_handle_is_frozen_and_stages_return_new_ones(tiny_loaded) -> None:
    from wan_compat.compat.vae import fix_vae
    from wan_compat.nodes.optimize import WanOptimize

    handle = tiny_loaded("wan2.1-t2v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        handle.plan = None  # type: ignore[misc]
    fixed = fix_vae(handle, tiling="on")
    optimized, preview, text = WanOptimize().optimize(fixed, offload="group")["result"]
    assert handle.decode is None and handle.vae_report is None and handle.preferences is None
    assert fixed.preferences is None and optimized.decode is fixed.decode and optimized.preferences.offload == "group"
    assert optimized.pipeline is handle.pipeline and not handle.pipeline.vae.use_tiling  # VAE Fix only records
    assert preview.preview and preview.stage == "plan_preview" and text.count("PREVIEW") == 1


def test_optimize_has_no_sizes_and_sample_plans_for_its_own(tiny_loaded, tmp_path: Path, monkeypatch) -> None:
    from wan_compat.nodes.diagnose import WanDiagnose
    from wan_compat.nodes.optimize import WanOptimize
    from wan_compat.nodes.sample import WanSample

    monkeypatch.setenv("WAN_COMPAT_OUTPUT_DIR", str(tmp_path / "output"))
    spec = WanOptimize.INPUT_TYPES()
    assert not {"width", "height", "num_frames", "videos"} & (set(spec["required"]) | set(spec["optional"]))
    loaded = tiny_loaded("wan2.1-t2v")
    optimized, preview, _ = WanOptimize().optimize(loaded, precision="bf16")["result"]
    assert (preview.sizes.width, preview.sizes.height) == (832, 480)
    frames, stats, _, text = WanSample().sample(optimized, prompt=TEST_PROMPTS[0], width=SIZE, height=SIZE, num_frames=FRAMES,
                                                steps=STEPS, seed=0)["result"]
    assert (stats.plan.sizes.width, stats.plan.sizes.height, stats.plan.precision) == (SIZE, SIZE, "bf16")
    assert "plan for this run: bf16" in text
    out = WanDiagnose().diagnose(level="full", pipeline=loaded, plan=preview, sample_stats=stats, include_system=False)
    stages = json.loads(Path(out["result"][2]).read_text())["stages"]
    assert stages["plan"]["data"]["sizes"]["width"] == SIZE and stages["plan"]["data"]["preview"] is None
    assert stages["plan_preview"]["data"]["sizes"]["width"] == 832 and "PREVIEW" in stages["plan_preview"]["summary"]
    modules = stages["load"]["data"]["modules"]
    assert set(modules) == {"transformer", "text_encoder", "vae"}
    assert all(m["devices"].keys() == {"cpu"} and not m["hooked"] for m in modules.values())
    assert modules["transformer"]["dtypes"].keys() == {"float32"}  # loaded in fp32; the run's bf16 copy is gone
