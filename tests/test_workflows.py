"""The example workflows (UI format) against the node definitions, as CI can check them without ComfyUI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
sys.path.insert(0, str(ROOT / "tools"))
from workflow_specs import workflow_path  # noqa: E402


def _object_info() -> dict:
    sys.path.insert(0, str(ROOT / "tools"))
    import build_workflows

    return build_workflows.object_info()


def test_workflows_are_what_the_builder_writes() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "build_workflows.py"), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_is_valid(path: Path) -> None:
    from workflow_graph import validate

    assert validate(json.loads(path.read_text()), _object_info()) == []


COMFY_ORG = "https://huggingface.co/Comfy-Org/"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_model_choices_name_official_folders_or_listed_comfy_org_files(path: Path) -> None:
    """A model choice is an official Wan-AI diffusers folder, or a Comfy-Org single file that the
    node lists in `properties.models` (name, url, directory: the official templates' format), so
    the frontend can offer its download."""
    from wan_compat.compat.detect import registry
    from workflow_graph import widget_values

    official = {v["repo"].split("/")[-1] for v in registry.variants("transformer") if v.get("repo")}
    info = _object_info()
    for node in json.loads(path.read_text())["nodes"]:
        definition = info[node["type"]]
        values, _ = widget_values(node, definition)
        specs = {**definition["input"].get("required", {}), **definition["input"].get("optional", {})}
        listed = {(m["directory"], m["name"]): m["url"] for m in node.get("properties", {}).get("models", [])}
        for name, value in values.items():
            options = specs[name][1] if len(specs[name]) > 1 else {}
            if not options.get("wan_model_choice") or value == "none":
                continue
            assert "/" not in value, f"{node['type']}.{name}={value}: named as ComfyUI's loaders name files (no folder prefix)"
            if value in official:
                assert options["wan_model_choice"] == "model", f"{node['type']}.{name}={value}"
                continue
            # The frontends match a pick with its download by name: properties.models' `name` is the widget value.
            folder = next((f for f, m in listed if m == value), "")
            url = listed.get((folder, value), "")
            assert url.startswith(COMFY_ORG) and url.split("?")[0].endswith(f"/{folder}/{value}"), f"{node['type']}.{name}={value}"
        assert all(url.startswith(COMFY_ORG) for url in listed.values())


def test_a_shipped_workflow_samples_natively_on_comfy_org_files() -> None:
    native = {"KSampler", "KSamplerAdvanced", "WanImageToVideo", "Wan22ImageToVideoLatent", "EmptyHunyuanLatentVideo"}
    guards = {"WanSafeLoadNative", "WanCheckCompatibility", "WanEncodeVideo", "WanDiagnose"}
    found = []
    for path in WORKFLOWS:
        types = {node["type"] for node in json.loads(path.read_text())["nodes"]}
        if "KSampler" in types and types & native and guards <= types:
            found.append(path.stem)
    assert found


def test_validation_catches_broken_workflows() -> None:
    from workflow_graph import validate

    info = _object_info()
    workflow = json.loads(workflow_path("wan_check_my_models").read_text())
    broken = json.loads(json.dumps(workflow))
    broken["nodes"][0]["type"] = "NoSuchNode"
    assert any("unknown node type" in p for p in validate(broken, info))
    broken = json.loads(json.dumps(workflow))
    broken["nodes"][2]["widgets_values"][0] = "verbose"  # diagnose level is a combo
    assert any("level='verbose'" in p for p in validate(broken, info))
    broken = json.loads(json.dumps(workflow))
    broken["nodes"][1]["inputs"][0]["link"] = None  # Check needs model_info
    assert any("required input 'model_info' is not connected" in p for p in validate(broken, info))
    broken = json.loads(json.dumps(workflow))
    broken["links"][0][5] = "IMAGE"
    assert any("typed IMAGE" in p for p in validate(broken, info))
    broken = json.loads(json.dumps(workflow))
    broken["nodes"][2]["widgets_values"].append(1)
    assert any("widget values for" in p for p in validate(broken, info))


# --------------------------------------------------------------------------- each value entered once
@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_no_value_is_entered_twice(path: Path) -> None:
    """The model, sizes, frames, fps, seed, steps... are each entered on one node; every other node
    that needs them gets them through a link (or does not ask)."""
    from workflow_graph import entered_twice

    assert entered_twice(json.loads(path.read_text()), _object_info()) == []


def _node(workflow: dict, node_type: str) -> dict:
    return next(n for n in workflow["nodes"] if n["type"] == node_type)


def _unlink(workflow: dict, node_type: str, name: str) -> None:
    """What a user does when dragging a link off a widget input: the widget's own value counts again."""
    node = _node(workflow, node_type)
    item = next(i for i in node["inputs"] if i["name"] == name)
    workflow["links"] = [link for link in workflow["links"] if link[0] != item["link"]]
    node["inputs"].remove(item)


def test_the_duplicate_check_catches_each_kind_of_second_entry() -> None:
    from workflow_graph import entered_twice, validate, widget_values

    info = _object_info()
    shipped = json.loads(workflow_path("wan22_ti2v_5B").read_text())
    assert entered_twice(shipped, info) == []

    def with_value(node_type: str, name: str, value, workflow: dict | None = None) -> dict:
        workflow = json.loads(json.dumps(workflow or shipped))
        node = _node(workflow, node_type)
        names = list(widget_values(node, info[node_type])[0])
        position = 0
        for widget in names[:names.index(name)]:  # seeds carry a second (control) value
            position += 2 if widget in ("seed", "noise_seed") else 1
        node["widgets_values"][position] = value
        return workflow

    # The model picked a second time, by the same input name or by its path synonym.
    assert any("model is entered on 2 nodes" in p for p in entered_twice(with_value("WanSafeLoad", "model", "Wan2.2-TI2V-5B-Diffusers"), info))
    assert any("model is entered on 2 nodes" in p for p in entered_twice(with_value("WanSafeLoad", "model_path", "/models/x"), info))
    # A VAE picked for loading and again for the fix, by list on one node and by path on the other.
    vae_twice = with_value("WanVAEFix", "vae", "wan2.2_vae.safetensors", with_value("WanSafeLoad", "vae_path", "/models/vae.safetensors"))
    assert any("vae is entered on 2 nodes" in p for p in entered_twice(vae_twice, info))
    # The compute precision in Safe Load and again in Optimize.
    assert any("precision is entered on 2 nodes" in p for p in entered_twice(with_value("WanOptimize", "precision", "fp16"), info))
    # fps: a link dragged off Frame Process and Encode leaves both widgets entering it.
    unlinked = json.loads(json.dumps(shipped))
    _unlink(unlinked, "WanFrameProcess", "fps")
    _unlink(unlinked, "WanEncodeVideo", "fps")
    assert validate(unlinked, info) == []
    assert any(p.startswith("fps is entered on 2 nodes") for p in entered_twice(unlinked, info))
    # The builder refuses such a spec outright.
    import build_workflows
    from workflow_specs import SPECS

    spec = json.loads(json.dumps(next(s for s in SPECS if s["name"] == "wan22_ti2v_5B")))
    spec["nodes"][1][2]["model"] = "Wan2.2-TI2V-5B-Diffusers"
    with pytest.raises(SystemExit, match="model is entered on 2 nodes"):
        build_workflows.build(spec, info)


def test_linked_widgets_are_saved_and_converted_as_the_frontend_does() -> None:
    """fps travels Sample -> Frame Process -> Encode through widget inputs turned into sockets: the
    socket entry names its widget and comes after the other sockets (so its link's target slot is its
    index there), the widget keeps a value in widgets_values, and the API prompt sends the link."""
    from workflow_graph import to_api_prompt, validate

    info = _object_info()
    workflow = json.loads(workflow_path("wan21_t2v_1.3B").read_text())
    sample, frames, encode = (_node(workflow, t) for t in ("WanSample", "WanFrameProcess", "WanEncodeVideo"))
    links = {link[0]: link for link in workflow["links"]}
    for node, source in ((frames, sample), (encode, frames)):
        item = node["inputs"][-1]
        assert item["name"] == "fps" and item["widget"] == {"name": "fps"} and item["type"] == "FLOAT"
        link = links[item["link"]]
        assert link[1] == source["id"] and link[3] == node["id"] and link[4] == len(node["inputs"]) - 1 and link[5] == "FLOAT"
        assert source["outputs"][link[2]]["name"] == "fps"
    prompt = to_api_prompt(workflow, info)
    assert prompt[str(frames["id"])]["inputs"]["fps"] == [str(sample["id"]), 2]
    assert prompt[str(encode["id"])]["inputs"]["fps"] == [str(frames["id"]), 1]
    load = prompt[str(_node(workflow, "WanSafeLoad")["id"])]["inputs"]
    assert load["model"] == "none" and load["model_info"] == [str(_node(workflow, "WanDetectArchitecture")["id"]), 0]
    # A socket entry without its widget name, or a link whose target slot is off, is reported.
    broken = json.loads(json.dumps(workflow))
    del _node(broken, "WanEncodeVideo")["inputs"][-1]["widget"]
    assert any("its socket needs \"widget\"" in p for p in validate(broken, info))
    broken = json.loads(json.dumps(workflow))
    fps_link = _node(broken, "WanEncodeVideo")["inputs"][-1]["link"]
    next(link for link in broken["links"] if link[0] == fps_link)[4] = 0
    assert any(f"link {fps_link} ends at slot 0" in p for p in validate(broken, info))


# --------------------------------------------------------------------------- opened readable
VIEW_WIDTH = 1560  # a 1600 px window's canvas at 100 %, less the frontends' side bar


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_opens_readable_at_100_percent(path: Path) -> None:
    """Opened at 100 %, at most four columns that fit a 1600 px window, each a group titled with
    its stage; every node inside its column's group and clear of the others (title bars included)."""
    workflow = json.loads(path.read_text())
    assert workflow["extra"]["ds"] == {"scale": 1.0, "offset": [0, 0]}
    groups = workflow["groups"]
    assert 1 <= len(groups) <= 4 and all(g["title"][0].isdigit() for g in groups)
    boxes = [(n["pos"][0], n["pos"][1] - 30, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1]) for n in workflow["nodes"]]
    assert max(b[2] for b in boxes) <= VIEW_WIDTH and max(g["bounding"][0] + g["bounding"][2] for g in groups) <= VIEW_WIDTH
    for i, a in enumerate(boxes):
        assert any(g["bounding"][0] <= a[0] and a[2] <= g["bounding"][0] + g["bounding"][2]
                   and g["bounding"][1] <= a[1] and a[3] <= g["bounding"][1] + g["bounding"][3] for g in groups), workflow["nodes"][i]["type"]
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_template_cards_are_titled_for_users() -> None:
    """The frontends title a pack's template cards with the file names and sort them by name: the
    names are titles (words, not identifiers), A to Z puts the quick check first and the versions
    in order."""
    from workflow_specs import SPECS

    names = sorted(p.stem for p in WORKFLOWS)
    assert names == sorted(s["file"] for s in SPECS)  # no stale file left behind
    assert names[0] == "Check my Wan models" and all(" " in n and "_" not in n for n in names)
    assert [n.split(" ")[1] for n in names[1:]] == sorted(n.split(" ")[1] for n in names[1:])


def test_advanced_inputs_and_model_defaults_read_as_words() -> None:
    """No -1 sentinel in a shipped workflow; typed paths and rarely changed settings are advanced
    inputs (folded away by the frontends) and left empty."""
    info = _object_info()
    from workflow_graph import widget_values

    for path in WORKFLOWS:
        for node in json.loads(path.read_text())["nodes"]:
            definition = info[node["type"]]
            values, _ = widget_values(node, definition)
            specs = {**definition["input"].get("required", {}), **definition["input"].get("optional", {})}
            for name, value in values.items():
                options = specs[name][1] if len(specs[name]) > 1 else {}
                assert value != -1 or not node["type"].startswith("Wan") or name == "crf", f"{path.stem}: {node['type']}.{name}"
                if name.endswith("_path"):
                    assert options.get("advanced") and value == "", f"{node['type']}.{name}"
