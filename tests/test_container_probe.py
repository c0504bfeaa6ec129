"""encoders/container_probe.py: the read-back from the container's index agrees with ffmpeg's packet
read on every shipped format, and a cut-off or altered file is refused (real ffmpeg output)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from wan_compat.compat.core.errors import EncodeError
from wan_compat.encoders.container_probe import read_index
from wan_compat.encoders.encode import encode_video
from wan_compat.encoders.ffmpeg import find_ffmpeg
from wan_compat.encoders.formats import all_formats
from wan_compat.encoders.probe import probe_video, verify_video


def _frames(f: int = 9, h: int = 40, w: int = 56) -> np.ndarray:
    t = np.arange(f, dtype=np.float32)[:, None, None, None]
    y = np.arange(h, dtype=np.float32)[None, :, None, None]
    x = np.arange(w, dtype=np.float32)[None, None, :, None]
    c = np.arange(3, dtype=np.float32)[None, None, None, :]
    return ((np.sin(x / 7 + t / 2 + c) + np.cos(y / 5 - t / 3)) / 4 + 0.5).astype(np.float32)


FORMATS = [f.name for f in all_formats() if find_ffmpeg().has_encoder(f.encoder)]


@pytest.mark.parametrize("name", FORMATS)
def test_index_read_agrees_with_ffmpegs_packet_read(tmp_path: Path, name: str) -> None:
    result = encode_video(_frames(), output_dir=tmp_path, fmt=name, fallback=False, verify="packets")
    found = probe_video(result.path, find_ffmpeg())
    index = read_index(result.path)
    assert index is not None, f"{name}: the index reader should know this container"
    assert index == (found.frames, found.width, found.height) == (9, result.width, result.height)


@pytest.mark.parametrize("name", [n for n in FORMATS if n in ("h264-mp4", "vp9-webm")])
def test_a_cut_off_file_is_refused_by_the_index_read(tmp_path: Path, name: str) -> None:
    result = encode_video(_frames(), output_dir=tmp_path, fmt=name, fallback=False)
    data = result.path.read_bytes()
    for keep in (len(data) - 50, len(data) // 2, 200):
        cut = tmp_path / f"cut_{keep}{result.path.suffix}"
        cut.write_bytes(data[:keep])
        with pytest.raises(EncodeError) as err:
            verify_video(cut, find_ffmpeg(), frames=9, width=result.width, height=result.height)
        assert err.value.code == "ENCODE_VERIFY_FAILED"


def test_a_lost_frame_in_the_index_is_a_count_mismatch(tmp_path: Path) -> None:
    """One sample dropped from the MP4 sample table (stsz count - 1): the index read says 8, not 9."""
    result = encode_video(_frames(), output_dir=tmp_path, fmt="h264-mp4", fallback=False)
    data = bytearray(result.path.read_bytes())
    at = data.index(b"stsz") + 4
    fixed, count = struct.unpack_from(">II", data, at + 4)
    struct.pack_into(">I", data, at + 8, count - 1)
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(bytes(data))
    assert read_index(edited)[0] == count - 1
    with pytest.raises(EncodeError) as err:
        verify_video(edited, find_ffmpeg(), frames=9, width=result.width, height=result.height)
    assert "sent 9 frames" in err.value.detail


def test_an_unknown_container_falls_back_to_ffmpeg(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 64)
    assert read_index(junk) is None
    with pytest.raises(EncodeError) as err:
        verify_video(junk, find_ffmpeg(), frames=9, width=8, height=8)
    assert err.value.code == "ENCODE_VERIFY_FAILED"


def test_many_chunks_keep_every_frame_in_order(tmp_path: Path) -> None:
    """Many conversion chunks through the reused buffers: a lossless file decodes bit-exact to the
    input, frame by frame (distinct random frames, so a reordered, repeated or overwritten chunk
    shows)."""
    import subprocess

    from wan_compat.encoders.convert import Uint8Converter

    frames = np.random.default_rng(1).random((37, 256, 320, 3), dtype=np.float32)
    assert Uint8Converter(frames.shape[1:]).frames_per_chunk * 4 < frames.shape[0]
    result = encode_video(frames, output_dir=tmp_path, fmt="ffv1-mkv", fallback=False)
    done = subprocess.run([str(find_ffmpeg().path), "-hide_banner", "-nostdin", "-i", str(result.path), "-map", "0:v:0",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=120, check=True)
    decoded = np.frombuffer(done.stdout, np.uint8).reshape(-1, 256, 320, 3)
    assert np.array_equal(decoded, np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8))
