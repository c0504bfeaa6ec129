"""The pack inside a real ComfyUI server: node list, example workflows queued end to end.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout whose Python (COMFYUI_PYTHON, or
$COMFYUI_DIR/venv/bin/python) has this pack's requirements installed. It installs nothing. The
server runs on 127.0.0.1 with a private base directory holding only this pack, tiny models under
the official Wan-AI folder names and as single files under the Comfy-Org names the workflows pick,
and its own input/output folders.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from comfy_install import comfy_install

from comfyui_server import (Server, ServerError, comfy_python, import_seconds, prepare_base, real_size_picks, stand_in_config, start,
                            stop)
from workflow_specs import workflow_path

ROOT = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
pytestmark = pytest.mark.comfyui

@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Server:
    root, python = comfy_install()
    tiny_pipelines = request.getfixturevalue("tiny_pipelines")  # built only when the server will run
    base = prepare_base(tmp_path_factory.mktemp("comfy_base"), tiny_pipelines)
    try:
        server = start(root, base, python)
    except ServerError as err:
        pytest.fail(str(err))
    yield server
    stop(server)


def _object_info(server: Server) -> dict[str, Any]:
    return server.get("/object_info")


def test_every_node_is_listed(comfy_server: Server) -> None:
    from wan_compat import NODE_CLASS_MAPPINGS

    info = _object_info(comfy_server)
    missing = [name for name in NODE_CLASS_MAPPINGS if name not in info]
    assert not missing
    assert all(info[name]["category"].startswith("Wan Compat/") for name in NODE_CLASS_MAPPINGS)
    # ComfyUI prints "X seconds (IMPORT FAILED): <path>" for a pack that failed; this matches only a success.
    assert import_seconds(comfy_server) is not None, "ComfyUI printed no successful import for the pack"


def test_web_extension_is_served(comfy_server: Server) -> None:
    extensions = comfy_server.get("/extensions")
    ours = [e for e in extensions if e.endswith("/wan_compat.js")]
    assert ours, extensions
    with urllib.request.urlopen(comfy_server.url + ours[0], timeout=30) as response:
        assert b"registerExtension" in response.read()


def _workflow(name: str) -> dict[str, Any]:
    return json.loads(workflow_path(name).read_text())


def _prompt(server: Server, name: str, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from workflow_graph import to_api_prompt, validate

    info = _object_info(server)
    workflow = _workflow(name)
    assert validate(workflow, info) == []  # against the live server's lists (models, formats)
    return to_api_prompt(workflow, info, overrides)


def test_check_my_models_workflow(comfy_server: Server) -> None:
    """The check workflow's own picks (the Comfy-Org 1.3B set) checked on sparse real-size files of
    those names (the tiny stand-ins at the top level have no official size to detect); no weight is read."""
    from workflow_graph import to_api_prompt

    _prompt(comfy_server, "wan_check_my_models")  # the shipped picks are in the live lists
    workflow = real_size_picks(comfy_server.base, _workflow("wan_check_my_models"))
    assert workflow != _workflow("wan_check_my_models")
    entry, _ = comfy_server.run(to_api_prompt(workflow, _object_info(comfy_server)))
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    detect = next(v for v in outputs.values() if "wan_verdict" in v)
    assert detect["wan_verdict"][0]["badge"].startswith("Wan 2.1 T2V")
    report = next(v for v in outputs.values() if "wan_report" in v)["wan_report"][0]
    path = comfy_server.base / "output" / report.get("subfolder", "") / report["filename"]
    assert json.loads(path.read_text())["verdict"] in ("ok", "warning")


def test_safe_load_without_a_model_is_refused_before_the_run(comfy_server: Server) -> None:
    """ComfyUI tells Safe Load which inputs are linked (VALIDATE_INPUTS input_types): no model and no
    model_info, or model_info linked to the wrong type, is refused when queued, before Safe Load or
    anything after it runs (ComfyUI still runs the valid outputs: here Wan Detect Architecture)."""
    prompt = _prompt(comfy_server, "wan21_t2v_1.3B")
    load_id = next(key for key, node in prompt.items() if node["class_type"] == "WanSafeLoad")
    sample_id = next(key for key, node in prompt.items() if node["class_type"] == "WanSample")

    def refusal(inputs: dict[str, Any]) -> str:
        prompt[load_id]["inputs"] = inputs
        answer = comfy_server.post("/prompt", {"prompt": prompt, "client_id": "wan-compat-tests"})
        errors = answer.get("node_errors", {}).get(load_id, {}).get("errors", [])
        assert errors and all(e["type"] == "custom_validation_failed" for e in errors), answer
        return errors[0]["details"]

    inputs = {k: v for k, v in prompt[load_id]["inputs"].items() if k != "model_info"}
    assert "Connect model_info from Wan Detect Architecture" in refusal(inputs)
    assert "model_info wants WAN_MODEL_INFO but is linked to IMAGE" in refusal({**inputs, "model_info": [sample_id, 0]})


# --------------------------------------------------------------------------- generation workflows
SMALL = {"width": 64, "height": 64, "num_frames": 5}
# workflow -> the registry variant it is built for (its tiny stand-in's diffusers folder is Safe Load's config_path)
GENERATION = {"wan21_t2v_1.3B": "wan2.1-t2v-1.3b", "wan22_t2v_A14B": "wan2.2-t2v-a14b", "wan22_ti2v_5B": "wan2.2-ti2v-5b",
              "wan21_i2v_14B_480p": "wan2.1-i2v-14b-480p", "wan22_i2v_A14B": "wan2.2-i2v-a14b"}


def _stand_ins(server: Server, name: str) -> dict[str, dict[str, Any]]:
    """The workflow's own single-file picks, with the tiny model's configs named (the registry has
    the real releases' configs only): what a user of a custom-size model enters."""
    return {"WanSafeLoad": {"config_path": stand_in_config(server.base, GENERATION[name])}}


@pytest.mark.parametrize("name", GENERATION)
def test_generation_workflow_makes_a_video(comfy_server: Server, name: str) -> None:
    """Each shipped workflow, queued as the frontend would with sizes shrunk for CPU, loads the
    Comfy-Org single files it picks (tiny stand-ins under those names), writes a playable MP4 with
    the frames asked for, and the diagnosis sees every stage."""
    import imageio_ffmpeg

    overrides = {"WanSample": {**SMALL, "steps": 2}, **_stand_ins(comfy_server, name)}  # sizes are entered once, in Wan Sample
    entry, seconds = comfy_server.run(_prompt(comfy_server, name, overrides))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    outputs = entry["outputs"]
    videos = [item for out in outputs.values() for item in out.get("images", []) if item["filename"].endswith(".mp4")]
    assert len(videos) == 1
    path = comfy_server.base / "output" / videos[0].get("subfolder", "") / videos[0]["filename"]
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == SMALL["num_frames"]
    report = next(v for v in outputs.values() if "wan_report" in v)["wan_report"][0]
    doc = json.loads((comfy_server.base / "output" / report.get("subfolder", "") / report["filename"]).read_text())
    stages = json.dumps(doc)
    for stage in ("detect", "sample", "encode"):
        assert stage in stages
    # Each value once: Safe Load took the model and its verdict from Detect's model_info (not
    # detected again), and Encode trusted Sample's NaN/inf check instead of scanning the frames again.
    assert "re-used model_info" in stages, stages[:3000]
    load = next(n for n in _workflow(name)["nodes"] if n["type"] == "WanSafeLoad")
    for model in load["properties"]["models"]:  # every single file the workflow picks was loaded from its folder
        assert str(Path("models") / model["directory"] / model["name"]) in stages, model["name"]
    if any("_scaled" in m["name"] for m in load["properties"]["models"]):  # stand-ins stored in scaled fp8, as the real files
        assert "multiplied by their scale_weight" in stages  # the UMT5 stand-in, as the loader reports it
    assert '"finite_check": "upstream"' in stages
    print(f"\n{name}: queue to video {seconds:.2f} s")


def test_videos_per_prompt_give_one_file_each(comfy_server: Server) -> None:
    """The shipped T2V workflow with videos=2, wired as shipped (Sample -> Frame Process -> Encode):
    two MP4 files of num_frames each, not one file of both videos glued together."""
    import imageio_ffmpeg

    overrides = {"WanSample": {**SMALL, "steps": 2, "videos": 2}, "WanEncodeVideo": {"filename_prefix": "wan_two"},
                 **_stand_ins(comfy_server, "wan21_t2v_1.3B")}
    entry, _ = comfy_server.run(_prompt(comfy_server, "wan21_t2v_1.3B", overrides))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    videos = [item for out in entry["outputs"].values() for item in out.get("images", []) if item["filename"].startswith("wan_two")]
    assert len(videos) == 2, videos
    for video in videos:
        path = comfy_server.base / "output" / video.get("subfolder", "") / video["filename"]
        assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == SMALL["num_frames"]


RELEASED = "of pipeline weights with ComfyUI's unload"  # the pack's log line when ComfyUI's unload released its pipelines


def test_long_stages_move_comfyuis_progress_bar(comfy_server: Server) -> None:
    """Safe Load (the bytes of the single files it reads, tensor by tensor), VAE Fix, Sample (steps
    and decoded chunks) and Diagnose report progress through ComfyUI's own ProgressBar: the server
    sends each update to the client that queued the prompt, for the node that made it."""
    prompt = _prompt(comfy_server, "wan21_t2v_1.3B", {"WanSample": {**SMALL, "steps": 2}, **_stand_ins(comfy_server, "wan21_t2v_1.3B")})
    ids = {node["class_type"]: key for key, node in prompt.items()}
    # Earlier tests ran this graph: ComfyUI's "Unload models" releases the pack's pipeline, so Safe
    # Load runs (and reads) again instead of handing over its cached output.
    released = comfy_server.log.read_text().count(RELEASED)
    request = urllib.request.Request(comfy_server.url + "/free", data=b'{"unload_models": true}', headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30):
        pass
    for _ in range(600):  # the queue's worker handles /free between prompts
        if comfy_server.log.read_text().count(RELEASED) > released:
            break
        time.sleep(0.1)
    entry, messages = comfy_server.run_watching(prompt)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    progress: dict[str, list[tuple[int, int]]] = {}
    for message in messages:
        if message["type"] == "progress":
            progress.setdefault(str(message["data"]["node"]), []).append((message["data"]["value"], message["data"]["max"]))
    load = progress[ids["WanSafeLoad"]]
    assert len(load) > 10 and load[-1][0] == load[-1][1] and load == sorted(load)  # many tensors, ending full
    picked = [m for n in _workflow("wan21_t2v_1.3B")["nodes"] if n["type"] in ("WanDetectArchitecture", "WanSafeLoad")
              for m in n["properties"]["models"]]
    total = sum((comfy_server.base / "models" / m["directory"] / m["name"]).stat().st_size for m in picked)
    assert load[-1][1] == total  # bytes of the files it read (the model, the VAE, the text encoder)
    for node in ("WanVAEFix", "WanSample", "WanDiagnose"):
        updates = progress[ids[node]]
        assert updates and updates[-1][0] == updates[-1][1], (node, updates)
    assert [v for v, _ in progress[ids["WanSample"]]][:2] == [1, 2]  # one per step


# --------------------------------------------------------------------------- per-run optimize settings
RUN_A = {"precision": "bf16", "offload": "group"}  # Safe Load loads bf16: no cast, block-level offload to disk
RUN_B = {"precision": "fp32", "offload": "none"}   # a cast to fp32 and no offload


def _ab_prompt(server: Server, optimize: dict[str, Any]) -> dict[str, Any]:
    """The shipped T2V workflow, shrunk for CPU, writing lossless FFV1 video; Wan Diagnose reads
    Safe Load's own (cached) pipeline output after the run (it also waits for the sample stats)."""
    prompt = _prompt(server, "wan21_t2v_1.3B", {"WanOptimize": dict(optimize), "WanSample": {**SMALL, "steps": 2},
                                                  "WanEncodeVideo": {"format": "ffv1-mkv", "filename_prefix": "wan_ab"},
                                                  "WanDiagnose": {"level": "full"}, **_stand_ins(server, "wan21_t2v_1.3B")})
    load = next(key for key, node in prompt.items() if node["class_type"] == "WanSafeLoad")
    diagnose = next(node for node in prompt.values() if node["class_type"] == "WanDiagnose")
    diagnose["inputs"]["pipeline"] = [load, 0]
    return prompt


def _run_ab(server: Server, optimize: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(the video's frames as uint8 (frames, H, W, 3), the diagnosis) of one queued run."""
    import imageio_ffmpeg
    import numpy as np

    before = set((server.base / "output").rglob("wan_ab*.mkv"))
    entry, _ = server.run(_ab_prompt(server, optimize))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    outputs = entry["outputs"]
    written = set((server.base / "output").rglob("wan_ab*.mkv")) - before  # FFV1 has no browser preview entry
    assert len(written) == 1, written
    path = written.pop()
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    frames = np.stack([np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader])
    report = next(v for v in outputs.values() if "wan_report" in v)["wan_report"][0]
    doc = json.loads((server.base / "output" / report.get("subfolder", "") / report["filename"]).read_text())
    return frames, doc


def _modules(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["stages"]["load"]["data"]["modules"]


def test_optimize_settings_apply_to_one_run_only(comfy_server: Server, tmp_path_factory: pytest.TempPathFactory,
                                                 request: pytest.FixtureRequest) -> None:
    """One graph queued twice with other Optimize settings: the second run gives exactly what a
    fresh server gives for its settings, and Safe Load's cached pipeline has the same dtypes,
    devices and tensors, and no hooks, after both runs (read from Wan Diagnose's report)."""
    frames_a, doc_a = _run_ab(comfy_server, RUN_A)
    frames_b, doc_b = _run_ab(comfy_server, RUN_B)
    for doc, wanted in ((doc_a, RUN_A), (doc_b, RUN_B)):
        plan = doc["stages"]["plan"]["data"]
        assert (plan["precision"], plan["offload"]) == (wanted["precision"], wanted["offload"])
        assert plan["sizes"] == {"width": SMALL["width"], "height": SMALL["height"], "num_frames": SMALL["num_frames"], "videos": 1}
        assert doc["stages"]["plan_preview"]["data"]["preview"]  # Optimize's own plan is only a preview
    modules_a, modules_b = _modules(doc_a), _modules(doc_b)
    assert set(modules_a) == {"transformer", "text_encoder", "vae"}
    for name, state in modules_a.items():
        assert not state["hooked"] and not modules_b[name]["hooked"], (name, state["hooks"], modules_b[name]["hooks"])
        assert state["devices"] == modules_b[name]["devices"] == {"cpu": sum(state["dtypes"].values())}
        assert state["dtypes"] == modules_b[name]["dtypes"]
        assert state["tensors_digest"] == modules_b[name]["tensors_digest"], name  # the same tensors, never replaced
    assert "bfloat16" in modules_b["transformer"]["dtypes"]  # run B computed in fp32 on a copy; the cache stays bf16

    tiny_pipelines = request.getfixturevalue("tiny_pipelines")
    base = prepare_base(tmp_path_factory.mktemp("comfy_fresh"), tiny_pipelines)
    fresh = start(Path(COMFYUI_DIR), base, comfy_python(Path(COMFYUI_DIR)))
    try:
        frames_fresh, doc_fresh = _run_ab(fresh, RUN_B)
    finally:
        stop(fresh)
    assert frames_b.shape == frames_fresh.shape == (SMALL["num_frames"], SMALL["height"], SMALL["width"], 3)
    # FFV1 is lossless: these are the 8-bit frames Wan Encode Video was given, compared exactly.
    assert (frames_b == frames_fresh).all(), f"{int((frames_b != frames_fresh).sum())} values differ"
    assert not (frames_a == frames_b).all()  # bf16 and fp32 are different runs
    assert {n: (s["dtypes"], s["devices"]) for n, s in _modules(doc_fresh).items()} == {n: (s["dtypes"], s["devices"]) for n, s in modules_b.items()}
