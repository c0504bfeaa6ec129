"""The header reader on real files: valid ones (real safetensors writer) and every kind of broken one."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from wan_compat.compat.core.errors import ModelFileError
from wan_compat.compat.detect.safetensors_header import DTYPES, encode_header, read_header


def _write(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _code(path: Path, **kwargs) -> str:
    with pytest.raises(ModelFileError) as err:
        read_header(path, **kwargs)
    return err.value.code


def test_reads_a_file_written_by_the_safetensors_library(tmp_path: Path) -> None:
    tensors = {
        "a": torch.zeros(2, 3, dtype=torch.bfloat16),
        "b": torch.ones(4, dtype=torch.float32),
        "c": torch.zeros(3, 2, dtype=torch.float8_e4m3fn),
        "empty": torch.zeros(0, dtype=torch.float16),
    }
    path = tmp_path / "ok.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "note": "x"})
    header = read_header(path)
    assert header.metadata == {"format": "pt", "note": "x"}
    assert {k: (v.dtype, v.shape) for k, v in header.tensors.items()} == {
        "a": ("BF16", (2, 3)), "b": ("F32", (4,)), "c": ("F8_E4M3", (3, 2)), "empty": ("F16", (0,)),
    }
    assert header.dtype_bytes() == {"fp32": 16, "bf16": 12, "fp8_e4m3fn": 6, "fp16": 0}


def test_every_listed_dtype_has_a_size_and_a_name() -> None:
    assert set(DTYPES) >= {"BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2", "F16", "BF16", "F32", "F64", "I64"}
    assert all(bits in (4, 6, 8, 16, 32, 64) and name for bits, name in DTYPES.values())


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert _code(path) == "FILE_EMPTY"


def test_shorter_than_the_length_field(tmp_path: Path) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x10\x00\x00")
    assert _code(path) == "SAFETENSORS_TRUNCATED"


def test_header_longer_than_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.safetensors", b'{"a":1}', length=5000)
    assert _code(path) == "SAFETENSORS_TRUNCATED"


def test_data_truncated(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(path))
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 100)
    assert _code(path) == "SAFETENSORS_TRUNCATED"


def test_huge_header_length_is_refused_before_reading(tmp_path: Path) -> None:
    path = _write(tmp_path / "huge.safetensors", b"{}", length=2**40)
    err_code = _code(path)
    assert err_code == "SAFETENSORS_HEADER_TOO_LARGE"


def test_header_over_a_custom_limit(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    assert _code(path, max_header_bytes=8) == "SAFETENSORS_HEADER_TOO_LARGE"


@pytest.mark.parametrize(
    "raw",
    [b"not json at all", b"[1, 2, 3]", b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}', b"\xff\xfe{}"],
)
def test_not_a_json_object(tmp_path: Path, raw: bytes) -> None:
    assert _code(_write(tmp_path / "bad.safetensors", raw, data=b"\0" * 4)) == "SAFETENSORS_HEADER_INVALID"


def test_duplicate_tensor_names(tmp_path: Path) -> None:
    raw = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'
    assert _code(_write(tmp_path / "dup.safetensors", raw, data=b"\0" * 8)) == "SAFETENSORS_DUPLICATE_KEY"


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}, "SAFETENSORS_HEADER_INVALID"),
        ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "SAFETENSORS_HEADER_INVALID"),
        ({"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}, "SAFETENSORS_HEADER_INVALID"),
        ({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}, "SAFETENSORS_BAD_OFFSETS"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}, "SAFETENSORS_BAD_OFFSETS"),
        ({"dtype": "F32", "shape": [1], "data_offsets": [0]}, "SAFETENSORS_BAD_OFFSETS"),
        ("not an object", "SAFETENSORS_HEADER_INVALID"),
    ],
)
def test_bad_entries(tmp_path: Path, entry: object, code: str) -> None:
    assert _code(_write(tmp_path / "e.safetensors", {"w": entry}, data=b"\0" * 4)) == code


def test_overlapping_tensors(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    assert _code(_write(tmp_path / "o.safetensors", header, data=b"\0" * 8)) == "SAFETENSORS_BAD_OFFSETS"


def test_gap_between_tensors(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    assert _code(_write(tmp_path / "g.safetensors", header, data=b"\0" * 12)) == "SAFETENSORS_BAD_OFFSETS"


def test_bytes_after_the_last_tensor(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    assert _code(_write(tmp_path / "x.safetensors", header, data=b"\0" * 12)) == "SAFETENSORS_BAD_OFFSETS"


def test_metadata_must_be_strings(tmp_path: Path) -> None:
    header = {"__metadata__": {"n": 1}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    assert _code(_write(tmp_path / "m.safetensors", header, data=b"\0" * 4)) == "SAFETENSORS_HEADER_INVALID"


def test_a_million_zero_size_tensors_are_refused_before_parsing(tmp_path: Path) -> None:
    # The Rust reader accepts this and spends seconds and GBs; we refuse on a byte count first.
    entry = b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    body = b",".join(entry % i for i in range(1_000_001))
    path = _write(tmp_path / "many.safetensors", b"{" + body + b"}")
    assert _code(path) == "SAFETENSORS_TOO_MANY_TENSORS"


def test_error_message_says_what_and_how_to_fix(tmp_path: Path) -> None:
    path = _write(tmp_path / "huge.safetensors", b"{}", length=2**40)
    with pytest.raises(ModelFileError) as err:
        read_header(path)
    text = str(err.value)
    assert "huge.safetensors" in text and str(2**40) in text and "How to fix:" in text


def test_encode_header_round_trip(tmp_path: Path) -> None:
    header = encode_header({"w": {"dtype": "BF16", "shape": [3, 5], "data_offsets": [0, 30]}}, {"format": "pt"})
    assert len(header) % 8 == 0
    path = tmp_path / "w.safetensors"
    path.write_bytes(header + b"\0" * 30)
    read = read_header(path)
    assert read.tensors["w"].shape == (3, 5) and read.metadata == {"format": "pt"}
    # and the real library agrees with the file we wrote
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        assert fh.get_tensor("w").shape == (3, 5)


def test_sparse_27_gib_file_is_read_without_touching_data(sparse_file) -> None:
    path = sparse_file("wan2.1-t2v-14b", "fp16", name="wan2.1_t2v_14B_fp16.safetensors")
    assert path.stat().st_size > 26 * 2**30
    assert path.stat().st_blocks * 512 < 2 * 2**20  # the hole is still a hole
    header = read_header(path)
    assert len(header.tensors) == 1095


def test_duplicate_key_inside_one_entry(tmp_path: Path) -> None:
    raw = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "data_offsets": [0, 8]}}'
    assert _code(_write(tmp_path / "dup2.safetensors", raw, data=b"\0" * 4)) == "SAFETENSORS_DUPLICATE_KEY"


def test_a_tensor_named_like_a_field_is_not_a_duplicate(tmp_path: Path) -> None:
    header = {"__metadata__": {"data_offsets": "x"}, "data_offsets": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    assert set(read_header(_write(tmp_path / "odd.safetensors", header, data=b"\0" * 4)).tensors) == {"data_offsets"}
