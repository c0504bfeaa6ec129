"""Detection gaps of issue 11: LoRA files (every naming), non-UMT5 text encoders given as the Wan
one, Fun Control/Camera 2.1 vs 2.2, Wan 2.2 VACE-Fun, other families in ComfyUI's naming.
All files are sparse real-size safetensors built from the real model classes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.fixtures.sparse import component_entries, original_transformer_names, write_sparse
from wan_compat.compat.fixtures.template_files import layout_entries, lora_entries, other_text_encoder_entries

detect = ArchitectureDetector().inspect


def _peft(entries: dict) -> dict:
    """ComfyUI LoRA names -> diffusers/PEFT names (lora_A/lora_B, `transformer.` prefix)."""
    out = {}
    for key, value in entries.items():
        if key.endswith(".alpha"):
            continue
        key = key.replace("diffusion_model.", "transformer.").replace(".lora_down.", ".lora_A.").replace(".lora_up.", ".lora_B.")
        out[key] = value
    return out


def _kohya(entries: dict) -> dict:
    out = {}
    for key, value in entries.items():
        module, _, tail = key.removeprefix("diffusion_model.").partition(".lora_")
        if not tail:
            module, tail = key.removeprefix("diffusion_model.").rsplit(".", 1)[0], "alpha"
            out[f"lora_unet_{module.replace('.', '_')}.alpha"] = value
            continue
        out[f"lora_unet_{module.replace('.', '_')}.lora_{tail}"] = value
    return out


@pytest.mark.parametrize("naming, convert", [("comfy", dict), ("peft", _peft), ("kohya", _kohya)])
@pytest.mark.parametrize("variant, rank, hidden, size", [("wan2.1-t2v-14b", 64, 5120, "14B"), ("wan2.1-t2v-1.3b", 32, 1536, "1.3B"),
                                                         ("wan2.2-ti2v-5b", 16, 3072, "5B")])
def test_lora_kind_family_hidden_rank(tmp_path: Path, naming: str, convert, variant: str, rank: int, hidden: int, size: str) -> None:
    path = write_sparse(tmp_path / "lora.safetensors", convert(lora_entries(variant, rank)))
    info = detect(path)
    assert (info.kind, info.family, info.size) == ("lora", "wan", size)
    facts = info.components["lora"]
    assert (facts["rank"], facts["hidden"], facts["naming"]) == (rank, hidden, naming)
    assert info.ok and [p.code for p in info.problems] == ["IS_LORA"]


def test_i2v_lora_patches_the_image_attention(tmp_path: Path) -> None:
    info = detect(write_sparse(tmp_path / "l.safetensors", lora_entries("wan2.1-i2v-14b-480p", 64)))
    assert info.components["lora"]["image_layers"] is True
    plain = detect(write_sparse(tmp_path / "t.safetensors", lora_entries("wan2.1-t2v-14b", 64)))
    assert plain.components["lora"]["image_layers"] is False


def test_flux_lora_is_not_wan(tmp_path: Path) -> None:
    entries = {f"diffusion_model.double_blocks.{i}.img_attn.qkv.lora_{d}.weight": ("BF16", s)
               for i in range(2) for d, s in (("down", (16, 3072)), ("up", (9216, 16)))}
    info = detect(write_sparse(tmp_path / "flux_lora.safetensors", entries))
    assert info.kind == "lora" and info.family != "wan" and "flux" in info.family


def test_lora_given_as_a_model_to_inspect_is_named_a_lora(tmp_path: Path) -> None:
    path = write_sparse(tmp_path / "lightx2v.safetensors", lora_entries("wan2.1-t2v-14b", 64))
    run = subprocess.run([sys.executable, "-m", "wan_compat", "inspect", str(path), "--json"], capture_output=True, text=True)
    doc = json.loads(run.stdout)
    assert doc["kind"] == "lora" and doc["problems"][0]["code"] == "IS_LORA" and "14B" in doc["problems"][0]["summary"]


@pytest.mark.parametrize("which, family", [("clip_l", "clip_text"), ("t5xxl", "t5")])
def test_non_umt5_text_encoder_is_an_error(tmp_path: Path, which: str, family: str) -> None:
    model = write_sparse(tmp_path / "m.safetensors", component_entries("wan2.1-t2v-1.3b", "bf16", original_transformer_names))
    encoder = write_sparse(tmp_path / f"{which}.safetensors", other_text_encoder_entries(which))
    info = detect(model, text_encoder=encoder)
    assert not info.ok and [p.code for p in info.problems if p.severity == "error"] == ["WRONG_TEXT_ENCODER"]
    assert detect(encoder).family == family
    run = subprocess.run([sys.executable, "-m", "wan_compat", "inspect", str(model), "--text-encoder", str(encoder)], capture_output=True, text=True)
    assert run.returncode == 1 and "WRONG_TEXT_ENCODER" in run.stdout


@pytest.mark.parametrize("layout, name, version, task, moe", [
    ("fun_camera_2.1_14B", "wan2.1_fun_camera_v1.1_14B_bf16.safetensors", "2.1", "camera", False),
    ("fun_camera_2.2_14B", "wan2.2_fun_camera_high_noise_14B_fp8_scaled.safetensors", "2.2", "camera", True),
    ("fun_control_2.1", "wan2.1_fun_control_1.3B_bf16.safetensors", "2.1", "fun_control", False),
    ("fun_control_2.2_14B", "wan2.2_fun_control_low_noise_14B_fp8_scaled.safetensors", "2.2", "fun_control", True),
    ("fun_control_2.2_5B", "wan2.2_fun_control_5B_bf16.safetensors", "2.2", "fun_control", False),
])
def test_fun_control_and_camera_versions(tmp_path: Path, layout: str, name: str, version: str, task: str, moe: bool) -> None:
    info = detect(write_sparse(tmp_path / "x.safetensors", layout_entries(layout, "bf16")))  # the name must not decide
    assert (info.family, info.version, info.task, info.moe) == ("wan", version, task, moe)


def test_vace_fun_22_by_name_vace_21_otherwise(tmp_path: Path) -> None:
    entries = component_entries("wan2.1-vace-14b", "bf16", original_transformer_names)
    tmp_path = tmp_path / "m" / "n"  # parent folder names count as hints: keep the test's own name out
    fun = detect(write_sparse(tmp_path / "Wan2.2-VACE-Fun-A14B_high_noise.safetensors", entries))
    assert (fun.version, fun.variant, fun.moe, fun.expert) == ("2.2", "wan2.2-vace-fun-a14b", True, "high_noise")
    old = detect(write_sparse(tmp_path / "wan2.1_vace_14B_fp16.safetensors", entries))
    assert (old.version, old.variant) == ("2.1", "wan2.1-vace-14b")
    # VACE-Fun is `hint_only`: a neutral name keeps the (far more common) 2.1 verdict, as before
    unnamed = detect(write_sparse(tmp_path / "vace.safetensors", entries))
    assert (unnamed.version, unnamed.variant) == ("2.1", "wan2.1-vace-14b") and unnamed.ok


@pytest.mark.parametrize("prefix", ["model.diffusion_model.", "diffusion_model."])
def test_flux_in_comfyui_naming_is_flux(tmp_path: Path, prefix: str) -> None:
    entries = {f"{prefix}double_blocks.0.img_attn.qkv.weight": ("BF16", (9216, 3072)),
               f"{prefix}img_in.weight": ("BF16", (3072, 64))}
    info = detect(write_sparse(tmp_path / "flux1-dev.safetensors", entries))
    assert info.family == "flux" and "NOT_WAN" in [p.code for p in info.problems]
