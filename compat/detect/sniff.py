"""Decide a file's format from its first bytes, never from its extension.

A `.safetensors` name proves nothing: a pickle renamed to `.safetensors` is the classic way to get
code run by a loader that trusts extensions.
"""
from __future__ import annotations

import os
import struct
from ..core.regular_file import open_regular
from enum import Enum
from pathlib import Path


class FileFormat(str, Enum):
    SAFETENSORS = "safetensors"
    TORCH_ZIP = "torch_zip"  # torch.save since 1.6: a zip archive holding data.pkl
    PICKLE = "pickle"  # raw pickle stream (legacy torch.save, .ckpt)
    GGUF = "gguf"
    EMPTY = "empty"
    UNKNOWN = "unknown"

    @property
    def is_pickle(self) -> bool:
        return self in (FileFormat.TORCH_ZIP, FileFormat.PICKLE)


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, or empty archive
# PROTO opcode (0x80) followed by protocol 2..5; protocol 0/1 pickles start with an opcode such as
# '(' MARK, '}' EMPTY_DICT, ']' EMPTY_LIST or 'c' GLOBAL.
_PICKLE_PROTO = b"\x80"
_OLD_PICKLE_FIRST = frozenset(b"(}]cl")


def sniff_bytes(head: bytes, file_size: int) -> FileFormat:
    """Classify by the first bytes (at least 16 when the file has them)."""
    if file_size == 0 or not head:
        return FileFormat.EMPTY
    if head.startswith(b"GGUF"):
        return FileFormat.GGUF
    if head.startswith(_ZIP_MAGICS):
        return FileFormat.TORCH_ZIP
    if head[:1] == _PICKLE_PROTO and len(head) > 1 and 2 <= head[1] <= 5:
        return FileFormat.PICKLE
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] >= 2:
        # Sizes are checked by the header reader, which says precisely what is wrong.
        return FileFormat.SAFETENSORS
    if head[0] in _OLD_PICKLE_FIRST:
        return FileFormat.PICKLE
    return FileFormat.UNKNOWN


def sniff(path: str | os.PathLike[str]) -> FileFormat:
    path = Path(path)
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        return sniff_bytes(fh.read(16), size)
