"""The files community graphs pick, identified from their headers (sparse real-size copies:
compat/fixtures/community_files.py), and what the workflow check says about a file it does not
recognise (a warning) against one its loader certainly cannot load (an error)."""
from __future__ import annotations

from pathlib import Path

import pytest

from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.fixtures.community_files import kj_scaled_entries, wan_clip_entries, wan_t5_entries, write_gguf_t5
from wan_compat.compat.fixtures.sparse import write_sparse
from wan_compat.compat.fixtures.template_files import _original_shapes, _stored, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.report import check_workflow


def inspect(path: Path):  # noqa: ANN201
    return ArchitectureDetector().inspect(path)


@pytest.mark.parametrize("dtype, stored", [("bf16", "bf16"), ("fp8", "fp8_e4m3fn")])
def test_kijais_umt5_in_the_original_wan_t5_layout(tmp_path: Path, dtype: str, stored: str) -> None:
    info = inspect(write_sparse(tmp_path / "umt5-xxl-enc.safetensors", wan_t5_entries(dtype)))
    assert (info.kind, info.family, info.variant, info.naming, info.dtype) == ("text_encoder", "umt5", "umt5-xxl", "wan_t5", stored)
    assert info.ok and any("original Wan T5 layout" in e for e in info.evidence)


def test_the_wan_t5_layout_without_per_block_position_embeddings_is_t5(tmp_path: Path) -> None:
    entries = {k: v for k, v in wan_t5_entries().items() if ".pos_embedding." not in k or k.startswith("blocks.0.")}
    info = inspect(write_sparse(tmp_path / "t5.safetensors", entries))
    assert info.kind == "text_encoder" and info.family == "t5"


def test_kijais_open_clip_in_the_original_wan_layout(tmp_path: Path) -> None:
    info = inspect(write_sparse(tmp_path / "open-clip.safetensors", wan_clip_entries()))
    assert (info.kind, info.variant, info.naming) == ("clip_vision", "clip-vit-h-14", "wan_clip")
    assert info.components["clip_vision"]["log_scale"] is True


def test_city96s_umt5_gguf(tmp_path: Path) -> None:
    info = inspect(write_gguf_t5(tmp_path / "umt5-xxl-encoder-Q5_K_M.gguf"))
    assert (info.kind, info.family, info.variant, info.format) == ("text_encoder", "umt5", "umt5-xxl", "gguf")
    assert "T5_SD_MAP" in info.evidence[0]


@pytest.mark.parametrize("prefix", ["", "model.diffusion_model."])
def test_kijais_scaled_kj_transformer(tmp_path: Path, prefix: str) -> None:
    entries = {prefix + k: v for k, v in kj_scaled_entries(list(_original_shapes("wan2.1-i2v-14b-480p"))).items()}
    info = inspect(write_sparse(tmp_path / "Wan2_1-I2V-14B-480p_fp8_e4m3fn_scaled_KJ.safetensors", entries))
    assert (info.kind, info.task, info.size, info.quantization) == ("transformer", "i2v", "14B", "fp8_scaled")


def test_comfy_int8_per_layer_quantisation(tmp_path: Path) -> None:
    info = inspect(write_sparse(tmp_path / "wan_animate_2_int8_convrot.safetensors", _stored(_original_shapes("wan2.1-i2v-14b-480p"), "int8_comfy_quant")))
    assert info.kind == "transformer" and info.family == "wan" and info.quantization == "comfy_quant_int8"


@pytest.mark.parametrize("name, role", [
    ("Wan2.2-I2V-A14B-HighNoise-Q3_K_M.safetensors", "high_noise"), ("Wan2.2-T2V-A14B-LowNoise-Q4_K_M.safetensors", "low_noise"),
    ("Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors", "high_noise"), ("Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors", "low_noise"),
    ("wan2.2_i2v_high_noise_14B_fp16.safetensors", "high_noise"), ("wan2.2_i2v_A14B_highlight_fp16.safetensors", None)])
def test_expert_roles_in_the_repackagers_names(tmp_path: Path, name: str, role: str | None) -> None:
    entries = _stored(_original_shapes("wan2.2-i2v-a14b"), "bf16")
    assert inspect(write_sparse(tmp_path / name, entries)).expert == role


def test_fun_camera_v11_has_32_input_channels(tmp_path: Path) -> None:
    path = write_template_file(tmp_path, "diffusion_models", "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors")
    info = inspect(path)
    assert info.variant == "wan2.1-fun-camera" and info.components["transformer"]["in_channels"] == 32 and info.ok


# ------------------------------------------------------------------ unknown is not wrong
@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> ModelFolders:
    root = tmp_path_factory.mktemp("unknown") / "models"
    for folder, name in [("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors"), ("vae", "wan_2.1_vae.safetensors"),
                         ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]:
        write_template_file(root, folder, name)
    odd = {"encoder.stem.weight": ("BF16", (64, 3, 3, 3)), "decoder.head.weight": ("BF16", (3, 64, 3, 3))}
    write_sparse(root / "vae" / "some_new_vae.safetensors", odd)
    write_sparse(root / "text_encoders" / "some_new_encoder.safetensors", odd)
    write_gguf_t5(root / "diffusion_models" / "umt5-as-unet.gguf")
    write_sparse(root / "diffusion_models" / "not_a_gguf.safetensors", dict(list(wan_t5_entries().items())[:4]))
    (root / "clip").mkdir()  # the legacy name of text_encoders
    write_sparse(root / "clip" / "open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors", wan_clip_entries())
    found = ModelFolders()
    found.add_models_root(root)
    return found


def _prompt(**picks: str) -> dict:
    from test_workflow_inputs import api_prompt

    prompt = api_prompt(unet=picks.get("unet", "wan2.1_t2v_1.3B_fp16.safetensors"), vae=picks.get("vae", "wan_2.1_vae.safetensors"))
    prompt["6"] = {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 832, "height": 480, "length": 33, "batch_size": 1}}
    if "clip" in picks:
        prompt["2"]["inputs"]["clip_name"] = picks["clip"]
    return prompt


@pytest.mark.parametrize("picks, role", [({"vae": "some_new_vae.safetensors"}, "VAE"), ({"clip": "some_new_encoder.safetensors"}, "text encoder")])
def test_a_file_the_pack_does_not_know_is_a_warning(picks: dict, role: str, folders: ModelFolders) -> None:
    """It used to be WF_WRONG_KIND ('a unknown') or WF_TEXT_ENCODER_NOT_UMT5: errors about a file
    nothing is known to be wrong with."""
    result = check_workflow(_prompt(**picks), folders)
    found = [p for p in result["problems"] if p["code"] == "WF_NOT_RECOGNISED"]
    assert result["ok"] and len(found) == 1 and found[0]["severity"] == "warning" and "cannot vouch" in found[0]["summary"]
    assert [p["code"] for p in result["problems"] if p["severity"] == "error"] == []


def test_a_file_its_loader_certainly_cannot_read_is_an_error(folders: ModelFolders) -> None:
    result = check_workflow(_prompt(unet="umt5-as-unet.gguf"), folders)
    found = [p for p in result["problems"] if p["code"] == "WF_LOADER_CANNOT_READ"]
    assert len(found) == 1 and "GGUF file" in found[0]["detail"] and "UNETLoader" in found[0]["summary"]
    gguf_only = {"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "not_a_gguf.safetensors"}}}
    found = [p for p in check_workflow(gguf_only, folders)["problems"] if p["code"] == "WF_LOADER_CANNOT_READ"]
    assert len(found) == 1 and "reads GGUF" in found[0]["detail"]


def test_the_wrapper_clip_in_the_legacy_clip_folder(folders: ModelFolders) -> None:
    prompt = {"1": {"class_type": "LoadWanVideoClipTextEncoder", "inputs": {"model_name": "open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors"}}}
    result = check_workflow(prompt, folders)
    assert result["ok"] and result["files"][0]["path"].endswith("clip/open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors")
