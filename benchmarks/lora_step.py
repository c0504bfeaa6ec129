"""LoRA cost per transformer step on the real-size Wan 2.1 T2V 1.3B (random weights, bf16, CPU).

    python benchmarks/lora_step.py [--runs 3] [--tokens 128] [--rank 32] [--steps 30] [--keep DIR]

A rank-`--rank` LoRA on every attention and feed-forward linear of the 30 blocks (ComfyUI naming,
random weights), matched by the pack (`prepare_lora`), then one transformer call (batch 1, `--tokens`
video tokens, 512 text tokens) timed four ways, alternated `--runs` times (medians): without the
LoRA; the LoRA merged for the run (what `lora_applied` does when a merge pays); the LoRA as forward
hooks (what it does for fp8/GGUF weights or runs too short); and the way the pack chooses for a run
of `--steps` steps at those tokens (guidance on: two calls a step). Also: the one-time merge and
restore, and a bit-for-bit check (sha256 of every weight's bytes) that the weights after the runs
are the weights before. Goal: the chosen way's step <= 1.03 x the merged step.
One model (2.6 GiB) and, while merged, its changed matrices (2.5 GiB) are in memory.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANT = "wan2.1-t2v-1.3b"


def _digest(model: Any) -> str:
    import torch

    out = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        out.update(name.encode())
        out.update(tensor.detach().reshape(-1).view(torch.uint8).numpy() if tensor.numel() else b"")
    return out.hexdigest()


def _lora_file(path: Path, model: Any, rank: int) -> Path:
    import torch
    from safetensors.torch import save_file

    from wan_compat.compat.loading import key_naming

    g = torch.Generator().manual_seed(1)
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith("blocks.") and (".attn" in name or ".ffn." in name):
            layer = "diffusion_model." + key_naming.transformer_to_original([name + ".weight"])[0][: -len(".weight")]
            out[f"{layer}.lora_down.weight"] = (torch.randn(rank, module.in_features, generator=g) * 0.01).to(torch.bfloat16)
            out[f"{layer}.lora_up.weight"] = (torch.randn(module.out_features, rank, generator=g) * 0.01).to(torch.bfloat16)
            out[f"{layer}.alpha"] = torch.tensor(float(rank))
    save_file(out, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128, help="video tokens per call (a multiple of 16)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="the run length the pack chooses for")
    parser.add_argument("--keep", help="write the files here and keep them (default: a temp folder)")
    args = parser.parse_args()
    import torch

    from wan_compat.compat.fixtures import filled, sparse
    from wan_compat.compat.loading import load_component
    from wan_compat.compat.lora.apply import lora_applied
    from wan_compat.compat.lora.spec import LoraSpec, match_lora, read_lora

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="wan-lora-step-") as tmp:
        folder = Path(args.keep or tmp)
        model_file = folder / "wan2.1_t2v_1.3B_bf16.safetensors"
        if not model_file.is_file():
            filled.write_filled(model_file, sparse.component_entries(VARIANT, "bf16", sparse.original_transformer_names, "model.diffusion_model."))
        model = load_component(model_file, dtype="bf16").model
        lora_path = _lora_file(folder / f"lora_rank{args.rank}.safetensors", model, args.rank)
        _, tensors = read_lora(lora_path)
        deltas, fmt, rank = match_lora(model, tensors, "transformer")
        spec = LoraSpec(lora_path.name, str(lora_path), 1.0, "transformer", fmt, tuple(deltas), rank)
        holder = type("Pipeline", (), {"transformer": model})()
        side = int((args.tokens // 2) ** 0.5)  # frames 2, side x side patches of 2x2 latent pixels
        x = torch.randn(1, 16, 2, 2 * side, 2 * side, dtype=torch.bfloat16)
        text = torch.randn(1, 512, 4096, dtype=torch.bfloat16)
        t = torch.tensor([500.0])
        before = _digest(model)

        def step() -> float:
            with torch.no_grad():
                started = time.perf_counter()
                model(hidden_states=x, timestep=t, encoder_hidden_states=text, return_dict=False)
                return time.perf_counter() - started

        ways = {"without LoRA": {}, "merged": {"steps": 10**6, "tokens": 10**6}, "hooks": {"steps": 1, "tokens": 1},
                f"pack's choice ({args.steps} steps)": {"steps": args.steps, "tokens": 2 * x.shape[2] * side * side}}
        times: dict[str, list[float]] = {k: [] for k in ways}
        chosen: dict[str, str] = {}
        enter, leave = [], []
        step()  # warm-up
        for _ in range(args.runs):
            for label, how in ways.items():
                if label == "without LoRA":
                    times[label].append(step())
                    continue
                found: dict[str, str] = {}
                started = time.perf_counter()
                with lora_applied(holder, [spec], chosen=found, **how):
                    entered = time.perf_counter()
                    times[label].append(step())
                    left = time.perf_counter()
                if found.get("transformer") == "merge" and label == "merged":
                    enter.append(entered - started)
                    leave.append(time.perf_counter() - left)
                chosen[label] = found.get("transformer", "?")
        after = _digest(model)
    med = {k: statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()
    print(f"## LoRA rank {rank} on {len(deltas)} linears of Wan 2.1 1.3B (bf16, CPU), one call at {2 * side * side} video + 512 text tokens "
          f"(medians of {args.runs} alternated; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
    print("| way | s/call | x merged |\n|---|---:|---:|")
    for label in ways:
        way = f" -> {chosen[label]}" if label.startswith("pack") else ""
        print(f"| {label}{way} | {med[label]:.3f} | {med[label] / med['merged']:.3f} |")
    print(f"\nmerge for a run: {statistics.median(enter):.2f} s; restore: {statistics.median(leave) * 1000:.1f} ms; "
          f"weights after every run bit-identical to before: {after == before}")


if __name__ == "__main__":
    main()
