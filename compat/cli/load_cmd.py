"""`wan-compat load PATH [--weight-storage ...] [--dtype ...] [--config-source DIR] [--json]`:
load one diffusion-model file alone under the policy, every key checked, and print what it became:
class, parameter dtypes (and from which file dtypes), resident bytes against the file's, seconds."""
from __future__ import annotations

import argparse

from .output import emit_json, emit_text

STORAGE = ("default", "fp8_e4m3fn", "fp8_e5m2")
DTYPES = ("bf16", "fp16", "fp32")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a transformer file: .safetensors (plain, fp8, ComfyUI fp8_scaled), .gguf, or an allowlisted pickle")
    parser.add_argument("--weight-storage", choices=STORAGE, default="default",
                        help="store the linear weights in fp8 and compute in --dtype (fp8 files stay fp8 either way)")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16", help="the compute dtype (default bf16)")
    parser.add_argument("--config-source", help="a diffusers folder of the same model, for sizes the registry does not know")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _gib(n: int) -> str:
    return f"{n / 2**30:.3f} GiB"


def run(args: argparse.Namespace) -> int:
    from ..loading.component_file import load_component

    loaded = load_component(args.path, dtype=args.dtype, weight_storage=args.weight_storage, config_source=args.config_source)
    doc = loaded.to_dict()
    if args.json:
        emit_json(doc)
        return 0
    ratio = doc["resident_bytes"] / doc["file_bytes"] if doc["file_bytes"] else 0.0
    lines = [f"{doc['path']}: {doc['class']} ({doc['variant'] or 'variant unknown'}), {doc['parameters']:,} parameters",
             "dtypes: " + ", ".join(f"{k} {v:,}" for k, v in (doc["dtypes"] or {}).items())]
    if doc["dtype_changes"]:
        lines.append("file -> loaded: " + ", ".join(f"{k} ({v} tensors)" for k, v in doc["dtype_changes"].items()))
    if doc["storage_dtype"]:
        lines.append(f"fp8 storage: {doc['fp8_linears']} linear weights held in {doc['storage_dtype']}, computed in {doc['compute_dtype']}"
                     + (f"; {doc['scaled_fp8']} with ComfyUI scale_weight" if doc["scaled_fp8"] else ""))
    lines.append(f"resident: {_gib(doc['resident_bytes'])} for a {_gib(doc['file_bytes'])} file ({ratio:.2f}x); {doc['seconds']:.2f} s")
    emit_text("\n".join(lines))
    return 0
