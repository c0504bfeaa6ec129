"""`wan-compat encode` and the Wan Frame Process / Wan Encode Video nodes, end to end on real ffmpeg."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from wan_compat.compat.cli import main
from wan_compat.compat.core.errors import FrameError
from wan_compat.encoders.encode import EncodeFailed, encode_video
from wan_compat.encoders.ffmpeg import find_ffmpeg
from wan_compat.encoders.metadata import read_metadata
from wan_compat.encoders.png_sequence import SIDECAR, read_sidecar
from wan_compat.encoders.probe import probe_video
from wan_compat.nodes.encode_video import WanEncodeVideo
from wan_compat.nodes.frame_process import WanFrameProcess


pytestmark = pytest.mark.usefixtures("encode_env")


def clip(f: int = 4, h: int = 24, w: int = 32) -> np.ndarray:
    return np.linspace(0, 1, f * h * w * 3, dtype=np.float32).reshape(f, h, w, 3)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["encode", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ---- CLI ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_cli_encodes_npy(tmp_path, capsys, dtype):
    frames = clip(5, 25, 33)
    data = (frames * 255).astype(np.uint8) if dtype == "uint8" else frames
    np.save(tmp_path / "frames.npy", data)
    code, out, _ = run_cli(capsys, str(tmp_path / "frames.npy"), "--out", str(tmp_path / "clip.mp4"), "--fps", "24", "--crf", "20", "--preset", "veryfast", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["path"] == str(tmp_path / "clip.mp4") and (doc["frames"], doc["width"], doc["height"]) == (5, 34, 26)
    assert (doc["crf"], doc["preset"], doc["fps"]) == (20, "veryfast", 24.0)
    assert probe_video(tmp_path / "clip.mp4", find_ffmpeg(), mode="decode").frames == 5


def test_cli_format_from_extension_and_list(tmp_path, capsys):
    np.save(tmp_path / "f.npy", clip())
    assert run_cli(capsys, str(tmp_path / "f.npy"), "--out", str(tmp_path / "c.webm"))[0] == 0
    assert probe_video(tmp_path / "c.webm", find_ffmpeg()).codec == "vp9"
    code, out, _ = run_cli(capsys, "--list-formats", "--json")
    listed = json.loads(out)
    assert code == 0 and {f["name"]: f["available"] for f in listed["formats"]}["h264-mp4"] is True


def test_cli_never_overwrites(tmp_path, capsys):
    np.save(tmp_path / "f.npy", clip())
    (tmp_path / "clip.mp4").write_bytes(b"precious")
    code, out, err = run_cli(capsys, str(tmp_path / "f.npy"), "--out", str(tmp_path / "clip.mp4"))
    assert code == 1 and "ENCODE_OUTPUT_EXISTS" in err and "Traceback" not in err
    assert (tmp_path / "clip.mp4").read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "f.npy"]


def test_cli_bad_inputs(tmp_path, capsys):
    np.save(tmp_path / "grey3d.npy", clip()[..., 0])
    (tmp_path / "truncated.npy").write_bytes(open_npy_bytes(clip())[:100])
    (tmp_path / "frames.txt").write_text("no")
    (tmp_path / "empty_dir").mkdir()
    cases = {
        "grey3d.npy": "FRAMES_BAD_SHAPE", "truncated.npy": "ENCODE_INPUT_UNREADABLE",
        "frames.txt": "ENCODE_INPUT_UNREADABLE", "empty_dir": "ENCODE_INPUT_UNREADABLE", "missing.npy": "ENCODE_INPUT_UNREADABLE",
    }
    for name, code_expected in cases.items():
        code, _, err = run_cli(capsys, str(tmp_path / name), "--out", str(tmp_path / "out.mp4"))
        assert code == 1 and code_expected in err, (name, err)
    assert not (tmp_path / "out.mp4").exists()
    code, _, err = run_cli(capsys, str(tmp_path / "grey3d.npy"), "--out", str(tmp_path / "out.mp4"), "--format", "webm")
    assert code == 2 and "USAGE" in err


def open_npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


class _Canary:
    """Unpickling this would create the canary file; the test only pickles it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cli_refuses_pickled_npy(tmp_path, capsys):
    canary = tmp_path / "canary"
    np.save(tmp_path / "evil.npy", np.array([_Canary(str(canary))], dtype=object), allow_pickle=True)
    code, _, err = run_cli(capsys, str(tmp_path / "evil.npy"), "--out", str(tmp_path / "x.mp4"))
    assert code == 1 and "ENCODE_INPUT_UNREADABLE" in err
    assert not canary.exists() and not (tmp_path / "x.mp4").exists()


def test_fallback_folder_encodes_later_with_its_sidecar(tmp_path, capsys, monkeypatch):
    path = os.environ["PATH"]
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "missing-ffmpeg"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EncodeFailed) as err:
        encode_video(clip(6), output_dir=tmp_path / "out", fps=24, fmt="webm", metadata={"workflow": {"nodes": [7]}})
    folder = err.value.result.fallback
    sidecar = read_sidecar(folder)
    assert sidecar["fps"] == 24 and sidecar["format"] == "vp9-webm" and "wan-compat encode" in sidecar["encode_later"]
    assert sorted(p.name for p in folder.iterdir()) == [f"frame_{i:05d}.png" for i in range(6)] + [SIDECAR]
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    monkeypatch.setenv("PATH", path)
    code, out, _ = run_cli(capsys, str(folder), "--out", str(tmp_path / "later"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["path"] == str(tmp_path / "later.webm") and doc["fps"] == 24.0 and doc["frames"] == 6
    assert read_metadata(doc["path"], find_ffmpeg().path)["workflow"] == '{"nodes":[7]}'



def test_cli_as_a_process_prints_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "wan_compat", "encode", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "x.mp4")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "ENCODE_INPUT_UNREADABLE" in done.stderr and "Traceback" not in done.stderr


# ---- nodes --------------------------------------------------------------------------------------

def test_node_inputs_have_tooltips_and_formats_come_from_data():
    for node in (WanFrameProcess, WanEncodeVideo):
        spec = node.INPUT_TYPES()
        for section in ("required", "optional"):
            for name, (_, options) in spec.get(section, {}).items():
                assert options.get("tooltip"), f"{node.__name__}.{name}"
        assert node.DESCRIPTION and len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_TYPES)
    formats = WanEncodeVideo.INPUT_TYPES()["required"]["format"][0]
    assert formats[0] == "h264-mp4" and "vp9-webm" in formats
    assert WanEncodeVideo.VALIDATE_INPUTS(format="vp9-webm", crf=60, preset="realtime") is True
    assert "ENCODE_BAD_OPTION" in WanEncodeVideo.VALIDATE_INPUTS(format="h264-mp4", crf=60, preset="default")
    assert "ENCODE_BAD_OPTION" in WanEncodeVideo.VALIDATE_INPUTS(format="h264-mp4", crf=-1, preset="realtime")


def test_frame_process_then_encode_two_videos_with_metadata(tmp_path):
    batch = np.stack([clip(3, 20, 30), clip(4, 20, 30)[:3] * 0.5])  # (B, F, H, W, C) from one prompt
    images, fps, info = WanFrameProcess().process(fps=24.0, size_mode="pad", multiple_of=16, value_range="auto", video=batch,
                                                  model_info={"family": "wan", "version": "2.1", "task": "t2v", "problems": []})
    assert isinstance(images, torch.Tensor) and tuple(images.shape) == (6, 32, 32, 3) and fps == 24.0
    assert info.video_lengths == [3, 3] and info.metadata["model"]["task"] == "t2v"
    out = WanEncodeVideo().encode(images, fps, "h264-mp4", -1, "default", "video/Wan", frames_info=info,
                                  prompt={"3": {"class_type": "WanEncodeVideo"}}, extra_pnginfo={"workflow": {"nodes": []}})
    paths, report, _ = out["result"]
    assert [Path(p).name for p in paths.splitlines()] == ["Wan_00001_.mp4", "Wan_00002_.mp4"]
    assert out["ui"]["images"] == [{"filename": "Wan_00001_.mp4", "subfolder": "video", "type": "output"},
                                   {"filename": "Wan_00002_.mp4", "subfolder": "video", "type": "output"}]
    assert out["ui"]["animated"] == [True]
    assert report.ok and report.problems == [] and [v["frames"] for v in report.to_dict()["videos"]] == [3, 3]
    assert Path(paths.splitlines()[0]).parent == tmp_path / "output" / "video"
    tags = read_metadata(paths.splitlines()[0], find_ffmpeg().path)
    assert json.loads(tags["prompt"]) == {"3": {"class_type": "WanEncodeVideo"}} and json.loads(tags["workflow"]) == {"nodes": []}
    ours = json.loads(tags["wan_compat"])
    assert ours["model"]["task"] == "t2v" and ours["frames"]["video_lengths"] == [3, 3]


def test_encode_node_without_preview_for_editing_formats(tmp_path):
    out = WanEncodeVideo().encode(torch.from_numpy(clip()), 16.0, "prores-mov", -1, "lt", "Wan", save_metadata=False)
    assert "images" not in out["ui"] and out["ui"]["text"][0].startswith("Wan_00001_.mov")


def test_frame_process_refuses_bad_frames():
    bad = clip()
    bad[1, 1, 1, 1] = np.nan
    with pytest.raises(FrameError) as err:
        WanFrameProcess().process(fps=16.0, size_mode="keep", multiple_of=2, value_range="auto", images=torch.from_numpy(bad))
    assert err.value.code == "FRAMES_NOT_FINITE"
    with pytest.raises(FrameError):
        WanFrameProcess().process(fps=16.0, size_mode="keep", multiple_of=2, value_range="auto")


def test_encode_node_failure_keeps_the_frames_and_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "missing-ffmpeg"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EncodeFailed) as err:
        WanEncodeVideo().encode(torch.from_numpy(clip()), 16.0, "h264-mp4", -1, "default", "video/Wan")
    assert err.value.code == "FFMPEG_NOT_FOUND" and "pip install -U imageio-ffmpeg" in str(err.value)
    fallback = err.value.result.fallback
    assert fallback == tmp_path / "output" / "video" / "Wan_00001_frames" and str(fallback) in str(err.value)
    assert sorted(p.name for p in (tmp_path / "output" / "video").iterdir()) == ["Wan_00001_frames"]


def test_plain_uint8_npy_is_read_by_ffmpeg_itself(tmp_path):
    from wan_compat.encoders.rawfile import open_uint8_npy

    frames = (clip(5, 25, 33) * 255).astype(np.uint8)
    np.save(tmp_path / "u8.npy", frames)
    raw = open_uint8_npy(tmp_path / "u8.npy")
    assert raw is not None and raw.shape == (5, 25, 33, 3) and np.array_equal(raw[1:3], frames[1:3])
    np.save(tmp_path / "f32.npy", clip())
    np.save(tmp_path / "fortran.npy", np.asfortranarray(frames))
    (tmp_path / "short.npy").write_bytes(open_npy_bytes(frames)[:-10])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name in ("f32.npy", "fortran.npy", "short.npy", "objects.npy"):
        assert open_uint8_npy(tmp_path / name) is None, name  # these go through numpy (or are refused there)
    script = ("import sys; from wan_compat.compat.cli import main; rc = main(['encode', sys.argv[1], '--out', sys.argv[2], '--format', 'lossless']);"
              "print(rc, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "u8.npy"), str(tmp_path / "out.mkv")], capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr  # encoded without importing numpy
    decoded = subprocess.run([find_ffmpeg().path, "-v", "error", "-i", str(tmp_path / "out.mkv"), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(decoded, np.uint8).reshape(frames.shape), frames)  # bit-exact through the file path


def test_encode_result_is_a_diagnose_stage_report(tmp_path):
    from wan_compat.compat.diagnostics import DiagnosticCollector, StageReport

    _, report, _ = WanEncodeVideo().encode(torch.from_numpy(clip()), 16.0, "vp9-webm", -1, "default", "Wan")["result"]
    assert isinstance(report, StageReport)
    collector = DiagnosticCollector()
    collector.add(report)
    built = collector.build().to_dict("full")
    assert "encode" in json.dumps(built) and "Wan_00001_.webm" in report.summary()


def test_settings_fill_what_is_left_open(tmp_path, capsys):
    from wan_compat.compat.settings.store import SettingsStore

    store = SettingsStore(tmp_path / "config")
    for key, value in (("encoder.format", "webm"), ("encoder.crf", 40), ("encoder.preset", "fast"), ("encoder.fps", 24), ("encoder.png_fallback", False)):
        store.set(key, value)
    np.save(tmp_path / "f.npy", clip())
    code, out, _ = run_cli(capsys, str(tmp_path / "f.npy"), "--out", str(tmp_path / "clip"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["path"].endswith("clip.webm") and (doc["crf"], doc["preset"], doc["fps"]) == (40, "fast", 24.0)
    code, out, _ = run_cli(capsys, str(tmp_path / "f.npy"), "--out", str(tmp_path / "clip.mp4"), "--json")
    doc = json.loads(out)  # another format than the settings': its own defaults, not VP9's crf 40
    assert (doc["format"], doc["crf"], doc["preset"]) == ("h264-mp4", 19, "medium")
    _, report, _ = WanEncodeVideo().encode(torch.from_numpy(clip()), 16.0, "vp9-webm", -1, "default", "Wan")["result"]
    assert (report.videos[0].crf, report.videos[0].preset) == (40, "fast")


def test_png_fallback_can_be_switched_off_in_settings(tmp_path, monkeypatch):
    from wan_compat.compat.settings.store import SettingsStore

    SettingsStore(tmp_path / "config").set("encoder.png_fallback", False)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "missing-ffmpeg"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EncodeFailed) as err:
        WanEncodeVideo().encode(torch.from_numpy(clip()), 16.0, "h264-mp4", -1, "default", "video/Wan")
    assert err.value.result.fallback is None and [p for p in (tmp_path / "output").rglob("*") if p.is_file()] == []
