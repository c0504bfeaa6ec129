"""The backend logs through one `logging` logger per stage (`wan_compat.load`, `wan_compat.sample`,
...): INFO for what a user wants to see in ComfyUI's console (what was loaded, what a run did, where a
file went), DEBUG for the rest (each policy decision, each step), and nothing at all at import."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]

IMPORT_SCRIPT = r"""
import json, logging
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"name": record.name, "path": record.pathname, "message": record.getMessage()})
logging.basicConfig(level=logging.DEBUG, handlers=[Keep()])
import wan_compat, wan_compat.nodes
from wan_compat.compat import detect, loading, sampling, vae, optimize, diagnostics, workflow
import wan_compat.encoders
print(json.dumps(records))
"""


def test_importing_the_pack_logs_nothing(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    records = json.loads(run.stdout.strip().splitlines()[-1])
    ours = [r for r in records if r["name"].startswith("wan_compat") or r["path"].startswith(str(ROOT))]
    assert ours == []


def test_each_stage_logs_to_its_own_logger(tiny_path, private_settings: Path, encode_env, caplog: pytest.LogCaptureFixture) -> None:
    from wan_compat.compat.diagnostics import DiagnosticCollector
    from wan_compat.compat.diagnostics.report_file import write_report
    from wan_compat.compat.loading import LoadOptions, load_pipeline
    from wan_compat.compat.sampling import SampleRequest, sample
    from wan_compat.encoders.encode import encode_video

    with caplog.at_level(logging.DEBUG):  # the root logger, as a user who turns on DEBUG everywhere
        handle = load_pipeline(tiny_path("wan2.1-t2v"), options=LoadOptions(dtype="fp32"))
        result = sample(handle, SampleRequest(prompt="a heron", width=32, height=32, num_frames=5, steps=2, seed=0), record=False)
        video = encode_video(result.frames, output_dir=encode_env_output(), filename_prefix="logged", fmt="h264-mp4", fps=16.0)
        path = write_report(DiagnosticCollector().build(), encode_env_output(), "logged")
    ours = [r for r in caplog.records if r.pathname.startswith(str(ROOT))]
    assert ours and all(r.name.startswith("wan_compat.") for r in ours), {r.name for r in ours}  # never the root logger
    info = {(r.name, r.levelno) for r in ours if r.levelno >= logging.INFO}
    assert {("wan_compat.load", logging.INFO), ("wan_compat.sample", logging.INFO), ("wan_compat.encode", logging.INFO),
            ("wan_compat.diagnose", logging.INFO)} <= info
    messages = {r.name: r.getMessage() for r in ours if r.levelno == logging.INFO}
    assert "loaded WanPipeline" in messages["wan_compat.load"] and str(tiny_path("wan2.1-t2v")) in messages["wan_compat.load"]
    assert "T2V 32x32, 5 frame(s) x 1 video(s), 2 steps" in messages["wan_compat.sample"]
    assert str(video.path) in messages["wan_compat.encode"] and str(path) in messages["wan_compat.diagnose"]
    debug = {r.name for r in ours if r.levelno == logging.DEBUG}
    assert {"wan_compat.load", "wan_compat.sample"} <= debug  # each decision, each step: only at DEBUG
    assert sum(r.levelno >= logging.INFO for r in ours) <= 6  # the console stays short


def encode_env_output() -> Path:
    import os

    return Path(os.environ["WAN_COMPAT_OUTPUT_DIR"])
