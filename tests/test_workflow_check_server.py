"""The queue check inside a real ComfyUI server and a real browser.

The server's models/ holds sparse real-size files under the names the official 5B TI2V template
picks (plus the Wan 2.1 VAE). Nothing heavy executes: the route reads headers only, and the prompt
posted straight to /prompt has no output node, so ComfyUI refuses it after the on-prompt handler
has run (a trivial prompt shows queueing still works with the handler installed).
Skipped unless COMFYUI_DIR is set (CI sets it and installs chromium + playwright).
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from comfyui_server import PACK_ROOT, Server, ServerError, comfy_python, start, stop
from wan_compat.compat.fixtures.template_files import write_template_file

COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
pytestmark = pytest.mark.comfyui
templates_pkg = pytest.importorskip("comfyui_workflow_templates")
TEMPLATE = Path(templates_pkg.get_templates_path()) / "video_wan2_2_5B_ti2v.json"
FILES = [("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"), ("vae", "wan2.2_vae.safetensors"),
         ("vae", "wan_2.1_vae.safetensors"), ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]
ROUTE = "/wan_compat/check_workflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    if not COMFYUI_DIR:
        pytest.skip("COMFYUI_DIR is not set: point it at a ComfyUI checkout with its venv to run the real-server tests")
    python = comfy_python(Path(COMFYUI_DIR))
    if python is None:
        pytest.skip(f"COMFYUI_DIR={COMFYUI_DIR} has no Python (set COMFYUI_PYTHON)")
    base = tmp_path_factory.mktemp("check_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(PACK_ROOT, target_is_directory=True)
    for folder, name in FILES:
        write_template_file(base / "models", folder, name)
    outside = base / "outside_model"  # a diffusers folder outside every model folder
    outside.mkdir()
    (outside / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    try:
        found = start(Path(COMFYUI_DIR), base, python)
    except ServerError as err:
        pytest.fail(str(err))
    yield found
    stop(found)


def template(vae: str | None = None) -> dict:
    doc = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    if vae:
        doc = copy.deepcopy(doc)
        next(n for n in doc["nodes"] if n["id"] == 39)["widgets_values"][0] = vae
    return doc


def test_route_passes_the_template_and_names_the_wrong_vae(server: Server) -> None:
    good = server.post(ROUTE, {"workflow": template()})
    assert good["ok"] is True and len(good["files"]) == 3 and all(f["path"] for f in good["files"])
    bad = server.post(ROUTE, {"workflow": template("wan_2.1_vae.safetensors")})
    found = [p for p in bad["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert bad["ok"] is False and found and "39" in found[0]["node_ids"]


def test_route_never_opens_a_client_path(server: Server) -> None:
    doc = template("../../../../etc/passwd")
    answer = server.post(ROUTE, {"workflow": doc})
    pick = next(f for f in answer["files"] if f["node_id"] == "39")
    assert pick["path"] is None and "root:" not in json.dumps(answer)
    assert server.post(ROUTE, {"workflow": "nonsense"})["problems"][0]["code"] == "WORKFLOW_INVALID"


def _api(vae: str) -> dict:
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors", "weight_dtype": "default"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "6": {"class_type": "Wan22ImageToVideoLatent", "inputs": {"vae": ["3", 0], "width": 64, "height": 64, "length": 5, "batch_size": 1}},
        "8": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["6", 0],
                                                   "seed": 1, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
    }


def _wait_for_log(server: Server, text: str, seconds: float = 60) -> str:
    deadline = time.time() + seconds
    while time.time() < deadline:
        log = server.log.read_text()
        if text in log:
            return log
        time.sleep(0.2)
    return server.log.read_text()


PREVIEW = {"90": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
           "91": {"class_type": "PreviewImage", "inputs": {"images": ["90", 0]}}}


def test_a_queued_prompt_gets_the_verdict_in_the_log_and_a_rejected_one_is_never_checked(server: Server) -> None:
    rejected = server.post("/prompt", {"prompt": {"3": {"class_type": "VAELoader", "inputs": {"vae_name": "never_checked.safetensors"}}},
                                       "client_id": "wan-rejected"})
    assert rejected.get("http_status") == 400  # ComfyUI's own answer (no output node): the handler changed nothing
    posted = time.time()
    # Only the preview is run; the loaders beside it are what the check reads.
    answer = server.post("/prompt", {"prompt": {**_api("wan_2.1_vae.safetensors"), **PREVIEW}, "client_id": "wan-check"})
    assert "prompt_id" in answer
    log = _wait_for_log(server, "WF_VAE_LATENT_MISMATCH")
    line = next(line for line in log.splitlines() if "WF_VAE_LATENT_MISMATCH" in line)
    assert "node 3" in line and "wan2.2_vae.safetensors" in line
    time.sleep(max(0.0, posted + 8 - time.time()))  # past the pool's wait for ComfyUI to queue a prompt
    assert "never_checked" not in server.log.read_text()


def _raw_post(server: Server, path: str, body: bytes, headers: dict[str, str], chunked: bool = False) -> tuple[int, Any]:
    status, raw = server.post_raw(path, body, headers, chunked)
    return status, json.loads(raw or b"{}")


def test_routes_take_only_json_from_the_page_and_bound_chunked_bodies(server: Server) -> None:
    body = json.dumps({"message": "CUDA out of memory"}).encode()
    lan = {"Host": "studio.lan:8188"}
    # A cross-site text/plain POST (no CORS preflight) was accepted when ComfyUI was reached by a LAN name.
    status, answer = _raw_post(server, "/wan_compat/explain_error", body, {**lan, "Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert status == 415 and answer["problems"][0]["code"] == "REQUEST_REFUSED"
    status, _ = _raw_post(server, "/wan_compat/explain_error", body, {**lan, "Origin": "http://evil.example", "Content-Type": "application/json"})
    assert status == 403
    status, answer = _raw_post(server, "/wan_compat/explain_error", body, {"Content-Type": "application/json", "Origin": server.url})
    assert status == 200 and answer["explained"] and answer["code"] == "GPU_OUT_OF_MEMORY"
    # The 16 MB limit held only for a body that declared its length.
    status, answer = _raw_post(server, ROUTE, b" " * (17 << 20), {"Content-Type": "application/json"}, chunked=True)
    assert status == 413 and "16 MB" in answer["problems"][0]["detail"]


def test_a_picked_name_that_climbs_out_is_refused_alike_whether_or_not_it_exists(server: Server) -> None:
    """Wan Detect's picker took `diffusers/../../<folder>`: ComfyUI queued it and Detect read a folder
    outside every model folder, and a missing folder answered differently (an existence oracle)."""
    answers = []
    for name in ("diffusers/../../outside_model", "diffusers/../../no_such_folder"):
        answer = server.post("/prompt", {"prompt": {"1": {"class_type": "WanDetectArchitecture", "inputs": {"model": name, "model_path": ""}}}})
        assert answer.get("http_status") == 400, answer
        answers.append(json.dumps(answer["node_errors"]).replace(name, "<name>"))
    assert answers[0] == answers[1] and "not a model from the list" in answers[0]


def test_a_native_api_prompt_is_checked_file_by_file_in_the_log(server: Server) -> None:
    """Wan Safe Load (native)'s picks are files the check knows: the log counts them, and a wrong
    VAE there is named on that node (it used to say "the workflow's files fit (0 checked)")."""
    def native(vae: str) -> dict:
        prompt = _api(vae)
        prompt["1"] = {"class_type": "WanSafeLoadNative", "inputs": {"model": "wan2.2_ti2v_5B_fp16.safetensors", "vae": vae,
                                                                    "text_encoder": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                                                    "weight_dtype": "default", "clip_vision": "none", "config_path": ""}}
        prompt["3"] = {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}}
        prompt["6"]["inputs"]["vae"] = ["1", 2]
        # An output node itself: ComfyUI refuses that output, so nothing loads (the files are sparse), and
        # queues the preview beside it (only prompts ComfyUI queues are checked)
        prompt["1"]["inputs"]["weight_dtype"] = "not a dtype"
        return {**prompt, **PREVIEW}

    assert "prompt_id" in server.post("/prompt", {"prompt": native("wan2.2_vae.safetensors"), "client_id": "wan-check"})
    log = _wait_for_log(server, "(3 checked)")
    assert "the workflow's files fit (3 checked)" in log and "(0 checked)" not in log
    assert "prompt_id" in server.post("/prompt", {"prompt": native("wan_2.1_vae.safetensors"), "client_id": "wan-check"})
    log = _wait_for_log(server, "WF_VAE_LATENT_MISMATCH (node 1")
    assert "WF_VAE_LATENT_MISMATCH (node 1" in log


def test_a_missing_model_says_the_same_in_the_validation_message_and_the_log(server: Server) -> None:
    """One voice: the folder as ComfyUI users name it (relative), the workflow's own download link
    (its properties.models, sent beside the prompt), the same words in ComfyUI's validation
    message and the server log."""
    url = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/diffusion_models/wan2.1_t2v_14B_fp16.safetensors"
    name = "wan2.1_t2v_14B_fp16.safetensors"
    workflow = {"nodes": [{"id": 1, "type": "WanDetectArchitecture", "properties": {"models": [{"name": name, "url": url, "directory": "diffusion_models"}]},
                           "widgets_values": [name, ""], "inputs": [], "outputs": []}], "links": []}
    answer = server.post("/prompt", {"prompt": {"1": {"class_type": "WanDetectArchitecture", "inputs": {"model": name, "model_path": ""}}},
                                     "client_id": "wan-check", "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
    details = answer["node_errors"]["1"]["errors"][0]["details"]
    said = f"Model not found: {name} (Wan 2.1 T2V 14B, a file). Fix: Put it in models/diffusion_models. Download: {url}."
    assert details == f"model - {said} Then press R to refresh the lists, or pick another model." and str(server.base) not in details
    log = _wait_for_log(server, f"Model not found: {name}")
    line = next(line for line in log.splitlines() if f"Model not found: {name}" in line)
    assert said in line and str(server.base) not in line


def test_wan_encode_video_keeps_the_audio_comfyuis_nodes_decode(server: Server) -> None:
    """Real audio through ComfyUI's own nodes: Load Video (PyAV) of an MP4 with a soundtrack, into
    Wan Encode Video as a VIDEO, and split by Get Video Components into IMAGE + AUDIO + fps. Both
    files carry the soundtrack (AAC in MP4, Opus in WebM), matching the source."""
    import subprocess

    import numpy as np

    from wan_compat.encoders.ffmpeg import find_ffmpeg

    binary = find_ffmpeg().path
    source = server.base / "input" / "with_audio.mp4"
    source.parent.mkdir(exist_ok=True)
    subprocess.run([binary, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=16:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(source)], check=True, timeout=120)
    encode = {"fps": 16.0, "crf": -1, "preset": "default", "save_metadata": False}
    prompt = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": source.name}},
        "2": {"class_type": "WanEncodeVideo", "inputs": {**encode, "video": ["1", 0], "format": "h264-mp4", "filename_prefix": "from_video"}},
        "3": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "4": {"class_type": "WanEncodeVideo", "inputs": {**encode, "images": ["3", 0], "audio": ["3", 1], "fps": ["3", 2],
                                                         "format": "vp9-webm", "filename_prefix": "from_components"}},
    }
    entry, _ = server.run(prompt, timeout=300)
    assert entry["status"]["status_str"] == "success", entry["status"]

    def audio_of(path: Path) -> np.ndarray:
        done = subprocess.run([binary, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", "48000", "-"],
                              capture_output=True, check=True, timeout=60)
        return np.frombuffer(done.stdout, "<f4")

    original = audio_of(source)
    for prefix, codec in (("from_video", "aac"), ("from_components", "opus")):
        written = next((server.base / "output").glob(f"{prefix}_*"))
        probe = subprocess.run([binary, "-hide_banner", "-i", str(written)], capture_output=True, text=True).stderr
        assert f"Audio: {codec}" in probe, probe
        back = audio_of(written)
        n = min(len(back), len(original)) - 4096
        assert n > 48000 and np.corrcoef(back[2048:n], original[2048:n])[0, 1] > 0.9, prefix
    text = [m for node in ("2", "4") for m in entry["outputs"][node]["text"]]
    assert all("audio" in line and "48000 Hz" in line for line in text), text


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def _frontend(server: Server) -> Iterator[tuple[Any, list[str]]]:
    """The real frontend in headless Chromium, loaded and with the first-run dialogs closed;
    yields the page and the page errors plus this pack's console errors seen so far."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc.stack)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "wan" in msg.text.lower() else None)
        try:
            page.goto(server.url)
            page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph", timeout=120_000)
            for _ in range(10):  # a fresh user folder opens the templates dialog first: close it
                page.wait_for_timeout(500)
                if not page.locator(".p-dialog-mask").count():
                    break
                page.keyboard.press("Escape")
            yield page, errors
        finally:
            browser.close()


def test_browser_shows_the_dialog_and_cancel_queues_nothing(server: Server, tmp_path: Path) -> None:
    with _frontend(server) as (page, errors):
        assert page.evaluate("() => app.extensions.some(e => e.name === 'wan_compat.workflow_check')")
        page.evaluate("wf => app.loadGraphData(wf)", template("wan_2.1_vae.safetensors"))
        before = server.get("/history")
        page.evaluate("() => { window.__queued = app.queuePrompt(0, 1); }")
        dialog = page.wait_for_selector(".wan-workflow-check-dialog", timeout=60_000)
        text = dialog.inner_text()
        assert "does not fit" in text and "wan2.2_vae.safetensors" in text and "Queue anyway" in text
        assert page.evaluate("() => app.graph.getNodeById(39).has_errors") is True  # the canvas's own error outline
        page.click(".wan-workflow-check-dialog >> text=Cancel")
        page.wait_for_function("() => !document.querySelector('.wan-workflow-check-dialog')", timeout=10_000)
        assert page.evaluate("() => window.__queued") is False  # the frontend's answer to a refused prompt
        assert server.get("/history") == before and server.get("/queue")["queue_pending"] == []
        page.screenshot(path=str(tmp_path / "dialog.png"))
    # the frontend's own start-up may log errors of its own; none may come from this pack's code
    # (the frontend logs the refused prompt after Cancel, as it logs any refused prompt)
    ours = [e for e in errors if ("wan_compat" in e or "wan_workflow_check" in e) and not e.startswith("PromptExecutionError")]
    assert ours == [], "\n".join(ours)


def _decode_graph() -> dict:
    """A graph that really fails in ComfyUI: the Wan 2.1 VAE decoding the 5B's 48-channel latent
    (Wan22ImageToVideoLatent without a start image only makes zeros; nothing heavy loads)."""
    return {
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
        "6": {"class_type": "Wan22ImageToVideoLatent", "inputs": {"vae": ["3", 0], "width": 32, "height": 32, "length": 1, "batch_size": 1}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["3", 0]}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}},
    }


def test_native_error_is_explained_by_the_route(server: Server) -> None:
    entry, _ = server.run(_decode_graph(), timeout=300)
    messages = [m for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert messages, entry["status"]
    raw = messages[0][1]
    assert raw["node_type"] == "VAEDecode" and "to have 16 channels, but got 48" in raw["exception_message"]
    found = server.post("/wan_compat/explain_error", {"message": raw["exception_message"], "exception_type": raw["exception_type"],
                                                      "node_type": raw["node_type"]})
    assert found["explained"] and found["code"] == "LATENT_CHANNEL_MISMATCH" and "wan2.2_vae.safetensors" in found["fix"]


def test_browser_check_off_then_the_native_error_is_explained_on_the_node(server: Server, tmp_path: Path) -> None:
    with _frontend(server) as (page, errors):
        try:
            page.evaluate("id => app.extensionManager.setting.set(id, false)", "WanCompat.WorkflowCheck.Enabled")
            page.evaluate("g => app.loadApiJson(g, 'decode.json')", _decode_graph())
            page.evaluate("() => app.queuePrompt(0, 1)")
            assert page.locator(".wan-workflow-check-dialog").count() == 0  # the check is off
            page.wait_for_function("() => app.graph.nodes.some(n => n.wan_native_error)", timeout=300_000)
            info = page.evaluate("() => { const n = app.graph.nodes.find(n => n.wan_native_error); return [n.type, n.wan_native_error]; }")
            assert info[0] == "VAEDecode" and info[1]["code"] == "LATENT_CHANNEL_MISMATCH"
            assert "wan2.2_vae.safetensors" in info[1]["fix"]
            page.screenshot(path=str(tmp_path / "explained.png"))
        finally:
            page.evaluate("id => app.extensionManager.setting.set(id, true)", "WanCompat.WorkflowCheck.Enabled")
    ours = [e for e in errors if "wan_compat" in e or "wan_native_errors" in e or "wan_workflow_check" in e]
    assert ours == [], "\n".join(ours)
