"""Read the header of a GGUF file (names, shapes, quantization types) without touching the data.

GGUF quantizations of Wan (ComfyUI-GGUF's format) are among the most common downloads, so detection
reads them like safetensors: the key/value metadata and the tensor table. Shapes are stored in
ggml order (innermost first) and are reversed here; tensors that ComfyUI-GGUF reshaped carry their
real shape in `comfy.gguf.orig_shape.<name>`. Loading GGUF stays with ComfyUI-GGUF.

Before `inspect` says OK the tensor table must describe a file that can exist: every tensor of a
ggml type that exists, its innermost dimension a whole number of quantization blocks, its data
aligned, inside the file and overlapping no other tensor. Metadata arrays the detector never shows
(tokenizer vocabularies, scores) are skipped, not built, so the work stays linear in the file.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from ..core.errors import ModelFileError
from .safetensors_header import MAX_TENSORS, TensorInfo
from ..core.regular_file import open_regular

MAX_KV = 100_000
MAX_STRING = 16 * 2**20
MAX_ARRAY = 50_000_000
MAX_SHOWN_ARRAY = 64  # longer arrays are skipped, not read into objects
MAX_DIMS = 4  # ggml tensors have at most 4 dimensions (GGML_MAX_DIMS)

# ggml type id -> (name, elements per block, bytes per block), as llama.cpp's gguf-py lists them
# (gguf/constants.py, GGML_QUANT_SIZES). An id missing here is a type no ggml release defines.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
# value type id -> struct format of a scalar (8 = string, 9 = array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class GGUFHeader:
    def __init__(self, path: Path, file_size: int, version: int, metadata: dict[str, object],
                 tensors: dict[str, TensorInfo]) -> None:
        self.path, self.file_size, self.version = path, file_size, version
        self.metadata, self.tensors = metadata, tensors


class _Reader:
    def __init__(self, fh, path: Path, size: int) -> None:  # noqa: ANN001 - a binary file
        self.fh, self.path, self.size = fh, path, size

    def bad(self, detail: str) -> ModelFileError:
        return ModelFileError("GGUF_INVALID", f"{self.path.name}: {detail}", path=str(self.path))

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelFileError("GGUF_INVALID", f"{self.path.name}: the file ends inside its header (truncated download?)", path=str(self.path))
        return data

    def unpack(self, fmt: str) -> object:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise self.bad(f"a string of {n} bytes in the header (limit {MAX_STRING})")
        return self.read(n).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        if self.fh.tell() + n > self.size:
            raise ModelFileError("GGUF_INVALID", f"{self.path.name}: the file ends inside its header (truncated download?)", path=str(self.path))
        self.fh.seek(n, os.SEEK_CUR)

    def value(self, kind: int, depth: int = 0) -> object:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9 and depth < 2:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if count > MAX_ARRAY:
                raise self.bad(f"an array of {count} items in the header (limit {MAX_ARRAY})")
            if count <= MAX_SHOWN_ARRAY:
                return [self.value(item_kind, depth + 1) for _ in range(count)]
            if item_kind in _SCALARS:  # skipped in one seek
                self.skip(count * struct.calcsize(_SCALARS[item_kind]))
            elif item_kind == 8:  # each string's length, then a seek past it
                for _ in range(count):
                    length = self.unpack("<Q")
                    if length > MAX_STRING:
                        raise self.bad(f"a string of {length} bytes in the header (limit {MAX_STRING})")
                    self.skip(length)
            else:
                raise self.bad(f"an array of {count} items of type {item_kind} (arrays of arrays are not read)")
            return f"<array of {count}>"
        raise self.bad(f"unknown metadata value type {kind}")


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    path = Path(path)
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        r = _Reader(fh, path, size)
        if r.read(4) != b"GGUF":
            raise r.bad("the file does not start with GGUF")
        version = r.unpack("<I")
        if version not in (2, 3):
            raise r.bad(f"GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise r.bad(f"{n_tensors} tensors and {n_kv} metadata entries exceed the limits ({MAX_TENSORS}, {MAX_KV})")
        metadata: dict[str, object] = {}
        for _ in range(n_kv):
            key = r.string()
            metadata[key] = r.value(r.unpack("<I"))
        raw: list[tuple[str, tuple[int, ...], int, int]] = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I")
            if n_dims > MAX_DIMS:
                raise r.bad(f"tensor '{name}' has {n_dims} dimensions")
            dims = tuple(r.unpack("<Q") for _ in range(n_dims))
            raw.append((name, dims[::-1], r.unpack("<I"), r.unpack("<Q")))
        alignment = metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0:
            raise r.bad(f"general.alignment is {alignment!r}")
        data_start = -(-fh.tell() // alignment) * alignment
    tensors = _tensor_table(r, raw, data_start, alignment, metadata)
    return GGUFHeader(path, size, version, metadata, tensors)


def _tensor_table(r: _Reader, raw: list[tuple[str, tuple[int, ...], int, int]], data_start: int, alignment: int,
                  metadata: dict[str, object]) -> dict[str, TensorInfo]:
    """The tensors as detection sees them, each checked against the file (see the module's doc)."""
    tensors: dict[str, TensorInfo] = {}
    for name, shape, type_id, offset in raw:
        if name in tensors:
            raise r.bad(f"tensor '{name}' is listed twice")
        if type_id not in GGML_TYPES:
            raise r.bad(f"tensor '{name}' has ggml type {type_id}, which no ggml release defines")
        type_name, block, block_bytes = GGML_TYPES[type_id]
        if shape and shape[-1] % block:  # ggml order: the innermost dimension holds whole blocks
            raise r.bad(f"tensor '{name}' ({type_name}) has {shape[-1]} values a row, not a multiple of its block of {block}")
        if offset % alignment:
            raise r.bad(f"tensor '{name}' starts at offset {offset}, not a multiple of the alignment {alignment}")
        numel = 1
        for d in shape:
            numel *= d
        start = data_start + offset
        end = start + numel // block * block_bytes
        if end > r.size:
            raise r.bad(f"tensor '{name}' ends at byte {end}, past the end of the file ({r.size} bytes; truncated download?)")
        original = metadata.get(f"comfy.gguf.orig_shape.{name}")
        if isinstance(original, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in original):
            shown = 1
            for d in original:
                shown *= d
            if shown != numel:
                raise r.bad(f"comfy.gguf.orig_shape.{name} is {original}: {shown} values, the tensor holds {numel}")
            shape = tuple(original)
        tensors[name] = TensorInfo(type_name, shape, start, end)
    spans = sorted((t.start, t.end, n) for n, t in tensors.items() if t.end > t.start)
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise r.bad(f"tensors '{first}' and '{second}' overlap in the file")
    return tensors
