"""What the download tests share: a loopback Hub (tools/local_hub.py) holding real safetensors files
under the Comfy-Org repository paths, and `wan-compat get` run as a user runs it, in a process whose
environment points huggingface_hub at that Hub (HF_ENDPOINT), with offline mode off and a private
HF_HOME, so no token or cache of this machine's user is ever read.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import hashlib

import numpy as np
import pytest
from safetensors.numpy import save_file

from local_hub import LocalHub

REPO_21 = "Comfy-Org/Wan_2.1_ComfyUI_repackaged"
REPO_22 = "Comfy-Org/Wan_2.2_ComfyUI_Repackaged"
BIG = 24 * 1024 * 1024  # over huggingface_hub's 10 MiB download chunk: a killed download leaves a partial file


def unknown_safetensors(path: Path, size: int, seed: int = 0) -> Path:
    """A real safetensors file of about `size` bytes whose one tensor the detector does not know."""
    data = np.random.default_rng(seed).random(size // 4, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"some.weight": data}, str(path))
    return path


def pickle_bytes(canary: Path) -> bytes:
    """Pickle bytes whose payload would create `canary` if anything ever unpickled them (nothing does)."""
    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(canary), "w"))

    return pickle.dumps({"state_dict": Payload()}, protocol=4)


def cli_env(hub_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update({"HF_ENDPOINT": hub_url, "HF_HOME": str(home / "hf-home"), "WAN_COMPAT_CONFIG_DIR": str(home / "settings"),
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def get_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wan_compat", "get", *args]


def run_get(env: dict[str, str], *args: str, json_out: bool = True) -> tuple[int, Any, str]:
    """(exit code, the JSON document or the text, stderr) of one `wan-compat get`."""
    done = subprocess.run(get_command(*args, *(["--json"] if json_out else [])), env=env, capture_output=True, text=True, timeout=300)
    out: Any = done.stdout
    if json_out:
        out = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, out, done.stderr


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def partials(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.partial")) if folder.is_dir() else []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user's folder: models/ to download into, settings/ and hf-home/ beside it."""
    (tmp_path / "models").mkdir()
    return tmp_path


@pytest.fixture(scope="module")
def stand_ins(tiny_path: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny Wan 2.1 T2V and 2.2 TI2V-5B exported as ComfyUI single files, plus files the tests need."""
    from wan_compat.compat.fixtures.single_files import export_single_files

    out = tmp_path_factory.mktemp("stand_ins")
    t2v = export_single_files(tiny_path("wan2.1-t2v"), out / "t2v", name="t2v")
    ti2v = export_single_files(tiny_path("wan2.2-ti2v-5b"), out / "ti2v", name="ti2v")
    return {"vae21": t2v["vae"], "vae22": ti2v["vae"], "umt5": t2v["text_encoder"], "t2v": t2v["transformer"],
            "ti2v": ti2v["transformer"], "big": unknown_safetensors(out / "big.safetensors", BIG)}


@pytest.fixture(scope="module")
def hub(stand_ins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    found = LocalHub(tmp_path_factory.mktemp("hub_store"))
    found.add_repo(REPO_21, {"split_files/vae/wan_2.1_vae.safetensors": stand_ins["vae21"],
                             "split_files/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors": stand_ins["umt5"],
                             "split_files/diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors": stand_ins["t2v"]})
    found.add_repo(REPO_22, {"split_files/vae/wan2.2_vae.safetensors": stand_ins["vae22"],
                             "split_files/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors": stand_ins["ti2v"]})
    found.start()
    yield found
    found.stop()
