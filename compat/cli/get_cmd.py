"""`wan-compat get NAME|REPO[/PATH][@REVISION] [--folder KEY] [--models DIR] [--json]` and
`wan-compat get --workflow WF.json [--models DIR] [--json]`: download from the Hugging Face Hub into
a ComfyUI models/ folder, verified (the Hub's sha256, then the file's header) and never overwriting.

With --workflow, every file the workflow's check finds missing (WF_FILE_MISSING) is fetched from the
workflow's own Hub link or the registry's official source; any other link is shown, never fetched.
Exit codes as `inspect`: 0 everything is in place, 1 a download failed or was refused, 2 usage.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.errors import UsageError, WanCompatError
from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="a name the registry knows (wan_2.1_vae.safetensors, Wan2.1-T2V-1.3B-Diffusers), "
                        "OWNER/REPO[@REVISION] (a diffusers repository) or OWNER/REPO/PATH[@REVISION] (one file)")
    parser.add_argument("--workflow", metavar="WF.json", help="get every file this workflow picks and the models folder lacks")
    parser.add_argument("--models", metavar="DIR", help="the ComfyUI models/ folder (default: ./models)")
    parser.add_argument("--folder", help="the model folder a REPO/PATH goes into (diffusion_models, vae, text_encoders, "
                        "clip_vision, loras, diffusers); found from the path or the registry when not given")
    parser.add_argument("--json", action="store_true", help="print one JSON object: the downloads and the problems")


def _models_root(given: str | None) -> Path:
    root = Path(given) if given else Path("models")
    if not root.is_dir():
        raise UsageError("MODELS_DIR_NOT_FOUND", f"{root} (give ComfyUI's models/ folder with --models)")
    return root


class _Bar:
    """A progress bar on stderr per download (tqdm, as huggingface_hub draws its own)."""

    def __init__(self, label: str) -> None:
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=self.label[-40:], file=sys.stderr, disable=None)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _one(source: Any, root: Path, hub: Any) -> Any:
    from ..hub.get import get

    bar = _Bar(source.name)
    try:
        return get(source, lambda folder: root / folder, hub=hub, progress=bar)
    finally:
        bar.close()


def _requests(args: argparse.Namespace, root: Path, endpoint: str) -> list[tuple[str, Any]]:
    """(label, Source or the error that refused it) for everything asked for."""
    from ..hub import sources

    if args.spec:
        return [(args.spec, sources.from_spec(args.spec, args.folder))]
    from ..core import safe_json
    from ..workflow.folders import ModelFolders
    from ..workflow.report import check_workflow
    from .check_workflow_cmd import WORKFLOW_MAX_BYTES, WORKFLOW_MAX_DEPTH

    path = Path(args.workflow)
    try:
        doc = safe_json.load_file(path, max_bytes=WORKFLOW_MAX_BYTES, max_depth=WORKFLOW_MAX_DEPTH)
    except FileNotFoundError:
        raise UsageError("PATH_NOT_FOUND", str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError("WORKFLOW_INVALID", f"{path.name}: {err}") from None
    folders = ModelFolders()
    folders.add_models_root(root)
    found: list[tuple[str, Any]] = []
    for item in check_workflow(doc, folders)["problems"]:
        missing = item.get("missing")
        if not missing:
            continue
        label = f"{missing['folder']}/{missing['name']}"
        try:
            found.append((label, sources.from_workflow(missing["folder"], missing["name"], missing.get("url"), endpoint)))
        except WanCompatError as err:
            found.append((label, err))
    return found


def run(args: argparse.Namespace) -> int:
    if bool(args.spec) == bool(args.workflow):
        print("wan-compat get: give a NAME or REPO/PATH, or --workflow WF.json (one of them)", file=sys.stderr)
        return 2
    from ..hub.remote import Hub

    root = _models_root(args.models)
    hub = Hub()
    try:
        asked = _requests(args, root, hub.endpoint)
    except UsageError as err:
        if err.code != "HUB_SPEC_INVALID":
            raise
        print(err.message(), file=sys.stderr)
        return 2
    downloads: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for label, source in asked:
        try:
            if isinstance(source, WanCompatError):
                raise source
            outcome = _one(source, root, hub)
            downloads.append(outcome.to_dict())
            if not args.json:
                emit_text(outcome.text())
        except WanCompatError as err:
            problems.append({**err.problem.to_dict(), "name": label})
            if not args.json:
                emit_text(f"{label}: {err.message()}")
    if args.json:
        emit_json({"ok": not problems, "downloads": downloads, "problems": problems})
    elif not asked:
        emit_text("Nothing to get: every file the workflow picks is in place.")
    return 0 if not problems else 1
