"""`wan-compat fixtures DIR`: write sparse real-size copies of every known Wan model to try the tools on.

Headers are real (names, shapes, dtypes from the official configs); the data is a hole in the file,
so a 27 GiB transformer takes about 100 KiB of disk. Nothing here can generate video.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="where to create models/ (must not exist yet, or be empty)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32", "fp8_e4m3fn", "fp8_scaled"],
                        help="storage dtype of the diffusers folders")
    parser.add_argument("--json", action="store_true", help="print the created paths as JSON")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import UsageError
    from ..fixtures import sparse

    root = Path(args.dir)
    if root.exists() and any(root.iterdir()):
        raise UsageError("USAGE", f"{root} exists and is not empty; give a new folder")
    models = sparse.write_models_tree(root, args.dtype)
    created = sorted(str(p) for p in models.glob("*/*"))
    if args.json:
        emit_json({"models": str(models), "created": created})
    else:
        emit_text("\n".join(created) + f"\n\n{len(created)} sparse models under {models}; try: wan-compat scan {models}")
    return 0
