"""Wan Safe Load (native) against ComfyUI's own loaders, on real-size random-weight files, in ComfyUI's Python.

    COMFYUI_DIR=/path/to/ComfyUI $COMFYUI_DIR/venv/bin/python benchmarks/native_load.py [--runs 3] [--text-encoder] [--keep DIR]

Files (written by the pack's fixtures, `compat/fixtures/filled.py`, in the Comfy-Org naming): the
Wan 2.1 T2V 1.3B diffusion model (bf16, `model.diffusion_model.` keys), the Wan 2.1 VAE (bf16) and,
with --text-encoder, UMT5-XXL in ComfyUI's scaled fp8 with a real (tiny) tokenizer (6.7 GB).

Each measurement is a fresh process (so no allocator or cache state is shared) that first imports
ComfyUI's modules and the pack, then times one load call of a set of files: ComfyUI's UNETLoader,
VAELoader and CLIPLoader (type wan) as its nodes call them, against the pack's node loading the same
set (a VAE or a text encoder alone: the node's steps without building the diffusion model, which
the node always builds). "first" is the first call in the process (as a ComfyUI session's first
native load); "again" a second call of the same set in that process. Memory: this process's
anonymous memory (RssAnon, not the file's page cache) added by the first call while the built
models are held, and its peak during the call (sampled every 2 ms). The files are read once before
each process so both find them in the page cache. Runs alternate ComfyUI and the pack; medians; the
load average is printed with the table.
Goals: pack / ComfyUI <= 1.1 (time), <= 1.05 (anonymous memory).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import comfy_inside  # noqa: E402

FILES = {"model": ("diffusion_models", "wan2.1_t2v_1.3B_bf16.safetensors"), "vae": ("vae", "wan_2.1_vae.safetensors"),
         "text_encoder": ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")}


def write_files(models: Path, text_encoder: bool) -> None:
    from wan_compat.compat.fixtures import filled, sparse
    from wan_compat.compat.fixtures.tiny import sentencepiece_model

    wanted = {"model": ("wan2.1-t2v-1.3b", "bf16", sparse.original_transformer_names, "model.diffusion_model."),
              "vae": ("wan2.1-vae", "bf16", sparse.original_names("wan2.1-vae"), "")}
    if text_encoder:
        wanted["text_encoder"] = ("umt5-xxl", "fp8_scaled", None, "")
    for part, (variant, dtype, rename, prefix) in wanted.items():
        folder, name = FILES[part]
        path = models / folder / name
        if not path.is_file():
            started = time.perf_counter()
            fixed = {"spiece_model": sentencepiece_model()} if part == "text_encoder" else None
            filled.write_filled(path, sparse.component_entries(variant, dtype, rename, prefix), fixed=fixed)
            print(f"wrote {name} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - started:.0f} s", flush=True)


class AnonPeak:
    """The peak of this process's anonymous memory while the `with` body runs (sampled)."""

    def __enter__(self) -> "AnonPeak":
        self.peak, self._stop = comfy_inside.anon_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, comfy_inside.anon_bytes())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, comfy_inside.anon_bytes())


def child(loader: str, parts: list[str], comfy_dir: str, models: Path) -> None:
    """One process: imports, then the set loaded twice; prints one JSON line."""
    comfy_inside.start(comfy_dir, models)
    import comfy.sd  # noqa: F401 - what ComfyUI has imported before any node runs

    from wan_compat.nodes.native_load import WanSafeLoadNative

    paths = {p: models / FILES[p][0] / FILES[p][1] for p in parts}
    comfy_calls = {"model": comfy_inside.comfy_unet, "vae": comfy_inside.comfy_vae, "text_encoder": comfy_inside.comfy_clip}

    def load() -> dict:
        if loader == "comfy":
            return {p: comfy_calls[p](paths[p]) for p in parts}
        if "model" in parts:  # the node itself
            choice = {p: f"{FILES[p][0]}/{FILES[p][1]}" if p in parts else "none" for p in FILES}
            return {"result": WanSafeLoadNative().load(**choice)["result"]}
        return pack_parts(parts, models, paths)

    out = {}
    for label in ("first", "again"):
        gc.collect()
        before = comfy_inside.anon_bytes()
        with AnonPeak() as peak:
            started = time.perf_counter()
            built = load()
            seconds = time.perf_counter() - started
        out[label] = seconds
        if label == "first":
            out["anon_added"], out["anon_peak_added"] = comfy_inside.anon_bytes() - before, peak.peak - before
        del built
    print(json.dumps(out), flush=True)


def pack_parts(parts: list[str], models: Path, paths: dict[str, Path]) -> dict:
    """A VAE or text encoder through the node's own steps without building the diffusion model
    (the node always builds one): the set verified with the model file (headers only), then only
    these parts built by ComfyUI's constructors from the mapped tensors, the files verified after."""
    from wan_compat.compat.loading.verified_state import verified_state_dicts
    from wan_compat.nodes import comfy_native
    from wan_compat.nodes.native_load import BUILDERS

    model = models / FILES["model"][0] / FILES["model"][1]
    built = {}
    with verified_state_dicts(model, **paths, roots=[str(models)]) as checked:
        for part in parts:
            label, constructor = BUILDERS[part]
            built[part] = comfy_native.build(label, constructor, checked.tensors.pop(part))
    return built


def _read_through(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(64 * 2**20):
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--text-encoder", action="store_true", help="add UMT5-XXL fp8_scaled (6.7 GB file, about 7 GB of RAM)")
    parser.add_argument("--keep", help="write the files here and keep them (default: a temp folder, removed)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    comfy_dir = os.environ.get("COMFYUI_DIR", "")
    if not comfy_dir:
        print("set COMFYUI_DIR and run this with ComfyUI's Python", file=sys.stderr)
        return 2
    if args.child:
        child(args.child[0], args.child[2:], comfy_dir, Path(args.child[1]))
        return 0
    with tempfile.TemporaryDirectory(prefix="wan-native-load-") as tmp:
        models = Path(args.keep or tmp) / "models"
        comfy_inside.start(comfy_dir, models)
        write_files(models, args.text_encoder)
        sets = [["model"], ["vae"], ["model", "vae"]] + ([["text_encoder"]] if args.text_encoder else [])
        rows = []
        for parts in sets:
            samples: dict[str, list[dict]] = {"comfy": [], "pack": []}
            for _ in range(args.runs):
                for loader in ("comfy", "pack"):
                    _read_through([models / FILES[p][0] / FILES[p][1] for p in parts])
                    run = subprocess.run([sys.executable, __file__, "--child", loader, str(models), *parts], capture_output=True, text=True)
                    if run.returncode != 0:
                        print(run.stderr[-3000:], file=sys.stderr)
                        return 1
                    samples[loader].append(json.loads(run.stdout.strip().splitlines()[-1]))
            med = {loader: {k: statistics.median(s[k] for s in found) for k in found[0]} for loader, found in samples.items()}
            rows.append((" + ".join(parts), med["comfy"], med["pack"]))
    load = os.getloadavg()
    print(f"\n## Wan Safe Load (native) vs ComfyUI's loaders, real-size random weights, CPU (medians of {args.runs} alternated "
          f"fresh processes; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
    print("| files | ComfyUI first s | pack first s | ratio | ComfyUI again s | pack again s | ratio | ComfyUI anon GiB | pack anon GiB | ratio | ComfyUI anon peak GiB | pack anon peak GiB | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for parts, theirs, ours in rows:
        cells = [parts]
        for key, scale in (("first", 1), ("again", 1), ("anon_added", 2**30), ("anon_peak_added", 2**30)):
            cells += [f"{theirs[key] / scale:.2f}", f"{ours[key] / scale:.2f}", f"{ours[key] / theirs[key]:.2f}"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
