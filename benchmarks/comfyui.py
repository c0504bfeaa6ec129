"""The pack in a real ComfyUI: import time at start-up and queue-to-video time of the T2V workflow.

    COMFYUI_DIR=/path/to/ComfyUI python benchmarks/comfyui.py [--runs 9]

1. Import time. ComfyUI prints one decimal per pack; for a sharper figure each of --runs fresh
   processes (ComfyUI's Python) first imports what ComfyUI has imported before it loads custom
   nodes (torch, numpy, PIL), then loads the pack the way ComfyUI's `load_custom_node` does
   (`spec_from_file_location`, `exec_module`, `NODE_CLASS_MAPPINGS`, `WEB_DIRECTORY`). Beside it:
   the same steps on an empty pack (the floor). Goal: <= 0.1 s.
2. Queue to video: the shipped `wan21_t2v_1.3B` workflow, converted as the frontend does, with the
   tiny stand-in model and sizes shrunk for CPU (64x64, 5 frames, 2 steps), from POST /prompt to
   the finished history entry. The first run imports torch/diffusers in the server and loads the
   model; later runs change the seed, so sampling, frames, encoding and diagnosis run again while
   the loaded pipeline stays cached (as in ComfyUI use).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD_LIKE_COMFYUI = r"""
import importlib.util, sys, time
import torch, numpy, PIL.Image  # already imported by ComfyUI before custom nodes load
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location(path.replace(".", "_x_"), path + "/__init__.py")
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
mappings = getattr(module, "NODE_CLASS_MAPPINGS", None) or {}
getattr(module, "WEB_DIRECTORY", None)
for name, cls in mappings.items():
    cls.RELATIVE_PYTHON_MODULE = "custom_nodes.x"
print((time.perf_counter() - started) * 1000, len(mappings), [m for m in ("diffusers", "transformers") if m in sys.modules])
"""


def import_times(python: str, runs: int) -> dict[str, float]:
    empty = Path(tempfile.mkdtemp()) / "empty_pack"
    empty.mkdir()
    (empty / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    samples: dict[str, list[float]] = {"empty pack (floor)": [], "comfyui-wan-compat": []}
    heavy: list[str] = []
    for _ in range(runs):
        for label, path in (("empty pack (floor)", empty), ("comfyui-wan-compat", ROOT)):
            out = subprocess.run([python, "-c", LOAD_LIKE_COMFYUI, str(path)], capture_output=True, text=True, check=True).stdout.split(maxsplit=2)
            samples[label].append(float(out[0]))
            if label == "comfyui-wan-compat":
                heavy = json.loads(out[2].replace("'", '"'))
    result = {k: statistics.median(v) for k, v in samples.items()}
    result["heavy modules imported"] = heavy  # type: ignore[assignment]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    comfy_dir = os.environ.get("COMFYUI_DIR")
    if not comfy_dir:
        print("set COMFYUI_DIR to a ComfyUI checkout whose Python has this pack's requirements", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "tools"))  # the development harnesses
    import comfyui_server as cs
    from wan_compat.compat.fixtures.tiny import tiny_pipeline_path
    from workflow_graph import to_api_prompt
    from workflow_specs import workflow_path

    root = Path(comfy_dir)
    python = cs.comfy_python(root)
    times = import_times(python, args.runs)
    print(f"## import at ComfyUI start-up (median of {args.runs} fresh processes, ms)")
    print("| what | ms |\n|---|---:|")
    for label in ("empty pack (floor)", "comfyui-wan-compat"):
        print(f"| {label} | {times[label]:.1f} |")
    print(f"| goal | 100.0 |\n\nheavy modules imported by the pack: {times['heavy modules imported'] or 'none'}")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        tiny = {variant: tiny_pipeline_path(variant, cache) for variant in set(cs.STAND_INS.values())}
        base = cs.prepare_base(Path(tmp) / "base", tiny)
        server = cs.start(root, base, python)
        try:
            printed = cs.import_seconds(server)
            info = server.get("/object_info")
            workflow = json.loads(workflow_path("wan21_t2v_1.3B").read_text())
            small = {"width": 64, "height": 64, "num_frames": 5}
            seconds = []
            for run in range(1 + max(1, args.runs // 2)):
                prompt = to_api_prompt(workflow, info, {"WanSample": {**small, "steps": 2, "seed": 1000 + run},
                                                        "WanSafeLoad": {"config_path": cs.stand_in_config(base, "wan2.1-t2v-1.3b")}})
                entry, elapsed = server.run(prompt)
                if entry["status"]["status_str"] != "success":
                    print(json.dumps(entry["status"], indent=1)[:3000], file=sys.stderr)
                    return 1
                seconds.append(elapsed)
        finally:
            cs.stop(server)
    print(f"\nComfyUI's own figure for the pack: {printed} s (it prints one decimal)\n")
    print("## queue to video, wan21_t2v_1.3B workflow, tiny model, 64x64, 5 frames, 2 steps, CPU")
    print("| run | seconds |\n|---|---:|")
    print(f"| first (server imports torch/diffusers, loads the model) | {seconds[0]:.2f} |")
    print(f"| later (new seed; loaded pipeline cached), median of {len(seconds) - 1} | {statistics.median(seconds[1:]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
