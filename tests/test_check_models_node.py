"""Wan Check Models with objects loaded by ComfyUI's real code, in ComfyUI's own Python (a
subprocess: ComfyUI has its own venv). Passes a fitting pair through unchanged (the same objects)
and stops a 48-channel model with the Wan 2.1 VAE and a CLIP-L loaded as the Wan text encoder with
the typed error; the node reads shapes from the loaded objects only."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from comfyui_server import comfy_python

ROOT = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
pytestmark = pytest.mark.comfyui


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    if not COMFYUI_DIR:
        pytest.skip("COMFYUI_DIR is not set: point it at a ComfyUI checkout with its venv")
    python = comfy_python(Path(COMFYUI_DIR))
    if python is None:
        pytest.skip(f"COMFYUI_DIR={COMFYUI_DIR} has no Python (set COMFYUI_PYTHON)")
    parent = tmp_path_factory.mktemp("pack")
    (parent / "wan_compat").symlink_to(ROOT, target_is_directory=True)
    run = subprocess.run([python, str(ROOT / "tests" / "comfy_scripts" / "check_models_node.py"), COMFYUI_DIR, str(parent)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {line["case"]: line for line in lines}


def test_fitting_parts_pass_through_unchanged(cases: dict[str, dict]) -> None:
    assert cases["t2v_with_wan21_vae"] == {"case": "t2v_with_wan21_vae", "ok": True, "passthrough": True}


def test_48_channel_model_with_the_wan21_vae_stops(cases: dict[str, dict]) -> None:
    found = cases["5b_with_wan21_vae"]
    assert not found["ok"] and found["code"] == "WRONG_VAE" and "wan2.2_vae.safetensors" in found["message"]


def test_clip_l_as_the_wan_text_encoder_stops(cases: dict[str, dict]) -> None:
    found = cases["clip_l_as_wan_text_encoder"]
    assert not found["ok"] and found["code"] == "WRONG_TEXT_ENCODER" and "clip_l" in found["message"]


@pytest.mark.parametrize("label, skipped", [("lora_i2v_on_t2v", 12), ("lora_diffusers_naming", 40), ("lora_fits", 0)])
def test_lora_key_prediction_matches_comfyuis_own_loader(cases: dict[str, dict], label: str, skipped: int) -> None:
    """The keys the pack predicts are skipped are exactly the ones ComfyUI's comfy.lora.load_lora logs
    as 'lora key not loaded' on the same loaded model (2 blocks: 4 k_img/v_img layers x 3 keys; the
    diffusers naming: both keys of each of the 20 pairs)."""
    found = cases[f"predict_{label}"]
    assert found["comfy_skipped"] == found["predicted_skipped"] == skipped and found["examples_in_comfy"]


def test_wan_check_models_stops_a_lora_that_loads_nothing(cases: dict[str, dict]) -> None:
    assert cases["node_lora_fits"]["ok"] and cases["node_lora_i2v_on_t2v"]["ok"]  # partly skipped: logged, not stopped
    found = cases["node_lora_diffusers_naming"]
    assert not found["ok"] and found["code"] == "WF_LORA_NOT_APPLIED" and "diffusers/PEFT naming" in found["message"]
