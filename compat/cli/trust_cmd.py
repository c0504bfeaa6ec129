"""`wan-compat trust PATH [--json]`: show a model folder's code before anyone trusts it.
`wan-compat trust --fetch OWNER/REPO[@REVISION] [--models DIR]`: first download the repository's
pipeline code (with its configs and weights, as `wan-compat get`) at a pinned commit into
models/diffusers/<REPO>, then show it the same way.

Lists every code file with its sha256, size and what it imports (read with `ast`, never run), and
every config that points to code; then prints the `security.trusted_folders` entry that trusts
exactly these bytes. Nothing is changed: adding the entry to the settings is the user's decision,
and trusted code still runs only in the sandbox.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core import safe_json
from ..core.errors import UsageError
from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a diffusers model folder")
    parser.add_argument("--fetch", metavar="OWNER/REPO[@REVISION]", help="download the repository's pipeline code (and the "
                        "model) from the Hugging Face Hub at a pinned commit into models/diffusers/REPO, then review it; "
                        "without @REVISION, the commit its model was downloaded at, else main")
    parser.add_argument("--models", metavar="DIR", help="with --fetch: the ComfyUI models/ folder (default: ./models)")
    parser.add_argument("--note", default="", help="a note stored with the trust entry (who reviewed it, when)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: the review and the entry")


def _fetch(args: argparse.Namespace) -> Any:
    """The download's outcome: the folder the code now sits in, the repository and commit."""
    from ..hub import ledger
    from ..hub.get import get
    from ..hub.sources import from_spec
    from .get_cmd import _models_root

    root = _models_root(args.models)
    source = from_spec(args.fetch)
    if source.path is not None or source.folder != "diffusers":
        raise UsageError("HUB_SPEC_INVALID", f"{args.fetch}: --fetch takes a repository, OWNER/REPO[@REVISION]")
    target = root / "diffusers" / source.name
    if "@" not in args.fetch:  # the code of the commit the model came from
        pinned = [e["commit"] for e in ledger.entries() if e.get("repo") == source.repo and e.get("target") == str(target)]
        if pinned:
            source = replace(source, revision=pinned[-1])
    return get(source, lambda folder: root / folder, with_code=True)


def run(args: argparse.Namespace) -> int:
    from ..security import paths
    from ..security.trust import review_code

    if bool(args.path) == bool(args.fetch):
        raise UsageError("USAGE", "give a model folder, or --fetch OWNER/REPO[@REVISION] (one of them)")
    fetched = _fetch(args) if args.fetch else None
    if fetched is not None:
        args.path, args.note = str(fetched.target), args.note or f"{fetched.source.repo}@{fetched.commit}"
        if not args.json:
            emit_text(fetched.text())
    if not os.path.lexists(args.path):  # a path given on the command line: saying so reveals nothing new
        raise UsageError("PATH_NOT_FOUND", str(args.path), path=str(args.path))
    folder = paths.resolve_inside(args.path, paths.roots_from([args.path]), expect="folder")
    paths.check_tree(Path(args.path), paths.roots_from([args.path]))
    index_path = folder / "model_index.json"
    try:
        index = safe_json.load_file(index_path) if index_path.is_file() else {}
    except (OSError, UnicodeDecodeError, ValueError):
        index = {}
    review = review_code(folder, index if isinstance(index, dict) else {})
    entry = review.trust_entry(args.note).model_dump() if review.files else None
    if args.json:
        emit_json({"review": review.to_dict(), "trusted_folders_entry": entry, **({"fetched": fetched.to_dict()} if fetched else {})})
        return 0
    emit_text(review.text())
    if entry is None:
        emit_text("Nothing to trust: the folder carries no code files." if not review.references
                  else "Code is referenced but no code file is in the folder: it cannot be trusted, only refused.")
        return 0
    emit_text("\nRead every file above. If you trust exactly this code, add this entry to security.trusted_folders "
              "in the settings, and set security.untrusted_code to \"sandbox\" (the code then runs only inside the sandbox):")
    emit_text(json.dumps(entry, indent=2))
    return 0
