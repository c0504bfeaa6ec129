"""GGUF transformers load through diffusers' GGUF support with the pack's key and shape checks: a tiny
real GGUF (written with llama.cpp's `gguf` writer the way ComfyUI-GGUF lays out Wan) and a
real-size sparse Wan 2.1 1.3B Q8_0; a clear error naming the package when `gguf` is missing."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")  # in the test extra

import numpy as np  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from wan_compat.compat.core.errors import LoadError, ModelFileError  # noqa: E402
from wan_compat.compat.loading import key_naming, load_component  # noqa: E402

Q8 = gguf.GGMLQuantizationType.Q8_0


def _write_gguf(path: Path, diffusers_tensors: dict[str, torch.Tensor], extra: dict[str, torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    """Original names; block matrices whose rows split into 32-blocks quantized to Q8_0, the rest F16;
    tensors of more than 4 dims flattened with `comfy.gguf.orig_shape.<name>` (as ComfyUI-GGUF).
    Returns what each tensor dequantizes to (the reference)."""
    original = key_naming.transformer_to_original(diffusers_tensors)
    original.update(extra or {})
    writer = gguf.GGUFWriter(str(path), arch="wan")
    reference = {}
    for name, value in original.items():
        data = value.float().numpy()
        if data.ndim > 4:
            writer.add_array(f"comfy.gguf.orig_shape.{name}", list(data.shape))
            data = data.reshape(data.shape[0], data.shape[1], -1)
        if name.startswith("blocks.") and data.ndim == 2 and data.shape[-1] % 32 == 0:
            packed = gguf.quants.quantize(data, Q8)
            writer.add_tensor(name, packed, raw_dtype=Q8)
            reference[name] = gguf.quants.dequantize(packed, Q8)
        else:
            writer.add_tensor(name, data.astype(np.float16))
            reference[name] = data.astype(np.float16).reshape(value.shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return reference


@pytest.fixture(scope="module")
def tiny(tiny_pipelines) -> Path:
    return tiny_pipelines["wan2.1-t2v"]


@pytest.fixture(scope="module")
def weights(tiny) -> dict[str, torch.Tensor]:
    return {k: v for f in sorted((tiny / "transformer").glob("*.safetensors")) for k, v in load_file(f).items()}


def test_tiny_gguf_loads_with_every_weight_from_the_file(tiny, weights, tmp_path) -> None:
    path = tmp_path / "wan-t2v-Q8_0.gguf"
    reference = _write_gguf(path, weights)
    loaded = load_component(path, config_source=tiny, roots=[str(tmp_path), str(tiny)], dtype="fp32")
    model = loaded.model
    quantized = [n for n, m in model.named_modules() if type(m).__name__ == "GGUFLinear"]
    assert quantized, "no layer kept its Q8_0 weight"
    ffn = model.blocks[0].ffn.net[2]
    assert type(ffn).__name__ == "GGUFLinear" and ffn.weight.dtype == torch.uint8
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    # diffusers dequantizes in fp16: the exact product d * q, rounded once to fp16
    assert np.array_equal(dequantize_gguf_tensor(ffn.weight).numpy(), reference["blocks.0.ffn.2.weight"].astype(np.float16))
    state = model.state_dict()
    for name, value in weights.items():
        if name in state and state[name].dtype != torch.uint8:  # plain tensors: F16 in the file, computed in fp32
            orig = key_naming.transformer_to_original([name])[0]
            assert np.array_equal(state[name].numpy().astype(np.float16), reference[orig].reshape(state[name].shape)), name
    assert loaded.to_dict()["class"] == "WanTransformer3DModel"
    assert loaded.report.components["transformer"]["gguf_quant_types"] == ["Q8_0"]
    g = torch.Generator().manual_seed(0)
    x, text = torch.randn(1, 16, 2, 8, 8, generator=g), torch.randn(1, 5, 32, generator=g)
    with torch.no_grad():
        out = model(hidden_states=x, timestep=torch.tensor([500]), encoder_hidden_states=text, return_dict=False)[0]
    assert torch.isfinite(out).all()


def test_gguf_with_a_foreign_key_names_it_as_the_file_does(tiny, weights, tmp_path) -> None:
    path = tmp_path / "odd.gguf"
    _write_gguf(path, weights, {"blocks.0.self_attn.q.lora_down.weight": torch.zeros(4, 24)})
    with pytest.raises(LoadError) as err:
        load_component(path, config_source=tiny, roots=[str(tmp_path), str(tiny)])
    assert err.value.code == "LOAD_UNEXPECTED_KEYS" and "blocks.0.self_attn.q.lora_down.weight" in err.value.detail
    assert "attn1" not in err.value.detail


def test_missing_gguf_package_is_named(tiny, weights, tmp_path, monkeypatch) -> None:
    path = tmp_path / "t.gguf"
    _write_gguf(path, weights)
    monkeypatch.setitem(sys.modules, "gguf", None)  # `import gguf` now raises ImportError
    with pytest.raises(ModelFileError) as err:
        load_component(path, config_source=tiny, roots=[str(tmp_path), str(tiny)])
    assert err.value.code == "GGUF_PACKAGE_MISSING" and "gguf" in err.value.fix


def test_real_size_sparse_gguf_q8_0_loads(tmp_path) -> None:
    """Wan 2.1 T2V 1.3B at its real size (a sparse file: the data are zeros), registry config, through
    `wan-compat load --json` in its own process (1.4 GB must not stay in this test process)."""
    import json
    import subprocess

    from wan_compat.compat.fixtures import sparse, sparse_gguf

    path = sparse_gguf.write_sparse_gguf(tmp_path / "wan2.1-t2v-1.3b-Q8_0.gguf", "wan2.1-t2v-1.3b", "Q8_0", rename=sparse.original_names("wan2.1-t2v-1.3b"))
    done = subprocess.run([sys.executable, "-m", "wan_compat", "load", str(path), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["class"] == "WanTransformer3DModel" and doc["variant"] == "wan2.1-t2v-1.3b" and doc["parameters"] > 0
    assert doc["resident_bytes"] <= 1.1 * doc["file_bytes"], doc


def test_gguf_transformer_in_a_pipeline_runs(tiny, weights, tmp_path) -> None:
    """Wan Safe Load's loader with a GGUF diffusion model beside safetensors VAE and text encoder."""
    import shutil

    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    folder = Path(shutil.copytree(tiny, tmp_path / "models" / "t2v"))
    files = export_single_files(folder, tmp_path / "models" / "single", prefix=key_naming.COMFY_PREFIX, name="t2v")
    path = tmp_path / "models" / "single" / "t2v-Q8_0.gguf"
    _write_gguf(path, weights)
    loaded = load_pipeline(path, vae=files["vae"], text_encoder=files["text_encoder"], config_source=folder, options=LoadOptions(dtype="fp32"))
    assert type(loaded.pipeline.transformer.blocks[0].ffn.net[2]).__name__ == "GGUFLinear"
    out = loaded.pipeline(prompt="a cat", num_frames=5, height=16, width=16, num_inference_steps=2, output_type="np",
                          generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (1, 5, 16, 16, 3) and np.isfinite(out).all()


def test_unsupported_quant_type_is_named(tiny, weights, tmp_path) -> None:
    """A tensor in a ggml type diffusers cannot dequantize (IQ2_XXS) is refused with its name and type."""
    path = tmp_path / "iq2.gguf"
    writer = gguf.GGUFWriter(str(path), arch="wan")
    for name, value in key_naming.transformer_to_original(weights).items():
        data = value.float().numpy().astype(np.float16)
        if data.ndim > 4:
            writer.add_array(f"comfy.gguf.orig_shape.{name}", list(data.shape))
            data = data.reshape(data.shape[0], data.shape[1], -1)
        if name == "blocks.0.ffn.2.weight":  # 24 x 256 values -> 24 x 66 bytes of IQ2_XXS
            writer.add_tensor(name, np.zeros((24, 66), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.IQ2_XXS)
            continue
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelFileError) as err:
        load_component(path, config_source=tiny, roots=[str(tmp_path), str(tiny)])
    assert err.value.code == "GGUF_QUANT_UNSUPPORTED" and "IQ2_XXS" in err.value.message() and "blocks.0.ffn.2.weight" in err.value.detail


def test_load_refuses_a_file_that_is_not_a_transformer(tiny_pipelines, tmp_path) -> None:
    from wan_compat.compat.fixtures.single_files import export_single_files

    files = export_single_files(tiny_pipelines["wan2.1-t2v"], tmp_path / "single", name="t2v")
    with pytest.raises(LoadError) as err:
        load_component(files["vae"], config_source=tiny_pipelines["wan2.1-t2v"], roots=[str(tmp_path), str(tiny_pipelines["wan2.1-t2v"])])
    assert err.value.code == "MODEL_NOT_LOADABLE" and "vae" in err.value.detail


def test_a_file_truncated_while_it_is_read_is_a_typed_error(tiny, weights, tmp_path, monkeypatch) -> None:
    """The tensors are read with `readinto` from the file held open, never through a memory map: a
    file cut short after its table was checked (another process truncating it, a download restarting)
    ends the load with FILE_CHANGED_DURING_LOAD, not a SIGBUS that kills the process. The cut is made
    right after the table is read, as another process would make it."""
    import os

    from wan_compat.compat.core.errors import WanCompatError
    from wan_compat.compat.loading import gguf_file

    path = tmp_path / "cut.gguf"
    _write_gguf(path, weights)
    real = gguf_file.read_gguf_header

    def read_then_cut(target):  # noqa: ANN001, ANN202
        header = real(target)
        os.truncate(target, header.file_size // 2)
        return header

    monkeypatch.setattr(gguf_file, "read_gguf_header", read_then_cut)
    with pytest.raises(WanCompatError) as err:
        load_component(path, config_source=tiny, roots=[str(tmp_path), str(tiny)])
    assert err.value.code == "FILE_CHANGED_DURING_LOAD" and "cut.gguf" in err.value.message()
