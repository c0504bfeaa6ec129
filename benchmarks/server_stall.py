"""Load test: does any hostile request make a real ComfyUI with the pack slower to answer others?

    COMFYUI_DIR=/path/to/ComfyUI python benchmarks/server_stall.py [--window 4] [--pack DIR]

Two ComfyUI servers run side by side on 127.0.0.1 (nothing else is reached): one with the pack
(`--pack`, this checkout by default; another checkout, e.g. `main`, shows the old behaviour) and one
without it, each with the same models/ folder (hostile files included). For each attack of the
third security round, for a window of --window seconds on each server in turn, one client sends the
hostile request again and again while another polls `GET /queue` on a kept-alive connection.
Windows alternate between the servers for --rounds rounds; the table shows, with the pack and
without, the worst poll of each window (the median over the rounds, and the single worst of all),
the median poll, and the added delay (median worst with - median worst without). Goal: <= 100 ms.
The loop is bounded (attacks x rounds x servers x --window seconds) and stops by itself. The
machine is shared and its noise reaches single polls, so the load average is printed too.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from comfyui_server import Server, comfy_python, start, stop  # noqa: E402

PREVIEW = {"90": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
           "91": {"class_type": "PreviewImage", "inputs": {"images": ["90", 0]}}}


def _quadratic_json(size: int) -> bytes:
    """An unterminated string of escaped quotes: quadratic for the old pre-parse depth check."""
    return b'{"a": "' + b'\\"' * (size // 2)


def hostile_models(models: Path) -> None:
    """The red team's files: a 48 KB hostile LoRA and safetensors file, a 48 KB model_index.json."""
    (models / "loras").mkdir(parents=True, exist_ok=True)
    header = _quadratic_json(48 * 1024)
    (models / "loras" / "hostile.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (models / "diffusion_models").mkdir(parents=True, exist_ok=True)
    (models / "diffusion_models" / "hostile.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (models / "diffusers" / "Hostile").mkdir(parents=True, exist_ok=True)
    (models / "diffusers" / "Hostile" / "model_index.json").write_bytes(_quadratic_json(48 * 1024))


def fan_out(levels: int = 12, width: int = 3) -> dict:
    subgraphs = [{"id": f"sg{i}", "nodes": [{"id": j + 1, "type": f"sg{i + 1}" if i + 1 < levels else "VAELoader",
                                             "widgets_values": ["x.safetensors"]} for j in range(width)], "links": []}
                 for i in range(levels)]
    return {"nodes": [{"id": 1, "type": "sg0"}], "links": [], "definitions": {"subgraphs": subgraphs}}


def attacks() -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """name -> (path, body, headers): each body encoded once, before any window starts."""
    json_headers = {"Content-Type": "application/json"}
    lora_prompt = {"1": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "hostile.safetensors", "strength_model": 1.0,
                                                                         "model": ["2", 0]}},
                   "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "hostile.safetensors", "weight_dtype": "default"}}, **PREVIEW}
    message = ("Pipeline X expected [], but only {" * 600)[:20000]
    return {
        "explain: 20,000-char message": ("/wan_compat/explain_error", json.dumps({"message": message}).encode(), json_headers),
        "check: 48 KB hostile LoRA + model": ("/wan_compat/check_workflow", json.dumps({"prompt": lora_prompt}).encode(), json_headers),
        "check: 48 KB model_index.json": ("/wan_compat/check_workflow", json.dumps({"prompt": {"1": {
            "class_type": "WanDetectArchitecture", "inputs": {"model": "diffusers/Hostile"}}}}).encode(), json_headers),
        "check: subgraph fan-out 3^12": ("/wan_compat/check_workflow", json.dumps({"workflow": fan_out()}).encode(), json_headers),
        "/prompt: hostile LoRA (queued)": ("/prompt", json.dumps({"prompt": lora_prompt, "client_id": "attacker"}).encode(), json_headers),
        "/prompt: fan-out (rejected)": ("/prompt", json.dumps({"prompt": fan_out(), "client_id": "attacker"}).encode(), json_headers),
        "check: 17 MB chunked body": ("/wan_compat/check_workflow", b" " * (17 << 20), {**json_headers, "Transfer-Encoding": "chunked"}),
    }


def _send(server: Server, path: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        server.post_raw(path, body, {k: v for k, v in headers.items() if k != "Transfer-Encoding"}, chunked="Transfer-Encoding" in headers)
    except (OSError, http.client.HTTPException):
        pass  # a refused or reset request is an answer too


def window(server: Server, attack: tuple[str, bytes, dict[str, str]] | None, seconds: float) -> list[float]:
    """Poll GET /queue for `seconds` while `attack` is sent again and again; the poll latencies (s)."""
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []

    def attacker() -> None:
        while attack is not None and time.monotonic() < stop_at:
            _send(server, *attack)

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    poll = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=120)
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        poll.request("GET", "/queue")
        poll.getresponse().read()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    poll.close()
    thread.join(timeout=180)
    time.sleep(1.0)  # let background work of the last request end before the next window
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=3.0, help="seconds per attack, server and round")
    parser.add_argument("--rounds", type=int, default=3, help="windows per attack and server, alternated")
    parser.add_argument("--pack", type=Path, default=ROOT, help="the pack checkout to load (default: this one)")
    args = parser.parse_args()
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", ""))
    python = comfy_python(comfy_dir) if comfy_dir.is_dir() else None
    if python is None:
        sys.exit("set COMFYUI_DIR to a ComfyUI checkout with its venv")
    work = Path(tempfile.mkdtemp(prefix="wan-stall-"))
    servers = {}
    try:
        for label, with_pack in (("with the pack", True), ("without", False)):
            base = work / label.replace(" ", "_")
            (base / "custom_nodes").mkdir(parents=True)
            if with_pack:
                (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(args.pack.resolve(), target_is_directory=True)
            hostile_models(base / "models")
            servers[label] = start(comfy_dir, base, python)
        rows = []
        for name, attack in [("(no attack)", None), *attacks().items()]:
            worsts: dict[str, list[float]] = {label: [] for label in servers}
            polls: dict[str, list[float]] = {label: [] for label in servers}
            for _ in range(args.rounds):
                for label, server in servers.items():  # the two servers in turn, same attack
                    found = window(server, attack, args.window)
                    worsts[label].append(max(found))
                    polls[label] += found
            row = [name] + [f(worsts[label]) for f in (statistics.median, max) for label in servers] + [statistics.median(polls[label]) for label in servers]
            rows.append(row)
            print(f"  {name}: worst per window {[round(w * 1000) for w in worsts['with the pack']]} ms with the pack, "
                  f"{[round(w * 1000) for w in worsts['without']]} ms without", flush=True)
        print(f"\n{'attack':<34} {'worst with':>11} {'worst without':>14} {'added':>7} {'max with':>9} {'max without':>12} "
              f"{'median with':>12} {'median without':>15}")
        for name, w_with, w_without, x_with, x_without, m_with, m_without in rows:
            print(f"{name:<34} {w_with * 1000:>9.0f}ms {w_without * 1000:>12.0f}ms {(w_with - w_without) * 1000:>5.0f}ms "
                  f"{x_with * 1000:>7.0f}ms {x_without * 1000:>10.0f}ms {m_with * 1000:>10.1f}ms {m_without * 1000:>13.1f}ms")
        added = max(r[1] - r[2] for r in rows[1:])
        print(f"\nworst added delay over all attacks: {added * 1000:.0f} ms (goal <= 100 ms); pack: {args.pack}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine: noisy)")
    finally:
        for server in servers.values():
            stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
