"""`wan-compat demo`: every stage end to end on a tiny model, as a real process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_compat", "demo", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("variant", ["wan2.1-t2v", "wan2.2-ti2v-5b"])
def test_demo_writes_mp4_webm_and_report(tmp_path: Path, tiny_pipelines, variant: str) -> None:
    out = tmp_path / "demo"
    run = demo("--out", str(out), "--variant", variant, "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["ok"] and result["verdict"] in ("ok", "warning") and result["failed_stage"] is None
    videos = [Path(p) for p in result["videos"]]
    assert [p.suffix for p in videos] == [".mp4", ".webm"]
    for path in videos:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        assert frames == 17
        reader = imageio_ffmpeg.read_frames(str(path))
        assert next(reader)["size"] == (64, 64)
        reader.close()
    report = json.loads(Path(result["report"]).read_text())
    text = json.dumps(report)
    for stage in ("detect", "load", "vae", "optimize", "sample", "frames", "encode"):
        assert f'"{stage}"' in text, stage
    assert set(result["seconds"]) >= {"detect", "load", "sample", "encode", "diagnose"}


def test_demo_never_overwrites(tmp_path: Path, tiny_pipelines) -> None:
    out = tmp_path / "demo"
    first = json.loads(demo("--out", str(out), "--json", "--frames", "5").stdout)
    second = json.loads(demo("--out", str(out), "--json", "--frames", "5").stdout)
    assert not set(first["videos"]) & set(second["videos"]) and first["report"] != second["report"]
    assert all(Path(p).exists() for p in first["videos"] + second["videos"])


def test_demo_failure_still_writes_the_report(tmp_path: Path, tiny_pipelines) -> None:
    out = tmp_path / "demo"
    run = demo("--out", str(out), "--frames", "16", "--json")  # not 4k+1
    result = json.loads(run.stdout)
    assert run.returncode == 1 and result["failed_stage"] == "sample"
    assert result["videos"] == [] and not list(out.glob("*.mp4"))
    report = json.loads(Path(result["report"]).read_text())
    assert report["verdict"] == "error" and "num_frames" in json.dumps(report)
