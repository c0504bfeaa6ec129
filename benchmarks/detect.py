"""Detection benchmark: `wan-compat inspect` against the bare header read (the floor) and against
diffusers' own single-file detection on the same headers, plus an accuracy table of both.

Whole processes are timed twice: without cached bytecode (PYTHONDONTWRITEBYTECODE=1, as these
machines run: the pack's modules are compiled at every start) and with it (a private
PYTHONPYCACHEPREFIX, filled by a first run). Goals: inspect <= 2 x the floor with bytecode, <= 3 x
without. Also the pack's import as ComfyUI imports a custom node (after torch, numpy and PIL, which
ComfyUI has imported by then), with and without bytecode, in ComfyUI's Python when COMFYUI_DIR is
set: goal <= 5 ms with bytecode. The load average is printed with each table.

Run: python benchmarks/detect.py [--runs 15]
Everything is built in a temp folder as sparse files (a few MB on disk); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent

# diffusers' single-file model types and what each one loads (its default config repo)
DIFFUSERS_MEANING = {
    "wan-t2v-1.3B": "wan2.1-t2v-1.3b",
    "wan-t2v-14B": "wan2.1-t2v-14b",
    "wan-i2v-14B": "wan2.1-i2v-14b-480p",
    "wan-vace-1.3B": "wan2.1-vace-1.3b",
    "wan-vace-14B": "wan2.1-vace-14b",
    "wan-animate-14B": "wan2.2-animate-14b",
}


def _header(path: Path) -> dict:
    import struct

    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        doc = json.loads(fh.read(n))
    doc.pop("__metadata__", None)
    return doc


def diffusers_infer(path: Path) -> str:
    """diffusers' own detection, fed the header's names and shapes (it only reads `.shape`)."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    checkpoint = {k: SimpleNamespace(shape=tuple(v["shape"])) for k, v in _header(path).items()}
    return infer_diffusers_model_type(checkpoint)


def bytecode_env(cached: bool, cache: str) -> dict[str, str]:
    """The environment of a process with the pack's bytecode cached in `cache` or never written."""
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def process_times(cmds: dict[str, list[str]], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median wall time of each command as a whole process, runs interleaved to share the noise
    (one untimed round first: the page cache, and with a bytecode cache its files)."""
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for run in range(runs + 1):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if run:
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(v) for name, v in samples.items()}


def pack_import_ms(runs: int, cache: str) -> list[tuple[str, float, float]]:
    """(mode, the pack's import ms, an empty pack's ms) as ComfyUI imports custom nodes, medians."""
    sys.path.insert(0, str(HERE))
    from comfyui import LOAD_LIKE_COMFYUI

    root = HERE.parent
    python = sys.executable
    comfy_dir = os.environ.get("COMFYUI_DIR")
    if comfy_dir:
        sys.path.insert(0, str(root / "tools"))
        from comfyui_server import comfy_python

        python = comfy_python(Path(comfy_dir)) or python
    empty = Path(cache).parent / "empty_pack"
    empty.mkdir(exist_ok=True)
    (empty / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    out = []
    for cached in (False, True):
        env = bytecode_env(cached, cache)
        found: dict[str, list[float]] = {"pack": [], "empty": []}
        for run in range(runs + 1):
            for label, path in (("pack", root), ("empty", empty)):
                done = subprocess.run([python, "-c", LOAD_LIKE_COMFYUI, str(path)], capture_output=True, text=True, check=True, env=env)
                if run:
                    found[label].append(float(done.stdout.split()[0]))
        out.append(("with bytecode" if cached else "without bytecode", statistics.median(found["pack"]), statistics.median(found["empty"])))
    return out


def in_process_ms(fn, repeat: int = 30) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) * 1000 / repeat


def expected_label(variant: str) -> str:
    from wan_compat.compat.detect import registry

    v = registry.by_id(variant)
    return f"{v['version']} {v['task']} {v['size']}" if v.kind == "transformer" else f"{v.kind} {v.get('version', '')}".strip()


def our_label(info) -> str:
    if info.kind == "transformer":
        return f"{info.version} {info.task} {info.size}"
    return f"{info.kind} {info.version or ''}".strip()


def diffusers_label(model_type: str, kind: str) -> str:
    from wan_compat.compat.detect import registry

    variant = DIFFUSERS_MEANING.get(model_type)
    if variant is None:
        return model_type
    if kind == "vae":
        return "vae 2.1"  # every Wan VAE maps to the 2.1 VAE config
    return expected_label(variant)


def accuracy_rows(root: Path) -> list[tuple[str, str, str, str]]:
    from wan_compat.compat.detect.detector import ArchitectureDetector
    from wan_compat.compat.fixtures import sparse
    from wan_compat.compat.detect import registry

    detector = ArchitectureDetector()
    rows = []
    for variant in registry.variants("transformer"):
        if variant["config"] is None:
            continue
        names = variant.get("comfy_files") or [f"{variant.id}.safetensors"]
        for dtype in ("bf16", "fp8_scaled"):
            for prefix in ("", "model.diffusion_model."):
                name = names[0].replace("fp16", dtype)
                path = sparse.write_single_file(root / "acc" / f"{variant.id}-{dtype}-{bool(prefix)}" / name, variant.id, dtype,
                                                prefix=prefix, rename=sparse.original_transformer_names)
                rows.append((f"{name}{' (prefixed)' if prefix else ''}", expected_label(variant.id),
                             our_label(detector.inspect(path)), diffusers_label(diffusers_infer(path), "transformer")))
    for variant in registry.variants("vae"):
        path = sparse.write_single_file(root / "acc" / variant.id / variant["comfy_files"][0], variant.id,
                                        rename=sparse.original_names(variant.id))
        rows.append((variant["comfy_files"][0], expected_label(variant.id), our_label(detector.inspect(path)),
                     diffusers_label(diffusers_infer(path), "vae")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from wan_compat.compat.fixtures import sparse
    from wan_compat.compat.detect.detector import ArchitectureDetector

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        single = sparse.write_single_file(root / "wan2.1_t2v_14B_bf16.safetensors", "wan2.1-t2v-14b", "bf16",
                                          rename=sparse.original_transformer_names)
        folder = sparse.write_pipeline_folder(root / "Wan2.2-T2V-A14B-Diffusers", "wan2.2-t2v-a14b")
        gib = single.stat().st_size / 2**30
        shards = len(list(folder.rglob("*.safetensors")))
        py = sys.executable
        script = Path(py).parent / "wan-compat"
        print(f"inputs: single file {gib:.1f} GiB; A14B diffusers folder with {shards} safetensors files "
              f"({sum(p.stat().st_size for p in folder.rglob('*.safetensors')) / 2**30:.1f} GiB)\n")
        diffusers_cmd = [py, "-c", f"import sys; sys.path.insert(0, {str(HERE)!r}); import detect; print(detect.diffusers_infer(__import__('pathlib').Path({str(single)!r})))"]
        cache = str(root / "pycache")
        for label, target in (("single file", single), ("A14B folder", folder)):
            cmds = {
                "bare header read (floor)": [py, str(HERE / "bare_header_read.py"), str(target)],
                "wan-compat inspect --json": [str(script), "inspect", str(target), "--json"],
                "python -m wan_compat inspect --json": [py, "-m", "wan_compat", "inspect", str(target), "--json"],
            }
            if target is single:
                cmds["diffusers infer_diffusers_model_type"] = diffusers_cmd
            for cached in (False, True):
                times = process_times(cmds, args.runs, bytecode_env(cached, cache))
                floor = times["bare header read (floor)"]
                load = os.getloadavg()
                print(f"## whole processes, {label}, {'with' if cached else 'without'} cached bytecode (median of {args.runs}; "
                      f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
                print(f"| {'command':<40} | {'ms':>8} | {'x floor':>8} |")
                print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|")
                for name, ms in times.items():
                    print(f"| {name:<40} | {ms:8.1f} | {ms / floor:8.2f} |")
                print()
        load = os.getloadavg()
        print(f"## importing the pack as ComfyUI does, ms (median of {args.runs}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
        print("| bytecode | comfyui-wan-compat | an empty pack (floor) | goal |\n|---|---:|---:|---:|")
        for mode, ours, empty in pack_import_ms(args.runs, cache):
            print(f"| {mode} | {ours:.1f} | {empty:.1f} | {'5.0' if mode == 'with bytecode' else ''} |")
        print()
        detector = ArchitectureDetector()
        bare = in_process_ms(lambda: _header(single))
        ours = in_process_ms(lambda: detector.inspect(single))
        theirs = in_process_ms(lambda: diffusers_infer(single))
        ours_folder = in_process_ms(lambda: detector.inspect(folder), repeat=10)
        print("## in process (warm), single file")
        print(f"| {'step':<40} | {'ms':>8} | {'x floor':>8} |")
        print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|")
        for name, ms in (("json header read (floor)", bare), ("ArchitectureDetector.inspect", ours),
                         ("diffusers infer (header -> type)", theirs)):
            print(f"| {name:<40} | {ms:8.2f} | {ms / bare:8.2f} |")
        print(f"| {'ArchitectureDetector.inspect (A14B folder)':<40} | {ours_folder:8.2f} |          |\n")

        rows = accuracy_rows(root)
        print("## accuracy on sparse real-size ComfyUI-style files, original key naming (what each tool says the file is)")
        print(f"| {'file':<58} | {'truth':<14} | {'wan-compat':<14} | {'diffusers':<14} |")
        print(f"|{'-' * 60}|{'-' * 16}|{'-' * 16}|{'-' * 16}|")
        for name, truth, ours_label, theirs_label in rows:
            mark = lambda x: x + ("" if x == truth else " ✗")  # noqa: E731
            print(f"| {name:<58} | {truth:<14} | {mark(ours_label):<14} | {mark(theirs_label):<14} |")
        ok = sum(r[2] == r[1] for r in rows)
        theirs_ok = sum(r[3] == r[1] for r in rows)
        print(f"\ncorrect: wan-compat {ok}/{len(rows)}, diffusers {theirs_ok}/{len(rows)}")


if __name__ == "__main__":
    main()
