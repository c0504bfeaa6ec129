"""Symlinked models in a real ComfyUI (issue 15) and the path policy seen from a client (issue 14).

The shipped workflows run with every model file they pick (the Comfy-Org single files) linked into
its model folder one by one, and every diffusers folder linked into `models/diffusers` (the models
living on "another disk"), as ComfyUI lists and follows them; a link inside a model folder
that leads out stays refused; a prompt naming a file outside the model folders gets the same answer
whether that file exists or not, and none of its bytes. One server for the module.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from comfy_install import comfy_install

from comfyui_server import PACK_ROOT, STAND_INS, Server, ServerError, place_single_files, stand_in_config, start, stop
from workflow_specs import workflow_path

pytestmark = pytest.mark.comfyui
SMALL = {"width": 64, "height": 64, "num_frames": 5}
# workflow -> its registry variant (the tiny stand-in's diffusers folder is Safe Load's config_path)
GENERATION = {"wan21_t2v_1.3B": "wan2.1-t2v-1.3b", "wan22_t2v_A14B": "wan2.2-t2v-a14b", "wan22_ti2v_5B": "wan2.2-ti2v-5b",
              "wan21_i2v_14B_480p": "wan2.1-i2v-14b-480p", "wan22_i2v_A14B": "wan2.2-i2v-a14b"}


@pytest.fixture(scope="module")
def linked_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Server:
    root, python = comfy_install()
    tiny = request.getfixturevalue("tiny_pipelines")
    base = tmp_path_factory.mktemp("comfy_linked")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(PACK_ROOT, target_is_directory=True)
    (base / "models" / "diffusers").mkdir(parents=True)
    for official, stand_in in STAND_INS.items():  # each model folder a link to where the model really is
        (base / "models" / "diffusers" / official).symlink_to(tiny[stand_in], target_is_directory=True)
    # The single files the workflows pick, written on the "other disk" and linked in one by one.
    elsewhere = place_single_files(tmp_path_factory.mktemp("other_disk"), tiny)
    for file in sorted(p for p in (elsewhere / "models").rglob("*.safetensors")):
        link = base / "models" / file.relative_to(elsewhere / "models")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(file)
    # A "download" whose transformer/ is a link leading out of the model folders.
    secret = tmp_path_factory.mktemp("outside")
    (secret / "secret.txt").write_text("TOP-SECRET-BYTES\n")
    leaky = base / "models" / "diffusers" / "Leaky-Download"
    leaky.mkdir()
    (leaky / "model_index.json").write_text((tiny["wan2.1-t2v"] / "model_index.json").read_text())
    (leaky / "transformer").symlink_to(secret, target_is_directory=True)
    (base / "input").mkdir()
    from PIL import Image

    Image.linear_gradient("L").convert("RGB").resize((64, 64)).save(base / "input" / "example.png")
    try:
        server = start(root, base, python)
    except ServerError as err:
        pytest.fail(str(err))
    server.secret = secret  # type: ignore[attr-defined]
    yield server
    stop(server)


def _prompt(server: Server, name: str, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from workflow_graph import to_api_prompt, validate

    info = server.get("/object_info")
    workflow = json.loads(workflow_path(name).read_text())
    assert validate(workflow, info) == []  # the linked folders are in the live lists
    return to_api_prompt(workflow, info, overrides)


@pytest.mark.parametrize("name", ["wan_check_my_models", *GENERATION])
def test_shipped_workflows_run_with_linked_model_folders(linked_server: Server, name: str) -> None:
    overrides = {} if name == "wan_check_my_models" else {
        "WanSample": {**SMALL, "steps": 2}, "WanSafeLoad": {"config_path": stand_in_config(linked_server.base, GENERATION[name])}}
    entry, _ = linked_server.run(_prompt(linked_server, name, overrides))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]


def _detect(server: Server, **inputs: str) -> str:
    """Wan Detect Architecture run on a typed path: the error the client gets back (its picker alone
    is validated at queue time, the path when the node runs)."""
    entry, _ = server.run({"1": {"class_type": "WanDetectArchitecture", "inputs": {"model": "none", **inputs}}})
    assert entry["status"]["status_str"] == "error"
    return json.dumps([m for m in entry["status"]["messages"] if m[0] == "execution_error"])


def test_a_link_leading_out_of_a_model_folder_stays_refused(linked_server: Server) -> None:
    prompt = {
        "1": {"class_type": "WanSafeLoad", "inputs": {"model": "diffusers/Leaky-Download", "dtype": "fp32"}},
    }
    entry, _ = linked_server.run(prompt)
    text = json.dumps(entry["status"])
    assert entry["status"]["status_str"] == "error" and "PATH_OUTSIDE_ROOTS" in text, text[:3000]
    assert "TOP-SECRET" not in text and str(linked_server.secret) not in text  # type: ignore[attr-defined]


def test_paths_outside_the_model_folders_reveal_nothing(linked_server: Server) -> None:
    secret = linked_server.secret  # type: ignore[attr-defined]
    answers = []
    for path in (secret / "secret.txt", secret / "no-such-file.txt", linked_server.base / "models" / "diffusers" / "Leaky-Download" / "transformer" / "secret.txt"):
        answer = _detect(linked_server, model_path=str(path))
        assert "PATH_OUTSIDE_ROOTS" in answer and "TOP-SECRET" not in answer
        doc = json.loads(answer)[0][1]
        answers.append((doc["exception_type"], doc["exception_message"].replace(str(path), "<path>")))
    assert answers[0] == answers[1] == answers[2]
