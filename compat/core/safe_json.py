"""JSON from files an attacker may have written, with limits: size, nesting depth, and an error
that is always a ValueError (`JsonLimitError`), so every caller's `except ValueError` turns it into
its own typed error.

Python's json recurses once per nesting level and raises RecursionError (not ValueError) on deep
input; it reads any size. The depth is measured before parsing, in time linear in the input: strings
are removed by one left-to-right regex pass that cannot backtrack (an unterminated string runs to the
end instead of being retried from each later quote), then the brackets' running depth is summed
once (numpy for long inputs, a plain loop for short ones).
"""
from __future__ import annotations

import json
import re
from .regular_file import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 16 * 1024 * 1024  # a Wan model_index.json is < 1 KB, a config.json < 10 KB, a shard index < 200 KB
MAX_DEPTH = 32  # real configs nest 3 levels
MAX_TOKENIZER_BYTES = 256 * 1024 * 1024  # tokenizer.json of UMT5-XXL is ~17 MB
# A string, or an unterminated one up to the end: every quote that starts a match consumes to its
# end, so no position is scanned twice (the old pattern retried from each escaped quote: quadratic).
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = bytes.maketrans(b"[{]}", b"\x01\x01\x00\x00")  # opening bracket -> 1, closing -> 0
_SHORT = 1 << 16  # below this many brackets a plain loop is faster than importing numpy
_CHUNK = 1 << 22
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonLimitError(ValueError):
    """The document is over a limit (size, depth) or not JSON at all."""


def depth_over(text: str | bytes, max_depth: int) -> bool:
    """Whether the brackets of `text` nest deeper than `max_depth` (or close more than they open,
    or stay open); linear in the length of `text`."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_OPENERS)
    if len(brackets) <= max_depth:
        return False
    if len(brackets) < _SHORT:
        depth = 0
        for opener in brackets:
            depth += 1 if opener else -1
            if depth > max_depth or depth < 0:
                return True
        return depth != 0
    import numpy as np

    start = 0
    for begin in range(0, len(brackets), _CHUNK):  # chunks keep the temporary arrays small
        steps = np.frombuffer(brackets, dtype=np.uint8, count=min(_CHUNK, len(brackets) - begin), offset=begin).astype(np.int32) * 2 - 1
        depth = np.cumsum(steps) + start
        if depth.max() > max_depth or depth.min() < 0:
            return True
        start = int(depth[-1])
    return start != 0


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
        doc = json.loads(data)
    except RecursionError:
        raise JsonLimitError(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise JsonLimitError(f"{what} is not valid JSON ({exc})") from None
    if _SURROGATE.search(data):  # json accepts a lone "\ud800"; no file name, path or setting can hold one
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonLimitError(f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff without its pair)") from None
    return doc


def load_file(path: object, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse a JSON file within the limits (at most `max_bytes + 1` bytes are read).
    OSError as from `open`; JsonLimitError for everything about the content."""
    with open_regular(path) as fh:  # type: ignore[arg-type]
        raw = fh.read(max_bytes + 1)
    return loads(raw, max_bytes=max_bytes, max_depth=max_depth, what=getattr(path, "name", str(path)))
