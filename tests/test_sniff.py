"""Format by magic bytes, whatever the extension says."""
from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from wan_compat.compat.detect.sniff import FileFormat, sniff


def test_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"  # wrong extension on purpose
    save_file({"w": torch.zeros(2)}, str(path))
    assert sniff(path) is FileFormat.SAFETENSORS


def test_torch_zip(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    assert sniff(path) is FileFormat.TORCH_ZIP


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_raw_pickle(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(pickle.dumps({"w": [1, 2, 3]}, protocol=protocol))
    assert sniff(path).is_pickle


def test_legacy_torch_save(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / "legacy.pt"
    path.write_bytes(buffer.getvalue())
    assert sniff(path) is FileFormat.PICKLE


def test_gguf(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\0" * 16)
    assert sniff(path) is FileFormat.GGUF


def test_empty_and_unknown(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "u").write_bytes(b"\x00\x01hello world, not a model")
    assert sniff(tmp_path / "e") is FileFormat.EMPTY
    assert sniff(tmp_path / "u") is FileFormat.UNKNOWN
