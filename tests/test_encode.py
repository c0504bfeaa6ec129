"""The encoder against the real ffmpeg: every format, odd sizes, metadata, and every failure mode.

Each failure test checks the typed error and that no partial file is left in the output folder.
Clips are tiny (a few frames, tens of pixels), so the whole file runs in seconds.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from wan_compat.compat.core.errors import EncodeError, FrameError
from wan_compat.encoders import ffmpeg_probe
from wan_compat.encoders.encode import EncodeFailed, encode_to_file, encode_video
from wan_compat.encoders.ffmpeg import classify_failure, find_ffmpeg
from wan_compat.encoders.formats import VideoFormat, all_formats, get_format
from wan_compat.encoders.metadata import ffmetadata_text, parse_ffmetadata, read_metadata
from wan_compat.encoders.png_sequence import PngSequence, read_sidecar
from wan_compat.encoders.probe import probe_video, verify_video
from wan_compat.encoders.writer import ffmpeg_args


pytestmark = pytest.mark.usefixtures("encode_env")


def hide_ffmpeg(monkeypatch, tmp_path: Path) -> None:
    """No working ffmpeg: imageio-ffmpeg's binary replaced by a missing path, and none on PATH."""
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no" / "ffmpeg"))
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def moving(f: int = 5, h: int = 24, w: int = 32) -> np.ndarray:
    """Noise-free moving gradients: frames differ, so a dropped or repeated frame would show."""
    t = np.arange(f, dtype=np.float32)[:, None, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[None, :, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, None, :]
    shape = (f, h, w)
    r = np.broadcast_to((x + 0.1 * t) % 1.0, shape)
    g = np.broadcast_to((y + 0.05 * t) % 1.0, shape)
    b = np.broadcast_to((x + y) / 2, shape)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def read_back(path: Path) -> tuple[float, np.ndarray]:
    """Decode every frame to RGB; the frame count comes from the bytes decoded, not from our probe."""
    done = subprocess.run([find_ffmpeg().path, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=60, check=True)
    info = probe_video(path, find_ffmpeg())
    fps = float(re.search(r"([\d.]+) fps", done.stderr.decode()).group(1))
    return fps, np.frombuffer(done.stdout, np.uint8).reshape(-1, info.height, info.width, 3)


def visible(folder: Path) -> list[str]:
    """Every entry under folder (hidden temp files included), relative."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def container_tags(path: Path) -> dict[str, str]:
    return read_metadata(path, find_ffmpeg().path)


# ---- formats -------------------------------------------------------------------------------

def test_formats_are_data_with_aliases_and_speed_flags():
    names = [f.name for f in all_formats()]
    assert names[:2] == ["h264-mp4", "vp9-webm"] and {"h265-mp4", "av1-webm", "ffv1-mkv", "prores-mov"} <= set(names)
    assert get_format("MP4").name == "h264-mp4" and get_format("lossless").name == "ffv1-mkv"
    webm = ffmpeg_args(get_format("webm"), width=32, height=24, channels=3, fps=16, output=Path("x.webm"), crf=None, preset=None)
    joined = " ".join(webm)
    assert "-deadline realtime -cpu-used 8" in joined and "-row-mt 1" in joined and "-b:v 0" in joined and "-crf 32" in joined
    mp4 = " ".join(ffmpeg_args(get_format("mp4"), width=33, height=24, channels=3, fps=16, output=Path("x.mp4"), crf=18, preset="fast"))
    assert "-crf 18 -preset fast" in mp4 and "+faststart" in mp4 and "pad=34:24:0:0" in mp4


@pytest.mark.parametrize("name, crf, preset, code", [
    ("h264-mp4", 52, None, "ENCODE_BAD_OPTION"),
    ("h264-mp4", None, "realtime", "ENCODE_BAD_OPTION"),
    ("ffv1-mkv", 10, None, "ENCODE_BAD_OPTION"),
    ("gif", None, None, "ENCODE_FORMAT_UNKNOWN"),
])
def test_bad_options_fail_before_anything_is_written(tmp_path, name, crf, preset, code):
    with pytest.raises(EncodeError) as err:
        encode_video(moving(), output_dir=tmp_path / "out", fmt=name, crf=crf, preset=preset)
    assert err.value.code == code and err.value.fix
    assert visible(tmp_path / "out") == []


@pytest.mark.parametrize("fmt", [f.name for f in all_formats()])
def test_every_format_decodes_back_to_the_frames_sent(tmp_path, fmt):
    binary = find_ffmpeg()
    if not binary.has_encoder(get_format(fmt).encoder):
        pytest.skip(f"this ffmpeg has no {get_format(fmt).encoder}")
    frames = moving(f=6, h=24, w=32)
    result = encode_video(frames, output_dir=tmp_path, filename_prefix="clips/wan", fmt=fmt, fps=16)
    assert result.path == tmp_path / "clips" / f"wan_00001_.{get_format(fmt).extension}"
    fps, decoded = read_back(result.path)
    assert decoded.shape == (6, 24, 32, 3) and fps == 16
    expected = np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8)
    error = np.abs(decoded.astype(int) - expected.astype(int)).mean()
    assert error < 12, f"{fmt}: mean abs error {error}"  # lossy, but the same pictures in the same order
    assert visible(tmp_path / "clips") == [result.path.name]  # no temp or metadata file left


def test_lossless_round_trip_is_bit_exact(tmp_path):
    frames = np.random.default_rng(0).random((4, 9, 13, 3), dtype=np.float32)
    result = encode_video(frames, output_dir=tmp_path, fmt="ffv1-mkv")
    _, decoded = read_back(result.path)
    assert (result.width, result.height) == (13, 9)  # FFV1 takes any size: nothing padded
    assert np.array_equal(decoded, np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8))


def test_odd_sizes_are_padded_not_cropped(tmp_path):
    frames = moving(f=3, h=25, w=33)
    frames[:, -1, :, :] = 1.0  # a white last row and column must survive
    frames[:, :, -1, :] = 1.0
    result = encode_video(frames, output_dir=tmp_path, fmt="mp4")
    assert (result.width, result.height, result.source_width, result.source_height) == (34, 26, 33, 25)
    _, decoded = read_back(result.path)
    assert decoded.shape == (3, 26, 34, 3)
    assert decoded[:, 24, 5:28].mean() > 200 and decoded[:, 5:20, 32].mean() > 200  # last source row/column kept
    assert decoded[:, 25, 5:28].mean() < 60  # the padding row is black


def test_uint8_grey_and_torch_inputs(tmp_path):
    import torch

    grey = (moving(f=3)[..., :1] * 255).astype(np.uint8)
    result = encode_video(grey, output_dir=tmp_path, fmt="mp4")
    _, decoded = read_back(result.path)
    assert decoded.shape == (3, 24, 32, 3)
    tensor = torch.from_numpy(moving(f=3)).to(torch.bfloat16)
    assert encode_video(tensor, output_dir=tmp_path, fmt="webm").frames == 3


def test_metadata_is_embedded_where_comfyui_reads_it(tmp_path):
    workflow = {"nodes": [{"id": 1, "type": "WanEncodeVideo", "widgets_values": ["a=b;c#d\\e\nf"]}]}
    tags = {"prompt": {"1": {"class_type": "WanEncodeVideo"}}, "workflow": workflow, "wan_compat": {"model": {"task": "t2v"}}}
    for fmt in ("mp4", "webm"):
        result = encode_video(moving(f=2), output_dir=tmp_path, fmt=fmt, metadata=tags)
        read = {k: json.loads(v) for k, v in container_tags(result.path).items() if k in tags}
        assert read == tags  # special characters survive ffmetadata's escaping


def test_large_workflow_metadata_beyond_one_argument_limit(tmp_path):
    big = {"nodes": [{"id": i, "text": "x" * 100} for i in range(2000)]}  # ~250 KB, over Linux's 128 KiB per argument
    result = encode_video(moving(f=2), output_dir=tmp_path, fmt="mp4", metadata={"workflow": big})
    assert json.loads(container_tags(result.path)["workflow"]) == big


def test_ffmetadata_escaping_round_trips():
    tags = {"a": "x=1;#\\y\nz", "b c": {"k": "v"}}
    assert parse_ffmetadata(ffmetadata_text(tags)) == {"a": "x=1;#\\y\nz", "b_c": '{"k":"v"}'}


# ---- bad frames: refused before ffmpeg runs ------------------------------------------------------

def test_zero_frames_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(FrameError) as err:
        encode_video(np.zeros((0, 24, 32, 3), np.float32), output_dir=tmp_path / "out")
    assert err.value.code == "FRAMES_EMPTY"
    assert visible(tmp_path / "out") == []


def test_nan_frames_are_refused_and_nothing_is_written(tmp_path):
    frames = moving(f=4)
    frames[2, 3, 4, 1] = np.nan
    with pytest.raises(FrameError) as err:
        encode_video(frames, output_dir=tmp_path / "out", fmt="webm")
    assert err.value.code == "FRAMES_NOT_FINITE" and "frame 2" in str(err.value)
    assert visible(tmp_path / "out") == []


# ---- ffmpeg and encoder missing ----------------------------------------------------------------

def test_missing_ffmpeg_binary(monkeypatch, tmp_path):
    hide_ffmpeg(monkeypatch, tmp_path)
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=3), output_dir=tmp_path / "out", fmt="mp4")
    assert err.value.code == "FFMPEG_NOT_FOUND"
    assert "pip install -U imageio-ffmpeg" in err.value.fix and "apt install ffmpeg" in err.value.fix
    assert "IMAGEIO_FFMPEG_EXE" in err.value.detail
    # the frames were kept as PNG with a sidecar, and nothing else is in the folder
    fallback = err.value.result.fallback
    assert fallback is not None and str(fallback) in str(err.value)
    assert [p for p in visible(tmp_path / "out") if "frames" not in p] == []
    assert len(PngSequence(fallback)) == 3 and read_sidecar(fallback)["why"]["code"] == "FFMPEG_NOT_FOUND"


def test_not_an_ffmpeg_is_not_used(tmp_path, monkeypatch):
    script = tmp_path / "fake-ffmpeg"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(script))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EncodeError) as err:
        find_ffmpeg()
    assert err.value.code == "FFMPEG_NOT_FOUND" and str(script) in str(err.value)


def test_ranking_prefers_the_binary_that_has_the_encoders(tmp_path):
    real = find_ffmpeg()
    lacking = ffmpeg_probe.FfmpegInfo(path="/x", source="system", version="1", video_encoders=frozenset({"libvpx-vp9"}))
    assert ffmpeg_probe.rank(real) > ffmpeg_probe.rank(lacking)
    assert ffmpeg_probe.RANKED_ENCODERS == tuple(f.encoder for f in all_formats())  # the ranking follows the formats


def test_missing_encoder_is_caught_before_running(tmp_path):
    fmt = VideoFormat.from_dict({"name": "nope-mp4", "label": "x", "extension": "mp4", "muxer": "mp4",
                                 "encoder": "libnope264", "pix_fmt": "yuv420p", "align": 2})
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=3), output_dir=tmp_path, fmt=fmt)
    assert err.value.code == "FFMPEG_ENCODER_MISSING" and "libnope264" in err.value.summary
    assert "imageio-ffmpeg" in err.value.fix
    assert [p for p in visible(tmp_path) if "frames" not in p] == []


def test_missing_encoder_reported_by_ffmpeg_itself(tmp_path):
    """A binary that claims the encoder but fails on it: ffmpeg's own 'Encoder not found' is translated."""
    binary = find_ffmpeg()
    liar = ffmpeg_probe.FfmpegInfo(binary.path, "system", binary.version, binary.video_encoders | {"libnope264"})
    fmt = VideoFormat.from_dict({"name": "nope-mp4", "label": "x", "extension": "mp4", "muxer": "mp4",
                                 "encoder": "libnope264", "pix_fmt": "yuv420p", "align": 2})
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=3), output_dir=tmp_path, fmt=fmt, binary=liar, fallback=False)
    assert err.value.code == "FFMPEG_ENCODER_MISSING" and "libnope264" in err.value.summary
    assert visible(tmp_path) == []


def test_height_not_divisible_by_2_is_translated(tmp_path):
    unaligned = VideoFormat.from_dict({"name": "raw-x264", "label": "x", "extension": "mp4", "muxer": "mp4",
                                       "encoder": "libx264", "pix_fmt": "yuv420p", "align": 1})
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=3, h=25, w=33), output_dir=tmp_path, fmt=unaligned, fallback=False)
    assert err.value.code == "FFMPEG_ODD_DIMENSION" and "divisible by 2" in err.value.detail
    assert err.value.summary == "The video width is odd, but this encoder needs even sizes"
    assert visible(tmp_path) == []  # ffmpeg's 0-byte file is gone too


def test_failure_classification_table():
    assert classify_failure(-9, "").code == "ENCODE_FFMPEG_DIED"
    assert classify_failure(-int(signal.SIGXFSZ), "").code == "ENCODE_DISK_FULL"
    assert classify_failure(1, "av_interleaved_write_frame(): No space left on device").code == "ENCODE_DISK_FULL"
    assert classify_failure(1, "x.mp4: Read-only file system").code == "ENCODE_TARGET_READ_ONLY"
    assert classify_failure(1, "Unrecognized option 'row-mt'").code == "ENCODE_OPTION_UNSUPPORTED"
    assert classify_failure(1, "something odd").code == "ENCODE_FFMPEG_FAILED"


# ---- ffmpeg dies, disk full, read-only target ---------------------------------------------------

def test_ffmpeg_killed_mid_stream(tmp_path):
    frames = moving(f=40, h=256, w=256)  # several chunks, so frames are still to be sent after the kill
    calls = []

    def kill_ffmpeg(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 1:
            for child in psutil.Process().children():
                if "ffmpeg" in child.name():
                    child.send_signal(signal.SIGKILL)
                    while child.status() != psutil.STATUS_ZOMBIE:  # dead, but left for Popen to reap
                        time.sleep(0.01)

    with pytest.raises(EncodeFailed) as err:
        encode_video(frames, output_dir=tmp_path, fmt="mp4", preset="ultrafast", on_progress=kill_ffmpeg)
    assert err.value.code == "ENCODE_FFMPEG_DIED" and "SIGKILL" in err.value.detail
    assert calls[0] < 40  # killed before every frame was sent
    fallback = err.value.result.fallback
    assert [p for p in visible(tmp_path) if not p.startswith(fallback.name)] == []
    assert len(PngSequence(fallback)) == 40


def test_verification_mismatch_is_not_published(tmp_path):
    """A format whose filter drops frames: ffmpeg succeeds, reading the file back catches it."""
    dropping = VideoFormat.from_dict({"name": "drop-mp4", "label": "x", "extension": "mp4", "muxer": "mp4",
                                      "encoder": "libx264", "pix_fmt": "yuv420p", "align": 2,
                                      "filters": ["select=lt(n\\,3)"]})
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=6), output_dir=tmp_path, fmt=dropping, fallback=False)
    assert err.value.code == "ENCODE_VERIFY_FAILED" and "sent 6 frames" in err.value.detail
    assert visible(tmp_path) == []


def test_probe_reads_count_and_size_in_both_modes(tmp_path):
    result = encode_video(moving(f=7), output_dir=tmp_path, fmt="webm")
    binary = find_ffmpeg()
    for mode in ("packets", "decode"):
        found = probe_video(result.path, binary, mode=mode)
        assert (found.frames, found.width, found.height, found.codec) == (7, 32, 24, "vp9")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(result.path.read_bytes()[:200])
    with pytest.raises(EncodeError) as err:
        verify_video(broken, binary, frames=7, width=32, height=24)
    assert err.value.code == "ENCODE_VERIFY_FAILED"


def test_a_file_where_the_subfolder_should_be(tmp_path):
    (tmp_path / "video").write_text("not a folder")
    with pytest.raises(EncodeFailed) as err:
        encode_video(moving(f=2), output_dir=tmp_path, filename_prefix="video/Wan", fallback=False)
    assert err.value.code == "ENCODE_TARGET_UNWRITABLE"
    assert visible(tmp_path) == ["video"] and (tmp_path / "video").read_text() == "not a folder"


_ISOLATED = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from wan_compat.encoders.encode import EncodeFailed, encode_video
    out, spare, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
    frames = np.random.default_rng(1).random((24, 96, 128, 3), dtype=np.float32)  # noise: MBs even at crf 0
    report = {}
    try:
        r = encode_video(frames, output_dir=out, fmt=fmt, crf=0, fallback_dirs=[spare] if spare != "-" else [])
        report["ok"] = str(r.path)
    except EncodeFailed as err:
        report = {"code": err.code, "message": str(err), "fallback": str(err.result.fallback) if err.result.fallback else None,
                  "problems": [p.code for p in err.result.problems]}
    report["left"] = sorted(os.listdir(out)) if os.path.isdir(out) else None
    print(json.dumps(report))
""")


def _run_isolated(how: str, out: Path, spare: Path | str, fmt: str = "mp4") -> dict:
    """Run one encode in a subprocess whose output folder is a tiny tmpfs (own mount namespace),
    a read-only tmpfs, or limited by RLIMIT_FSIZE; skip when the machine allows none of them."""
    out.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-c", _ISOLATED, str(out), str(spare), fmt]
    if how in ("tmpfs-full", "tmpfs-ro"):
        opts = "size=128k" if how == "tmpfs-full" else "ro,size=128k"
        cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"',
               "sh", opts, str(out), *py]
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"mount -t tmpfs -o size=4k tmpfs {out}"],
                               capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"no private tmpfs here (unshare/mount refused: {probe.stderr.decode().strip()[:120]})")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    else:  # rlimit: every file this process and its ffmpeg write is capped at 64 KiB
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

        done = subprocess.run(py, capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_disk_full_on_a_tiny_tmpfs_leaves_nothing(tmp_path):
    report = _run_isolated("tmpfs-full", tmp_path / "out", "-")
    assert report["code"] == "ENCODE_DISK_FULL", report
    assert "Free disk space" in report["message"]
    assert report["left"] == []  # neither the partial video nor a partial PNG folder
    assert "ENCODE_FALLBACK_FAILED" in report["problems"] and "failed too" in report["message"]
    assert visible(tmp_path / "out") == []


def test_disk_full_falls_back_to_png_on_another_disk(tmp_path):
    spare = tmp_path / "spare"
    report = _run_isolated("tmpfs-full", tmp_path / "out", spare)
    assert report["code"] == "ENCODE_DISK_FULL" and report["left"] == []
    fallback = Path(report["fallback"])
    assert fallback.parent == spare and len(PngSequence(fallback)) == 24
    assert read_sidecar(fallback)["why"]["code"] == "ENCODE_DISK_FULL"


def test_file_size_limit_reached_gives_disk_full_and_png_fallback(tmp_path):
    """RLIMIT_FSIZE (no namespace needed): ffmpeg hits the limit; each PNG stays under it."""
    report = _run_isolated("rlimit", tmp_path / "out", "-")
    assert report["code"] == "ENCODE_DISK_FULL", report
    fallback = Path(report["fallback"])
    assert report["left"] == [fallback.name]  # the PNG folder only: no partial video, no temp file
    assert len(PngSequence(fallback)) == 24


def test_read_only_target_on_a_read_only_tmpfs(tmp_path):
    report = _run_isolated("tmpfs-ro", tmp_path / "out", "-")
    assert report["code"] == "ENCODE_TARGET_READ_ONLY", report
    assert report["left"] == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permission bits; the read-only tmpfs test covers root")
def test_read_only_target_by_permissions(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(EncodeFailed) as err:
            encode_video(moving(f=2), output_dir=out, fmt="mp4")
        assert err.value.code == "ENCODE_TARGET_READ_ONLY"
        assert visible(out) == []
    finally:
        out.chmod(0o755)


def test_interrupt_cleans_up_without_fallback(tmp_path):
    class Interrupted(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        encode_video(moving(f=4), output_dir=tmp_path, fmt="mp4", on_progress=stop)
    time.sleep(0.05)
    assert visible(tmp_path) == []
    assert not [c for c in psutil.Process().children() if "ffmpeg" in c.name()]


def test_encode_to_file_never_overwrites(tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(EncodeError) as err:
        encode_to_file(moving(f=2), out, fmt="mp4")
    assert err.value.code == "ENCODE_OUTPUT_EXISTS" and out.read_bytes() == b"precious"
    assert visible(tmp_path) == ["clip.mp4"]
    result = encode_to_file(moving(f=2), tmp_path / "other", fmt="webm")
    assert result.path == tmp_path / "other.webm"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device: IMAGE tensors on the GPU are copied chunk by chunk")
def test_cuda_image_tensor_encodes(tmp_path):
    import torch

    frames = torch.from_numpy(moving(f=4)).cuda()
    result = encode_video(frames, output_dir=tmp_path, fmt="ffv1-mkv")
    _, decoded = read_back(result.path)
    assert np.array_equal(decoded, np.clip(moving(f=4) * 255 + 0.5, 0, 255).astype(np.uint8))


def test_nan_found_while_streaming_names_the_right_frame_and_leaves_nothing(tmp_path):
    """The check runs chunk by chunk as frames stream to ffmpeg (one read of the data): a NaN in a
    late chunk still stops the encode with the right frame number and no file left behind."""
    frames = np.full((12, 512, 512, 3), 0.5, dtype=np.float32)  # ~1 frame per conversion chunk
    frames[9, 100, 100, 0] = np.nan
    with pytest.raises(FrameError) as err:
        encode_video(frames, output_dir=tmp_path / "out", fmt="mp4")
    assert err.value.code == "FRAMES_NOT_FINITE" and "frame 9" in str(err.value)
    assert visible(tmp_path / "out") == []
    assert not [p for p in (tmp_path / "out").iterdir()]  # no hidden temp file either


def test_huge_finite_values_are_clipped_not_called_non_finite(tmp_path):
    frames = np.full((3, 16, 16, 3), 0.5, dtype=np.float32)
    frames[1, 0, 0, 0] = 3e38  # x255 overflows to inf in float32, but the value itself is finite
    video = encode_video(frames, output_dir=tmp_path / "out", fmt="mp4")
    assert video.frames == 3
