"""The pack in a real browser on a real ComfyUI: the frontend ComfyUI v0.3.64 pins (1.27) and the
newest comfyui-frontend-package (1.58, served with --front-end-root), on the classic canvas and in
Nodes 2.0 (Vue nodes). Also the first run with a missing model and the readable report page.

Needs COMFYUI_DIR (as tests/test_comfyui_server.py), Chromium ($CHROMIUM) with the playwright
package, and the 1.58 build (`.ci/run` installs all three; $WAN_COMPAT_FRONTEND_ROOT or
`.ci/frontend-1.58`). Set WAN_COMPAT_SCREENSHOTS to a folder to keep the screenshots.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from comfy_install import comfy_install

from comfyui_server import Server, ServerError, newest_frontend, prepare_base, real_size_picks, start, stop

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# (frontend, node rendering): Nodes 2.0 exists from 1.28 on, so only the newest frontend runs it.
UIS = [("pinned", "classic"), ("newest", "classic"), ("newest", "vue")]
VUE_SETTING = "Comfy.VueNodes.Enabled"  # the 1.58 bundle's setting id for "Modern Node Design (Nodes 2.0)"
GENERATION = ["wan21_t2v_1.3B", "wan22_t2v_A14B", "wan22_ti2v_5B", "wan21_i2v_14B_480p", "wan22_i2v_A14B"]
pytestmark = pytest.mark.comfyui
# Every file of the extension: a warning or error logged with any of them on the stack is the pack's.
WEB_FILES = tuple(sorted(p.name for p in (Path(__file__).resolve().parents[1] / "web").glob("*.js")))
# Every console warning and error with the stack that logged it, so a deprecation notice the
# frontend prints from its own code is still traced to the extension that called the old API.
CONSOLE_WITH_STACKS = """(() => {
  window.__wanConsole = [];
  for (const level of ["warn", "error"]) {
    const original = console[level];
    console[level] = function (...args) {
      try { window.__wanConsole.push({type: level, text: args.map(String).join(" "), stack: String(new Error().stack)}); } catch (e) {}
      return original.apply(this, args);
    };
  }
})();"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """One server per frontend, started on first use and stopped at the end of the module."""
    root, python = comfy_install()
    started: dict[str, Server] = {}

    def get(frontend: str) -> Server:
        if frontend not in started:
            front = None
            if frontend == "newest":
                front = newest_frontend()
                assert (front / "index.html").is_file(), (
                    f"no frontend build at {front}: pip install --target .ci/frontend-1.58 comfyui-frontend-package==1.58.1 "
                    "(or set WAN_COMPAT_FRONTEND_ROOT to its comfyui_frontend_package/static folder)")
            base = prepare_base(tmp_path_factory.mktemp(f"comfy_{frontend}"), request.getfixturevalue("tiny_pipelines"))
            try:
                started[frontend] = start(root, base, python, front_end_root=front)
            except ServerError as err:
                pytest.fail(str(err))
        return started[frontend]

    yield get
    for server in started.values():
        stop(server)


class Page:
    """A playwright page on one server, with what the browser logged."""

    def __init__(self, page: Any, server: Server, ui: tuple[str, str]) -> None:
        self.page, self.server, self.ui = page, server, ui
        self.console: list[dict[str, str]] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.console.append({"type": m.type, "text": m.text, "url": (m.location or {}).get("url", "")}))
        page.on("pageerror", lambda exc: self.console.append({"type": "pageerror", "text": str(exc.stack), "url": ""}))
        page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)

    def ours(self) -> list[dict[str, str]]:
        """Warnings, errors and deprecation notices the pack's extension caused: logged while its
        code was on the stack (the frontend logs deprecations from its own files), or naming it."""
        words = ("wan_compat", "widgets.js", "inputEl", *WEB_FILES)
        logged = self.page.evaluate("() => window.__wanConsole ?? []")
        found = [m for m in self.console if any(f in m["text"] or f in m["url"] for f in WEB_FILES)
                 and (m["type"] in ("pageerror", "error", "warning"))]
        return found + [m for m in logged if any(f in m["stack"] for f in WEB_FILES) or any(w in m["text"] for w in words)]

    def screenshot(self, tmp_path: Path, name: str) -> None:
        path = tmp_path / f"{name}.png"
        self.page.screenshot(path=str(path))
        if os.environ.get("WAN_COMPAT_SCREENSHOTS"):
            folder = Path(os.environ["WAN_COMPAT_SCREENSHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / path.name)


def _set_setting(server: Server, key: str, value: Any) -> None:
    request = urllib.request.Request(f"{server.url}/settings/{key}", data=json.dumps(value).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@pytest.fixture(params=UIS, ids=["-".join(ui) for ui in UIS])
def ui_page(request: pytest.FixtureRequest, servers, tmp_path: Path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need the playwright package (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM)")
    frontend, mode = request.param
    server = servers(frontend)
    if frontend == "newest":
        _set_setting(server, VUE_SETTING, mode == "vue")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.add_init_script(CONSOLE_WITH_STACKS)
        wrapped = Page(page, server, request.param)
        page.goto(server.url)
        page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph", timeout=120_000)
        for _ in range(20):  # a fresh user folder opens the templates dialog first: close it (1.27: PrimeVue, 1.58: its own)
            page.wait_for_timeout(500)
            if not page.locator(".p-dialog-mask, [data-testid='dialog-overlay']").count():
                break
            page.keyboard.press("Escape")
        if frontend == "newest":
            assert page.evaluate(f"() => app.extensionManager.setting.get('{VUE_SETTING}')") is (mode == "vue")
        yield wrapped
        page.screenshot(path=str(tmp_path / "last.png"))
        browser.close()


def _workflow(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "workflows" / f"{name}.json").read_text())


def _centered(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow with its view where the screenshot shows the nodes and their title badges."""
    return {**workflow, "extra": {**workflow["extra"], "ds": {"scale": 0.9, "offset": [20, 140]}}}


def test_nodes_found_workflow_run_and_badges_drawn(ui_page: Page, tmp_path: Path) -> None:
    page = ui_page.page
    frontend, mode = ui_page.ui
    assert page.evaluate("() => app.extensions.some(e => e.name === 'wan_compat.ui')")
    # Node search in the node library side bar (1.27: a class; 1.58: a test id).
    library = page.locator(".node-library-tab-button, [data-testid='node-library-tab-button']").first
    library.click()
    search = page.get_by_placeholder("Search Nodes...")
    search.fill("Wan Detect")
    page.wait_for_selector("text=Wan Detect Architecture", timeout=30_000)
    library.click()
    # The shipped workflow, queued through the frontend's own graphToPrompt.
    # Its Comfy-Org picks as sparse real-size files (the tiny stand-ins match no official size).
    page.evaluate("wf => app.loadGraphData(wf)", _centered(real_size_picks(ui_page.server.base, _workflow("wan_check_my_models"))))
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function("() => app.graph.getNodeById(3)?.wan_report", timeout=300_000)
    page.wait_for_timeout(500)
    badge, status, drawn = page.evaluate("""() => { const n = app.graph.getNodeById(1);
        const badges = (n.badges ?? []).map(b => typeof b === 'function' ? b() : b);
        return [n.wan_badge, n.wan_status, badges.map(b => b.text)]; }""")
    assert badge.startswith("Wan 2.1 T2V") and status in ("ok", "warning")
    assert badge in drawn  # node.badges: what LGraphNode.drawBadges paints on the classic canvas
    # The verdict pill and the report text are a DOM widget, rendered by both the canvas and Vue nodes.
    pills = page.evaluate("""() => [...document.querySelectorAll('.wan-compat-badge')]
        .filter(e => e.getBoundingClientRect().width > 0).map(e => e.textContent)""")
    assert badge in pills and any(p.startswith("diagnosis: ") for p in pills), pills
    if mode == "vue":
        inside = page.evaluate("() => document.querySelector('[data-node-id=\"1\"]')?.innerText ?? ''")
        assert badge in inside  # drawn inside the Vue node itself
    assert page.evaluate("() => app.graph.getNodeById(3).widgets.some(w => w.name === 'open full report')")
    ui_page.screenshot(tmp_path, f"badges_{frontend}_{mode}")
    # "open full report": the pack's page at the level the node chose, with the JSON downloadable.
    with page.expect_popup() as opened:
        page.evaluate("() => app.graph.getNodeById(3).widgets.find(w => w.name === 'open full report').callback()")
    report = opened.value
    report.wait_for_load_state()
    text = report.inner_text("body")
    assert "Wan Compat diagnosis" in text and "level: detailed" in text and "Machine and settings" in text, text[:2000]
    assert "figures" not in text  # detailed, not full
    report.set_viewport_size({"width": 1100, "height": 1000})
    if (frontend, mode) == ("pinned", "classic"):
        Page.screenshot(Page(report, ui_page.server, ui_page.ui), tmp_path, "report_page")
    with report.expect_download() as downloaded:
        report.click("text=download the JSON report")
    doc = json.loads(Path(downloaded.value.path()).read_text())
    assert doc["verdict"] in ("ok", "warning") and doc["report_version"] == 1
    report.close()
    # The pack imports no internal module, uses no deprecated widget API and logs nothing.
    assert not ui_page.ours(), ui_page.ours()
    # Nothing of the pack's is missing: its script, its routes, its template thumbnails.
    assert not [u for u in ui_page.failed if "wan_compat" in u or "comfyui-wan-compat" in u], ui_page.failed


def test_browser_converts_the_linked_workflows_like_the_harness(ui_page: Page) -> None:
    """Each frontend loads each generation workflow with its linked widgets (fps into Frame Process
    and Encode, model_info into Safe Load), saves the same links back, and its own graphToPrompt
    queues the same inputs as tools/workflow_graph.to_api_prompt."""
    from workflow_graph import to_api_prompt

    page = ui_page.page
    info = ui_page.server.get("/object_info")
    for name in GENERATION:
        workflow = _workflow(name)
        page.evaluate("wf => app.loadGraphData(wf)", workflow)
        result = page.evaluate("async () => { const p = await app.graphToPrompt(); return {output: p.output, workflow: p.workflow}; }")
        ours = to_api_prompt(workflow, info)
        theirs = {node_id: {"class_type": entry["class_type"], "inputs": entry["inputs"]} for node_id, entry in result["output"].items()}
        assert theirs == ours, name
        saved = {tuple(link[:6]) for link in result["workflow"]["links"]}
        assert saved == {tuple(link) for link in workflow["links"]}, name
        for node in result["workflow"]["nodes"]:
            mine = next(n for n in workflow["nodes"] if n["id"] == node["id"])
            assert [i["name"] for i in node["inputs"]] == [i["name"] for i in mine["inputs"]], (name, node["type"])
            assert node["widgets_values"] == mine["widgets_values"], (name, node["type"])
    assert not ui_page.ours(), ui_page.ours()


def test_first_run_with_a_missing_model(ui_page: Page, tmp_path: Path) -> None:
    """A shipped workflow whose model is not downloaded: one message, on the node that names the
    model, saying the file, its folder and where to get it; the empty path inputs say nothing."""
    page, server = ui_page.page, ui_page.server
    workflow = _centered(_workflow("wan21_t2v_1.3B"))
    detect = next(n for n in workflow["nodes"] if n["type"] == "WanDetectArchitecture")
    detect["widgets_values"][0] = "diffusers/Wan2.1-T2V-14B-Diffusers"  # not in this server's models/diffusers
    page.evaluate("wf => app.loadGraphData(wf)", workflow)
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    answer = server.post("/prompt", {"prompt": prompt, "client_id": "wan-compat-tests"})
    errors = [(node, e) for node, entry in answer["node_errors"].items() for e in entry["errors"]]
    assert len(errors) == 1, errors  # one line, not one per path input of every node
    node, error = errors[0]
    assert node == str(detect["id"]) and error["extra_info"]["input_name"] == "model"
    details = error["details"]
    for wanted in ("Model not found: Wan2.1-T2V-14B-Diffusers", str(Path("models") / "diffusers" / "Wan2.1-T2V-14B-Diffusers"),
                   "https://huggingface.co/Wan-AI/Wan2.1-T2V-14B-Diffusers", "Wan 2.1 T2V 14B"):
        assert wanted in details, details
    # What the user sees when queueing it in the frontend: first the pack's queue check names the
    # missing file (web/wan_workflow_check.js); "Queue anyway" then shows ComfyUI's own validation.
    page.evaluate("() => { app.queuePrompt(0, 1); }")  # not awaited: it waits on the dialog
    dialog = page.wait_for_selector(".wan-workflow-check-dialog", timeout=60_000)
    assert "Wan2.1-T2V-14B-Diffusers" in dialog.inner_text(), dialog.inner_text()
    frontend, mode = ui_page.ui
    ui_page.screenshot(tmp_path, f"missing_model_check_{frontend}_{mode}")
    page.click(".wan-workflow-check-dialog >> text=Queue anyway")
    if frontend == "newest":  # 1.58 lists the node and input; the message is the tooltip of the entry's (i)
        page.get_by_text("View details").first.click()
        entry = page.get_by_text("Wan Detect Architecture - model").first
        entry.locator("xpath=..").locator("button, i, svg, [class*=icon]").first.hover()
    page.wait_for_function("() => document.body.innerText.includes('Model not found: Wan2.1-T2V-14B-Diffusers')", timeout=60_000)
    ui_page.screenshot(tmp_path, f"missing_model_{frontend}_{mode}")
    assert not ui_page.ours(), ui_page.ours()


def test_template_cards_have_thumbnails(servers) -> None:
    """ComfyUI lists the pack's workflows as templates; the frontend (1.27 and 1.58) asks for
    <name>.jpg beside each, and each is served as a JPEG."""
    server = servers("pinned")
    listing = server.get("/workflow_templates")
    module, names = next((m, n) for m, n in listing.items() if "wan-compat" in m)
    assert sorted(names) == sorted(p.stem for p in (ROOT / "workflows").glob("*.json"))
    for name in names:
        with urllib.request.urlopen(f"{server.url}/api/workflow_templates/{module}/{urllib.request.quote(name)}.jpg", timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and response.read(3) == b"\xff\xd8\xff", name
