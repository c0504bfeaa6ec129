"""fp8 and ComfyUI scaled-fp8 transformer files stay fp8 (computed in the compute dtype), fp8 storage
never rounds what the file keeps in bf16, errors name keys as the file does, and a loaded model does
not change when its file is written afterwards. Tiny real models through the real loader."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from wan_compat.compat.core.errors import LoadError  # noqa: E402
from wan_compat.compat.loading import key_naming, load_component  # noqa: E402
from wan_compat.compat.loading.fp8 import is_fp8  # noqa: E402

PREFIX = key_naming.COMFY_PREFIX
FP8 = torch.float8_e4m3fn


def _tiny_weights(folder: Path) -> dict[str, torch.Tensor]:
    return {k: v for f in sorted((folder / "transformer").glob("*.safetensors")) for k, v in load_file(f).items()}


def _is_block_matrix(name: str, value: torch.Tensor) -> bool:
    return name.startswith("blocks.") and name.endswith(".weight") and value.dim() == 2


def _write(path: Path, diffusers_tensors: dict[str, torch.Tensor]) -> Path:
    """As ComfyUI ships them: original naming, `model.diffusion_model.` prefix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(key_naming.transformer_to_original(diffusers_tensors, PREFIX, strict=False), str(path), metadata={"format": "pt"})
    return path


def _fp8_file(bf16: dict[str, torch.Tensor], path: Path, scaled: bool = False) -> tuple[Path, dict[str, torch.Tensor]]:
    """Block matrices in fp8 (scaled: value / scale, with a per-matrix fp32 scale_weight), the rest
    bf16 as real fp8 files keep them. Returns the file and its tensors in diffusers naming."""
    out: dict[str, torch.Tensor] = {}
    for name, value in bf16.items():
        if _is_block_matrix(name, value):
            scale = (value.float().abs().max() / 448.0).reshape(()) if scaled else None
            out[name] = (value.float() / scale).to(FP8) if scaled else value.to(FP8)
            if scaled:
                out[name[: -len("weight")] + "scale_weight"] = scale.float()
        else:
            out[name] = value.to(torch.bfloat16)
    if scaled:
        out["scaled_fp8"] = torch.zeros(0, dtype=FP8)
    return _write(path, out), out


def _forward(model: torch.nn.Module, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 2, 8, 8, generator=g).to(dtype)
    text = torch.randn(1, 5, 32, generator=g).to(dtype)
    with torch.no_grad():
        return model(hidden_states=x, timestep=torch.tensor([500]), encoder_hidden_states=text, return_dict=False)[0].float()


@pytest.fixture(scope="module")
def tiny(tiny_pipelines) -> Path:
    return tiny_pipelines["wan2.1-t2v"]


@pytest.fixture(scope="module")
def bf16_weights(tiny) -> dict[str, torch.Tensor]:
    return {k: v.to(torch.bfloat16) for k, v in _tiny_weights(tiny).items()}


def _load(path: Path, tiny: Path, **kwargs):
    return load_component(path, config_source=tiny, roots=[str(path.parent), str(tiny)], **kwargs)


def test_fp8_file_is_held_in_fp8_and_computes_as_its_exact_upcast(tiny, bf16_weights, tmp_path) -> None:
    path, stored = _fp8_file(bf16_weights, tmp_path / "t2v_fp8_e4m3fn.safetensors")
    loaded = _load(path, tiny)
    model, state = loaded.model, loaded.model.state_dict()
    for name, value in stored.items():
        if is_fp8(value.dtype):  # fp8 stays fp8, bit for bit
            assert state[name].dtype == value.dtype and torch.equal(state[name].view(torch.uint8), value.view(torch.uint8)), name
        else:  # bf16 norms, biases, modulation: as stored (the fp32 modules Wan declares: exactly upcast)
            assert state[name].dtype in (torch.bfloat16, torch.float32) and torch.equal(state[name].to(value.dtype), value), name
    doc = loaded.to_dict()
    assert doc["storage_dtype"] == "float8_e4m3fn" and doc["fp8_linears"] == sum(is_fp8(v.dtype) for v in stored.values())
    assert doc["dtype_changes"]["float8_e4m3fn -> float8_e4m3fn"] == doc["fp8_linears"]
    # The reference: the same file upcast to bf16 up front (fp8 -> bf16 is exact), loaded as plain bf16.
    upcast = _write(tmp_path / "ref" / "t2v_bf16.safetensors", {k: v.to(torch.bfloat16) for k, v in stored.items()})
    reference = _load(upcast, tiny).model
    assert torch.equal(_forward(model), _forward(reference))
    assert doc["resident_bytes"] < loaded.resident_bytes() + 1 and doc["resident_bytes"] < _load(upcast, tiny).resident_bytes()


def test_scaled_fp8_is_computed_as_comfyui_computes_it(tiny, bf16_weights, tmp_path) -> None:
    path, stored = _fp8_file(bf16_weights, tmp_path / "t2v_fp8_scaled.safetensors", scaled=True)
    loaded = _load(path, tiny)
    model = loaded.model
    linear = model.blocks[0].attn1.to_q
    assert linear.weight.dtype == FP8 and torch.equal(linear.weight.view(torch.uint8), stored["blocks.0.attn1.to_q.weight"].view(torch.uint8))
    scale = stored["blocks.0.attn1.to_q.scale_weight"]
    # comfy/ops.py scaled_fp8_op.Linear without fp8 matmul: weight and scale cast to the compute dtype,
    # the scale multiplied into the weight when it has fewer elements than the input, else into the input.
    for rows in (1, 64):
        x = torch.randn(rows, linear.in_features, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
        w, s, b = linear.weight.to(torch.bfloat16), scale.to(torch.bfloat16), linear.bias.to(torch.bfloat16)
        expected = torch.nn.functional.linear(x, w * s, b) if w.numel() < x.numel() else torch.nn.functional.linear(x * s, w, b)
        assert torch.equal(linear(x), expected), rows
    assert loaded.to_dict()["scaled_fp8"] == sum(k.endswith(".scale_weight") for k in stored)
    assert any("scale_weight" in d["reason"] for d in loaded.to_dict()["decisions"])
    # Close to the bf16 model it was made from (fp8 keeps 3 mantissa bits).
    out, ref = _forward(model), _forward(_load(_write(tmp_path / "ref" / "bf16.safetensors", bf16_weights), tiny).model)
    assert torch.allclose(out, ref, atol=0.15, rtol=0.1), float((out - ref).abs().max())


def test_a_scale_without_an_fp8_weight_is_refused(tiny, bf16_weights, tmp_path) -> None:
    tensors = dict(bf16_weights)
    tensors["blocks.0.norm2.scale_weight"] = torch.tensor(1.0)  # norm2 (diffusers) = norm3 in the file
    with pytest.raises(LoadError) as err:
        _load(_write(tmp_path / "odd.safetensors", tensors), tiny)
    assert err.value.code in ("LOAD_UNEXPECTED_KEYS",)


def test_fp8_storage_keeps_bf16_biases_and_norms_exact(tiny, bf16_weights, tmp_path) -> None:
    path = _write(tmp_path / "t2v_bf16.safetensors", bf16_weights)
    loaded = _load(path, tiny, weight_storage="fp8_e4m3fn")
    state = loaded.model.state_dict()
    biases = [k for k in bf16_weights if k.endswith(".bias")]
    assert biases
    for name in biases:
        assert not is_fp8(state[name].dtype) and torch.equal(state[name].to(torch.bfloat16), bf16_weights[name]), name
    q = state["blocks.0.attn1.to_q.weight"]
    assert q.dtype == FP8 and torch.equal(q.view(torch.uint8), bf16_weights["blocks.0.attn1.to_q.weight"].to(FP8).view(torch.uint8))
    assert state["blocks.0.norm2.weight"].dtype != FP8 and state["patch_embedding.weight"].dtype != FP8
    assert loaded.to_dict()["dtype_changes"]["bfloat16 -> float8_e4m3fn"] == loaded.to_dict()["fp8_linears"]
    out = _forward(loaded.model)
    assert torch.isfinite(out).all()


def test_unknown_key_is_named_as_the_file_names_it(tiny, bf16_weights, tmp_path) -> None:
    original = key_naming.transformer_to_original(bf16_weights, PREFIX)
    original[PREFIX + "blocks.0.self_attn.q.lora_down.weight"] = torch.zeros(4, 24, dtype=torch.bfloat16)
    path = tmp_path / "with_lora_key.safetensors"
    save_file(original, str(path))
    with pytest.raises(LoadError) as err:
        _load(path, tiny)
    assert err.value.code == "LOAD_UNEXPECTED_KEYS"
    assert "model.diffusion_model.blocks.0.self_attn.q.lora_down.weight" in err.value.detail
    assert "attn1" not in err.value.detail


def test_missing_key_is_named_as_the_file_would_name_it(tiny, bf16_weights, tmp_path) -> None:
    tensors = {k: v for k, v in bf16_weights.items() if k != "blocks.1.attn2.to_k.weight"}
    with pytest.raises(LoadError) as err:
        _load(_write(tmp_path / "short.safetensors", tensors), tiny)
    assert err.value.code == "LOAD_MISSING_KEYS"
    assert "model.diffusion_model.blocks.1.cross_attn.k.weight" in err.value.detail


def _overwrite_data(path: Path) -> None:
    """Write into the file in place (same inode): every byte after the header becomes 0x3f."""
    with open(path, "r+b") as fh:
        size = int.from_bytes(fh.read(8), "little")
        fh.seek(0, 2)
        end = fh.tell()
        fh.seek(8 + size)
        fh.write(b"\x3f" * (end - 8 - size))


@pytest.mark.parametrize("storage", ["default", "fp8_e4m3fn"])
def test_loaded_weights_do_not_follow_later_writes_to_the_file(tiny, bf16_weights, tmp_path, storage) -> None:
    path = _write(tmp_path / "t2v.safetensors", bf16_weights)
    loaded = _load(path, tiny, weight_storage=storage)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    _overwrite_data(path)
    written = load_file(path)["model.diffusion_model.blocks.0.self_attn.q.weight"]
    assert not torch.equal(written, bf16_weights["blocks.0.attn1.to_q.weight"])  # the file did change
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(value.view(torch.uint8), before[name].view(torch.uint8)), name


def test_pipeline_weights_do_not_follow_later_writes(tiny, tmp_path) -> None:
    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.loading import load_pipeline

    folder = Path(shutil.copytree(tiny, tmp_path / "models" / "t2v"))
    files = export_single_files(folder, tmp_path / "models" / "single", prefix=PREFIX, name="t2v")
    loaded = load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=folder,
                           options=__import__("wan_compat.compat.loading", fromlist=["LoadOptions"]).LoadOptions(dtype="fp32"))
    before = {k: v.clone() for k, v in loaded.pipeline.transformer.state_dict().items()}
    _overwrite_data(files["transformer"])
    assert all(torch.equal(v, before[k]) for k, v in loaded.pipeline.transformer.state_dict().items())
    # A diffusers folder (diffusers' own loader) too.
    folder_loaded = load_pipeline(folder, options=__import__("wan_compat.compat.loading", fromlist=["LoadOptions"]).LoadOptions(dtype="fp32"))
    vae_before = {k: v.clone() for k, v in folder_loaded.pipeline.vae.state_dict().items()}
    for f in (folder / "vae").glob("*.safetensors"):
        _overwrite_data(f)
    assert all(torch.equal(v, vae_before[k]) for k, v in folder_loaded.pipeline.vae.state_dict().items())


def test_cli_load_prints_what_the_file_became(tiny, bf16_weights, tmp_path, capsys) -> None:
    from wan_compat.compat.cli import main

    path, stored = _fp8_file(bf16_weights, tmp_path / "t2v_fp8.safetensors", scaled=True)
    assert main(["load", str(path), "--config-source", str(tiny), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["class"] == "WanTransformer3DModel" and doc["storage_dtype"] == "float8_e4m3fn"
    assert doc["resident_bytes"] > 0 and doc["file_bytes"] == path.stat().st_size and doc["seconds"] >= 0
    assert main(["load", str(path), "--config-source", str(tiny)]) == 0
    text = capsys.readouterr().out
    assert "WanTransformer3DModel" in text and "fp8 storage" in text and "resident:" in text
    bad = tmp_path / "bad.safetensors"
    original = key_naming.transformer_to_original(bf16_weights, PREFIX)
    original[PREFIX + "blocks.0.self_attn.q.lora_down.weight"] = torch.zeros(4, 24, dtype=torch.bfloat16)
    save_file(original, str(bad))
    assert main(["load", str(bad), "--config-source", str(tiny)]) == 1
    assert "blocks.0.self_attn.q.lora_down.weight" in capsys.readouterr().err
