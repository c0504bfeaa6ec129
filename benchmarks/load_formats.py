"""Load benchmark on real-size random-weight Wan 2.1 T2V 1.3B transformer files, one run, side by side.

Files (written by the pack's fixtures, `compat/fixtures/filled.py`, one tensor in memory at a time:
ComfyUI naming with the `model.diffusion_model.` prefix, the registry's real shapes, random normal
weights): bf16; plain fp8 (block matrices fp8, the rest bf16, as real fp8 files); ComfyUI
fp8_scaled (the same with a per-matrix `scale_weight`); GGUF Q8_0 as ComfyUI-GGUF lays it out; and
a rank-32 LoRA on every attention and feed-forward linear of the 30 blocks (ComfyUI naming).

1. In one process, per format: `load_component` (every key checked, registry config, bf16 compute)
   against a bare read of the same file (`safetensors.torch.load` of its bytes; for GGUF, diffusers'
   `load_gguf_checkpoint`, its only way in: its `from_single_file` refuses ComfyUI-GGUF's flattened
   patch embedding), each after one warm-up read so both find the file in the page cache; the
   pack's own read (`read` in its report) beside the bare read; resident bytes (each tensor storage
   counted once) against the file's size.
2. Whole processes (`--processes`): `wan-compat load FILE --json` against the floor, a process
   that imports torch and reads the file's bytes into memory once, and against importing diffusers'
   Wan model class alone (what the load cannot do without: its module imports diffusers' loaders,
   transformers and torch._dynamo).
3. The LoRA: reading and matching it against the loaded bf16 model (`match_lora`), and activating
   and removing it for a run (merged for the run; see benchmarks/lora_step.py for the step cost).

Goals: resident / file <= 1.1; load / bare read <= 1.2 (GGUF: <= 1.1); a whole `wan-compat load`
<= 1.5 x the floor. Times are medians of `--runs` alternated runs, wall clock and this process's CPU
time (the steadier figure on a shared machine); the load average is printed with each table.
Run: python benchmarks/load_formats.py [--keep DIR] [--runs 3] [--processes 3]   (about 7 GB of disk, 6 GB of RAM)
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

VARIANT = "wan2.1-t2v-1.3b"
RANK = 32
NAMES = {"bf16": "wan2.1_t2v_1.3B_bf16.safetensors", "fp8_e4m3fn": "wan2.1_t2v_1.3B_fp8_e4m3fn.safetensors",
         "fp8_scaled": "wan2.1_t2v_1.3B_fp8_scaled.safetensors", "gguf_q8_0": "wan2.1_t2v_1.3B_Q8_0.gguf",
         "lora": "wan2.1_t2v_1.3B_lora_rank32.safetensors"}
FLOOR = "import sys, torch; f = open(sys.argv[1], 'rb', buffering=0); b = torch.empty(__import__('os').fstat(f.fileno()).st_size, dtype=torch.uint8); f.readinto(memoryview(b.numpy()))"
CLASS_ALONE = "import torch; from diffusers import WanTransformer3DModel"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s of this process, result): on a shared machine the CPU time is the steadier figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def write_files(folder: Path) -> dict[str, Path]:
    from wan_compat.compat.fixtures import filled, sparse
    from wan_compat.compat.loading import key_naming

    paths = {k: folder / v for k, v in NAMES.items()}
    for fmt in ("bf16", "fp8_e4m3fn", "fp8_scaled"):
        if not paths[fmt].is_file():
            filled.write_filled(paths[fmt], sparse.component_entries(VARIANT, fmt, sparse.original_transformer_names, key_naming.COMFY_PREFIX))
    if not paths["gguf_q8_0"].is_file():
        filled.write_filled_gguf(paths["gguf_q8_0"], VARIANT, "Q8_0", sparse.original_transformer_names)
    if not paths["lora"].is_file():
        _write_lora(paths["lora"])
    return paths


def _write_lora(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    from wan_compat.compat.fixtures.sparse import diffusers_shapes
    from wan_compat.compat.loading import key_naming

    g = torch.Generator().manual_seed(1)
    out = {}
    for name, shape in diffusers_shapes(VARIANT):
        if name.startswith("blocks.") and name.endswith(".weight") and len(shape) == 2 and (".attn" in name or ".ffn." in name):
            layer = "diffusion_model." + key_naming.transformer_to_original([name])[0][: -len(".weight")]
            out[f"{layer}.lora_down.weight"] = (torch.randn(RANK, shape[1], generator=g) * 0.01).to(torch.bfloat16)
            out[f"{layer}.lora_up.weight"] = torch.zeros(shape[0], RANK, dtype=torch.bfloat16)
            out[f"{layer}.alpha"] = torch.tensor(float(RANK))
    save_file(out, str(path))
    return path


def bare_read(path: Path) -> Any:
    if path.suffix == ".gguf":
        from diffusers.models.model_loading_utils import load_gguf_checkpoint

        return load_gguf_checkpoint(str(path))
    from safetensors.torch import load

    return load(path.read_bytes())


def measure(paths: dict[str, Path], runs: int) -> tuple[list[tuple[str, ...]], Any]:
    """Per format: the bare read and the load alternated `runs` times (medians), after one warm-up."""
    from wan_compat.compat.loading import load_component

    rows = []
    kept = None
    for fmt in ("bf16", "fp8_e4m3fn", "fp8_scaled", "gguf_q8_0"):
        path = paths[fmt]
        bare_read(path)  # warm-up: page cache, imports
        bare, load, bare_cpu, load_cpu, read = [], [], [], [], []
        resident = 0
        for _ in range(runs):
            gc.collect()
            wall, cpu, data = _cpu_timed(lambda: bare_read(path))
            bare.append(wall)
            bare_cpu.append(cpu)
            del data
            gc.collect()
            wall, cpu, loaded = _cpu_timed(lambda: load_component(path))
            load.append(wall)
            load_cpu.append(cpu)
            read.append(loaded.report.timings_ms.get("transformer read", float("nan")) / 1000)
            resident = loaded.resident_bytes()
            if fmt == "bf16" and kept is None:
                kept = loaded.model
            del loaded
        size = path.stat().st_size
        med = statistics.median
        rows.append((fmt, f"{size / 2**30:.3f}", f"{resident / 2**30:.3f}", f"{resident / size:.3f}", f"{med(bare):.2f}", f"{med(load):.2f}",
                     f"{med(load) / med(bare):.2f}", f"{med(read):.2f}" if fmt == "gguf_q8_0" else "",
                     f"{med(read) / med(bare):.2f}" if fmt == "gguf_q8_0" else "",
                     f"{med(bare_cpu):.2f}", f"{med(load_cpu):.2f}", f"{med(load_cpu) / med(bare_cpu):.2f}"))
    return rows, kept


def processes(paths: dict[str, Path], runs: int) -> list[tuple[str, ...]]:
    """Per format: whole processes alternated (medians): the floor, `wan-compat load`, the class import alone."""
    rows = []
    for fmt in ("bf16", "fp8_e4m3fn", "fp8_scaled", "gguf_q8_0"):
        path = paths[fmt]
        cmds = {"floor": [sys.executable, "-c", FLOOR, str(path)],
                "load": [sys.executable, "-m", "wan_compat", "load", str(path), "--json"],
                "class": [sys.executable, "-c", CLASS_ALONE]}
        took: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(runs):
            for label, cmd in cmds.items():
                wall, _ = _timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                took[label].append(wall)
        med = {k: statistics.median(v) for k, v in took.items()}
        rows.append((fmt, f"{med['floor']:.2f}", f"{med['load']:.2f}", f"{med['load'] / med['floor']:.2f}", f"{med['class']:.2f}",
                     f"{(med['load'] - med['class']) / med['floor']:.2f}"))
    return rows


def lora_rows(path: Path, model: Any) -> list[tuple[str, str]]:
    from types import SimpleNamespace

    from wan_compat.compat.lora.apply import lora_applied
    from wan_compat.compat.lora.spec import LoraSpec, match_lora, read_lora

    read_s, (file, tensors) = _timed(lambda: read_lora(path))
    match_s, (deltas, fmt, rank) = _timed(lambda: match_lora(model, tensors, "transformer"))
    spec = LoraSpec(file.name, str(file), 1.0, "transformer", fmt, tuple(deltas), rank)
    holder = SimpleNamespace(transformer=model)
    chosen: dict[str, str] = {}

    def on_off() -> None:
        with lora_applied(holder, [spec], chosen=chosen):
            pass

    apply_s, _ = _timed(on_off)
    return [("LoRA file", f"{path.stat().st_size / 2**20:.1f} MiB, {fmt}, rank {rank}, {len(deltas)} layers"),
            ("read (policy checks, private copies)", f"{read_s * 1000:.0f} ms"),
            ("match + size checks against the model", f"{match_s * 1000:.0f} ms"),
            (f"activate + remove for one run ({chosen.get('transformer')})", f"{apply_s * 1000:.1f} ms")]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", help="write the files here and keep them (default: a temp folder, removed); "
                                       "files already there are used again")
    parser.add_argument("--runs", type=int, default=3, help="alternated bare reads and loads per format (medians)")
    parser.add_argument("--processes", type=int, default=3, help="alternated whole processes per format (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wan-load-formats-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        write_s, paths = _timed(lambda: write_files(folder))
        print(f"files of Wan 2.1 T2V 1.3B ready in {write_s:.0f} s\n")
        gc.collect()
        rows, model = measure(paths, args.runs)
        load = os.getloadavg()
        print(f"## in one process (medians of {args.runs} alternated; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
        _table(("format", "file GiB", "resident GiB", "resident/file", "bare s", "load s", "load/bare", "read s", "read/bare",
                "bare CPU s", "load CPU s", "CPU load/bare"), rows)
        print()
        for name, value in lora_rows(paths["lora"], model):
            print(f"{name:40s} {value}")
        del model
        gc.collect()
        if args.processes:
            rows = processes(paths, args.processes)
            load = os.getloadavg()
            print(f"\n## whole processes (medians of {args.processes} alternated; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
            _table(("format", "floor s (import torch, read the bytes)", "wan-compat load s", "load/floor",
                    "diffusers' Wan class import alone s", "(load - class import)/floor"), rows)


if __name__ == "__main__":
    main()
