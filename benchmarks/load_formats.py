"""Load benchmark on real-size random-weight Wan 2.1 T2V 1.3B transformer files, one run, side by side.

Files (written to a temp folder, ComfyUI naming with the `model.diffusion_model.` prefix, the real
registry shapes, random normal weights): bf16; plain fp8 (block matrices fp8, the rest bf16, as real
fp8 files); ComfyUI fp8_scaled (the same with a per-matrix `scale_weight`); GGUF Q8_0 (block
matrices whose rows split into 32-blocks quantized, the rest F16, written with `gguf`); and a
rank-32 LoRA on every attention and feed-forward linear of the 30 blocks (ComfyUI naming).

For each format: `load_component` (every key checked, registry config, bf16 compute) against a bare
read of the same file (`safetensors.torch.load` of its bytes: the tensors in memory of their own;
for GGUF, diffusers' `load_gguf_checkpoint`), each after one warm-up read so both find the file in
the page cache; resident bytes (each tensor storage counted once) against the file's size. For the
LoRA: reading and matching it against the loaded bf16 model (`match_lora`), and activating and
removing it for a run (`lora_applied`).

Goals: resident / file <= 1.1; load / bare read <= 1.2. Times are medians of `--runs` alternated
runs, wall clock and this process's CPU time (the steadier figure on a shared machine).
Run: python benchmarks/load_formats.py [--keep DIR] [--runs 5]   (about 7 GB of disk, 6 GB of RAM)
"""
from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

VARIANT = "wan2.1-t2v-1.3b"
RANK = 32


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s of this process, result): on a shared machine the CPU time is the steadier figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _random_bf16() -> dict[str, Any]:
    import torch

    from wan_compat.compat.fixtures.sparse import diffusers_shapes

    g = torch.Generator().manual_seed(0)
    return {name: (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16) for name, shape in diffusers_shapes(VARIANT)}


def _is_block_matrix(name: str, value: Any) -> bool:
    return name.startswith("blocks.") and name.endswith(".weight") and value.dim() == 2


def write_files(folder: Path) -> dict[str, Path]:
    import torch
    from safetensors.torch import save_file

    from wan_compat.compat.loading import key_naming

    prefix = key_naming.COMFY_PREFIX
    weights = _random_bf16()
    paths = {}

    def save(name: str, tensors: dict[str, Any]) -> None:
        paths[name] = folder / f"wan2.1_t2v_1.3B_{name}.safetensors"
        save_file(key_naming.transformer_to_original(tensors, prefix, strict=False), str(paths[name]), metadata={"format": "pt"})

    save("bf16", weights)
    save("fp8_e4m3fn", {k: v.to(torch.float8_e4m3fn) if _is_block_matrix(k, v) else v for k, v in weights.items()})
    scaled: dict[str, Any] = {}
    for k, v in weights.items():
        if _is_block_matrix(k, v):
            scale = v.float().abs().max() / 448.0
            scaled[k] = (v.float() / scale).to(torch.float8_e4m3fn)
            scaled[k[: -len("weight")] + "scale_weight"] = scale.reshape(()).float()
        else:
            scaled[k] = v
    scaled["scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    save("fp8_scaled", scaled)
    del scaled
    paths["gguf_q8_0"] = _write_gguf(folder / "wan2.1_t2v_1.3B_Q8_0.gguf", weights)
    paths["lora"] = _write_lora(folder / "wan2.1_t2v_1.3B_lora_rank32.safetensors", weights)
    return paths


def _write_gguf(path: Path, weights: dict[str, Any]) -> Path:
    import gguf
    import numpy as np

    from wan_compat.compat.loading import key_naming

    q8 = gguf.GGMLQuantizationType.Q8_0
    writer = gguf.GGUFWriter(str(path), arch="wan")
    for name, value in key_naming.transformer_to_original(weights).items():
        data = value.float().numpy()
        if data.ndim > 4:
            writer.add_array(f"comfy.gguf.orig_shape.{name}", list(data.shape))
            data = data.reshape(data.shape[0], data.shape[1], -1)
        if name.startswith("blocks.") and data.ndim == 2 and data.shape[-1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, q8), raw_dtype=q8)
        else:
            writer.add_tensor(name, data.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _write_lora(path: Path, weights: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save_file

    from wan_compat.compat.loading import key_naming

    g = torch.Generator().manual_seed(1)
    out = {}
    for name, value in weights.items():
        if _is_block_matrix(name, value) and (".attn" in name or ".ffn." in name):
            layer = "diffusion_model." + key_naming.transformer_to_original([name])[0][: -len(".weight")]
            out[f"{layer}.lora_down.weight"] = (torch.randn(RANK, value.shape[1], generator=g) * 0.01).to(torch.bfloat16)
            out[f"{layer}.lora_up.weight"] = torch.zeros(value.shape[0], RANK, dtype=torch.bfloat16)
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
        bare, load, bare_cpu, load_cpu = [], [], [], []
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
            resident = loaded.resident_bytes()
            if fmt == "bf16" and kept is None:
                kept = loaded.model
            del loaded
        size = path.stat().st_size
        med = statistics.median
        rows.append((fmt, f"{size / 2**30:.3f}", f"{resident / 2**30:.3f}", f"{resident / size:.3f}", f"{med(bare):.2f}", f"{med(load):.2f}",
                     f"{med(load) / med(bare):.2f}", f"{med(bare_cpu):.2f}", f"{med(load_cpu):.2f}", f"{med(load_cpu) / med(bare_cpu):.2f}"))
    return rows, kept


def lora_rows(path: Path, model: Any) -> list[tuple[str, str]]:
    from types import SimpleNamespace

    from wan_compat.compat.lora.apply import lora_applied
    from wan_compat.compat.lora.spec import LoraSpec, match_lora, read_lora

    read_s, (file, tensors) = _timed(lambda: read_lora(path))
    match_s, (deltas, fmt, rank) = _timed(lambda: match_lora(model, tensors, "transformer"))
    spec = LoraSpec(file.name, str(file), 1.0, "transformer", fmt, tuple(deltas), rank)
    holder = SimpleNamespace(transformer=model)

    def on_off() -> None:
        with lora_applied(holder, [spec]):
            pass

    apply_s, _ = _timed(on_off)
    return [("LoRA file", f"{path.stat().st_size / 2**20:.1f} MiB, {fmt}, rank {rank}, {len(deltas)} layers"),
            ("read (policy checks, private copies)", f"{read_s * 1000:.0f} ms"),
            ("match + size checks against the model", f"{match_s * 1000:.0f} ms"),
            ("activate + remove for one run (hooks)", f"{apply_s * 1000:.1f} ms")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", help="write the files here and keep them (default: a temp folder, removed); "
                                           "files already there are used again")
    parser.add_argument("--runs", type=int, default=3, help="alternated bare reads and loads per format (medians)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wan-load-formats-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        names = {"bf16": "wan2.1_t2v_1.3B_bf16.safetensors", "fp8_e4m3fn": "wan2.1_t2v_1.3B_fp8_e4m3fn.safetensors",
                 "fp8_scaled": "wan2.1_t2v_1.3B_fp8_scaled.safetensors", "gguf_q8_0": "wan2.1_t2v_1.3B_Q8_0.gguf",
                 "lora": "wan2.1_t2v_1.3B_lora_rank32.safetensors"}
        paths = {k: folder / v for k, v in names.items()}
        if not all(p.is_file() for p in paths.values()):
            write_s, paths = _timed(lambda: write_files(folder))
            print(f"wrote {len(paths)} random-weight files of Wan 2.1 T2V 1.3B in {write_s:.0f} s")
        gc.collect()
        rows, model = measure(paths, args.runs)
        header = ("format", "file GiB", "resident GiB", "resident/file", "bare s", "load s", "load/bare", "bare CPU s", "load CPU s", "CPU load/bare")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        print()
        for name, value in lora_rows(paths["lora"], model):
            print(f"{name:40s} {value}")


if __name__ == "__main__":
    main()
