"""`wan-compat smoke PATH [--frames N] [--steps N] [--width W --height H] [--seed S] [--dtype D] [--json]`."""
from __future__ import annotations

import argparse

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a diffusers folder (or single file) of a Wan model")
    parser.add_argument("--frames", type=int, default=5, help="frames to generate (4k+1; default 5)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps (default 2)")
    parser.add_argument("--width", type=int, help="width in pixels (default: twice the model's spatial step)")
    parser.add_argument("--height", type=int, help="height in pixels (default: twice the model's spatial step)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), help="load precision (default: the plan's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from .smoke import smoke_test

    report = smoke_test(args.path, num_frames=args.frames, steps=args.steps, seed=args.seed, width=args.width,
                        height=args.height, dtype=args.dtype)
    if args.json:
        emit_json(report.to_dict())
    else:
        emit_text(report.summary())
    return 0 if report.ok else 1
