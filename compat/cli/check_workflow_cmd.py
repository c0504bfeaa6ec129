"""`wan-compat check-workflow WORKFLOW.json [--models DIR]... [--extra-model-paths YAML] [--json]`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core import safe_json
from ..core.errors import UsageError
from ..workflow.folders import ModelFolders
from ..workflow.report import check_workflow, summary
from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", help="a workflow saved from ComfyUI (UI format) or an API-format prompt (.json)")
    parser.add_argument("--models", action="append", default=[], metavar="DIR",
                        help="a ComfyUI models/ folder (diffusion_models/, vae/, text_encoders/, ...); repeatable")
    parser.add_argument("--extra-model-paths", metavar="YAML", help="ComfyUI's extra_model_paths.yaml")
    parser.add_argument("--json", action="store_true", help="print one JSON object (files, problems)")


# A workflow is bigger and deeper than a model config (subgraphs, notes, embedded images), still bounded.
WORKFLOW_MAX_BYTES = 64 * 1024 * 1024
WORKFLOW_MAX_DEPTH = 64


def run(args: argparse.Namespace) -> int:
    path = Path(args.workflow)
    try:
        doc = safe_json.load_file(path, max_bytes=WORKFLOW_MAX_BYTES, max_depth=WORKFLOW_MAX_DEPTH)
    except FileNotFoundError:
        raise UsageError("PATH_NOT_FOUND", str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: bad JSON, or over the limits
        raise UsageError("WORKFLOW_INVALID", f"{path.name}: {err}") from None
    folders = ModelFolders()
    for root in args.models:
        folders.add_models_root(root)
    if args.extra_model_paths:
        folders.add_extra_paths(args.extra_model_paths)
    result = check_workflow(doc, folders)
    if args.json:
        emit_json(result)
    else:
        emit_text(summary(result))
    return 0 if result["ok"] else 1
