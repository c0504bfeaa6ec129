"""One settings location shared by the nodes and the CLI (issue 15): the CLI finds ComfyUI's user
folder when run from inside ComfyUI or pointed at it, and `$WAN_COMPAT_CONFIG_DIR` wins over both."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.settings.location import comfyui_user_dir
from wan_compat.compat.settings.store import load_settings, settings_dir


def _comfyui(root: Path) -> Path:
    """A ComfyUI checkout's landmarks (the real files' names; their content does not matter here)."""
    (root / "comfy").mkdir(parents=True)
    (root / "main.py").write_text("# ComfyUI\n")
    (root / "folder_paths.py").write_text("# ComfyUI\n")
    (root / "user").mkdir()
    return root


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_compat", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAN_COMPAT")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


def test_cli_run_from_comfyui_writes_the_file_the_nodes_read(tmp_path: Path, clean_env: dict[str, str]) -> None:
    root = _comfyui(tmp_path / "ComfyUI")
    (root / "custom_nodes" / "pack").mkdir(parents=True)
    run = cli("config", "set", "security.extra_model_roots", json.dumps([str(tmp_path / "disk")]), cwd=root / "custom_nodes" / "pack", env=clean_env)
    assert run.returncode == 0, run.stderr
    written = root / "user" / "wan-compat" / "settings.json"
    assert json.loads(written.read_text())["security"]["extra_model_roots"] == [str(tmp_path / "disk")]
    assert not (tmp_path / "xdg" / "wan-compat").exists()
    # The nodes pass ComfyUI's user directory (folder_paths.get_user_directory() = <ComfyUI>/user): same file.
    assert load_settings(root / "user").security.extra_model_roots == [str(tmp_path / "disk")]


def test_cli_pointed_at_comfyui_and_the_env_override(tmp_path: Path, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base"
    for name in ("models", "user", "custom_nodes"):
        (base / name).mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = cli("--comfyui", str(base), "config", "set", "encoder.crf", "23", cwd=elsewhere, env=clean_env)
    assert run.returncode == 0, run.stderr
    assert json.loads((base / "user" / "wan-compat" / "settings.json").read_text())["encoder"]["crf"] == 23
    # Run from a --base-directory folder: found without the flag.
    assert comfyui_user_dir(environ={}, cwd=base / "models") == base / "user"
    # Outside any ComfyUI: the per-user folder; WAN_COMPAT_CONFIG_DIR wins over everything.
    assert comfyui_user_dir(environ={}, cwd=elsewhere) is None
    monkeypatch.chdir(elsewhere)
    assert settings_dir(environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "wan-compat"
    monkeypatch.chdir(base / "user")
    assert settings_dir(environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == base / "user" / "wan-compat"
    assert settings_dir(base / "user", environ={"WAN_COMPAT_CONFIG_DIR": str(tmp_path / "cfg")}) == tmp_path / "cfg"
    run = cli("config", "set", "encoder.crf", "30", cwd=base, env={**clean_env, "WAN_COMPAT_CONFIG_DIR": str(tmp_path / "cfg")})
    assert run.returncode == 0 and json.loads((tmp_path / "cfg" / "settings.json").read_text())["encoder"]["crf"] == 30
