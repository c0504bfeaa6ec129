"""Downloads inside a real ComfyUI and a real browser: the queue-check dialog offers "Download" per
missing file and "Download all", shows progress, the files land verified in ComfyUI's folders, the
model lists refresh and the workflow queues and runs.

ComfyUI runs with HF_ENDPOINT pointing at the loopback Hub (tools/local_hub.py), which holds a random
real-size Wan 2.1 VAE (ComfyUI builds that VAE only at its real width) and a tiny UMT5 under Comfy-Org's
repository paths. The graph decodes an empty 16-channel video latent with that VAE (nothing heavy).
Both with the frontend ComfyUI pins and the newest one. Skipped unless COMFYUI_DIR is set (CI sets
it and installs chromium, playwright and the newest frontend).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from comfy_install import comfy_install
from comfyui_server import PACK_ROOT, Server, ServerError, newest_frontend, start, stop
from hub_fixtures import REPO_21, sha256
from local_hub import LocalHub
from test_workflow_check_server import _frontend

pytestmark = [pytest.mark.comfyui, pytest.mark.slow]
VAE = "wan_2.1_vae.safetensors"
UMT5 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
LINKS = {VAE: f"https://huggingface.co/{REPO_21}/resolve/main/split_files/vae/{VAE}",
         UMT5: f"https://huggingface.co/{REPO_21}/resolve/main/split_files/text_encoders/{UMT5}"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, tiny_path: Callable[[str], Path]) -> Iterator[LocalHub]:
    from wan_compat.compat.fixtures import native
    from wan_compat.compat.fixtures.single_files import export_single_files

    comfy_install()  # skip before building anything when there is no ComfyUI
    store = tmp_path_factory.mktemp("comfy_hub")
    vae = native.native_vae(store / "vae.safetensors")
    umt5 = export_single_files(tiny_path("wan2.1-t2v"), store / "t2v", name="t2v")["text_encoder"]
    found = LocalHub(store / "blobs")
    found.add_repo(REPO_21, {f"split_files/vae/{VAE}": vae, f"split_files/text_encoders/{UMT5}": umt5})
    found.start()
    yield found
    found.stop()


@pytest.fixture(scope="module", params=["pinned", "newest"])
def server(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    """ComfyUI with the frontend it pins, then with the newest frontend build (.ci/run installs it)."""
    root, python = comfy_install()
    base = tmp_path_factory.mktemp("hub_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(PACK_ROOT, target_is_directory=True)
    for folder in ("vae", "text_encoders", "diffusion_models"):
        (base / "models" / folder).mkdir(parents=True)
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": None, "TRANSFORMERS_OFFLINE": None, "HF_TOKEN": None,
           "HF_HOME": str(base / "hf-home")}
    front = newest_frontend() if request.param == "newest" else None
    if front is not None and not (front / "index.html").is_file():
        pytest.fail(f"no frontend build at {front}: .ci/run installs it (or set WAN_COMPAT_FRONTEND_ROOT)")
    try:
        found = start(root, base, python, front_end_root=front, env=env)
    except ServerError as err:
        pytest.fail(str(err))
    yield found
    stop(found)


def _graph() -> dict[str, Any]:
    """API format: the VAE decodes an empty Wan latent; the UMT5 loader is a second missing file."""
    return {
        "1": {"class_type": "VAELoader", "inputs": {"vae_name": VAE}},
        "2": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 32, "height": 32, "length": 1, "batch_size": 1}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 0]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        "5": {"class_type": "CLIPLoader", "inputs": {"clip_name": UMT5, "type": "wan", "device": "default"}},
    }


def _ui_workflow(models: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A UI-format workflow of loaders only, each with its `properties.models` entry."""
    nodes = []
    for i, (name, (folder, url)) in enumerate(models.items(), start=1):
        node_type, widgets = ("VAELoader", [name]) if folder == "vae" else ("CLIPLoader", [name, "wan", "default"])
        nodes.append({"id": i, "type": node_type, "mode": 0, "widgets_values": widgets, "inputs": [], "outputs": [],
                      "properties": {"models": [{"name": name, "url": url, "directory": folder}]}})
    return {"nodes": nodes, "links": [], "version": 0.4}


def test_the_route_takes_names_never_paths_or_links(server: Server, hub: LocalHub) -> None:
    free = "http://127.0.0.1:9/evil.safetensors"
    plan = server.post("/wan_compat/hub/plan", {"workflow": _ui_workflow({"mine.safetensors": ("vae", free), VAE: ("vae", LINKS[VAE])}),
                                                "files": [{"name": "mine.safetensors", "folder": "vae"}, {"name": VAE, "folder": "vae"},
                                                          {"name": "../../x.safetensors", "folder": "vae"}, {"name": VAE, "folder": "custom_nodes"}]})
    codes = [f.get("problem", {}).get("code") for f in plan["files"]]
    assert codes == ["HUB_URL_NOT_HUB", None, "HUB_SPEC_INVALID", "HUB_FOLDER_UNSUPPORTED"]
    assert plan["files"][1]["source"]["repo"] == REPO_21 and plan["offline"] is False
    hub.requests.clear()
    refused = server.post("/wan_compat/hub/download", {"name": "mine.safetensors", "folder": "vae", "url": free,
                                                       "workflow": _ui_workflow({"mine.safetensors": ("vae", free)})})
    assert refused["problem"]["code"] == "HUB_URL_NOT_HUB" and hub.requests == []
    assert not list((server.base / "models").rglob("mine.safetensors"))
    # The check routes' refusals hold here too: a cross-site form post, another site's page, a body over the limit.
    body = json.dumps({"name": VAE, "folder": "vae"}).encode()
    host = server.url.split("//", 1)[1]
    assert server.post_raw("/wan_compat/hub/download", body, {"Content-Type": "text/plain", "Host": host})[0] == 415
    assert server.post_raw("/wan_compat/hub/download", body, {"Content-Type": "application/json", "Host": "wan.lan:8188",
                                                             "Origin": "http://evil.example"})[0] == 403
    assert server.post_raw("/wan_compat/hub/plan", b"[" * (5 << 20), {"Content-Type": "application/json", "Host": host}, chunked=True)[0] == 413
    assert hub.requests == []


def _row(page: Any, name: str) -> Any:
    return page.locator(f".wan-hub-download[data-name='{name}']")


def _close_first_run_dialogs(page: Any) -> None:
    """The newest frontend opens its templates dialog on a fresh user folder (its own dialog, which
    _frontend's PrimeVue check does not see): close it as a user would."""
    for _ in range(20):
        if not page.locator("[data-testid='dialog-overlay'], [data-dialog-key]").count():
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)


def test_browser_download_progress_download_all_then_queue(server: Server, hub: LocalHub, tmp_path: Path) -> None:
    with _frontend(server) as (page, errors):
        _close_first_run_dialogs(page)
        page.evaluate("g => app.loadApiJson(g, 'hub.json')", _graph())
        page.evaluate("links => { for (const [id, name, dir] of [[1, 'wan_2.1_vae.safetensors', 'vae'], [5, 'umt5_xxl_fp8_e4m3fn_scaled.safetensors', 'text_encoders']])"
                      " app.graph.getNodeById(id).properties.models = [{name, url: links[name], directory: dir}]; }", LINKS)
        page.evaluate("() => { window.__queued = app.queuePrompt(0, 1); }")
        page.wait_for_selector(".wan-workflow-check-dialog", timeout=60_000)
        for name in (VAE, UMT5):
            page.wait_for_function("n => document.querySelector(`.wan-hub-download[data-name='${n}']`)?.dataset.state === 'ready'", arg=name, timeout=60_000)
        assert "from Comfy-Org/Wan_2.1_ComfyUI_repackaged/split_files/vae/wan_2.1_vae.safetensors@main" in _row(page, VAE).inner_text()
        # one click: the Hub holds the stream half way, so the dialog shows it running with its progress
        hub.requests.clear()
        hub.pause_after, hub.resume = 64 * 1024 * 1024, threading.Event()
        try:
            _row(page, VAE).locator("button").click()
            page.wait_for_function("n => { const r = document.querySelector(`.wan-hub-download[data-name='${n}']`);"
                                   " return r.dataset.state === 'running' && / of .*MB/.test(r.innerText); }", arg=VAE, timeout=60_000)
            assert _row(page, VAE).locator("progress").is_visible()
            page.screenshot(path=str(tmp_path / "progress.png"))
            _row(page, VAE).locator("button", has_text="Cancel").click()
        finally:
            hub.resume.set()
            hub.pause_after = None
        page.wait_for_function("n => document.querySelector(`.wan-hub-download[data-name='${n}']`)?.dataset.state === 'cancelled'", arg=VAE, timeout=60_000)
        assert "cancelled" in _row(page, VAE).inner_text()
        partial = next((server.base / "models" / "vae").glob("*.partial"))
        kept = partial.stat().st_size
        assert kept and not (server.base / "models" / "vae" / VAE).exists()
        # what a user does next: Download again resumes the partial file, and Download all gets the rest
        page.click(".wan-hub-download-all")
        for name in (VAE, UMT5):
            page.wait_for_function("n => document.querySelector(`.wan-hub-download[data-name='${n}']`)?.dataset.state === 'done'", arg=name, timeout=120_000)
        page.wait_for_function("() => /you can queue now/.test(document.querySelector('.wan-hub-download-all-status').innerText)", timeout=30_000)
        assert page.locator(".wan-hub-download-all").count() == 0  # nothing left to download
        assert "verified" in _row(page, VAE).inner_text()
        served = hub.commits[REPO_21][hub.branches[REPO_21]["main"]][f"split_files/vae/{VAE}"]
        assert [r["range"] for r in hub.served("cdn") if served.sha256 in r["path"]][-1] == f"bytes={kept}-"  # resumed
        vae = server.base / "models" / "vae" / VAE
        assert sha256(vae) == served.sha256 and not list(vae.parent.glob("*.partial"))
        # the model lists were refreshed: the new file is a choice of the VAE loader
        page.wait_for_function("n => app.graph.getNodeById(1).widgets[0].options.values.includes(n)", arg=VAE, timeout=30_000)
        page.screenshot(path=str(tmp_path / "downloaded.png"))
        before = set(server.get("/history"))
        page.click(".wan-workflow-check-dialog >> text=Queue anyway")
        page.evaluate("() => window.__queued")
        entry = _wait_new_history(server, before)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
        # queue again: every file is in place, so no dialog opens and it runs
        before = set(server.get("/history"))
        page.evaluate("() => { window.__again = false; app.queuePrompt(0, 1).then(() => { window.__again = true; }); }")
        page.wait_for_function("() => window.__again || document.querySelector('.wan-workflow-check-dialog')", timeout=60_000)
        assert page.locator(".wan-workflow-check-dialog").count() == 0
        assert _wait_new_history(server, before)["status"]["status_str"] == "success"
        ledger = [json.loads(line) for line in (server.base / "user" / "wan-compat" / "downloads.jsonl").read_text().splitlines()]
        assert {e["path"] for e in ledger} == {f"split_files/vae/{VAE}", f"split_files/text_encoders/{UMT5}"}
    ours = [e for e in errors if "wan_" in e]
    assert ours == [], "\n".join(ours)


def _wait_new_history(server: Server, before: set[str], seconds: float = 300) -> dict[str, Any]:
    """The first prompt that finished since `before` (the history's keys then)."""
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        new = {k: v for k, v in server.get("/history").items() if k not in before}
        done = [v for v in new.values() if v.get("status", {}).get("completed") is not None]
        if done:
            return done[0]
        time.sleep(0.5)
    raise AssertionError(f"no prompt finished; log:\n{server.log.read_text()[-3000:]}")
