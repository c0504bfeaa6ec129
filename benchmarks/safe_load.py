"""Safe-load benchmark: what the checks cost, measured side by side in one process.

1. Each tiny variant loaded by `load_pipeline` as a diffusers folder and as single files in the
   original naming, beside a plain `DiffusionPipeline.from_pretrained` of the same folder (no checks).
2. The static pickle scan of a real `torch.save` file with the key names and shapes of Wan 2.1
   T2V 14B (1095 tensors; each stored as one element expanded to its real shape, so the pickle is
   the real size while the data is tiny), beside `torch.load(weights_only=True)` and sha256 of
   the same file.

Run: python benchmarks/safe_load.py [--runs 5]
Everything is built in a temp folder; nothing is downloaded.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: imports, page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def load_table(root: Path, runs: int) -> list[tuple[str, float, float, float]]:
    from diffusers import DiffusionPipeline

    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.fixtures.tiny import TINY_VARIANTS, tiny_pipeline_path
    from wan_compat.compat.loading.key_naming import COMFY_PREFIX
    from wan_compat.compat.loading import load_pipeline

    rows = []
    for variant in TINY_VARIANTS:
        folder = tiny_pipeline_path(variant, root / "tiny")
        files = export_single_files(folder, root / "single" / variant, prefix=COMFY_PREFIX, name=variant)
        parts = {"vae": files["vae"], "text_encoder": files["text_encoder"], "transformer_2": files.get("transformer_2"),
                 "clip_vision": files.get("clip_vision")}
        raw = median_ms(lambda: DiffusionPipeline.from_pretrained(folder), runs)
        safe_folder = median_ms(lambda: load_pipeline(folder), runs)
        safe_files = median_ms(lambda: load_pipeline(files["transformer"], config_source=folder, **{k: v for k, v in parts.items() if v}), runs)
        rows.append((variant, raw, safe_folder, safe_files))
    return rows


def scan_table(root: Path, runs: int) -> tuple[int, int, float, float, float]:
    import torch

    from wan_compat.compat.fixtures.sparse import diffusers_shapes
    from wan_compat.compat.security.pickle_scan import scan_file

    one = torch.zeros(1, dtype=torch.bfloat16)
    state = {name: one.expand(*shape) if shape else one[0] for name, shape in diffusers_shapes("wan2.1-t2v-14b")}
    path = root / "wan14b_state_dict.pt"
    torch.save(state, path)
    scan = scan_file(path)
    assert scan.safe, scan.to_dict()
    scan_ms = median_ms(lambda: scan_file(path), runs)
    load_ms = median_ms(lambda: torch.load(path, weights_only=True, mmap=True), runs)
    hash_ms = median_ms(lambda: hashlib.sha256(path.read_bytes()).hexdigest(), runs)
    return len(state), path.stat().st_size, scan_ms, load_ms, hash_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    dlog.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="wan-compat-bench-") as tmp:
        root = Path(tmp)
        print(f"## Loading the tiny pipelines (median of {args.runs} runs, ms)")
        print("| variant | DiffusionPipeline.from_pretrained (no checks) | safe load, folder | ratio | safe load, single files | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        for variant, raw, folder, files in load_table(root, args.runs):
            print(f"| {variant} | {raw:.0f} | {folder:.0f} | {folder / raw:.2f} | {files:.0f} | {files / raw:.2f} |")
        tensors, size, scan_ms, load_ms, hash_ms = scan_table(root, args.runs)
        print(f"\n## Pickle scan of a torch.save file with Wan 2.1 T2V 14B's {tensors} tensors ({size / 1024:.0f} KiB), median of {args.runs}")
        print("| step | ms | vs torch.load(weights_only=True, mmap=True) |")
        print("|---|---:|---:|")
        print(f"| static scan (opcode walk of data.pkl) | {scan_ms:.1f} | {scan_ms / load_ms:.2f} |")
        print(f"| torch.load(weights_only=True, mmap=True) | {load_ms:.1f} | 1.00 |")
        print(f"| sha256 of the file | {hash_ms:.1f} | {hash_ms / load_ms:.2f} |")


if __name__ == "__main__":
    main()
