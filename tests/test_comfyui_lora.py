"""Wan LoRA inside a real ComfyUI server: the shipped T2V workflow with a LoRA node between Safe Load
and the next stage makes a video; a LoRA made for another size is refused with the reason.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout with its venv (as tests/test_comfyui_server.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from comfy_install import comfy_install

from comfyui_server import Server, ServerError, prepare_base, stand_in_config, start, stop
from workflow_specs import workflow_path

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.comfyui
SMALL = {"width": 64, "height": 64, "num_frames": 5, "steps": 2}


def _write_loras(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    fits = {}
    for i in range(2):
        for layer in ("self_attn.q", "self_attn.v", "cross_attn.k", "ffn.0"):
            out_dim = 32 if layer == "ffn.0" else 24
            fits[f"diffusion_model.blocks.{i}.{layer}.lora_down.weight"] = torch.randn(4, 24, generator=g) * 0.3
            fits[f"diffusion_model.blocks.{i}.{layer}.lora_up.weight"] = torch.randn(out_dim, 4, generator=g) * 0.3
            fits[f"diffusion_model.blocks.{i}.{layer}.alpha"] = torch.tensor(4.0)
    save_file(fits, str(folder / "tiny_t2v_lora.safetensors"))
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(4, 5120),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(5120, 4)}, str(folder / "wan14b_lora.safetensors"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Server:
    root, python = comfy_install()
    base = prepare_base(tmp_path_factory.mktemp("comfy_lora_base"), request.getfixturevalue("tiny_pipelines"))
    _write_loras(base / "models" / "loras")
    try:
        started = start(root, base, python)
    except ServerError as err:
        pytest.fail(str(err))
    yield started
    stop(started)


def _with_lora(server: Server, lora: str) -> dict[str, Any]:
    """The shipped T2V workflow (API form) with Wan LoRA on Safe Load's pipeline, feeding every stage
    that took that pipeline."""
    from workflow_graph import to_api_prompt, validate

    info = server.get("/object_info")
    assert "WanLoRA" in info and lora in info["WanLoRA"]["input"]["optional"]["lora_1"][0]
    workflow = json.loads(workflow_path("wan21_t2v_1.3B").read_text())
    assert validate(workflow, info) == []
    # the workflow's Comfy-Org single files are tiny stand-ins: their configs come from the tiny folder
    prompt = to_api_prompt(workflow, info, {"WanSample": SMALL, "WanSafeLoad": {"config_path": stand_in_config(server.base, "wan2.1-t2v-1.3b")}})
    load = next(key for key, node in prompt.items() if node["class_type"] == "WanSafeLoad")
    for node in prompt.values():
        for name, value in node["inputs"].items():
            if value == [load, 0] and node["class_type"] != "WanDiagnose":
                node["inputs"][name] = ["lora", 0]
    prompt["lora"] = {"class_type": "WanLoRA", "inputs": {"pipeline": [load, 0], "lora_1": lora, "lora_1_path": "",
                                                        "strength_1": 0.8, "target_1": "transformer"}}
    return prompt


def test_lora_node_in_the_t2v_workflow_makes_a_video(server: Server) -> None:
    entry, _ = server.run(_with_lora(server, "tiny_t2v_lora.safetensors"))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    videos = [item for out in entry["outputs"].values() for item in out.get("images", []) if item["filename"].endswith(".mp4")]
    assert len(videos) == 1


def test_lora_for_another_size_is_refused_with_the_reason(server: Server) -> None:
    entry, _ = server.run(_with_lora(server, "wan14b_lora.safetensors"))
    assert entry["status"]["status_str"] == "error"
    text = json.dumps(entry["status"]["messages"])
    assert "LORA_NOT_APPLICABLE" in text and "5120" in text
