"""`wan-compat smoke PATH`: a minimal generation through every stage, with each check's verdict."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from wan_compat.compat.cli import main  # noqa: E402
from wan_compat.compat.sampling.perf_history import PerfHistory  # noqa: E402

CHECKS = ["detect", "load", "vae", "plan", "sample", "shape", "finite", "range"]


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("variant", ["wan2.2-ti2v-5b", "wan2.1-flf2v"])
def test_smoke_passes_on_tiny_models(tiny_path, private_settings: Path, capsys, variant: str) -> None:
    assert main(["smoke", str(tiny_path(variant)), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and [c["name"] for c in doc["checks"]] == CHECKS and all(c["ok"] for c in doc["checks"])
    size = 64 if variant == "wan2.2-ti2v-5b" else 32  # twice the model's spatial step
    assert doc["sample"]["frames_shape"] == [5, size, size, 3] and doc["sample"]["steps"] == 2
    assert doc["memory"]["peak_bytes"] > 0 and doc["memory"]["estimate_bytes"] > 0 and doc["seconds"]["sample"] > 0
    assert PerfHistory.in_directory(private_settings).runs() == []  # smoke runs are not recorded as real work


def test_smoke_text_report(tiny_path, private_settings, capsys) -> None:
    assert main(["smoke", str(tiny_path("wan2.1-t2v")), "--frames", "9", "--steps", "1", "--width", "48", "--height", "32"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"smoke test of {tiny_path('wan2.1-t2v')}: OK") and "[9, 32, 48, 3]" in text and "peak" in text


def test_smoke_fails_on_a_folder_with_the_wrong_vae_and_leaves_it_as_it_was(tiny_path, tmp_path: Path, private_settings, capsys) -> None:
    folder = tmp_path / "ti2v-with-2.1-vae"
    shutil.copytree(tiny_path("wan2.2-ti2v-5b"), folder)
    shutil.rmtree(folder / "vae")
    shutil.copytree(tiny_path("wan2.1-t2v") / "vae", folder / "vae")
    before = _files(tmp_path)
    assert main(["smoke", str(folder), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and doc["checks"] == [doc["checks"][0]] and doc["checks"][0]["name"] == "detect"
    assert "WRONG_VAE" in [p["code"] for p in doc["problems"]]
    assert any("wan2.2_vae.safetensors" in p["fix"] for p in doc["problems"])
    assert _files(tmp_path) == before


def test_smoke_of_a_missing_path(tmp_path: Path, capsys) -> None:
    assert main(["smoke", str(tmp_path / "nothing"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and [p["code"] for p in doc["problems"]] == ["PATH_NOT_FOUND"]


def test_smoke_usage_errors(tiny_path, private_settings, capsys) -> None:
    assert main(["smoke", str(tiny_path("wan2.1-t2v")), "--frames", "6", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    sample = next(c for c in doc["checks"] if c["name"] == "sample")
    assert not sample["ok"] and "SAMPLE_FRAMES_INVALID" in sample["detail"]
