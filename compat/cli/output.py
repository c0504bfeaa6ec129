"""Printing results: one JSON document on stdout with --json, readable text otherwise."""
from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def emit_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def emit_text(text: str) -> None:
    sys.stdout.write(text.rstrip("\n") + "\n")
