"""Promises the README makes that had no test: a single-frame (text-to-image) run; the queue check
never delays queueing; Wan Safe Load and Wan Sample ask ComfyUI's model manager to free memory
before they load or run (and give the cache back after), checked in a process with ComfyUI's own
`comfy.model_management`."""
from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def test_a_single_frame_run_is_an_image(tiny_path, private_settings: Path) -> None:
    """num_frames=1 (4k+1 with k=0): one latent frame, one image, as Wan's T2I use of the T2V models."""
    from wan_compat.compat.loading import LoadOptions, load_pipeline
    from wan_compat.compat.sampling import SampleRequest, sample

    handle = load_pipeline(tiny_path("wan2.1-t2v"), options=LoadOptions(dtype="fp32"))
    one = sample(handle, SampleRequest(prompt="a lighthouse", width=32, height=32, num_frames=1, steps=2, seed=5))
    assert tuple(one.frames.shape) == (1, 32, 32, 3) and one.stats.num_frames == 1
    assert float(one.frames.min()) >= 0.0 and float(one.frames.max()) <= 1.0 and float(one.frames.std()) > 0
    again = sample(handle, SampleRequest(prompt="a lighthouse", width=32, height=32, num_frames=1, steps=2, seed=5), record=False)
    assert torch.equal(one.frames, again.frames)


def test_the_queue_check_never_delays_queueing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The on-prompt handler hands the prompt back while the check has not finished (here: cannot,
    until released), so a slow check (a cold disk, a big workflow) never holds the queue. The slow
    step is the first the pool's thread runs for a queued prompt: reading it."""
    from wan_compat.nodes import comfy_env, comfy_routes

    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    real_bytes = comfy_routes._prompt_bytes

    def slow_read(prompt: dict, json_data: object = None) -> bytes:
        entered.set()
        release.wait(60)
        finished.set()
        return real_bytes(prompt, json_data)

    monkeypatch.setattr(comfy_routes, "_prompt_bytes", slow_read)
    monkeypatch.setattr(comfy_routes, "folder_spec", lambda: {})  # outside ComfyUI: no model folders
    monkeypatch.setattr(comfy_env, "prompt_queued", lambda prompt_id: True)  # ComfyUI queued it
    body = {"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "x.safetensors"}}}}
    assert comfy_routes.on_prompt(body) is body
    assert entered.wait(60) and not finished.is_set()  # queued while the check is still running
    release.set()
    assert finished.wait(60)


FREE_SCRIPT = r"""
import json, sys
comfy_dir, pack, folder = sys.argv[1:4]
sys.path[:0] = [comfy_dir, pack]
import comfy.options; comfy.options.enable_args_parsing(); sys.argv = ['main', '--cpu']
import comfy.model_management as mm
calls = []
for name in ("free_memory", "soft_empty_cache"):
    real = getattr(mm, name)
    def spy(*args, _real=real, _name=name, **kwargs):
        if sys._getframe(1).f_globals.get("__name__", "").startswith("wan_compat."):  # the pack's own calls
            calls.append([_name, int(args[0]) if _name == "free_memory" else None, str(args[1]) if _name == "free_memory" else None])
        return _real(*args, **kwargs)
    setattr(mm, name, spy)
from wan_compat.nodes.safe_load import WanSafeLoad
from wan_compat.nodes.sample import WanSample
from wan_compat.nodes import comfy_memory
loaded = WanSafeLoad().load(model_path=folder, dtype="fp32")["result"][0]
after_load = list(calls)
WanSample().sample(loaded, prompt="a kite", width=32, height=32, num_frames=5, steps=2, seed=0)
print(json.dumps({"load": after_load, "all": calls, "file_bytes": comfy_memory.file_bytes(folder),
                  "weight_bytes": comfy_memory.weight_bytes(loaded.pipeline)}))
"""


@pytest.mark.skipif(not os.environ.get("COMFYUI_DIR"), reason="COMFYUI_DIR is not set (a ComfyUI checkout to import comfy from)")
def test_safe_load_and_sample_ask_comfyui_to_free_memory(tiny_path, tiny_cache: Path, tmp_path: Path) -> None:
    from comfyui_server import comfy_python

    comfy = Path(os.environ["COMFYUI_DIR"])
    python = comfy_python(comfy)
    assert python, "COMFYUI_DIR has no venv with ComfyUI's requirements (COMFYUI_PYTHON)"
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "wan_compat").symlink_to(Path(__file__).resolve().parents[1])
    folder = tiny_path("wan2.1-t2v")
    env = dict(os.environ, WAN_COMPAT_CONFIG_DIR=str(tmp_path / "settings"), WAN_COMPAT_MODEL_ROOTS=str(tiny_cache))
    run = subprocess.run([python, "-c", FREE_SCRIPT, str(comfy), str(tmp_path / "pack"), str(folder)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    # Safe Load: room for the files it is about to read, on ComfyUI's device, before reading them.
    assert found["load"] == [["free_memory", found["file_bytes"], "cpu"]]
    # Sample: room for the loaded weights before the run, the cache given back after it.
    assert found["all"][1:] == [["free_memory", found["weight_bytes"], "cpu"], ["soft_empty_cache", None, None]]
