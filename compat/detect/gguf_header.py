"""Read the header of a GGUF file (names, shapes, quantization types) without touching the data.

GGUF quantizations of Wan (ComfyUI-GGUF's format) are among the most common downloads, so detection
reads them like safetensors: the key/value metadata and the tensor table. Shapes are stored in
ggml order (innermost first) and are reversed here; tensors that ComfyUI-GGUF reshaped carry their
real shape in `comfy.gguf.orig_shape.<name>`. Loading GGUF stays with ComfyUI-GGUF.
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
MAX_DIMS = 8

# ggml type id -> (name, elements per block, bytes per block); None sizes are not checked.
GGML_TYPES: dict[int, tuple[str, int | None, int | None]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", None, None), 17: ("IQ2_XS", None, None), 18: ("IQ3_XXS", None, None), 19: ("IQ1_S", None, None),
    20: ("IQ4_NL", None, None), 21: ("IQ3_S", None, None), 22: ("IQ2_S", None, None), 23: ("IQ4_XS", None, None),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", None, None), 30: ("BF16", 1, 2), 34: ("TQ1_0", None, None), 35: ("TQ2_0", None, None),
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

    def value(self, kind: int, depth: int = 0) -> object:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9 and depth < 2:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if count > MAX_ARRAY:
                raise self.bad(f"an array of {count} items in the header (limit {MAX_ARRAY})")
            items = [self.value(item_kind, depth + 1) for _ in range(count)]
            return items if count <= 64 else f"<array of {count}>"
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
    tensors: dict[str, TensorInfo] = {}
    for name, shape, type_id, offset in raw:
        if name in tensors:
            raise r.bad(f"tensor '{name}' is listed twice")
        type_name, block, block_bytes = GGML_TYPES.get(type_id, (f"GGML_{type_id}", None, None))
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel // block * block_bytes if block and block_bytes and numel % block == 0 else 0
        start = data_start + offset
        if start + nbytes > size:
            raise ModelFileError("GGUF_INVALID", f"{path.name}: tensor '{name}' ends past the end of the file (truncated download?)", path=str(path))
        original = metadata.get(f"comfy.gguf.orig_shape.{name}")
        if isinstance(original, list) and all(isinstance(d, int) for d in original):
            shape = tuple(original)
        tensors[name] = TensorInfo(type_name, shape, start, start + nbytes)
    return GGUFHeader(path, size, version, metadata, tensors)
