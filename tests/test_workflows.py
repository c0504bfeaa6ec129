"""The example workflows (UI format) against the node definitions, as CI can check them without ComfyUI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


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


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_model_choices_name_official_diffusers_folders(path: Path) -> None:
    from wan_compat.compat.detect import registry
    from workflow_graph import widget_values

    official = {v["repo"].split("/")[-1] for v in registry.variants("transformer") if v.get("repo")}
    info = _object_info()
    for node in json.loads(path.read_text())["nodes"]:
        definition = info[node["type"]]
        values, _ = widget_values(node, definition)
        specs = {**definition["input"].get("required", {}), **definition["input"].get("optional", {})}
        for name, value in values.items():
            options = specs[name][1] if len(specs[name]) > 1 else {}
            if options.get("wan_model_choice") == "model" and value != "none":
                folder, _, model = value.partition("/")
                assert folder == "diffusers" and model in official, f"{node['type']}.{name}={value}"


def test_validation_catches_broken_workflows() -> None:
    from workflow_graph import validate

    info = _object_info()
    workflow = json.loads((ROOT / "workflows" / "wan_check_my_models.json").read_text())
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
