"""Read and validate a safetensors header without touching the tensor data.

The safetensors library maps the whole file (and fails past RAM size) and reports every problem as
one `SafetensorError` with prose that changes between releases. Detection only needs names, dtypes
and shapes, so we read the 8-byte length and the JSON header ourselves (about 2 ms for a 14B file)
and check everything the format promises: size limits, known dtypes, offsets that tile the data
region exactly, no duplicate names.

Detection, the loader's preflight and the loader itself all ask for the same headers within one
load, so `read_header` keeps the last parses (a small bounded cache) keyed by the file's identity
(real path, device, inode, size, mtime, ctime): a file that changed has another identity and is
parsed again. Identities that are too young to trust (timestamps within RACY_NS of the read, where a
second write could keep them unchanged) are served only after their header bytes are compared
again. `header_stats()` counts parses, cache hits and those byte comparisons.
"""
from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections import OrderedDict
from math import prod
from pathlib import Path
from types import MappingProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ..core.errors import ModelFileError
from ..core.regular_file import open_regular

# Same cap as the Rust reader; real Wan headers are 100-250 KB.
MAX_HEADER_BYTES = 100 * 1000 * 1000
# A 14B Wan transformer has ~1300 tensors, UMT5-XXL 243; a million zero-size tensors is an attack.
MAX_TENSORS = 200_000

# safetensors dtype -> (bits per element, name users know)
DTYPES: dict[str, tuple[int, str]] = {
    "BOOL": (8, "bool"),
    "F4": (4, "fp4_e2m1"),
    "F6_E2M3": (6, "fp6_e2m3"),
    "F6_E3M2": (6, "fp6_e3m2"),
    "U8": (8, "uint8"),
    "I8": (8, "int8"),
    "F8_E5M2": (8, "fp8_e5m2"),
    "F8_E4M3": (8, "fp8_e4m3fn"),
    "F8_E8M0": (8, "fp8_e8m0"),
    "F8_E4M3FNUZ": (8, "fp8_e4m3fnuz"),
    "F8_E5M2FNUZ": (8, "fp8_e5m2fnuz"),
    "I16": (16, "int16"),
    "U16": (16, "uint16"),
    "F16": (16, "fp16"),
    "BF16": (16, "bf16"),
    "I32": (32, "int32"),
    "U32": (32, "uint32"),
    "F32": (32, "fp32"),
    "C64": (64, "complex64"),
    "F64": (64, "fp64"),
    "I64": (64, "int64"),
    "U64": (64, "uint64"),
}


def friendly_dtype(dtype: str) -> str:
    """The name users know: bf16, fp8_e4m3fn, or a GGUF quantization such as q4_k."""
    entry = DTYPES.get(dtype)
    return entry[1] if entry else dtype.lower()


def dtype_bytes(tensors: dict[str, TensorInfo]) -> dict[str, int]:
    """Bytes per friendly dtype name, largest first."""
    totals: dict[str, int] = {}
    for info in tensors.values():
        name = friendly_dtype(info.dtype)
        totals[name] = totals.get(name, 0) + info.nbytes
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


class TensorInfo:
    """One header entry: dtype, shape and the byte span of its data."""

    __slots__ = ("dtype", "shape", "start", "end")

    def __init__(self, dtype: str, shape: tuple[int, ...], start: int, end: int) -> None:
        self.dtype, self.shape, self.start, self.end = dtype, shape, start, end

    def __repr__(self) -> str:
        return f"TensorInfo({self.dtype}, {list(self.shape)}, [{self.start}, {self.end}])"

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def numel(self) -> int:
        return prod(self.shape)


class SafetensorsHeader:
    """A validated header: the tensors by name, the metadata, and the sizes they were checked against."""

    def __init__(self, path: Path, file_size: int, header_size: int, tensors: dict[str, TensorInfo],
                 metadata: dict[str, str] | None = None) -> None:
        self.path, self.file_size, self.header_size = path, file_size, header_size
        self.tensors = tensors
        self.metadata = metadata or {}

    @property
    def data_size(self) -> int:
        return self.file_size - 8 - self.header_size

    def dtype_bytes(self) -> dict[str, int]:
        return dtype_bytes(self.tensors)


def _bad(code: str, path: Path, detail: str) -> ModelFileError:
    return ModelFileError(code, f"{path.name}: {detail}", path=str(path))


def _pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: the keys as parsed (escapes already undone), each at most once, so
    `"data\\u005foffsets"` or a second `__metadata__` cannot slip past a byte-level check."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(dup)
    return out


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


MAX_DEPTH = 3  # header object -> tensor entry -> shape / data_offsets list
MAX_DIM = 2**63  # safetensors stores shapes and offsets as 64-bit integers


def _objects_upper_bound(raw: bytes) -> int:
    """How many JSON objects the header can hold at most, before parsing: every object opens with a
    literal `{` (an escape can only spell one inside a string, so escaped keys change nothing).
    Braces inside strings count too: a real header's names and metadata hold a few, never 200 000."""
    return raw.count(b"{")


def read_header(
    path: str | os.PathLike[str],
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_tensors: int = MAX_TENSORS,
) -> SafetensorsHeader:
    """Parse and validate the header of a safetensors file; raises ModelFileError with a stable code.

    The same file version is parsed once: later calls get the cached parse (read-only mappings)."""
    path = Path(path)
    with open_regular(path) as fh:
        st = os.fstat(fh.fileno())
        key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, max_header_bytes, max_tensors)
        entry, raw = _cached(key), None
        if entry is not None and entry.raw is not None:
            raw = _read_raw(fh, path, st.st_size, max_header_bytes)
            with _LOCK:
                _STATS["verified"] += 1
            if raw != entry.raw:
                entry = None  # rewritten within one timestamp tick: parse the new bytes
            elif not _racy(st):
                entry.raw = None  # any later write now changes the identity
        if entry is None:
            raw = raw if raw is not None else _read_raw(fh, path, st.st_size, max_header_bytes)
            header = parse_header(raw, path=path, file_size=st.st_size, max_tensors=max_tensors)
            header.tensors = MappingProxyType(header.tensors)  # type: ignore[assignment] - shared: read-only
            header.metadata = MappingProxyType(header.metadata)  # type: ignore[assignment]
            if _identity(os.fstat(fh.fileno())) == _identity(st):  # not modified while it was read
                _store(key, _Entry(header, raw if _racy(st) else None))
            return header
    header = entry.header
    with _LOCK:
        _STATS["hits"] += 1
    if header.path != path:  # the same file reached by another name: report the name asked for
        header = SafetensorsHeader(path, header.file_size, header.header_size, header.tensors, header.metadata)
    return header


def _read_raw(fh, path: Path, file_size: int, max_header_bytes: int) -> bytes:  # noqa: ANN001 - a binary file
    fh.seek(0)
    if file_size == 0:
        raise _bad("FILE_EMPTY", path, "0 bytes")
    prefix = fh.read(8)
    if len(prefix) < 8:
        raise _bad("SAFETENSORS_TRUNCATED", path, f"only {file_size} bytes, shorter than the 8-byte length field")
    (header_size,) = struct.unpack("<Q", prefix)
    if header_size > max_header_bytes:
        raise _bad(
            "SAFETENSORS_HEADER_TOO_LARGE",
            path,
            f"header length field says {header_size} bytes; the limit is {max_header_bytes}",
        )
    if 8 + header_size > file_size:
        raise _bad(
            "SAFETENSORS_TRUNCATED",
            path,
            f"header needs {8 + header_size} bytes but the file has {file_size}",
        )
    return fh.read(header_size)


# ---- one parse per file version ------------------------------------------------------------

CACHE_ENTRIES = 64  # a Wan 2.2 A14B folder has about 20 weight files
CACHE_TENSORS = 100_000  # tensor entries held in all (~25 MB at most); a whole Wan 2.2 A14B folder lists about 3500
RACY_NS = 2_000_000_000  # timestamps this close to the read may not change on a second write (coarse clocks, NFS)
_LOCK = threading.Lock()
_CACHE: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
_STATS = {"parses": 0, "hits": 0, "verified": 0}


class _Entry:
    __slots__ = ("header", "raw")

    def __init__(self, header: SafetensorsHeader, raw: bytes | None) -> None:
        self.header, self.raw = header, raw  # raw: kept while the identity is too young to trust


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _racy(st: os.stat_result) -> bool:
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS


def _cached(key: tuple[Any, ...]) -> _Entry | None:
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
        return entry


def _store(key: tuple[Any, ...], entry: _Entry) -> None:
    size = len(entry.header.tensors)
    if size > CACHE_TENSORS:
        return
    with _LOCK:
        _CACHE[key] = entry
        held = sum(len(e.header.tensors) for e in _CACHE.values())
        while len(_CACHE) > CACHE_ENTRIES or held > CACHE_TENSORS:
            _, dropped = _CACHE.popitem(last=False)
            held -= len(dropped.header.tensors)


def header_stats() -> dict[str, int]:
    """Headers parsed, served from the cache, and cache entries whose bytes were compared again."""
    with _LOCK:
        return dict(_STATS)


def clear_header_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def parse_header(raw: bytes, *, path: Path, file_size: int, max_tensors: int = MAX_TENSORS) -> SafetensorsHeader:
    """Validate header bytes already read from `path` (whose size is `file_size`)."""
    with _LOCK:
        _STATS["parses"] += 1
    header_size = len(raw)
    # Bound the entries before parsing: a header of a million tiny tensors costs seconds and GBs to
    # parse. The bound counts objects (each entry is one), so escaped key spellings cannot hide any.
    bound = _objects_upper_bound(raw) - 2  # the header itself and __metadata__
    if bound > max_tensors:
        raise _bad("SAFETENSORS_TOO_MANY_TENSORS", path, f"up to {bound} entries ('{{' bytes); the limit is {max_tensors}")
    if not raw.lstrip(b" ").startswith(b"{"):
        raise _bad("SAFETENSORS_HEADER_INVALID", path, "the header does not start with '{'")
    try:
        text = raw.decode("utf-8")
        from ..core.safe_json import depth_over

        if depth_over(text, MAX_DEPTH):
            raise _bad("SAFETENSORS_HEADER_INVALID", path, f"the header nests deeper than {MAX_DEPTH} levels (or its brackets do not balance)")
        doc = json.loads(text, object_pairs_hook=_pairs_once)
    except _DuplicateKey as dup:
        raise _bad("SAFETENSORS_DUPLICATE_KEY", path, f"{dup.key[:200]!r} appears more than once") from None
    except RecursionError:
        raise _bad("SAFETENSORS_HEADER_INVALID", path, "the header nests too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("SAFETENSORS_HEADER_INVALID", path, f"the header is not valid UTF-8 JSON ({str(exc)[:200]})") from None
    if not isinstance(doc, dict):
        raise _bad("SAFETENSORS_HEADER_INVALID", path, "the header is not a JSON object")

    metadata = doc.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _bad("SAFETENSORS_HEADER_INVALID", path, "__metadata__ must map strings to strings")
    if len(doc) > max_tensors:
        raise _bad("SAFETENSORS_TOO_MANY_TENSORS", path, f"{len(doc)} tensors; the limit is {max_tensors}")

    tensors = {name: _tensor_info(name, entry, path) for name, entry in doc.items()}
    _check_offsets(tensors, path, data_size=file_size - 8 - header_size)
    return SafetensorsHeader(path, file_size, header_size, tensors, metadata)


def _tensor_info(name: str, entry: Any, path: Path) -> TensorInfo:
    if not isinstance(entry, dict):
        raise _bad("SAFETENSORS_HEADER_INVALID", path, f"entry '{name}' is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _bad("SAFETENSORS_HEADER_INVALID", path, f"tensor '{name[:200]}' has unknown dtype {repr(dtype)[:80]}")
    if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < MAX_DIM for d in shape):
        raise _bad("SAFETENSORS_HEADER_INVALID", path, f"tensor '{name[:200]}' has invalid shape {repr(shape)[:120]}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and 0 <= o < MAX_DIM for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _bad("SAFETENSORS_BAD_OFFSETS", path, f"tensor '{name[:200]}' has invalid data_offsets {repr(offsets)[:120]}")
    bits = prod(shape) * DTYPES[dtype][0]
    if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
        raise _bad(
            "SAFETENSORS_BAD_OFFSETS",
            path,
            f"tensor '{name[:200]}' ({dtype} {repr(shape)[:120]}) needs {bits // 8 if bits % 8 == 0 else str(bits) + ' bits'} bytes but its offsets span {offsets[1] - offsets[0]}",
        )
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def _check_offsets(tensors: dict[str, TensorInfo], path: Path, data_size: int) -> None:
    """The data region must be tiled exactly: sorted spans start at 0, touch, and end at the file end."""
    position = 0
    for name, info in sorted(tensors.items(), key=lambda kv: (kv[1].start, kv[1].end)):
        if info.start != position:
            kind = "overlaps the previous tensor" if info.start < position else f"leaves a gap of {info.start - position} bytes"
            raise _bad("SAFETENSORS_BAD_OFFSETS", path, f"tensor '{name}' starts at {info.start}: it {kind}")
        position = info.end
    if position > data_size:
        raise _bad(
            "SAFETENSORS_TRUNCATED",
            path,
            f"the tensors need {position} bytes of data but the file holds {max(data_size, 0)}",
        )
    if position < data_size:
        raise _bad("SAFETENSORS_BAD_OFFSETS", path, f"{data_size - position} bytes after the last tensor belong to no tensor")


def encode_header(entries: dict[str, dict[str, Any]], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise a header (length prefix included), padded to 8 bytes like the reference writer."""
    doc: dict[str, Any] = {}
    if metadata:
        doc["__metadata__"] = metadata
    doc.update(entries)
    raw = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw
