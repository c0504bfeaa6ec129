"""The pack inside a real ComfyUI server: node list, example workflows queued end to end.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout whose Python (COMFYUI_PYTHON, or
$COMFYUI_DIR/venv/bin/python) has this pack's requirements installed. It installs nothing. The
server runs on 127.0.0.1 with a private base directory holding only this pack, tiny models under
the official Wan-AI folder names, and its own input/output folders.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from comfyui_server import Server, ServerError, comfy_python, import_seconds, prepare_base, start, stop

ROOT = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
pytestmark = pytest.mark.comfyui

@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Server:
    if not COMFYUI_DIR:
        pytest.skip("COMFYUI_DIR is not set: point it at a ComfyUI checkout with its venv to run the real-server tests")
    root = Path(COMFYUI_DIR)
    python = comfy_python(root)
    if not (root / "main.py").is_file() or python is None:
        pytest.skip(f"COMFYUI_DIR={root} has no main.py or no Python (set COMFYUI_PYTHON)")
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
    return json.loads((ROOT / "workflows" / f"{name}.json").read_text())


def _prompt(server: Server, name: str, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from workflow_graph import to_api_prompt, validate

    info = _object_info(server)
    workflow = _workflow(name)
    assert validate(workflow, info) == []  # against the live server's lists (models, formats)
    return to_api_prompt(workflow, info, overrides)


def test_check_my_models_workflow(comfy_server: Server) -> None:
    entry, _ = comfy_server.run(_prompt(comfy_server, "wan_check_my_models"))
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    detect = next(v for v in outputs.values() if "wan_verdict" in v)
    assert detect["wan_verdict"][0]["badge"].startswith("Wan 2.1 T2V")
    report = next(v for v in outputs.values() if "wan_report" in v)["wan_report"][0]
    path = comfy_server.base / "output" / report.get("subfolder", "") / report["filename"]
    assert json.loads(path.read_text())["verdict"] in ("ok", "warning")


# --------------------------------------------------------------------------- the real frontend
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page(comfy_server: Server, tmp_path: Path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc.stack)))
        page.goto(comfy_server.url)
        page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph", timeout=120_000)
        page.wan_errors = errors  # type: ignore[attr-defined]
        for _ in range(10):  # a fresh user folder opens the templates dialog first: close it
            page.wait_for_timeout(500)
            if not page.locator(".p-dialog-mask").count():
                break
            page.keyboard.press("Escape")
        yield page
        page.screenshot(path=str(tmp_path / "last.png"))
        browser.close()


def test_browser_finds_the_nodes_loads_a_workflow_and_shows_the_badge(browser_page, comfy_server: Server, tmp_path: Path) -> None:
    page = browser_page
    # The extension is loaded by the frontend.
    assert page.evaluate("() => app.extensions.some(e => e.name === 'wan_compat.ui')")
    # Node search in the node library side bar.
    page.click(".node-library-tab-button")
    search = page.get_by_placeholder("Search Nodes...")
    search.fill("Wan Detect")
    page.wait_for_selector("text=Wan Detect Architecture", timeout=30_000)
    search.fill("Wan Diagnose")
    page.wait_for_selector("text=Wan Diagnose", timeout=30_000)
    page.click(".node-library-tab-button")
    # Load the shipped workflow and queue it through the frontend's own graphToPrompt.
    workflow = _workflow("wan_check_my_models")
    page.evaluate("wf => app.loadGraphData(wf)", workflow)
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function("() => app.graph.getNodeById(1)?.wan_badge", timeout=300_000)
    badge = page.evaluate("() => [app.graph.getNodeById(1).wan_badge, app.graph.getNodeById(1).wan_status]")
    assert badge[0].startswith("Wan 2.1 T2V") and badge[1] in ("ok", "warning")
    page.wait_for_function("() => app.graph.getNodeById(3)?.wan_report", timeout=300_000)
    assert page.evaluate("() => app.graph.getNodeById(3).widgets.some(w => w.name === 'open full report')")
    page.screenshot(path=str(tmp_path / "check_my_models.png"))
    if os.environ.get("WAN_COMPAT_SCREENSHOTS"):
        shutil.copy(tmp_path / "check_my_models.png", Path(os.environ["WAN_COMPAT_SCREENSHOTS"]) / "check_my_models.png")
    # The frontend itself may log errors of its own; none may come from our extension.
    assert not [e for e in page.wan_errors if "wan_compat" in e], page.wan_errors


# --------------------------------------------------------------------------- generation workflows
SMALL = {"width": 64, "height": 64, "num_frames": 5}
GENERATION = ["wan21_t2v_1.3B", "wan22_t2v_A14B", "wan22_ti2v_5B", "wan21_i2v_14B_480p", "wan22_i2v_A14B"]


@pytest.mark.parametrize("name", GENERATION)
def test_generation_workflow_makes_a_video(comfy_server: Server, name: str) -> None:
    """Each shipped workflow, queued as the frontend would with sizes shrunk for CPU, writes a
    playable MP4 with the frames asked for, and the diagnosis sees every stage."""
    import imageio_ffmpeg

    overrides = {"WanOptimize": dict(SMALL), "WanSample": {**SMALL, "steps": 2}}
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
    print(f"\n{name}: queue to video {seconds:.2f} s")
