"""`wan-compat doctor`, the ffmpeg probe and the system probe, against the real machine."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.encoders import ffmpeg_probe
from wan_compat.compat.diagnostics import doctor
from wan_compat.compat.core import system

ROOT = Path(doctor.__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wan_compat", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("WAN_COMPAT")}
    out.update(HOME=str(tmp_path / "home"), WAN_COMPAT_CONFIG_DIR=str(tmp_path / "cfg"))
    return out


def test_doctor_json_on_this_machine(env):
    result = run_cli("doctor", "--json", env=env)
    doc = json.loads(result.stdout)
    names = [c["name"] for c in doc["checks"]]
    for name in ("python", "package:torch", "package:diffusers", "package:transformers", "ffmpeg",
                 "encoder:libx264", "encoder:libvpx-vp9", "gpu", "memory", "settings"):
        assert name in names
    missing = [c for c in doc["checks"] if c["status"] == "missing"]
    assert doc["ok"] is (not missing) and result.returncode == (1 if missing else 0)
    assert all(c["problem"]["fix"] for c in doc["checks"] if c["status"] != "ok")
    gpu = next(c for c in doc["checks"] if c["name"] == "gpu")
    if gpu["status"] != "ok":  # NVML raises NVMLError_LibraryNotFound without a driver: handled
        assert gpu["problem"]["code"] == "NO_GPU" and "NVML" in gpu["problem"]["detail"]
    assert doc["system"]["packages"]["diffusers"] == system.package_version("diffusers")


def test_doctor_without_ffmpeg_names_the_fix_and_fails(env, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env.update(IMAGEIO_FFMPEG_EXE=str(tmp_path / "no" / "ffmpeg"), PATH=str(empty_bin))
    result = run_cli("doctor", "--json", env=env)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    ff = next(c for c in doc["checks"] if c["name"] == "ffmpeg")
    assert ff["status"] == "missing" and ff["problem"]["code"] == "FFMPEG_NOT_FOUND"
    assert "pip install -U imageio-ffmpeg" in ff["problem"]["fix"]
    text = run_cli("doctor", env=env)
    assert text.returncode == 1
    assert re.search(r"MISSING\s+ffmpeg: not found", text.stdout)
    assert "required thing(s) missing: ffmpeg" in text.stdout


def test_doctor_reports_a_broken_settings_file(env, tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "settings.json").write_text("{nope")
    result = run_cli("doctor", "--json", env=env)
    settings = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "settings")
    assert settings["status"] == "missing" and settings["problem"]["code"] == "SETTINGS_FILE_CORRUPT"
    assert result.returncode == 1
    assert (tmp_path / "cfg" / "settings.json").read_text() == "{nope"


def test_missing_and_old_packages():
    missing = doctor.check_package("wan-compat-no-such-package", "1.0", "test the doctor", True)
    assert not missing.ok and missing.status == "missing"
    assert missing.problem.code == "PACKAGE_MISSING"
    assert 'pip install "wan-compat-no-such-package>=1.0"' in missing.problem.fix
    old = doctor.check_package("pytest", "999.0", "run tests", False)
    assert old.status == "warning" and old.problem.code == "PACKAGE_TOO_OLD"
    assert old.problem.severity == "warning"
    assert doctor.check_package("pytest", "1.0", "run tests", True).ok
    assert doctor.check_python((3, 9, 18)).problem.code == "PACKAGE_TOO_OLD"
    assert doctor.required_missing([missing, old]) == [missing]


def test_doctor_minimums_match_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {}
    for dep in deps:
        name, _, version = dep.partition(">=")
        pinned[name.strip().lower().replace("_", "-")] = version.strip() or None
    table = {name.lower().replace("_", "-"): minimum for name, minimum, _, _ in doctor.PACKAGES}
    for name, version in pinned.items():
        assert table.get(name) == version, f"{name}: pyproject says >={version}, doctor says {table.get(name)}"


def test_memory_and_gpu_checks_from_data():
    low = doctor.check_memory({"total_bytes": 16 * 2**30, "available_bytes": 2**30})
    assert low.problem.code == "LOW_MEMORY" and "1.0 GiB" in low.problem.summary
    assert doctor.check_memory({"total_bytes": 64 * 2**30, "available_bytes": 32 * 2**30}).ok
    with_gpu = {"nvml": {"available": True, "driver": "580.1", "devices": [
        {"index": 0, "name": "NVIDIA H100", "memory_total_bytes": 80 * 2**30, "memory_free_bytes": 79 * 2**30, "compute_capability": "9.0"}]},
        "torch": {"imported": False}}
    with_gpu["summary"] = system.gpu_summary(with_gpu["nvml"], with_gpu["torch"])
    assert with_gpu["summary"] == "NVIDIA H100 (80.0 GiB, compute 9.0), driver 580.1"
    assert doctor.check_gpu(with_gpu).ok


def test_nvml_probe_never_raises():
    info = system.nvml_info()
    if info["available"]:
        assert info["devices"] and info["driver"]
    else:
        assert info["reason"]


def test_system_probe_imports_nothing_heavy():
    code = ("import sys, json; import wan_compat.compat.diagnostics as d; from wan_compat.compat.diagnostics import machine;"
            "info = machine.collect(); print(json.dumps([m for m in ('torch', 'diffusers', 'transformers', 'pydantic') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_torch_info_only_when_torch_is_imported():
    import torch

    info = system.torch_info()
    assert info["imported"] and info["version"] == torch.__version__
    assert info["cuda_available"] == torch.cuda.is_available()


# ---------------------------------------------------------------------------------- ffmpeg probe
def test_probe_finds_the_bundled_ffmpeg_and_its_encoders():
    info = ffmpeg_probe.probe()
    assert info.found and info.version and info.source in ("imageio-ffmpeg", "IMAGEIO_FFMPEG_EXE", "system")
    assert info.has_encoder("libx264") and info.has_encoder("libvpx-vp9")
    assert "aac" in info.audio_encoders and "aac" not in info.video_encoders
    assert "=" not in info.video_encoders  # the legend lines are not encoders
    assert ffmpeg_probe.encoder_problem("libx264", info) is None


def test_missing_encoder_is_a_typed_problem():
    issue = ffmpeg_probe.encoder_problem("libnonexistent")
    assert issue.code == "FFMPEG_ENCODER_MISSING" and issue.summary == "This ffmpeg has no 'libnonexistent' encoder"


def test_binaries_that_do_not_run(tmp_path):
    text_file = tmp_path / "ffmpeg"
    text_file.write_text("#!/bin/sh\nexit 3\n")
    text_file.chmod(0o755)
    for path in (text_file, tmp_path / "missing-ffmpeg"):
        info = ffmpeg_probe.probe_binary(str(path))
        assert not info.found and info.error
        issue = ffmpeg_probe.encoder_problem("libx264", info)
        assert issue.code == "FFMPEG_NOT_FOUND"


def test_probe_prefers_imageio_ffmpeg_exe_and_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "nowhere" / "ffmpeg"))
    monkeypatch.setenv("PATH", str(tmp_path))
    info = ffmpeg_probe.probe()
    assert not info.found and "IMAGEIO_FFMPEG_EXE" in info.error
    import imageio_ffmpeg

    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "broken"))
    info = ffmpeg_probe.probe()  # the env binary fails; the one on PATH runs
    assert info.found and info.source == "system"


def test_the_pack_version_is_known_without_a_pip_install(monkeypatch) -> None:
    """Inside ComfyUI the pack is a folder in custom_nodes, not a distribution: the report still
    names its version (from the top package) instead of 'missing'."""
    from importlib import metadata

    import wan_compat
    from wan_compat.compat.core import system

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(system.metadata, "version", not_installed)
    assert system.package_version("comfyui-wan-compat") == wan_compat.__version__
    assert system.package_version("torch") is None
