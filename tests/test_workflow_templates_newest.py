"""The newest official Wan templates (comfyui-workflow-templates-json, the JSON package behind
comfyui-workflow-templates 0.11.x; the version is pinned in the `test` extra), checked with sparse
real-size files under the exact names they pick: every one passes, the mispairings that matter in
them are caught, and a node type the check has not classified fails a test, so the next release's
new nodes are noticed. The 0.1.95 generation stays in test_workflow_templates.py."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from wan_compat.compat.fixtures.template_files import write_template_file
from wan_compat.compat.workflow.conditioning import NODES as CONDITIONING
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.graph import parse
from wan_compat.compat.workflow.node_table import DECODERS, LOADERS, SAMPLERS, WRAPPER_ENCODERS, node_roles
from wan_compat.compat.workflow.report import check_workflow

templates_json = pytest.importorskip("comfyui_workflow_templates_json")  # in the `test` extra: CI installs it
ROOT = Path(templates_json.__file__).parent / "templates"
OLD = pytest.importorskip("comfyui_workflow_templates")


def _graph(path: Path):  # noqa: ANN202
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # index files, fuse options: not workflows
        return None


def _is_wan(graph) -> bool:  # noqa: ANN001
    """A Wan template: a Wan conditioning node, or a Wan diffusion model picked."""
    if any(n.type in CONDITIONING for n in graph.nodes.values()):
        return True
    return any(role == "model" and isinstance(n.widgets.get(w), str) and "wan" in n.widgets[w].lower()
               for n in graph.nodes.values() for w, _, role in LOADERS.get(n.type, []))


def _wan_templates(root: Path) -> dict[str, object]:
    found = {}
    for path in sorted(root.glob("*.json")):
        if path.name.startswith(("api_", "index")):
            continue
        graph = _graph(path)
        if graph is not None and _is_wan(graph):
            found[path.name] = graph
    return found


TEMPLATES = _wan_templates(ROOT)


def load(name: str) -> dict:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> ModelFolders:
    root = tmp_path_factory.mktemp("newest") / "models"
    for name, graph in TEMPLATES.items():
        for node in graph.nodes.values():
            for widget, folder, _ in LOADERS.get(node.type, []):
                pick = node.widgets.get(widget)
                if isinstance(pick, str) and pick != "none":
                    assert write_template_file(root, folder, pick) is not None, f"{name}: no fixture for {folder}/{pick}"
    found = ModelFolders()
    found.add_models_root(root)
    return found


def test_the_newest_generation_is_the_one_installed() -> None:
    from importlib.metadata import version

    assert version("comfyui-workflow-templates-json") == "0.1.123"
    assert len(TEMPLATES) >= 38, sorted(TEMPLATES)
    new = {"video_wan2_1_infinitetalk.json", "video_wanmove_480p.json", "video_wan21_scail2_character_replacement.json",
           "video_wan_animate2.json", "video_humo.json", "video_wan2.1_alpha_t2v_14B.json", "image_chrono_edit_14B.json",
           "video_causal_forcing_i2v.json"}
    assert new <= set(TEMPLATES)


def _classified() -> set[str]:
    return set(LOADERS) | set(SAMPLERS) | set(DECODERS) | set(WRAPPER_ENCODERS) | set(CONDITIONING) | set(node_roles())


@pytest.mark.parametrize("root", [ROOT, Path(OLD.get_templates_path())], ids=["newest", "0.1.95"])
def test_every_node_type_of_a_wan_template_is_classified(root: Path) -> None:
    """A node type the check has no role for fails here: a new template node is looked at before
    the check silently ignores it (add it to node_roles.json, node_table.py or conditioning.py)."""
    unknown = {f"{n.type} ({name})" for name, graph in _wan_templates(root).items() for n in graph.nodes.values()
               if n.type not in _classified() and n.type not in _subgraph_ids(root / name)}
    assert not unknown, sorted(unknown)


def _subgraph_ids(path: Path) -> set[str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {sg.get("id") for sg in (doc.get("definitions") or {}).get("subgraphs") or []}


def test_an_unclassified_node_type_is_reported_by_that_test() -> None:
    graph = copy.deepcopy(TEMPLATES["video_wan2_2_14B_t2v.json"])
    next(iter(graph.nodes.values())).type = "WanSomethingNew"
    assert any(n.type not in _classified() for n in graph.nodes.values())


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_newest_template_passes_with_the_right_files(name: str, folders: ModelFolders) -> None:
    result = check_workflow(load(name), folders)
    assert result["ok"], [p for p in result["problems"] if p["severity"] == "error"]
    noise = [p for p in result["problems"] if p["severity"] == "warning" and p["code"] != "WF_LORA_KEYS_SKIPPED"]
    assert noise == [], noise
    assert result["files"] and all(f["path"] for f in result["files"])


def test_humo_template_says_which_lora_keys_its_model_skips(folders: ModelFolders) -> None:
    """The official HuMo graph puts lightx2v's I2V LoRA on HuMo, a model without image
    cross-attention: ComfyUI logs 'lora key not loaded' for those keys; the check says so once."""
    found = [p for p in check_workflow(load("video_humo.json"), folders)["problems"] if p["code"] == "WF_LORA_KEYS_SKIPPED"]
    assert len(found) == 1 and "240 of 1440" in found[0]["detail"] and "image cross-attention" in found[0]["detail"]


def _inner(doc: dict, node_type: str) -> list[dict]:
    nodes = list(doc["nodes"])
    for sg in (doc.get("definitions") or {}).get("subgraphs") or []:
        nodes += sg["nodes"]
    return [n for n in nodes if n["type"] == node_type]


def _switch_on(doc: dict, value: bool) -> dict:
    doc = copy.deepcopy(doc)
    for node in _inner(doc, "PrimitiveBoolean"):
        node["widgets_values"][0] = value
    return doc


def test_the_switch_decides_which_lora_branch_is_checked(folders: ModelFolders, tmp_path: Path) -> None:
    """video_wan2_2_14B_t2v: ComfySwitchNodes driven by a PrimitiveBoolean pick the 4-step LoRA
    branch (on_true) or the plain one (on_false). A 1.3B LoRA on that branch is an error only when
    the switch takes it."""
    doc = copy.deepcopy(load("video_wan2_2_14B_t2v.json"))
    lora = "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors"
    write_template_file(Path(folders.folders["loras"][0]).parent, "loras", lora)
    for node in _inner(doc, "LoraLoaderModelOnly"):
        node["widgets_values"][0] = lora
    off = check_workflow(_switch_on(doc, False), folders)
    assert off["ok"] and not [p for p in off["problems"] if p["code"] == "WF_LORA_MODEL_MISMATCH"]
    assert {f["runs"] for f in off["files"] if f["input"] == "lora_name"} == {False}
    on = check_workflow(_switch_on(doc, True), folders)
    found = [p for p in on["problems"] if p["code"] == "WF_LORA_MODEL_MISMATCH"]
    assert not on["ok"] and len(found) == 2


def test_swapped_experts_inside_the_newest_subgraph(folders: ModelFolders) -> None:
    doc = copy.deepcopy(load("video_wan2_2_14B_i2v.json"))
    loaders = _inner(doc, "UNETLoader")
    names = [n["widgets_values"][0] for n in loaders]
    assert sorted(names) == ["wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"]
    for node, name in zip(loaders, reversed(names)):
        node["widgets_values"][0] = name
    found = [p for p in check_workflow(doc, folders)["problems"] if p["code"] == "WF_EXPERTS_SWAPPED"]
    assert len(found) == 1 and found[0]["severity"] == "error"


def test_s2v_template_without_its_audio_encoder_is_a_warning(folders: ModelFolders) -> None:
    doc = copy.deepcopy(load("video_wan2_2_14B_s2v.json"))
    for node in _inner(doc, "WanSoundImageToVideo") + _inner(doc, "WanSoundImageToVideoExtend"):
        for slot in node["inputs"]:
            if slot["name"] == "audio_encoder_output":
                slot["link"] = None
    result = check_workflow(doc, folders)
    found = [p for p in result["problems"] if p["code"] == "WF_CONDITIONING_INPUT_MISSING"]
    assert result["ok"] and found and all(p["severity"] == "warning" and "audio" in p["detail"] for p in found)


def test_fun_camera_v11_runs_and_a_36_channel_i2v_model_would_too(folders: ModelFolders) -> None:
    """Fun Camera v1.1 has 32 input channels: WanCameraImageToVideo's image goes in without its
    mask (model_base.WAN21.concat_cond). Its 1.3B file must be read as the camera model."""
    result = check_workflow(load("video_wan2.1_fun_camera_v1.1_1.3B.json"), folders)
    model = next(f for f in result["files"] if f["input"] == "unet_name")
    assert result["ok"] and model["kind"] == "transformer" and model["task"] == "camera"
