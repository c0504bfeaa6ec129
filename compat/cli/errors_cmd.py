"""`wan-compat errors [CODE ...] [--json]`: the error catalogue (the same text as docs/errors.md)."""
from __future__ import annotations

import argparse

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("codes", nargs="*", metavar="CODE", help="codes to show (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object, code -> entry")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import UsageError, catalogue

    entries = catalogue()
    codes = [c.upper() for c in args.codes] or list(entries)
    unknown = [c for c in codes if c not in entries]
    if unknown:
        raise UsageError("USAGE", f"unknown error code(s): {', '.join(unknown)}; `wan-compat errors` lists them all")
    if args.json:
        emit_json({c: entries[c] for c in codes})
        return 0
    for code in codes:
        e = entries[code]
        emit_text(f"{code} ({e.get('severity', 'error')}, {e['stage']}): {e['summary']}\n  cause: {e['cause']}\n  fix: {e['fix']}\n")
    return 0
