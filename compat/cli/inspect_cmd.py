"""`wan-compat inspect PATH [--vae PATH] [--text-encoder PATH] [--clip-vision PATH] [--json]`."""
from __future__ import annotations

import argparse

from ..detect.detector import ArchitectureDetector
from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a diffusers folder, a component folder or a single .safetensors file")
    parser.add_argument("--vae", help="a VAE file or folder to check against the model")
    parser.add_argument("--text-encoder", help="a text-encoder file or folder to check against the model")
    parser.add_argument("--clip-vision", help="a CLIP vision file or folder to check against the model")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    info = ArchitectureDetector().inspect(
        args.path, vae=args.vae, text_encoder=args.text_encoder, clip_vision=args.clip_vision
    )
    if args.json:
        emit_json(info.to_dict())
    else:
        emit_text(info.summary())
    return 0 if info.ok else 1
