"""Wan Safe Load on the tiny pipelines: every variant both ways (diffusers folder, and single files in
the original/ComfyUI naming), bit-exact, through the node; precision rules; fp8 storage."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.loading import key_naming  # noqa: E402
from wan_compat.compat.fixtures.single_files import export_single_files  # noqa: E402
from wan_compat.compat.fixtures.tiny import TEST_PROMPTS, TINY_VARIANTS  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402
from wan_compat.compat.loading.handle import PipelineHandle  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

VARIANTS = list(TINY_VARIANTS)
WEIGHTS = ("transformer", "transformer_2", "vae", "text_encoder", "image_encoder")


@pytest.fixture(scope="module")
def exports(tiny_pipelines: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Each variant exported as ComfyUI single files: original naming, `model.diffusion_model.` prefix."""
    root = tmp_path_factory.mktemp("single-files")
    return {v: export_single_files(folder, root / v, prefix=key_naming.COMFY_PREFIX, name=v) for v, folder in tiny_pipelines.items()}


@pytest.fixture(autouse=True)
def _roots(monkeypatch: pytest.MonkeyPatch, tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The node's model folders: the tiny cache, the exports and this test's tmp dir."""
    import os

    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", os.pathsep.join([str(tiny_cache), str(tmp_path_factory.getbasetemp()), str(tmp_path)]))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "settings"))


def _file_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}


def _assert_same_weights(loaded: PipelineHandle, folder: Path) -> None:
    """Every parameter is the file's tensor (cast to the loaded dtype): nothing random, nothing missing."""
    for name in WEIGHTS:
        module = getattr(loaded.pipeline, name, None)
        if module is None:
            assert not (folder / name / "config.json").exists(), name
            continue
        expected = _file_weights(folder / name)
        state = module.state_dict()
        tied = set(state) - set(expected)
        assert tied <= {"encoder.embed_tokens.weight"}, (name, tied)
        for key, value in expected.items():
            assert torch.equal(state[key], value.to(state[key].dtype)), (name, key)


def _node_load(**kwargs) -> PipelineHandle:
    node = WanSafeLoad()
    names = WanSafeLoad.VALIDATE_INPUTS.__code__.co_varnames[1:WanSafeLoad.VALIDATE_INPUTS.__code__.co_argcount]
    assert WanSafeLoad.VALIDATE_INPUTS(**{k: v for k, v in kwargs.items() if k in names}) is True
    out = node.load(**kwargs)
    loaded, text = out["result"]
    assert text == out["ui"]["text"][0] and "Loaded" in text
    return loaded


@pytest.mark.parametrize("variant", VARIANTS)
def test_folder_loads_through_the_node(tiny_pipelines: dict[str, Path], variant: str) -> None:
    folder = tiny_pipelines[variant]
    loaded = _node_load(model_path=str(folder), dtype="bf16")
    expected_class = TINY_VARIANTS[variant].requires["pipeline_class"]
    assert type(loaded.pipeline).__name__ == expected_class == loaded.pipeline_class
    assert loaded.model_info.format == "diffusers" and loaded.model_info.family == "wan"
    _assert_same_weights(loaded, folder)
    report = loaded.report.to_dict()
    assert report["source"]["format"] == "diffusers"
    assert {"checks", "detect", "transformer", "vae", "assemble", "total"} <= set(report["timings_ms"])
    assert report["memory"]["parameter_bytes"] > 0
    assert all(f["format"] == "safetensors" for f in report["files"])
    assert any(d["decision"] == "allowed" and "no custom code" in d["reason"] for d in report["decisions"])
    # Precision: bf16 transformer with its fp32 modules, fp32 VAE.
    transformer = report["components"]["transformer"]
    assert set(transformer["dtypes"]) == {"bfloat16", "float32"} and "scale_shift_table" in transformer["fp32_modules"]
    assert loaded.pipeline.transformer.scale_shift_table.dtype == torch.float32
    assert loaded.pipeline.transformer.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert report["components"]["vae"]["dtypes"] == {"float32": report["components"]["vae"]["parameters"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_single_files_in_original_naming_load_through_the_node(tiny_pipelines, exports, variant: str) -> None:
    folder, files = tiny_pipelines[variant], exports[variant]
    inputs = {"model_path": str(files["transformer"]), "vae_path": str(files["vae"]), "text_encoder_path": str(files["text_encoder"]),
              "config_path": str(folder), "dtype": "bf16"}
    if "transformer_2" in files:
        inputs["transformer_2_path"] = str(files["transformer_2"])
    if "clip_vision" in files:
        inputs["clip_vision_path"] = str(files["clip_vision"])
    loaded = _node_load(**inputs)
    assert type(loaded.pipeline).__name__ == TINY_VARIANTS[variant].requires["pipeline_class"]
    assert loaded.model_info.naming == "original" and loaded.model_info.key_prefix == key_naming.COMFY_PREFIX
    assert loaded.model_info.moe == TINY_VARIANTS[variant].moe
    _assert_same_weights(loaded, folder)
    if TINY_VARIANTS[variant].moe:
        assert loaded.pipeline.config.boundary_ratio == TINY_VARIANTS[variant].requires["boundary_ratio"]
    # The tokenizer came from the spiece_model the text-encoder file embeds, and gives the same ids.
    assert any(d.subject == "tokenizer" and "spiece_model" in d.reason for d in loaded.report.decisions)
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(folder / "tokenizer")
    for prompt in TEST_PROMPTS:
        assert loaded.pipeline.tokenizer(prompt).input_ids == reference(prompt).input_ids, prompt


@pytest.mark.parametrize("variant", ["wan2.1-t2v", "wan2.2-ti2v-5b"])
def test_assembled_single_file_pipeline_generates_like_the_folder(tiny_pipelines, exports, variant: str) -> None:
    folder, files = tiny_pipelines[variant], exports[variant]
    from_folder = load_pipeline(folder, options=LoadOptions(dtype="fp32"))
    from_files = load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=folder,
                               options=LoadOptions(dtype="fp32"))
    size = 32 if TINY_VARIANTS[variant].z_dim == 48 else 16
    frames = [
        loaded.pipeline(prompt=TEST_PROMPTS[0], num_frames=5, height=size, width=size, num_inference_steps=2, output_type="np",
                        generator=torch.Generator().manual_seed(0)).frames
        for loaded in (from_folder, from_files)
    ]
    # Bit-identical weights, but at other offsets of other files' mmaps: the CPU may run other kernels on them.
    for loaded in (from_folder, from_files):
        _assert_same_weights(loaded, folder)
    assert_frames_close(frames[1], frames[0], dtype=torch.float32, path="pipeline")


def test_fp16_keeps_each_librarys_fp32_modules(tiny_pipelines) -> None:
    loaded = load_pipeline(tiny_pipelines["wan2.1-t2v"], options=LoadOptions(dtype="fp16"))
    te = loaded.pipeline.text_encoder
    assert te.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == torch.float32  # transformers: wo in fp16
    assert te.encoder.block[0].layer[0].SelfAttention.q.weight.dtype == torch.float16
    assert loaded.pipeline.transformer.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    bf16 = load_pipeline(tiny_pipelines["wan2.1-t2v"], options=LoadOptions(dtype="bf16"))
    assert bf16.pipeline.text_encoder.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == torch.bfloat16


def test_fp8_storage_keeps_matrices_in_fp8_and_still_runs(tiny_pipelines, exports) -> None:
    files = exports["wan2.1-t2v"]
    loaded = load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"],
                           config_source=tiny_pipelines["wan2.1-t2v"], options=LoadOptions(dtype="bf16", weight_storage="fp8_e4m3fn"))
    transformer = loaded.pipeline.transformer
    assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
    assert transformer.scale_shift_table.dtype == torch.float32  # fp32 modules are never stored in fp8
    assert loaded.report.components["transformer"]["storage_dtype"] == "float8_e4m3fn"
    out = loaded.pipeline(prompt=TEST_PROMPTS[1], num_frames=5, height=16, width=16, num_inference_steps=2, output_type="np",
                          generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (1, 5, 16, 16, 3) and float(abs(out).max()) <= 1.0


def test_report_is_json_ready(tiny_pipelines) -> None:
    import json

    loaded = load_pipeline(tiny_pipelines["wan2.1-i2v"])
    doc = json.loads(json.dumps(loaded.to_dict(), default=str))
    assert doc["pipeline_class"] == "WanImageToVideoPipeline" and doc["model_info"]["family"] == "wan"
    assert "image_encoder" in doc["report"]["components"] and doc["report"]["timings_ms"]["total"] > 0
    assert "WanImageToVideoPipeline" in repr(loaded) and loaded.summary().startswith("Loaded")


def test_copy_of_a_folder_elsewhere_is_refused_outside_the_roots(tiny_pipelines, tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_pipelines["wan2.1-t2v"], copy)
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tiny_pipelines["wan2.1-t2v"].parent))
    from wan_compat.compat.core.errors import SecurityError

    with pytest.raises(SecurityError) as err:
        WanSafeLoad().load(model_path=str(copy))
    assert err.value.code == "PATH_OUTSIDE_ROOTS"


def test_node_follows_the_security_settings(tiny_pipelines, tmp_path: Path, monkeypatch) -> None:
    """The node reads the policy from the settings file: an extra model root there admits a folder."""
    import json

    from wan_compat.compat.core.errors import SecurityError

    elsewhere = tmp_path / "elsewhere"
    folder = Path(shutil.copytree(tiny_pipelines["wan2.1-t2v"], elsewhere / "wan"))
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tiny_pipelines["wan2.1-t2v"].parent))
    with pytest.raises(SecurityError):
        WanSafeLoad().load(model_path=str(folder))
    settings = tmp_path / "settings"
    settings.mkdir(exist_ok=True)
    from wan_compat.compat.settings.store import CURRENT_VERSION

    (settings / "settings.json").write_text(json.dumps({"version": CURRENT_VERSION, "security": {"extra_model_roots": [str(elsewhere)]}}))
    loaded = WanSafeLoad().load(model_path=str(folder))["result"][0]
    assert loaded.pipeline_class == "WanPipeline"


def test_hashes_in_the_report_when_the_policy_asks(tiny_pipelines, exports) -> None:
    import hashlib

    from wan_compat.compat.security.policy import SecurityPolicy

    folder = tiny_pipelines["wan2.1-t2v"]
    plain = load_pipeline(folder)
    assert all(f.sha256 is None for f in plain.report.files)
    hashed = load_pipeline(folder, policy=SecurityPolicy(hash_safetensors=True))
    files = hashed.report.files
    assert {Path(f.path).parent.name for f in files} == {"transformer", "vae", "text_encoder"}
    for record in files:
        assert record.sha256 == hashlib.sha256(Path(record.path).read_bytes()).hexdigest()
    single = load_pipeline(exports["wan2.1-t2v"]["vae"].parent / "wan2.1-t2v_transformer.safetensors", vae=exports["wan2.1-t2v"]["vae"],
                           text_encoder=exports["wan2.1-t2v"]["text_encoder"], config_source=folder, policy=SecurityPolicy(hash_safetensors=True))
    assert all(len(f.sha256 or "") == 64 for f in single.report.files)
