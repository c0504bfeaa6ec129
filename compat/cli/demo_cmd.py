"""`wan-compat demo [--out DIR]`: the whole pipeline on a tiny built-in Wan model; writes an MP4,
a WebM and a diagnosis report and prints their paths."""
from __future__ import annotations

import argparse
import sys

from .output import emit_json, emit_text

DEFAULT_OUT = "wan-compat-demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT}); existing files are never overwritten")
    parser.add_argument("--variant", default="wan2.1-t2v",
                        choices=["wan2.1-t2v", "wan2.2-t2v-a14b", "wan2.2-ti2v-5b"],
                        help="which tiny model to build and run (random weights: the video is noise)")
    parser.add_argument("--frames", type=int, default=17, help="frames to generate (4k+1)")
    parser.add_argument("--size", type=int, default=64, help="width and height in pixels (a multiple of 32)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from .demo import run_demo

    log = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run_demo(args.out, variant=args.variant, width=args.size, height=args.size, num_frames=args.frames,
                      steps=args.steps, seed=args.seed, log=log)
    if args.json:
        emit_json(result.to_dict())
    else:
        lines = [str(p) for p in result.videos] + [str(result.report_path)]
        lines.append("")
        lines.append(result.report.text("basic"))
        lines.append("(The demo model is a tiny random-weight Wan model: its video is noise, and 'matches no known "
                     "variant' is expected for it.)")
        emit_text("\n".join(lines))
    return 0 if result.ok else 1
