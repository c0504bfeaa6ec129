"""What the queue check adds to queueing: the pack's route beside the prompt POST alone, in one
real ComfyUI server, for the official two-expert Wan 2.2 14B T2V template (with its lightx2v LoRAs).

    COMFYUI_DIR=/path/to/ComfyUI python benchmarks/workflow_check.py [--runs 15]

The server's models/ holds sparse real-size files (headers only) under the template's names.
- route, first call: every header read for the first time in the server process;
- route, warm: what each later queue costs (headers cached per file identity);
- prompt POST alone: ComfyUI's own /prompt for the same graph in API form. The samplers' sampler_name
  is made invalid so ComfyUI validates the whole graph and then refuses it (nothing executes: the
  sparse 27 GiB experts must never be loaded); a real queue costs this plus putting it in the queue.
- in process, warm: `check_workflow` itself (no HTTP), for the same template of both template
  generations: 0.1.95 and the newest comfyui-workflow-templates-json (one subgraph, switches
  choosing the LoRA branch; the switch set to the LoRA branch so LoRA key coverage is included).
Goal: the check adds <= 10 ms warm. Prints two tables with the load average; no limits asserted.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from comfyui_server import PACK_ROOT, comfy_python, start, stop  # noqa: E402
from workflow_graph import to_api_prompt  # noqa: E402

TEMPLATE = "video_wan2_2_14B_t2v.json"


def _timed(call) -> tuple[float, object]:  # noqa: ANN001
    started = time.perf_counter()
    answer = call()
    return (time.perf_counter() - started) * 1000, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", ""))
    python = comfy_python(comfy_dir) if comfy_dir.name else None
    if python is None:
        print("set COMFYUI_DIR to a ComfyUI checkout with its venv", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT.parent))
    import comfyui_workflow_templates

    from wan_compat.compat.fixtures.template_files import write_template_file
    from wan_compat.compat.workflow.graph import parse
    from wan_compat.compat.workflow.node_table import LOADERS

    workflow = json.loads((Path(comfyui_workflow_templates.get_templates_path()) / TEMPLATE).read_text(encoding="utf-8"))
    base = Path(tempfile.mkdtemp(prefix="wan_check_bench_"))
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(PACK_ROOT, target_is_directory=True)
    graph = parse(workflow)
    for node in graph.nodes.values():
        for widget, folder, _ in LOADERS.get(node.type, []):
            if node.active and isinstance(node.widgets.get(widget), str):
                write_template_file(base / "models", folder, node.widgets[widget])
    server = start(comfy_dir, base, python)
    try:
        info = server.get("/object_info")
        ui_only = copy.deepcopy(workflow)
        ui_only["nodes"] = [n for n in ui_only["nodes"] if n["type"] in info]
        prompt = to_api_prompt(ui_only, info)
        for node in prompt.values():
            if node["class_type"].startswith("KSampler"):
                node["inputs"]["sampler_name"] = "not-a-sampler"  # validated, refused, never executed
        first, answer = _timed(lambda: server.post("/wan_compat/check_workflow", {"workflow": workflow}))
        assert answer["ok"], answer["problems"]
        route, post = [], []
        for _ in range(args.runs):
            route.append(_timed(lambda: server.post("/wan_compat/check_workflow", {"workflow": workflow}))[0])
            ms, refused = _timed(lambda: server.post("/prompt", {"prompt": prompt, "client_id": "bench"}))
            if "prompt_id" in refused:  # must never run: the experts are 27 GiB sparse files
                server.post("/interrupt", {})
                server.post("/queue", {"clear": True})
                raise SystemExit(f"ComfyUI queued the prompt instead of refusing it: {refused}")
            post.append(ms)
    finally:
        stop(server)
    files = len(answer["files"])
    rows = [
        ("route, first call (headers read)", first),
        ("route, warm (median)", statistics.median(route)),
        ("prompt POST alone (median)", statistics.median(post)),
        ("route / prompt POST", statistics.median(route) / statistics.median(post)),
    ]
    print(f"{TEMPLATE}: {files} files picked, {args.runs} runs, ComfyUI at {comfy_dir}")
    print(f"{'measure':<36} {'value':>10}")
    for label, value in rows:
        unit = "x" if "/" in label else "ms"
        print(f"{label:<36} {value:>8.1f} {unit}")
    print(f"load average {os.getloadavg()[0]:.2f}; in process (check_workflow, warm median of {args.runs}):")
    for label, ms in _in_process(args.runs):
        print(f"{label:<36} {ms:>8.2f} ms")
    return 0


def _in_process(runs: int) -> list[tuple[str, float]]:
    """check_workflow's own time, warm, on both template generations of the two-expert 14B T2V."""
    import comfyui_workflow_templates

    from wan_compat.compat.fixtures.template_files import write_template_file
    from wan_compat.compat.workflow.folders import ModelFolders
    from wan_compat.compat.workflow.graph import parse
    from wan_compat.compat.workflow.node_table import LOADERS
    from wan_compat.compat.workflow.report import check_workflow

    docs = {"0.1.95": json.loads((Path(comfyui_workflow_templates.get_templates_path()) / TEMPLATE).read_text(encoding="utf-8"))}
    try:
        import comfyui_workflow_templates_json

        newest = json.loads((Path(comfyui_workflow_templates_json.__file__).parent / "templates" / TEMPLATE).read_text(encoding="utf-8"))
        for sg in newest["definitions"]["subgraphs"]:
            for node in sg["nodes"]:
                if node["type"] == "PrimitiveBoolean":
                    node["widgets_values"][0] = True  # the 4-step LoRA branch
        docs["newest (subgraph, switch on)"] = newest
    except ImportError:
        pass
    models = Path(tempfile.mkdtemp(prefix="wan_check_inproc_")) / "models"
    for doc in docs.values():
        for node in parse(doc).nodes.values():
            for widget, folder, _ in LOADERS.get(node.type, []):
                if isinstance(node.widgets.get(widget), str):
                    write_template_file(models, folder, node.widgets[widget])
    folders = ModelFolders()
    folders.add_models_root(models)
    rows = []
    for label, doc in docs.items():
        check_workflow(doc, folders)
        times = [check_workflow(doc, folders)["elapsed_ms"] for _ in range(runs)]
        rows.append((f"{label}, warm", statistics.median(times)))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
