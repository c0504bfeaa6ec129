"""JSON from files an attacker may have written, with limits: size, nesting depth, and an error
that is always a ValueError (`JsonLimitError`), so every caller's `except ValueError` turns it into
its own typed error.

Python's json recurses once per nesting level and raises RecursionError (not ValueError) on deep
input; it reads any size. The depth is measured before parsing (strings removed, then innermost
bracket pairs removed once per level: a few C-speed passes for real configs).
"""
from __future__ import annotations

import json
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 16 * 1024 * 1024  # a Wan model_index.json is < 1 KB, a config.json < 10 KB, a shard index < 200 KB
MAX_DEPTH = 32  # real configs nest 3 levels
MAX_TOKENIZER_BYTES = 256 * 1024 * 1024  # tokenizer.json of UMT5-XXL is ~17 MB
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


class JsonLimitError(ValueError):
    """The document is over a limit (size, depth) or not JSON at all."""


def depth_over(text: str | bytes, max_depth: int) -> bool:
    """Whether the brackets of `text` nest deeper than `max_depth` (or do not balance)."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return False
        reduced = _INNERMOST.sub(b"", brackets)
        if reduced == brackets:
            return True  # unbalanced: the parser would refuse it anyway
        brackets = reduced
    return bool(brackets)


def loads(data: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, what: str = "JSON") -> Any:
    """Parse `data` within the limits; JsonLimitError (a ValueError) for anything wrong."""
    if len(data) > max_bytes:
        raise JsonLimitError(f"{what} is {len(data)} bytes; the limit is {max_bytes}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonLimitError(f"{what} is not UTF-8 ({exc})") from None
    if depth_over(data, max_depth):
        raise JsonLimitError(f"{what} nests deeper than {max_depth} levels (or its brackets do not balance)")
    try:
        return json.loads(data)
    except RecursionError:
        raise JsonLimitError(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise JsonLimitError(f"{what} is not valid JSON ({exc})") from None


def load_file(path: object, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse a JSON file within the limits (at most `max_bytes + 1` bytes are read).
    OSError as from `open`; JsonLimitError for everything about the content."""
    with open(path, "rb") as fh:  # type: ignore[call-overload]
        raw = fh.read(max_bytes + 1)
    return loads(raw, max_bytes=max_bytes, max_depth=max_depth, what=getattr(path, "name", str(path)))
