"""The on-disk memory of the ffmpeg probe: used when nothing changed, redone when anything did."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from wan_compat.encoders import ffmpeg_probe


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WAN_COMPAT_CACHE", str(tmp_path / "cache"))
    ffmpeg_probe._probe_cached.cache_clear()
    return tmp_path / "cache" / "ffmpeg-probe.json"


def _no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("probe ran a process although nothing changed")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", refuse)


def test_second_probe_comes_from_disk(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ffmpeg_probe.probe()
    assert first.found and cache.is_file()
    ffmpeg_probe._probe_cached.cache_clear()
    _no_subprocess(monkeypatch)
    again = ffmpeg_probe.probe()
    assert (again.path, again.version, again.video_encoders) == (first.path, first.version, first.video_encoders)


def test_a_changed_binary_is_probed_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "ffmpeg-copy"
    shutil.copy(imageio_ffmpeg.get_ffmpeg_exe(), exe)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    assert ffmpeg_probe.probe().path == str(exe)
    exe.write_bytes(b"#!/bin/sh\nexit 1\n")  # replaced by something that is not ffmpeg
    exe.chmod(0o755)
    ffmpeg_probe._probe_cached.cache_clear()
    assert not ffmpeg_probe.probe().found


def test_another_override_is_not_answered_from_the_cache(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ffmpeg_probe.probe().found
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "missing-ffmpeg"))
    assert not ffmpeg_probe.probe().found


def test_a_corrupt_cache_file_is_ignored_and_rewritten(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("{ not json")
    assert ffmpeg_probe.probe().found
    assert '"key"' in cache.read_text()
