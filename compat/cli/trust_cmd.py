"""`wan-compat trust PATH [--json]`: show a model folder's code before anyone trusts it.

Lists every code file with its sha256, size and what it imports (read with `ast`, never run), and
every config that points to code; then prints the `security.trusted_folders` entry that trusts
exactly these bytes. Nothing is changed: adding the entry to the settings is the user's decision.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..core import safe_json
from ..core.errors import UsageError
from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a diffusers model folder")
    parser.add_argument("--note", default="", help="a note stored with the trust entry (who reviewed it, when)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: the review and the entry")


def run(args: argparse.Namespace) -> int:
    from ..security import paths
    from ..security.trust import review_code

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
        emit_json({"review": review.to_dict(), "trusted_folders_entry": entry})
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
