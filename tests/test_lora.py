"""Wan LoRAs on the pack's pipeline: every key format, the numbers against the LoRA merged into the
weights, the loaded weights bit-exact after runs, the experts of Wan 2.2 A14B, and refusals with
the reason. Real tiny pipelines, real safetensors LoRA files, the real Wan Sample path."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from wan_compat.compat.core.errors import LoadError  # noqa: E402
from wan_compat.compat.fixtures.tiny import TEST_PROMPTS  # noqa: E402
from wan_compat.compat.loading import key_naming  # noqa: E402
from wan_compat.compat.lora import prepare_lora, with_loras  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.nodes.lora import WanLoRA  # noqa: E402
from tolerances import assert_frames_close, assert_frames_differ  # noqa: E402

RANK, ALPHA = 4, 2.0
LAYERS = ("attn1.to_q", "attn1.to_v", "attn2.to_k", "ffn.net.0.proj", "ffn.net.2")


@pytest.fixture(autouse=True)
def _env(monkeypatch, tiny_cache: Path, tmp_path: Path, private_settings: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", f"{tiny_cache}:{tmp_path}")


def _pairs(model, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """layer (diffusers path) -> (down, up), random, for LAYERS of every block."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i in range(len(model.blocks)):
        for layer in LAYERS:
            m = model.get_submodule(f"blocks.{i}.{layer}")
            out[f"blocks.{i}.{layer}"] = (torch.randn(RANK, m.in_features, generator=g) * 0.3, torch.randn(m.out_features, RANK, generator=g) * 0.3)
    return out


def _original(layer: str) -> str:
    return key_naming.transformer_to_original([layer + ".weight"])[0][: -len(".weight")]


def _write(path: Path, pairs, fmt: str, diffs: dict[str, torch.Tensor] | None = None) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    for layer, (down, up) in pairs.items():
        if fmt == "peft":
            tensors[f"transformer.{layer}.lora_A.weight"], tensors[f"transformer.{layer}.lora_B.weight"] = down, up
            tensors[f"transformer.{layer}.alpha"] = torch.tensor(ALPHA)
        elif fmt == "kohya":
            key = "lora_unet_" + _original(layer).replace(".", "_")
            tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"], tensors[f"{key}.alpha"] = down, up, torch.tensor(ALPHA)
        else:  # comfyui / lightx2v: original naming under diffusion_model.
            key = "diffusion_model." + _original(layer)
            tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"], tensors[f"{key}.alpha"] = down, up, torch.tensor(ALPHA)
    for name, diff in (diffs or {}).items():  # lightx2v: full differences of norms and biases
        tensors["diffusion_model." + name] = diff
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def _request(**changes) -> SampleRequest:
    values = dict(prompt=TEST_PROMPTS[0], negative_prompt=TEST_PROMPTS[3], width=32, height=32, num_frames=5, steps=3, seed=0)
    values.update(changes)
    return SampleRequest(**values)


def _bits(model) -> dict[str, tuple[int, torch.Tensor]]:
    return {n: (t.untyped_storage().data_ptr(), t.detach().clone()) for n, t in model.state_dict(keep_vars=True).items()}


def _same_bits(model, before) -> None:
    now = model.state_dict(keep_vars=True)
    assert set(now) == set(before)
    for name, (ptr, value) in before.items():
        assert now[name].untyped_storage().data_ptr() == ptr and torch.equal(now[name].detach(), value), name
    assert not any(m._forward_hooks for m in model.modules())


def _merged(handle, pairs, strength: float, tmp_path: Path, diffs: dict[str, torch.Tensor] | None = None):
    """The reference: a second load of the same model with the LoRA merged into its weights (fp32)."""
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    other = load_pipeline(handle.report.source["model"], options=LoadOptions(dtype="fp32"))
    t = other.pipeline.transformer
    with torch.no_grad():
        for layer, (down, up) in pairs.items():
            w = t.get_submodule(layer).weight
            w.copy_(w + strength * (ALPHA / RANK) * (up @ down))
        params = dict(t.named_parameters())
        for name, diff in (diffs or {}).items():
            target = key_naming.transformer_to_diffusers([name.replace(".diff_b", ".bias").replace(".diff", ".weight")])[0]
            params[target].copy_(params[target] + strength * diff)
    return other


@pytest.mark.parametrize("fmt", ["peft", "kohya", "comfyui"])
def test_each_format_matches_the_merged_lora_and_leaves_weights_bit_exact(tiny_loaded, tmp_path, fmt) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    transformer = handle.pipeline.transformer
    pairs = _pairs(transformer)
    path = _write(tmp_path / f"lora_{fmt}.safetensors", pairs, fmt)
    before = _bits(transformer)
    plain = sample(handle, _request()).frames
    specs = prepare_lora(handle, path, strength=0.8)
    assert len(specs[0].deltas) == len(pairs) and specs[0].rank == RANK
    assert specs[0].format == {"peft": "diffusers / PEFT", "kohya": "kohya", "comfyui": "ComfyUI / original Wan naming"}[fmt]
    with_lora = with_loras(handle, specs)
    assert handle.loras == () and len(with_lora.loras) == 1  # the input handle is unchanged
    ours = sample(with_lora, _request()).frames
    _same_bits(transformer, before)  # nothing of the LoRA stays on the cached weights
    assert torch.equal(sample(handle, _request()).frames, plain)  # and the plain handle runs as before
    reference = sample(_merged(handle, pairs, 0.8, tmp_path), _request()).frames
    assert_frames_close(ours, reference, dtype=torch.float32, path="pipeline")
    assert_frames_differ(ours, plain, dtype=torch.float32, path="pipeline")


def test_lightx2v_style_diffs_of_norms_and_biases(tiny_loaded, tmp_path) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    transformer = handle.pipeline.transformer
    pairs = _pairs(transformer, seed=3)
    g = torch.Generator().manual_seed(4)
    diffs = {"blocks.0.norm3.diff": torch.randn(24, generator=g) * 0.2, "blocks.0.norm3.diff_b": torch.randn(24, generator=g) * 0.2,
             "blocks.1.self_attn.o.diff_b": torch.randn(24, generator=g) * 0.2, "blocks.1.cross_attn.q.diff": torch.randn(24, 24, generator=g) * 0.05}
    path = _write(tmp_path / "lightx2v.safetensors", pairs, "comfyui", diffs)
    before = _bits(transformer)
    ours = sample(with_loras(handle, prepare_lora(handle, path, 1.0)), _request()).frames
    _same_bits(transformer, before)
    reference = sample(_merged(handle, pairs, 1.0, tmp_path, diffs), _request()).frames
    assert_frames_close(ours, reference, dtype=torch.float32, path="pipeline")


def test_a14b_lora_aimed_at_one_expert_changes_only_that_expert(tiny_loaded, tmp_path) -> None:
    handle = tiny_loaded("wan2.2-t2v-a14b")
    high, low = handle.pipeline.transformer, handle.pipeline.transformer_2
    path = _write(tmp_path / "low.safetensors", _pairs(low), "comfyui")
    specs = prepare_lora(handle, path, 1.0, "transformer_2")
    assert [s.target for s in specs] == ["transformer_2"]
    assert [s.target for s in prepare_lora(handle, path, 1.0, "both")] == ["transformer", "transformer_2"]
    from wan_compat.compat.lora import lora_applied

    linears = {name: [m for m in model.modules() if isinstance(m, torch.nn.Linear)] for name, model in (("high", high), ("low", low))}
    pointers = {name: [m.weight.data_ptr() for m in found] for name, found in linears.items()}
    for steps, way in ((1, "hooks"), (1000, "merge")):  # a tiny run's tokens: hooks for one step, a merge for many
        chosen: dict[str, str] = {}
        with lora_applied(handle.pipeline, specs, steps=steps, tokens=16, chosen=chosen):
            hooks = {name: sum(len(m._forward_hooks) for m in model.modules()) for name, model in (("high", high), ("low", low))}
            replaced = {name: sum(m.weight.data_ptr() != ptr for m, ptr in zip(found, pointers[name])) for name, found in linears.items()}
        assert chosen == {"transformer_2": way}
        assert hooks == {"high": 0, "low": len(specs[0].deltas) if way == "hooks" else 0}
        assert replaced == {"high": 0, "low": len(specs[0].deltas) if way == "merge" else 0}
    before = (_bits(high), _bits(low))
    plain = sample(handle, _request()).frames
    ours = sample(with_loras(handle, specs), _request()).frames
    assert_frames_differ(ours, plain, dtype=torch.float32, path="pipeline")
    _same_bits(high, before[0])
    _same_bits(low, before[1])


def test_lora_on_fp8_weights_keeps_them_fp8(tiny_pipelines, tmp_path) -> None:
    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    folder = tiny_pipelines["wan2.1-t2v"]
    files = export_single_files(folder, tmp_path / "single", prefix=key_naming.COMFY_PREFIX, name="t2v")
    handle = load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=folder,
                           roots=[str(tmp_path), str(folder)], options=LoadOptions(dtype="bf16", weight_storage="fp8_e4m3fn"))
    transformer = handle.pipeline.transformer
    path = _write(tmp_path / "l.safetensors", _pairs(transformer), "peft")
    before = _bits(transformer)
    frames = sample(with_loras(handle, prepare_lora(handle, path, 1.0, roots=[str(tmp_path)])), _request()).frames
    assert torch.isfinite(frames).all()
    _same_bits(transformer, before)
    assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn


def _refused(handle, path: Path, code: str, *words: str, target: str = "transformer") -> None:
    with pytest.raises(LoadError) as err:
        prepare_lora(handle, path, 1.0, target)
    assert err.value.code == code, err.value.message()
    for word in words:
        assert word in err.value.message(), err.value.message()


def test_lora_that_does_not_fit_is_refused_with_the_reason(tiny_loaded, tmp_path) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    t = handle.pipeline.transformer
    # another size: a 14B LoRA (hidden 5120) on the 24-wide tiny model
    big = {"blocks.0.attn1.to_q": (torch.zeros(RANK, 5120), torch.zeros(5120, RANK))}
    _refused(handle, _write(tmp_path / "big.safetensors", big, "comfyui"), "LORA_NOT_APPLICABLE", "5120", "another model size")
    # another family: an SDXL-style kohya LoRA
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 320),
               "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(320, 4)}, str(tmp_path / "sdxl.safetensors"))
    _refused(handle, tmp_path / "sdxl.safetensors", "LORA_NOT_APPLICABLE", "another model family", "lora_unet_down_blocks_0")
    # keys that name no layer are never dropped: an I2V image-key LoRA on a T2V model
    pairs = _pairs(t)
    tensors = {f"diffusion_model.{_original(k)}.lora_down.weight": d for k, (d, u) in pairs.items()}
    tensors.update({f"diffusion_model.{_original(k)}.lora_up.weight": u for k, (d, u) in pairs.items()})
    tensors["diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight"] = torch.zeros(RANK, 24)
    tensors["diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight"] = torch.zeros(24, RANK)
    save_file(tensors, str(tmp_path / "i2v.safetensors"))
    _refused(handle, tmp_path / "i2v.safetensors", "LORA_KEYS_UNMATCHED", "diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight")
    # half a pair
    del tensors["diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight"], tensors["diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight"]
    del tensors["diffusion_model.blocks.1.ffn.2.lora_up.weight"]
    save_file(tensors, str(tmp_path / "half.safetensors"))
    _refused(handle, tmp_path / "half.safetensors", "LORA_NOT_APPLICABLE", "blocks.1.ffn.2.lora_down.weight", "no matching lora_up")
    # an expert this pipeline does not have
    _refused(handle, _write(tmp_path / "ok.safetensors", pairs, "peft"), "LORA_NOT_APPLICABLE", "transformer_2", target="transformer_2")


def test_node_applies_several_loras_and_returns_a_new_handle(tiny_loaded, tmp_path) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    t = handle.pipeline.transformer
    first = _write(tmp_path / "a.safetensors", _pairs(t, 1), "peft")
    second = _write(tmp_path / "b.safetensors", _pairs(t, 2), "kohya")
    out, text = WanLoRA().apply(handle, lora_1_path=str(first), strength_1=0.5, lora_2_path=str(second), strength_2=-0.25)
    assert out is not handle and handle.loras == () and [s.strength for s in out.loras] == [0.5, -0.25]
    assert "a.safetensors -> transformer" in text and "kohya" in text
    assert out.to_dict()["loras"][1]["name"] == "b.safetensors"
    unchanged, text = WanLoRA().apply(handle)
    assert unchanged.loras == () and "no LoRA" in text
    assert WanLoRA.VALIDATE_INPUTS(lora_1_path=str(tmp_path / "missing.safetensors")) != True  # noqa: E712


def test_merged_and_hooked_give_the_same_outputs_and_the_weights_come_back_bit_exact_however_the_run_ends(tiny_loaded, tmp_path) -> None:
    """Both ways compute the same layer outputs (within one fp32 kernel's rounding: the merge sums
    in another order); after either, and after a run that raised inside the `with` (an interrupt,
    a NaN, OOM), every weight is the very tensor it was, bit for bit, with no hook left."""
    from wan_compat.compat.lora import lora_applied

    handle = tiny_loaded("wan2.1-t2v")
    t = handle.pipeline.transformer
    specs = prepare_lora(handle, _write(tmp_path / "l.safetensors", _pairs(t, 5), "comfyui"), 0.7)
    block = t.blocks[0].attn1.to_q
    x = torch.randn(3, block.in_features, generator=torch.Generator().manual_seed(0))
    before = _bits(t)
    outputs = {}
    for steps, way in ((1, "hooks"), (1000, "merge")):
        chosen: dict[str, str] = {}
        with torch.no_grad(), lora_applied(handle.pipeline, specs, steps=steps, tokens=16, chosen=chosen):
            outputs[way] = block(x)
        assert chosen == {"transformer": way}
        _same_bits(t, before)
        with pytest.raises(RuntimeError, match="interrupted"):
            with lora_applied(handle.pipeline, specs, steps=steps, tokens=16):
                raise RuntimeError("interrupted")
        _same_bits(t, before)
    assert_frames_close(outputs["merge"], outputs["hooks"], dtype=torch.float32, path="kernel")
    with torch.no_grad():
        assert_frames_differ(outputs["merge"], block(x), dtype=torch.float32, path="kernel")  # the LoRA changed the layer


def test_an_interrupted_sample_run_leaves_the_weights_bit_exact(tiny_loaded, tmp_path) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    t = handle.pipeline.transformer
    with_lora = with_loras(handle, prepare_lora(handle, _write(tmp_path / "l.safetensors", _pairs(t, 6), "peft"), 1.0))
    before = _bits(t)
    calls = []

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        sample(with_lora, _request(steps=6), check_interrupt=interrupt)
    _same_bits(t, before)
    stats = sample(with_lora, _request(steps=3)).stats
    assert stats.loras == {"transformer": "merge"} and "merged for the run" in stats.summary()
    _same_bits(t, before)


def test_the_cost_model_merges_real_runs_and_hooks_tiny_ones() -> None:
    """Wan 2.1 1.3B at 480x832x81 (32760 tokens, cfg): one step of hooks already costs more than
    the merge; a 16-token run needs many steps before a merge pays."""
    from wan_compat.compat.lora.apply import _LayerHook, costs

    layers = []
    for out_f, in_f in [(1536, 1536)] * 8 + [(8960, 1536), (1536, 8960)]:
        hook = _LayerHook()
        hook.add(torch.empty(32, in_f, device="meta"), torch.empty(out_f, 32, device="meta"), 1.0, None, None)
        layers.append((torch.nn.Linear(in_f, out_f, device="meta"), hook))
    merge, per_step = costs(layers, 2 * 32760)
    assert per_step > merge
    merge, per_step = costs(layers, 16)
    assert 50 * per_step < merge
