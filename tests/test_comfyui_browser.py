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
from workflow_specs import workflow_path

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
        found = [m for m in self.console if m["type"] in ("pageerror", "error", "warning")
                 and (any(f in m["text"] or f in m["url"] for f in WEB_FILES) or (m["type"] == "pageerror" and "wan_compat" in m["text"]))]
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
    return json.loads(workflow_path(name).read_text())


def _centered(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow at 100 %, with its first columns in view (where the screenshots look)."""
    return {**workflow, "extra": {**workflow["extra"], "ds": {"scale": 1.0, "offset": [0, -40]}}}


def _load(page: Any, workflow: dict[str, Any], title: str | None = None) -> None:
    """Load a workflow after refreshing the frontend's model lists (what pressing R does): files a
    test wrote after the page opened are then listed, as they would be for a user."""
    page.evaluate("() => app.extensionManager.command.execute('Comfy.RefreshNodeDefinitions')")
    page.wait_for_timeout(500)
    page.evaluate("([wf, title]) => title ? app.loadGraphData(wf, true, true, title) : app.loadGraphData(wf)", [workflow, title])


def _panels(page: Any) -> dict[str, dict[str, str]]:
    """What each Wan node's panel shows: node id -> {pill, text}."""
    return page.evaluate("""() => Object.fromEntries(app.graph.nodes.flatMap(n => {
        const w = (n.widgets ?? []).find(w => w.name === 'wan report');
        return w ? [[String(n.id), {pill: w.wan_pill.textContent, text: w.wan_body.innerText}]] : [];
    }))""")


def _switch_tab_and_back(page: Any, title: str) -> None:
    """Another workflow tab, then back to this one: the frontend rebuilds the graph from the saved state."""
    page.evaluate("() => app.extensionManager.command.execute('Comfy.NewBlankWorkflow')")
    page.wait_for_function("() => !app.graph.nodes.some(n => n.type?.startsWith('Wan'))", timeout=30_000)
    page.get_by_text(title, exact=True).first.click()
    page.wait_for_function("() => app.graph.nodes.some(n => n.type === 'WanDiagnose')", timeout=30_000)
    page.wait_for_timeout(800)


def test_verdicts_in_a_users_words_stay_with_the_workflow(ui_page: Page, tmp_path: Path) -> None:
    """Detect and Check say in one line what the model is and whether each part fits; the evidence
    (shapes, files relative to the model folders) is one click away; no absolute path shows. The
    verdicts stay after a tab switch and a reload, until a run changes them."""
    page, server = ui_page.page, ui_page.server
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
    _load(page, _centered(real_size_picks(server.base, _workflow("wan_check_my_models"))), "check my models")
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function("() => app.graph.getNodeById(3)?.wan_report", timeout=300_000)
    page.wait_for_timeout(500)
    faces = _panels(page)
    assert faces["1"]["pill"] == "Wan 2.1 T2V 1.3B · fp16", faces
    assert faces["2"]["pill"] == "Wan 2.1 T2V 1.3B · fp16 · VAE fits · text encoder fits", faces
    assert "Checked the model against: VAE wan_2.1_vae.safetensors (picked here)" in faces["2"]["text"]
    assert faces["3"]["pill"] == "diagnosis: ok"
    shown = json.dumps(faces)
    assert str(server.base) not in shown and "[1536" not in shown  # no absolute path; the shapes are folded away
    page.evaluate("() => document.querySelectorAll('.wan-compat-evidence').forEach(d => d.open = true)")
    evidence = page.evaluate("() => document.querySelector('.wan-compat-evidence').innerText")
    assert "model: diffusion_models/real_size/wan2.1_t2v_1.3B_fp16.safetensors" in evidence and "[1536, 16, 1, 2, 2]" in evidence
    assert str(server.base) not in evidence
    page.evaluate("() => document.querySelectorAll('.wan-compat-evidence').forEach(d => d.open = false)")
    badge, drawn = page.evaluate("""() => { const n = app.graph.getNodeById(1);
        return [n.wan_badge, (n.badges ?? []).map(b => typeof b === 'function' ? b() : b).map(b => b.text)]; }""")
    assert badge == "Wan 2.1 T2V 1.3B" and badge in drawn  # node.badges: what LGraphNode.drawBadges paints on the classic canvas
    if mode == "vue":
        assert "VAE fits" in page.evaluate("() => document.querySelector('[data-node-id=\"2\"]')?.innerText ?? ''")
    ui_page.screenshot(tmp_path, f"node_face_{frontend}_{mode}")
    # Another tab and back, then a reload: the same faces, without a new run.
    _switch_tab_and_back(page, "check my models")
    assert _panels(page) == faces
    ui_page.screenshot(tmp_path, f"verdict_after_tab_switch_{frontend}_{mode}")
    page.reload()
    page.wait_for_function("() => window.app?.graph?.nodes?.some(n => n.type === 'WanDiagnose')", timeout=120_000)
    page.wait_for_timeout(1500)
    assert _panels(page) == faces
    # "open full report": the pack's page at the level the node chose, with the JSON downloadable.
    with page.expect_popup() as opened:
        page.evaluate("() => app.graph.getNodeById(3).widgets.find(w => w.name === 'open full report').callback()")
    report = opened.value
    report.wait_for_load_state()
    text = report.inner_text("body")
    assert "Wan Compat diagnosis" in text and "level: detailed" in text and "Machine and settings" in text, text[:2000]
    assert "figures" not in text and "Problems (" not in text  # detailed, not full; an ok verdict lists notes, not problems
    report.set_viewport_size({"width": 1100, "height": 1000})
    if (frontend, mode) == ("pinned", "classic"):
        Page.screenshot(Page(report, server, ui_page.ui), tmp_path, "report_page")
    with report.expect_download() as downloaded:
        report.click("text=download the JSON report")
    doc = json.loads(Path(downloaded.value.path()).read_text())
    assert doc["verdict"] in ("ok", "warning") and doc["report_version"] == 1
    report.close()
    # The pack imports no internal module, uses no deprecated widget API and logs nothing.
    assert not ui_page.ours(), ui_page.ours()
    # Nothing of the pack's is missing: its script, its routes, its template thumbnails.
    assert not [u for u in ui_page.failed if "wan_compat" in u or "comfyui-wan-compat" in u], ui_page.failed


TEMPLATE_5B = "video_wan2_2_5B_ti2v.json"  # comfyui-workflow-templates (the `test` extra)


def _official_template_with_the_wrong_vae(base: Path) -> dict[str, Any]:
    """ComfyUI's own 5B template picking the Wan 2.1 VAE (node 39), its files as sparse real-size
    files under models/<folder>/real_size (headers only: nothing heavy ever loads)."""
    from wan_compat.compat.fixtures.template_files import write_template_file

    templates = pytest.importorskip("comfyui_workflow_templates")
    doc = json.loads((Path(templates.get_templates_path()) / TEMPLATE_5B).read_text(encoding="utf-8"))
    write_template_file(base / "models", "vae/real_size", "wan_2.1_vae.safetensors")
    doc = real_size_picks(base, doc)
    next(n for n in doc["nodes"] if n["id"] == 39)["widgets_values"][0] = "real_size/wan_2.1_vae.safetensors"
    return {**doc, "extra": {**doc.get("extra", {}), "ds": {"scale": 0.75, "offset": [60, 80]}}}


def test_cancel_in_the_file_check_stops_the_queue_like_the_frontends_validation(ui_page: Page, tmp_path: Path) -> None:
    """The wrong-VAE dialog names the blamed nodes as the canvas titles them, with a button that
    jumps to each, while they are outlined; Cancel queues nothing, shows no "queued" notice and
    leaves a randomized seed as it was, and the frontend marks the nodes as for its own validation."""
    page, server = ui_page.page, ui_page.server
    frontend, mode = ui_page.ui
    _load(page, _official_template_with_the_wrong_vae(server.base))
    page.wait_for_timeout(1000)
    sampler = "app.graph.nodes.find(n => n.type === 'KSampler')"
    page.evaluate(f"() => {{ {sampler}.widgets.find(w => w.name === 'control_after_generate').value = 'randomize'; }}")
    seed = page.evaluate(f"() => {sampler}.widgets.find(w => w.name === 'seed').value")
    history, queue = server.get("/history"), server.get("/queue")
    page.evaluate("() => { window.__queued = app.queuePrompt(0, 1); }")
    dialog = page.wait_for_selector(".wan-workflow-check-dialog", timeout=60_000)
    text = dialog.inner_text()
    assert "does not fit" in text and "wan2.2_vae.safetensors" in text and "Queue anyway" in text
    titles = page.evaluate("() => [...document.querySelectorAll('.wan-workflow-check-dialog .wan-jump')].map(b => b.textContent)")
    vae_title = page.evaluate("() => app.graph.getNodeById(39).title")
    assert f"→ {vae_title}" in titles and not any("#" in t or t == "→ VAELoader" for t in titles), titles  # titles, not ids or classes
    # Outlined while the dialog is open: the canvas's error outline, the node's element in Nodes 2.0.
    assert page.evaluate("() => app.graph.getNodeById(39).has_errors") is True
    if mode == "vue":
        assert "solid" in page.evaluate("() => document.querySelector('[data-node-id=\"39\"]').style.outline")
    before = page.evaluate("() => [...app.canvas.ds.offset]")
    page.locator(".wan-workflow-check-dialog .wan-jump", has_text=vae_title).first.click()
    page.wait_for_timeout(300)
    assert page.evaluate("() => [...app.canvas.ds.offset]") != before  # the canvas moved to the node
    ui_page.screenshot(tmp_path, f"wrong_vae_dialog_{frontend}_{mode}")
    page.click(".wan-workflow-check-dialog >> text=Cancel")
    assert page.evaluate("() => window.__queued") is False  # what app.queuePrompt answers for a refused prompt
    page.wait_for_timeout(1500)
    assert server.get("/history") == history and server.get("/queue")["queue_pending"] == queue["queue_pending"] == []
    assert page.evaluate(f"() => {sampler}.widgets.find(w => w.name === 'seed').value") == seed  # not randomized
    assert "Job queued" not in page.evaluate("() => document.body.innerText")
    if frontend == "pinned":  # 1.27 reports a refused prompt in its error dialog, and outlines from lastNodeErrors
        assert "Not queued" in page.evaluate("() => document.body.innerText")
        assert "39" in page.evaluate("() => Object.keys(app.lastNodeErrors ?? {})")
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    else:  # 1.58 flags the nodes of a refused prompt (both canvas modes) and lists them in its errors panel
        page.wait_for_function("() => app.graph.getNodeById(39).has_errors === true", timeout=10_000)
    ui_page.screenshot(tmp_path, f"cancel_no_toast_{frontend}_{mode}")
    # The frontend logs every refused prompt with console.error (its own validation's too), and the
    # refusal is the pack's on purpose: exactly that one line is expected, anything else is a fault.
    refused = [m for m in ui_page.ours() if m["text"].startswith("PromptExecutionError: Prompt execution failed")]
    assert len(refused) <= 1 and not [m for m in ui_page.ours() if m not in refused], ui_page.ours()


def test_a_shipped_workflow_opens_readable(ui_page: Page, tmp_path: Path) -> None:
    """At 100 % in a 1600x1000 window: four stage columns in view, titled groups, no node beyond
    the window's right edge; model defaults read as words."""
    page = ui_page.page
    frontend, mode = ui_page.ui
    page.evaluate("wf => app.loadGraphData(wf)", _workflow("wan22_ti2v_5B"))
    page.wait_for_timeout(1500)
    assert page.evaluate("() => app.canvas.ds.scale") == 1
    groups = page.evaluate("() => (app.graph.groups ?? app.graph._groups).map(g => g.title)")
    assert groups == ["1 Model", "2 Prepare", "3 Generate", "4 Video and report"]
    right = page.evaluate("""() => Math.max(...app.graph.nodes.map(n =>
        (n.pos[0] + n.size[0] + app.canvas.ds.offset[0]) * app.canvas.ds.scale))""")
    assert right <= 1600
    sample = page.evaluate("() => Object.fromEntries(app.graph.nodes.find(n => n.type === 'WanSample').widgets.map(w => [w.name, w.value]))")
    assert sample["shift"] == "model default" and -1 not in sample.values()
    ui_page.screenshot(tmp_path, f"workflow_readable_{frontend}_{mode}")
    assert not ui_page.ours(), ui_page.ours()


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
    """A shipped workflow whose model is not downloaded, the way a user meets it: the frontend's own
    missing-models list names it with the workflow's download link (the pick is named as its
    `properties.models` entry); the pack's queue check, ComfyUI's validation message and the server
    log say the same: the file, the folder (relative, as users name it) and one clickable link."""
    page, server = ui_page.page, ui_page.server
    frontend, mode = ui_page.ui
    name = "wan2.1_t2v_14B_fp16.safetensors"  # not in this server's models/diffusion_models
    url = f"https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/diffusion_models/{name}"
    workflow = _centered(_workflow("wan21_t2v_1.3B"))
    detect = next(n for n in workflow["nodes"] if n["type"] == "WanDetectArchitecture")
    detect["widgets_values"][0] = name
    detect["properties"]["models"] = [{"name": name, "url": url, "directory": "diffusion_models"}]
    page.evaluate("wf => app.loadGraphData(wf, true, true, 'missing model')", workflow)
    # The frontend's own missing-models list (1.27: a dialog on load; 1.58: a notice, then its panel).
    page.wait_for_function(f"() => document.body.innerText.includes('{name}')", timeout=60_000)
    if frontend == "newest":
        page.get_by_text("View details").first.click()
        page.wait_for_timeout(800)
        assert "Unknown" not in page.evaluate("() => document.querySelector('[data-testid=\"properties-panel\"], aside, body').innerText")
    assert page.locator(f"text={name}").count() >= 1
    ui_page.screenshot(tmp_path, f"missing_model_list_{frontend}_{mode}")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    said = f"Model not found: {name} (Wan 2.1 T2V 14B, a file)"
    fix = f"Put it in models/diffusion_models. Download: {url}."
    # ComfyUI's validation: one message, on the node that names the model.
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    answer = server.post("/prompt", {"prompt": prompt, "client_id": "wan-compat-tests"})
    errors = [(node, e) for node, entry in answer["node_errors"].items() for e in entry["errors"]]
    assert len(errors) == 1, errors  # one line, not one per path input of every node
    node, error = errors[0]
    assert node == str(detect["id"]) and error["extra_info"]["input_name"] == "model"
    assert error["details"].startswith(f"model - {said}. Fix: {fix}") and str(server.base) not in error["details"]
    # The pack's queue check: the same words, the link clickable once, nothing absolute.
    page.evaluate("() => { app.queuePrompt(0, 1); }")  # not awaited: it waits on the dialog
    dialog = page.wait_for_selector(".wan-workflow-check-dialog", timeout=60_000)
    item = page.locator(".wan-workflow-check-dialog li.wan-missing-file").first
    assert said in item.inner_text() and f"Fix: {fix}" in item.inner_text() and str(server.base) not in dialog.inner_text()
    assert page.evaluate("() => [...document.querySelectorAll('.wan-workflow-check-dialog a')].map(a => [a.href, a.target])") == [[url, "_blank"]]
    ui_page.screenshot(tmp_path, f"missing_model_check_{frontend}_{mode}")
    page.click(".wan-workflow-check-dialog >> text=Queue anyway")
    if frontend == "newest":  # 1.58 lists the node and input; the message is the tooltip of the entry's (i)
        page.get_by_text("View details").first.click()
        entry = page.get_by_text("Wan Detect Architecture - model").first
        entry.locator("xpath=..").locator("button, i, svg, [class*=icon]").first.hover()
    page.wait_for_function(f"() => document.body.innerText.includes('{said}')", timeout=60_000)
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
