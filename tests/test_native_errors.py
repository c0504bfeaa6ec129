"""Raw errors of native nodes, reproduced with ComfyUI's own modules (its Wan model and both Wan
VAE classes, small widths, CPU) in ComfyUI's Python, then translated: each becomes the catalogue
error with its fix, and with the graph at hand the explanation names the graph's own files."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from comfyui_server import comfy_python
from wan_compat.compat.core.translate import translate
from wan_compat.compat.fixtures.template_files import write_template_file
from wan_compat.compat.workflow.explain import NativeError, explain
from wan_compat.compat.workflow.folders import ModelFolders

ROOT = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
pytestmark = pytest.mark.comfyui


@pytest.fixture(scope="module")
def messages() -> dict[str, dict]:
    if not COMFYUI_DIR:
        pytest.skip("COMFYUI_DIR is not set: point it at a ComfyUI checkout with its venv")
    python = comfy_python(Path(COMFYUI_DIR))
    if python is None:
        pytest.skip(f"COMFYUI_DIR={COMFYUI_DIR} has no Python (set COMFYUI_PYTHON)")
    run = subprocess.run([python, str(ROOT / "tests" / "comfy_scripts" / "native_errors.py"), COMFYUI_DIR],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = {d["case"]: d for d in (json.loads(line) for line in run.stdout.splitlines() if line.startswith("{"))}
    assert all(d["type"] for d in found.values()), found  # every case raised
    return found


@pytest.mark.parametrize("case, code, context", [
    ("vae22_decodes_16ch", "LATENT_CHANNEL_MISMATCH", {"expected": "48", "found": "16"}),
    ("vae21_decodes_48ch", "LATENT_CHANNEL_MISMATCH", {"expected": "16", "found": "48"}),
    ("i2v_model_16ch_input", "LATENT_CHANNEL_MISMATCH", {"expected": "36", "found": "16"}),
    ("clip_l_context", "WRONG_TEXT_ENCODER", {"found": "768-wide"}),
    ("cpu_oom", "RAM_OUT_OF_MEMORY", {}),
])
def test_each_raw_message_is_translated(messages: dict[str, dict], case: str, code: str, context: dict) -> None:
    error = translate(NativeError(messages[case]["message"]))
    assert error is not None and error.code == code
    assert {k: error.problem.context.get(k) for k in context} == context
    assert error.problem.fix


def test_oom_in_vae_decode_says_decode(messages: dict[str, dict]) -> None:
    found = explain(messages["cpu_oom"]["message"], "RuntimeError", "VAEDecode")
    assert found is not None and found["code"] == "VAE_DECODE_OUT_OF_MEMORY"


def test_explanation_names_the_graphs_files(messages: dict[str, dict], tmp_path: Path) -> None:
    import comfyui_workflow_templates

    doc = json.loads((Path(comfyui_workflow_templates.get_templates_path()) / "video_wan2_2_5B_ti2v.json").read_text())
    next(n for n in doc["nodes"] if n["id"] == 39)["widgets_values"][0] = "wan_2.1_vae.safetensors"
    for folder, name in [("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"), ("vae", "wan_2.1_vae.safetensors"),
                         ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]:
        write_template_file(tmp_path / "models", folder, name)
    folders = ModelFolders()
    folders.add_models_root(tmp_path / "models")
    found = explain(messages["vae21_decodes_48ch"]["message"], "RuntimeError", "VAEDecode", doc, folders)
    assert found["code"] == "LATENT_CHANNEL_MISMATCH"
    related = found["related"]
    assert related and related[0]["code"] == "WF_VAE_LATENT_MISMATCH" and "wan_2.1_vae.safetensors" in related[0]["summary"]
    assert "wan2.2_vae.safetensors" in related[0]["fix"] and "39" in related[0]["node_ids"]
    found_te = explain(messages["clip_l_context"]["message"], "RuntimeError", "KSampler", doc, folders)
    assert found_te["code"] == "WRONG_TEXT_ENCODER" and found_te["related"] == []  # this graph's encoder is right


def test_other_shape_errors_are_left_alone() -> None:
    assert translate(NativeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)")) is None
    assert translate(NativeError("mat1 and mat2 shapes cannot be multiplied (77x4096 and 4096x128)")) is None
