"""Every official Wan template of comfyui-workflow-templates, checked with sparse real-size files
under the exact names it picks: all pass with the right files, and each mispairing of issue 11
is caught with the right node named (through the library and through `wan-compat check-workflow`)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.fixtures.sparse import write_sparse
from wan_compat.compat.fixtures.template_files import other_text_encoder_entries, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.graph import parse
from wan_compat.compat.workflow.node_table import LOADERS
from wan_compat.compat.workflow.report import check_workflow

templates_pkg = pytest.importorskip("comfyui_workflow_templates")  # in the `test` extra: CI installs it
ROOT = Path(templates_pkg.get_templates_path())
# Local Wan templates (api_wan_* call a cloud API and pick no files).
TEMPLATES = sorted(p.name for p in ROOT.glob("*.json") if "wan" in p.name.lower() and not p.name.startswith("api_"))


def load(name: str) -> dict:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sparse models/ tree with every file any Wan template picks (built once per session)."""
    root = tmp_path_factory.mktemp("templates") / "models"
    for name in TEMPLATES:
        graph = parse(load(name))
        for node in graph.nodes.values():
            for widget, folder, _ in LOADERS.get(node.type, []):
                pick = node.widgets.get(widget)
                if isinstance(pick, str):
                    assert write_template_file(root, folder, pick) is not None, f"{name}: no fixture for {folder}/{pick}"
    write_sparse(root / "text_encoders" / "clip_l.safetensors", other_text_encoder_entries("clip_l"))
    write_sparse(root / "text_encoders" / "t5xxl_fp16.safetensors", other_text_encoder_entries("t5xxl"))
    return root


@pytest.fixture(scope="session")
def folders(models: Path) -> ModelFolders:
    found = ModelFolders()
    found.add_models_root(models)
    return found


def test_there_are_many_wan_templates() -> None:
    assert len(TEMPLATES) >= 25, TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_official_template_passes_with_the_right_files(name: str, folders: ModelFolders) -> None:
    result = check_workflow(load(name), folders)
    errors = [p for p in result["problems"] if p["severity"] != "info"]
    assert errors == [], errors
    assert result["ok"]
    assert result["files"] and all(f["path"] for f in result["files"])
    models = [f for f in result["files"] if f["input"] in ("unet_name",)]
    assert models and all(f["family"] == "wan" and f["kind"] == "transformer" for f in models), models


def _set_widget(doc: dict, node_id: int, index: int, value: object) -> dict:
    doc = copy.deepcopy(doc)
    node = next(n for n in doc["nodes"] if n["id"] == node_id)
    node["widgets_values"][index] = value
    return doc


def _errors(result: dict, code: str) -> list[dict]:
    return [p for p in result["problems"] if p["code"] == code and p["severity"] == "error"]


def test_5b_with_the_wan21_vae(folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan2_2_5B_ti2v.json"), 39, 0, "wan_2.1_vae.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_VAE_LATENT_MISMATCH")
    assert found and all("39" in p["node_ids"] and "37" in p["node_ids"] for p in found)
    assert "wan2.2_vae.safetensors" in found[0]["fix"]


def test_14b_with_the_wan22_vae(folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan2_2_14B_t2v.json"), 73, 0, "wan2.2_vae.safetensors")
    result = check_workflow(doc, folders)
    found = _errors(result, "WF_VAE_LATENT_MISMATCH")
    assert found and all("73" in p["node_ids"] for p in found)
    assert {"75", "76"} <= {i for p in found for i in p["node_ids"]}  # both experts decode through it
    assert not result["ok"]


def _found(result: dict, code: str, severity: str) -> list[dict]:
    return [p for p in result["problems"] if p["code"] == code and p["severity"] == severity]


def test_t2v_model_in_an_i2v_template_runs_without_the_image(folders: ModelFolders) -> None:
    """ComfyUI runs it (model_base.WAN21.concat_cond: a 16-channel model takes no concat image),
    so it is a warning that says the image is dropped, not an error."""
    doc = _set_widget(load("image_to_video_wan.json"), 37, 0, "wan2.1_t2v_14B_fp8_scaled.safetensors")
    result = check_workflow(doc, folders)
    found = _found(result, "WF_CONDITIONING_DROPPED", "warning")
    assert len(found) == 1 and found[0]["node_ids"][0] == "37" and "50" in found[0]["node_ids"]  # 50: WanImageToVideo
    assert "drops the 16-channel image" in found[0]["detail"]
    assert not _errors(result, "WF_MODEL_TASK_MISMATCH")


def test_t2v_experts_in_the_22_i2v_template(folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan2_2_14B_i2v.json"), 95, 0, "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors")
    found = _found(check_workflow(doc, folders), "WF_CONDITIONING_DROPPED", "warning")
    assert [p["node_ids"][0] for p in found] == ["95"]


def test_5b_model_in_a_14b_i2v_template_fails(folders: ModelFolders) -> None:
    """WanImageToVideo makes a 16-channel latent; TI2V 5B works in 48: a certain failure."""
    doc = _set_widget(load("image_to_video_wan.json"), 37, 0, "wan2.2_ti2v_5B_fp16.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_MODEL_TASK_MISMATCH")
    assert len(found) == 1 and "16-channel latent" in found[0]["detail"] and "48" in found[0]["detail"]


def test_wan21_i2v_without_clip_vision(folders: ModelFolders) -> None:
    doc = copy.deepcopy(load("image_to_video_wan.json"))
    cond = next(n for n in doc["nodes"] if n["type"] == "WanImageToVideo")
    for slot in cond["inputs"]:
        if slot["name"] == "clip_vision_output":
            slot["link"] = None
    result = check_workflow(doc, folders)
    found = _found(result, "WF_CLIP_VISION_MISSING", "warning")
    assert len(found) == 1 and found[0]["node_ids"] == [str(cond["id"]), "37"] and result["ok"]


@pytest.mark.parametrize("encoder, what", [("clip_l.safetensors", "clip_text"), ("t5xxl_fp16.safetensors", "t5")])
def test_other_text_encoders_are_refused(encoder: str, what: str, folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan2_2_5B_ti2v.json"), 38, 0, encoder)
    found = _errors(check_workflow(doc, folders), "WF_TEXT_ENCODER_NOT_UMT5")
    assert len(found) == 1 and found[0]["node_ids"] == ["38"] and what in found[0]["summary"]


def test_high_and_low_noise_experts_swapped(folders: ModelFolders) -> None:
    doc = load("video_wan2_2_14B_t2v.json")
    doc = _set_widget(doc, 75, 0, "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors")
    doc = _set_widget(doc, 76, 0, "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_EXPERTS_SWAPPED")
    assert len(found) == 1 and {"75", "76", "81", "78"} == set(found[0]["node_ids"])


def test_same_expert_in_both_samplers(folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan2_2_14B_t2v.json"), 76, 0, "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_EXPERT_SAME_FILE")
    assert len(found) == 1 and {"75", "76"} <= set(found[0]["node_ids"])


def test_13b_lora_on_a_14b_model(folders: ModelFolders) -> None:
    doc = _set_widget(load("video_wan_vace_14B_t2v.json"), 107, 0, "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_LORA_MODEL_MISMATCH")
    assert len(found) == 1 and found[0]["node_ids"] == ["107", "106"]
    assert "1.3B" in found[0]["summary"] and "14B" in found[0]["summary"]


def test_lora_picked_as_the_diffusion_model(folders: ModelFolders) -> None:
    doc = _set_widget(load("text_to_video_wan.json"), 37, 0, "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors")
    # a LoRA in models/diffusion_models: the user moved it there
    path = folders.resolve("loras", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors")
    target = Path(folders.folders["diffusion_models"][0]) / "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"
    if not target.exists():
        target.symlink_to(path)
    result = check_workflow(doc, folders)
    found = _errors(result, "WF_LORA_AS_MODEL")
    assert len(found) == 1 and found[0]["node_ids"] == ["37"]
    pick = next(f for f in result["files"] if f["node_id"] == "37")
    assert pick["kind"] == "lora" and pick["family"] == "wan" and pick["size"] == "14B"


def test_missing_file_names_folder_and_url(models: Path, tmp_path: Path) -> None:
    partial = ModelFolders()
    partial.add_models_root(models)
    partial.folders["vae"] = [str(tmp_path)]  # an empty vae folder
    found = _errors(check_workflow(load("video_wan2_2_5B_ti2v.json"), partial), "WF_FILE_MISSING")
    assert len(found) == 1 and found[0]["node_ids"] == ["39"]
    assert found[0]["summary"] == "Model not found: wan2.2_vae.safetensors (Wan 2.2 VAE, a file)"
    # The workflow's own link, once, and the folder as ComfyUI users name it (relative)
    url = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files/vae/wan2.2_vae.safetensors"
    assert found[0]["fix"].startswith("Put it in models/vae. Download: " + url + ".") and found[0]["fix"].count("https://") == 1


def test_mispairing_inside_a_subgraph_names_the_inner_node(folders: ModelFolders) -> None:
    doc = copy.deepcopy(load("video_wan2_2_14B_animate.json"))
    graph = parse(doc)
    vae_ids = [nid for nid, n in graph.nodes.items() if n.type == "VAELoader" and n.active]
    assert vae_ids
    for sg in doc.get("definitions", {}).get("subgraphs", []):
        for node in sg["nodes"]:
            if node["type"] == "VAELoader":
                node["widgets_values"][0] = "wan2.2_vae.safetensors"
    for node in doc["nodes"]:
        if node["type"] == "VAELoader":
            node["widgets_values"][0] = "wan2.2_vae.safetensors"
    found = _errors(check_workflow(doc, folders), "WF_VAE_LATENT_MISMATCH")
    assert found and set(vae_ids) & {i for p in found for i in p["node_ids"]}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_compat", "check-workflow", *args], capture_output=True, text=True)


def test_cli_exit_codes_and_json(models: Path, tmp_path: Path) -> None:
    good = _cli(str(ROOT / "video_wan2_2_14B_t2v.json"), "--models", str(models), "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True
    bad_doc = _set_widget(load("video_wan2_2_5B_ti2v.json"), 39, 0, "wan_2.1_vae.safetensors")
    (tmp_path / "bad.json").write_text(json.dumps(bad_doc))
    bad = _cli(str(tmp_path / "bad.json"), "--models", str(models), "--json")
    assert bad.returncode == 1
    problem = next(p for p in json.loads(bad.stdout)["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH")
    assert "39" in problem["node_ids"]
    text = _cli(str(tmp_path / "bad.json"), "--models", str(models))
    assert text.returncode == 1 and "WF_VAE_LATENT_MISMATCH" in text.stdout and "fix:" in text.stdout


def test_non_wan_model_in_a_wan_template(models: Path, folders: ModelFolders) -> None:
    flux = {f"model.diffusion_model.double_blocks.{i}.img_attn.qkv.weight": ("BF16", (9216, 3072)) for i in range(19)}
    flux["model.diffusion_model.img_in.weight"] = ("BF16", (3072, 64))
    write_sparse(models / "diffusion_models" / "flux1-dev.safetensors", flux)
    doc = _set_widget(load("video_wan2_2_5B_ti2v.json"), 37, 0, "flux1-dev.safetensors")
    found = _errors(check_workflow(doc, folders), "WF_NOT_WAN_MODEL")
    assert len(found) == 1 and found[0]["node_ids"] == ["37"] and "flux" in found[0]["summary"]


def test_umt5_with_another_clip_type_is_an_error(folders: ModelFolders) -> None:
    """comfy/sd.py builds UMT5 only for type wan; another type builds T5-XXL or CLIP, which the
    UMT5 weights do not fit (loading fails)."""
    doc = _set_widget(load("video_wan2_2_5B_ti2v.json"), 38, 1, "sd3")
    result = check_workflow(doc, folders)
    found = _errors(result, "WF_CLIP_TYPE_NOT_WAN")
    assert not result["ok"] and len(found) == 1 and found[0]["node_ids"] == ["38"] and "'sd3'" in found[0]["detail"]


def test_missing_file_without_a_workflow_url_gets_the_registry_source(folders: ModelFolders, tmp_path: Path) -> None:
    """A workflow that carries no properties.models (most hand-made graphs): the fix names the
    official repository the pack's registry knows for that name, the same source the node pickers name."""
    doc = copy.deepcopy(load("video_wan2_2_5B_ti2v.json"))
    for node in doc["nodes"]:
        node.get("properties", {}).pop("models", None)
    doc.pop("models", None)
    partial = ModelFolders()
    partial.add_models_root(tmp_path)  # nothing installed
    found = [p for p in _errors(check_workflow(doc, partial), "WF_FILE_MISSING") if "wan2.2_vae.safetensors" in p["summary"]]
    assert len(found) == 1 and "Download: https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files/vae/wan2.2_vae.safetensors." in found[0]["fix"], found
