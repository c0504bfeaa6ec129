"""Detection of real-size diffusers folders (sparse) and of parts checked together."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.fixtures.sparse import copy_sparse_tree, write_component_folder

DETECT = ArchitectureDetector()

PIPELINES = {
    "wan2.1-t2v-1.3b": ("2.1", "t2v", "1.3B", False, None, "WanPipeline", 16),
    "wan2.1-t2v-14b": ("2.1", "t2v", "14B", False, None, "WanPipeline", 16),
    "wan2.1-i2v-14b-480p": ("2.1", "i2v", "14B", False, None, "WanImageToVideoPipeline", 16),
    "wan2.1-i2v-14b-720p": ("2.1", "i2v", "14B", False, None, "WanImageToVideoPipeline", 16),
    "wan2.1-flf2v-14b-720p": ("2.1", "flf2v", "14B", False, None, "WanImageToVideoPipeline", 16),
    "wan2.2-ti2v-5b": ("2.2", "ti2v", "5B", False, None, "WanPipeline", 48),
    "wan2.2-t2v-a14b": ("2.2", "t2v", "A14B", True, 0.875, "WanPipeline", 16),
    "wan2.2-i2v-a14b": ("2.2", "i2v", "A14B", True, 0.9, "WanImageToVideoPipeline", 16),
}


def codes(info) -> list[str]:
    return [p.code for p in info.problems]


@pytest.mark.parametrize("variant", list(PIPELINES))
def test_official_folders(sparse_pipeline, variant: str) -> None:
    info = DETECT.inspect(sparse_pipeline(variant))
    version, task, size, moe, boundary, pipeline_class, z_dim = PIPELINES[variant]
    assert (info.kind, info.format, info.family) == ("pipeline", "diffusers", "wan")
    assert (info.version, info.task, info.size, info.moe, info.boundary_ratio) == (version, task, size, moe, boundary)
    assert info.pipeline_class == pipeline_class and info.vae["z_dim"] == z_dim
    assert info.variant == variant
    assert info.ok and not [p for p in info.problems if p.severity != "info"], [p.text() for p in info.problems]
    assert info.components["transformer"]["class"] == "WanTransformer3DModel"
    assert info.size_bytes > 2 * 10**9


def test_layout_not_name_decides_the_version(sparse_pipeline, tmp_path: Path) -> None:
    # Same transformer weights; the folder names say nothing; transformer_2 + boundary_ratio decide.
    moe = DETECT.inspect(copy_sparse_tree(sparse_pipeline("wan2.2-t2v-a14b"), tmp_path / "a" / "model"))
    single = DETECT.inspect(copy_sparse_tree(sparse_pipeline("wan2.1-t2v-14b"), tmp_path / "b" / "model"))
    assert (moe.version, moe.size, moe.moe) == ("2.2", "A14B", True)
    assert (single.version, single.size, single.moe) == ("2.1", "14B", False)
    assert any("folder layout" in e for e in moe.evidence + single.evidence)
    assert "VERSION_FROM_HINT" not in codes(moe) + codes(single)


def test_sharded_fp16_folder_and_component_folder(sparse_pipeline) -> None:
    folder = sparse_pipeline("wan2.2-i2v-a14b", "fp16")
    transformer = DETECT.inspect(folder / "transformer")
    assert transformer.kind == "transformer" and transformer.dtype == "fp16" and len(transformer.files) > 1
    assert (transformer.version, transformer.task, transformer.size) == ("2.2", "i2v", "A14B")
    index = DETECT.inspect(folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json")
    assert index.format == "sharded" and index.variant == "wan2.2-i2v-a14b"


@pytest.fixture
def t2v_copy(sparse_pipeline, tmp_path: Path) -> Path:
    return copy_sparse_tree(sparse_pipeline("wan2.1-t2v-1.3b"), tmp_path / "Wan2.1-T2V-1.3B-Diffusers")


def _edit_json(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))


def test_model_index_not_json(t2v_copy: Path) -> None:
    (t2v_copy / "model_index.json").write_text("{ this is not json")
    info = DETECT.inspect(t2v_copy)
    assert codes(info) == ["MODEL_INDEX_INVALID"] and "not valid JSON" in info.problems[0].detail


def test_model_index_every_problem_with_its_path(t2v_copy: Path) -> None:
    _edit_json(t2v_copy / "model_index.json", vae="AutoencoderKLWan", text_encoder=["transformers"], boundary_ratio=1.5)
    info = DETECT.inspect(t2v_copy)
    detail = next(p.detail for p in info.problems if p.code == "MODEL_INDEX_INVALID")
    assert "$.text_encoder" in detail and "$.boundary_ratio" in detail


def test_missing_component_folder(t2v_copy: Path) -> None:
    shutil.rmtree(t2v_copy / "vae")
    info = DETECT.inspect(t2v_copy)
    assert codes(info) == ["COMPONENT_MISSING"] and "'vae/'" in info.problems[0].detail
    assert "vae" in info.problems[0].fix


def test_missing_shard(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.2-t2v-a14b"), tmp_path / "m")
    (folder / "transformer_2" / "diffusion_pytorch_model-00003-of-00006.safetensors").unlink()
    info = DETECT.inspect(folder)
    assert "SHARD_MISSING" in codes(info) and not info.ok


def test_shard_index_points_outside_the_folder(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.2-t2v-a14b"), tmp_path / "m")
    index = folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json"
    doc = json.loads(index.read_text())
    first = next(iter(doc["weight_map"]))
    doc["weight_map"][first] = "../../outside.safetensors"
    index.write_text(json.dumps(doc))
    assert "SHARD_INDEX_INVALID" in codes(DETECT.inspect(folder))


def test_config_contradicts_weights(t2v_copy: Path) -> None:
    _edit_json(t2v_copy / "transformer" / "config.json", in_channels=36, num_layers=40)
    info = DETECT.inspect(t2v_copy)
    details = [p.detail for p in info.problems if p.code == "CONFIG_WEIGHTS_MISMATCH"]
    assert any("in_channels = 36, weights have 16" in d for d in details)
    assert any("num_layers = 40, weights have 30" in d for d in details)


def test_config_wrong_type_reports_json_path(t2v_copy: Path) -> None:
    _edit_json(t2v_copy / "transformer" / "config.json", in_channels="sixteen", patch_size=...)
    info = DETECT.inspect(t2v_copy)
    detail = next(p.detail for p in info.problems if p.code == "CONFIG_INVALID")
    assert "$.in_channels" in detail and "$.patch_size" in detail


def test_wrong_vae_in_folder_names_the_right_one(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.2-ti2v-5b"), tmp_path / "m")
    shutil.rmtree(folder / "vae")
    write_component_folder(folder / "vae", "wan2.1-vae", "fp32")
    info = DETECT.inspect(folder)
    wrong = next(p for p in info.problems if p.code == "WRONG_VAE")
    assert "48" in wrong.summary + wrong.fix + wrong.detail and "wan2.2_vae.safetensors" in wrong.fix


def test_i2v_21_without_clip_vision(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.1-i2v-14b-480p"), tmp_path / "m")
    _edit_json(folder / "model_index.json", image_encoder=[None, None], image_processor=[None, None])
    info = DETECT.inspect(folder)
    assert "CLIP_VISION_MISSING" in codes(info) and "clip_vision_h.safetensors" in info.problems[0].fix


def test_moe_layout_mismatch(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.2-t2v-a14b"), tmp_path / "m")
    _edit_json(folder / "model_index.json", boundary_ratio=None)
    assert "MOE_LAYOUT_INVALID" in codes(DETECT.inspect(folder))
    folder2 = copy_sparse_tree(sparse_pipeline("wan2.1-t2v-14b"), tmp_path / "n")
    _edit_json(folder2 / "model_index.json", boundary_ratio=0.875)
    assert "MOE_LAYOUT_INVALID" in codes(DETECT.inspect(folder2))


def test_pipeline_class_must_fit_the_task(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.1-i2v-14b-480p"), tmp_path / "m")
    _edit_json(folder / "model_index.json", _class_name="WanPipeline")
    problem = next(p for p in DETECT.inspect(folder).problems if p.code == "PIPELINE_CLASS_MISMATCH")
    assert "WanImageToVideoPipeline" in problem.fix


def test_unknown_pipeline_class(t2v_copy: Path) -> None:
    """A class diffusers does not ship: with standard Wan parts the folder falls back to the Wan
    pipeline that fits them (a warning naming both); with any other part it stays unknown."""
    _edit_json(t2v_copy / "model_index.json", _class_name="MyCustomWanPipeline")
    info = DETECT.inspect(t2v_copy)
    assert codes(info) == ["PIPELINE_CLASS_FALLBACK"] and info.ok and info.pipeline_class == "WanPipeline"
    assert "MyCustomWanPipeline" in info.problems[0].detail and "WanPipeline" in info.problems[0].detail
    _edit_json(t2v_copy / "model_index.json", tokenizer=["transformers", "LlamaTokenizer"])
    assert "UNKNOWN_PIPELINE_CLASS" in codes(DETECT.inspect(t2v_copy))


def test_ti2v_needs_expand_timesteps(sparse_pipeline, tmp_path: Path) -> None:
    folder = copy_sparse_tree(sparse_pipeline("wan2.2-ti2v-5b"), tmp_path / "m")
    _edit_json(folder / "model_index.json", expand_timesteps=False)
    assert "CONFIG_INVALID" in codes(DETECT.inspect(folder))


def test_component_holding_the_wrong_kind(t2v_copy: Path) -> None:
    shutil.rmtree(t2v_copy / "text_encoder")
    write_component_folder(t2v_copy / "text_encoder", "clip-vit-h-14")
    assert "COMPONENT_KIND_MISMATCH" in codes(DETECT.inspect(t2v_copy))


def test_empty_folder_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert codes(DETECT.inspect(tmp_path / "empty")) == ["NOT_A_MODEL_FOLDER"]


# --------------------------------------------------------------------------- parts given separately
def test_5b_with_the_21_vae(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.2-ti2v-5b"), vae=sparse_file("wan2.1-vae"), text_encoder=sparse_file("umt5-xxl"))
    assert codes(info) == ["WRONG_VAE"]
    assert "wan2.2_vae.safetensors" in info.problems[0].fix and info.vae["z_dim"] == 16


def test_a14b_expert_with_the_22_vae(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.2-i2v-a14b"), vae=sparse_file("wan2.2-vae"))
    assert codes(info) == ["WRONG_VAE"] and "wan_2.1_vae.safetensors" in info.problems[0].fix


def test_i2v_21_with_its_parts_is_ok(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.1-i2v-14b-480p"), vae=sparse_file("wan2.1-vae"),
                          text_encoder=sparse_file("umt5-xxl"), clip_vision=sparse_file("clip-vit-h-14"))
    assert info.ok and not [p for p in info.problems if p.severity != "info"]


def test_clip_vision_given_to_22_is_unused(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.2-i2v-a14b"), clip_vision=sparse_file("clip-vit-h-14"))
    assert [(p.code, p.severity) for p in info.problems] == [("CLIP_VISION_UNUSED", "warning")]


def test_t5_instead_of_umt5(sparse_file, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures import sparse

    entries = sparse.component_entries("umt5-xxl")
    t5 = {k: v for k, v in entries.items() if "relative_attention_bias" not in k or ".block.0." in k}
    t5["shared.weight"] = ("BF16", (32128, 4096))
    path = sparse.write_sparse(tmp_path / "t5xxl_fp16.safetensors", t5)
    info = DETECT.inspect(sparse_file("wan2.1-t2v-1.3b"), text_encoder=path)
    assert "WRONG_TEXT_ENCODER" in codes(info) and "UMT5" in info.problems[0].fix


def test_a_vae_given_as_text_encoder(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.1-t2v-1.3b"), text_encoder=sparse_file("wan2.1-vae"))
    assert codes(info) == ["COMPONENT_KIND_MISMATCH"]
