"""`wan-compat scan DIR [--json]`: inspect every model under DIR, with the loader's refusals as
errors (see `refusals.py`); one hostile file never stops the scan."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

from ..detect.detector import ArchitectureDetector
from ..detect.weights import INDEX_SUFFIX
from .inspect_cmd import cli_settings
from .output import emit_json, emit_text
from .refusals import inspect_checked

MODEL_SUFFIXES = (".safetensors", ".sft", ".pt", ".pth", ".bin", ".ckpt", ".gguf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="a folder to search, e.g. ComfyUI/models")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one result per model")


def find_models(root: Path) -> Iterator[Path]:
    """Diffusers folders (not descended into), component folders, sharded sets and single files."""
    for current, dirs, files in os.walk(root, followlinks=False):
        here = Path(current)
        dirs.sort()
        if "model_index.json" in files or ("config.json" in files and any(f.endswith(".safetensors") for f in files)):
            yield here
            dirs.clear()
            continue
        indexes = [f for f in files if f.endswith(INDEX_SUFFIX)]
        if indexes:
            yield here
            dirs.clear()
            continue
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES):
                yield here / name


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        from ..core.errors import UsageError

        raise UsageError("PATH_NOT_FOUND", f"{root} is not a folder")
    settings = cli_settings()
    detector, policy = ArchitectureDetector(settings.advanced.pipeline_overrides), settings.security
    # Each model on its own: a hostile file is reported (INPUT_PARSE_FAILED at worst) and the scan goes on.
    results = [inspect_checked(path, lambda path=path: detector.inspect(path), policy) for path in find_models(root)]
    if args.json:
        emit_json([r.to_dict() for r in results])
    else:
        for r in results:
            emit_text(r.summary() + "\n")
        emit_text(f"{len(results)} model(s) found under {root}; {sum(not r.ok for r in results)} with errors")
    return 0 if all(r.ok for r in results) else 1
