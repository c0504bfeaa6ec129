"""Wan Safe Load (native) inside a real ComfyUI server: a native graph generates, a file with one
tensor missing is refused by name (where ComfyUI's own loader takes it), and the text encoder's
hand-off is checked on real-size shapes.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout with its venv (as tests/test_comfyui_server.py).
Models: a one-block dim-128 Wan 2.1 T2V transformer (the smallest ComfyUI's Wan config detection
builds) and a random real-size Wan 2.1 VAE (ComfyUI's VAE has a fixed width), both in the
Comfy-Org naming; the text conditioning comes from a test-only node (tests/comfy_nodes), since
ComfyUI builds UMT5-XXL only at 5.7 B parameters.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from comfy_install import comfy_install

from comfyui_server import Server, ServerError, start, stop
from workflow_specs import workflow_path
from wan_compat.compat.core.errors import WanCompatError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.comfyui
MODEL = "wan2.1_t2v_tiny_native_bf16.safetensors"
BROKEN = "wan2.1_t2v_tiny_native_missing_one.safetensors"
DROPPED = "blocks.0.ffn.0.bias"
VAE = "wan_2.1_vae.safetensors"
TEXT_ENCODER = "umt5_tiny.safetensors"
TINY = "wan2.1_t2v_tiny.safetensors"  # the tiny pipeline's transformer (text width 32, as the tiny UMT5)
FRAMES = 5


def _comfy() -> tuple[Path, str]:
    root, python = comfy_install()
    return root, python


@pytest.fixture(scope="module")
def native_base(tmp_path_factory: pytest.TempPathFactory, tiny_path: Callable[[str], Path]) -> Path:
    """A private base dir: this pack, the test-only node, native files and their config folder."""
    from safetensors.torch import load_file, save_file

    from wan_compat.compat.fixtures import native

    _comfy()
    base = tmp_path_factory.mktemp("native_base")
    models = base / "models"
    for sub in ("diffusion_models", "vae", "diffusers", "text_encoders"):
        (models / sub).mkdir(parents=True)
    (base / "custom_nodes").mkdir()
    (base / "input").mkdir()
    from PIL import Image

    Image.linear_gradient("L").convert("RGB").resize((64, 64)).save(base / "input" / "example.png")
    (base / "custom_nodes" / "comfyui-wan-compat").symlink_to(ROOT, target_is_directory=True)
    (base / "custom_nodes" / "wan_compat_test_nodes").symlink_to(ROOT / "tests" / "comfy_nodes" / "wan_compat_test_nodes", target_is_directory=True)
    native.native_transformer(models / "diffusion_models" / MODEL)
    state = load_file(models / "diffusion_models" / MODEL)
    del state[DROPPED]
    save_file(state, models / "diffusion_models" / BROKEN, metadata={"format": "pt"})
    native.native_vae(models / "vae" / VAE)
    native.native_config_folder(tiny_path("wan2.1-t2v"), models / "diffusers" / "wan-native-config")
    from wan_compat.compat.fixtures.single_files import export_single_files

    exported = export_single_files(tiny_path("wan2.1-t2v"), base / "exported", name="tiny")
    exported["text_encoder"].rename(models / "text_encoders" / TEXT_ENCODER)
    exported["transformer"].rename(models / "diffusion_models" / TINY)
    native.native_config_folder(tiny_path("wan2.1-t2v"), models / "diffusers" / "wan-tiny-real-vae-config", transformer=False)
    return base


@pytest.fixture(scope="module")
def native_server(native_base: Path) -> Server:
    root, python = _comfy()
    try:
        server = start(root, native_base, python)
    except ServerError as err:
        pytest.fail(str(err))
    yield server
    stop(server)


def _graph(base: Path, loader: dict[str, Any]) -> dict[str, Any]:
    """loader -> EmptyHunyuanLatentVideo -> KSampler -> VAEDecode -> Wan Encode Video."""
    model_out, vae_out = (["1", 0], ["1", 2])
    if loader["class_type"] == "UNETLoader":
        model_out, vae_out = ["1", 0], ["9", 0]
    graph: dict[str, Any] = {
        "1": loader,
        "2": {"class_type": "WanCompatTestTextEmbeds", "inputs": {"seed": 1, "tokens": 8}},
        "3": {"class_type": "WanCompatTestTextEmbeds", "inputs": {"seed": 2, "tokens": 8}},
        "4": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 64, "height": 64, "length": FRAMES, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": model_out, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
                                                   "seed": 7, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": vae_out}},
        "7": {"class_type": "WanEncodeVideo", "inputs": {"images": ["6", 0], "fps": 16.0, "format": "h264-mp4", "crf": -1,
                                                         "preset": "default", "filename_prefix": "native/wan"}},
    }
    if loader["class_type"] == "UNETLoader":
        graph["9"] = {"class_type": "VAELoader", "inputs": {"vae_name": VAE}}
    return graph


def _native_loader(base: Path, model: str) -> dict[str, Any]:
    return {"class_type": "WanSafeLoadNative", "inputs": {
        "model": model, "vae": VAE, "text_encoder": "none", "weight_dtype": "default",
        "config_path": str(base / "models" / "diffusers" / "wan-native-config")}}


def _video(server: Server, entry: dict[str, Any]) -> Path:
    videos = [item for out in entry["outputs"].values() for item in out.get("images", []) if item["filename"].endswith(".mp4")]
    assert len(videos) == 1, entry["outputs"]
    return server.base / "output" / videos[0].get("subfolder", "") / videos[0]["filename"]


def test_native_graph_through_the_pack_loader_generates(native_server: Server) -> None:
    import imageio_ffmpeg

    entry, messages = native_server.run_watching(_graph(native_server.base, _native_loader(native_server.base, MODEL)))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    # ComfyUI's progress bar moved file by file as ComfyUI read and built each (the model, then the VAE), to the end.
    read = [(m["data"]["value"], m["data"]["max"]) for m in messages if m["type"] == "progress" and str(m["data"]["node"]) == "1"]
    model_bytes = (native_server.base / "models" / "diffusion_models" / MODEL).stat().st_size
    assert read[0][0] == 0 and (model_bytes, read[-1][1]) in read and read[-1][0] == read[-1][1] and read == sorted(read)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(_video(native_server, entry)))
    assert frames == FRAMES
    loader_ui = entry["outputs"]["1"]
    face = loader_ui["wan_verdict"][0]
    assert face["checked"].startswith("Every weight name and shape checked before ComfyUI built them: diffusion model (")
    assert face["headline"].endswith("· VAE fits") and face["checked"] in loader_ui["text"][0]
    assert "T2V" in face["badge"]  # the tiny size matches no release: the version stays open
    assert str(native_server.base) not in json.dumps(loader_ui)  # paths shown relative to the model folders


def test_one_missing_tensor_is_refused_by_name_where_comfyui_alone_loads_it(native_server: Server) -> None:
    base = native_server.base
    entry, _ = native_server.run(_graph(base, _native_loader(base, BROKEN)))
    assert entry["status"]["status_str"] == "error"
    failure = next(m for kind, m in entry["status"]["messages"] if kind == "execution_error")
    assert failure["node_id"] == "1" and "LOAD_MISSING_KEYS" in failure["exception_message"]
    assert DROPPED in failure["exception_message"]
    # The same file through ComfyUI's own Load Diffusion Model: it loads, with that bias left as
    # allocated memory. Whatever that memory holds, the graph goes on; when it happens to hold NaN,
    # the frames are NaN and only the pack's Encode stops the run (FRAMES_NOT_FINITE).
    core = {"class_type": "UNETLoader", "inputs": {"unet_name": BROKEN, "weight_dtype": "default"}}
    entry, _ = native_server.run(_graph(base, core))
    errors = [m for kind, m in entry["status"]["messages"] if kind == "execution_error"]
    assert not errors or (errors[0]["node_id"] != "1" and "FRAMES_NOT_FINITE" in errors[0]["exception_message"]), \
        json.dumps(entry["status"], indent=1)[:3000]
    assert f"unet missing: ['{DROPPED}']" in native_server.log.read_text()


CLIP_CHECK = r"""
import json, sys
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import torch
import comfy.text_encoders.wan as wan
model = wan.te()(device="meta", dtype=torch.bfloat16)
inner = model.umt5xxl.transformer  # ComfyUI loads the file's state dict into this, strict=False
print(json.dumps({k: list(v.shape) for k, v in inner.state_dict().items()}))
"""


def test_text_encoder_handoff_matches_comfyui_on_real_size_shapes() -> None:
    """ComfyUI's UMT5-XXL has a fixed config (5.7 B parameters): its class is built on `meta` in
    ComfyUI's Python, and every name and shape it loads must be exactly what the pack verified
    for a real-size umt5_xxl file (names and shapes from the registry, tensors on meta)."""
    import torch

    from wan_compat.compat.detect.model_info import ModelInfo
    from wan_compat.compat.fixtures.sparse import diffusers_shapes
    from wan_compat.compat.loading import component_configs
    from wan_compat.compat.loading.verified_state import check_part

    root, python = _comfy()
    done = subprocess.run([python, "-c", CLIP_CHECK], cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    comfy_shapes = {k: tuple(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    file_shapes = dict(diffusers_shapes("umt5-xxl"))
    info = ModelInfo(path="x", format="single_file")
    info.variant = "wan2.1-t2v-1.3b"
    configs = component_configs.from_registry(info, False)
    tensors = {k: torch.empty(s, device="meta") for k, s in file_shapes.items()}
    assert check_part("text_encoder", tensors, configs) == len(file_shapes)
    # What ComfyUI needs is all there with the verified shapes; what it does not read is only the
    # tied copy of the embedding that transformers writes as well.
    assert {k: s for k, s in comfy_shapes.items()} == {k: file_shapes[k] for k in comfy_shapes}
    assert set(file_shapes) - set(comfy_shapes) <= {"encoder.embed_tokens.weight"}


def test_encode_takes_and_gives_comfyui_video(native_server: Server) -> None:
    """Core CreateVideo -> Wan Encode Video (VIDEO in) -> core SaveVideo (VIDEO out): both files hold
    every frame, at the rate CreateVideo set (not the fps widget)."""
    import imageio_ffmpeg

    graph = _graph(native_server.base, _native_loader(native_server.base, MODEL))
    graph["8"] = {"class_type": "CreateVideo", "inputs": {"images": ["6", 0], "fps": 12.0}}
    graph["7"]["inputs"].pop("images")
    graph["7"]["inputs"].update({"video": ["8", 0], "filename_prefix": "native/from_video"})
    graph["10"] = {"class_type": "SaveVideo", "inputs": {"video": ["7", 2], "filename_prefix": "native/core_save", "format": "auto", "codec": "auto"}}
    entry, _ = native_server.run(graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    ours = _video(native_server, {"outputs": {"7": entry["outputs"]["7"]}})
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(ours))
    assert frames == FRAMES and abs(seconds - FRAMES / 12.0) < 1 / 12.0
    saved = sorted((native_server.base / "output" / "native").glob("core_save*.mp4"))
    assert len(saved) == 1
    assert imageio_ffmpeg.count_frames_and_secs(str(saved[0]))[0] == FRAMES


def test_encode_refuses_both_or_neither_input() -> None:
    import torch

    from wan_compat.nodes.encode_video import WanEncodeVideo

    with pytest.raises(WanCompatError) as err:
        WanEncodeVideo().encode(None, 16.0, "h264-mp4", -1, "default", "x")
    assert "exactly one" in err.value.message()
    with pytest.raises(WanCompatError):
        WanEncodeVideo().encode(torch.zeros(1, 8, 8, 3), 16.0, "h264-mp4", -1, "default", "x", video=object())


@pytest.mark.parametrize("name", ["wan21_t2v_1.3B_native", "wan22_ti2v_5B_native"])
def test_shipped_native_workflow_is_valid_for_the_live_server(native_server: Server, name: str) -> None:
    """The native workflows' core nodes and widget values as this ComfyUI defines them (the
    Comfy-Org files themselves are not in the test's model folders: model lists are the user's)."""
    from workflow_graph import validate

    workflow = json.loads(workflow_path(name).read_text())
    assert validate(workflow, native_server.get("/object_info")) == []


def _rss(server: Server) -> int:
    import psutil

    return psutil.Process(server.process.pid).memory_info().rss


def _free(server: Server, **flags: bool) -> None:
    """ComfyUI's POST /free (what the "Unload models" / "Free model and node cache" actions send)."""
    import urllib.request

    request = urllib.request.Request(server.url + "/free", data=json.dumps(flags).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _safe_load_prompt(base: Path) -> dict[str, Any]:
    """Only the pack's own loader (an output node): the tiny transformer and text encoder with the
    real-size VAE in fp32 (about 500 MB resident)."""
    return {"1": {"class_type": "WanSafeLoad", "inputs": {
        "model": f"diffusion_models/{TINY}", "dtype": "fp32", "vae": f"vae/{VAE}", "text_encoder": f"text_encoders/{TEXT_ENCODER}",
        "config_path": str(base / "models" / "diffusers" / "wan-tiny-real-vae-config"), "vae_dtype": "fp32"}}}


def test_comfyui_unload_releases_the_packs_pipeline(native_server: Server) -> None:
    """POST /free with unload_models (ComfyUI's "Unload models"; node outputs stay cached) frees the
    pipeline's weights from the server process, and the next run loads it again."""
    import math
    import time

    from wan_compat.compat.fixtures.sparse import diffusers_shapes

    vae_bytes = 4 * sum(math.prod(shape) for _, shape in diffusers_shapes("wan2.1-vae"))
    _free(native_server, unload_models=True, free_memory=True)  # a clean start
    entry, _ = native_server.run(_safe_load_prompt(native_server.base))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    loaded = _rss(native_server)
    releases = native_server.log.read_text().count("of pipeline weights with ComfyUI's unload")
    _free(native_server, unload_models=True)
    for _ in range(600):  # the queue's worker handles /free between prompts
        if native_server.log.read_text().count("of pipeline weights with ComfyUI's unload") > releases:
            break
        time.sleep(0.1)
    else:
        pytest.fail("ComfyUI's unload did not release the pack's pipeline:\n" + native_server.log.read_text()[-3000:])
    freed = loaded - _rss(native_server)
    print(f"\nRSS after load {loaded / 2**20:.0f} MiB, after unload {(loaded - freed) / 2**20:.0f} MiB (VAE fp32 {vae_bytes / 2**20:.0f} MiB)")
    assert freed >= 0.8 * vae_bytes
    entry, _ = native_server.run(_safe_load_prompt(native_server.base))  # loads again: no released handle is reused
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[:3000]
    assert _rss(native_server) - (loaded - freed) >= 0.8 * vae_bytes


MAKE_ROOM = r"""
import json, sys
model_path = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.model_management as mm
import comfy.sd
from safetensors.torch import load_file
from wan_compat.nodes import comfy_memory

model = comfy.sd.load_diffusion_model_state_dict(load_file(model_path))
mm.load_models_gpu([model])
before = len(mm.current_loaded_models)
device = mm.get_torch_device()
comfy_memory.make_room(int(mm.get_free_memory(device)) + 2**30)  # more than is free: ComfyUI must unload what it holds
print(json.dumps({"before": before, "after": len(mm.current_loaded_models)}))
"""


def test_make_room_has_comfyui_unload_its_models(native_base: Path, tmp_path: Path) -> None:
    """The pack's request before a load or a run, against ComfyUI's real model manager: a model
    ComfyUI holds is unloaded when the pack needs more than is free."""
    root, python = _comfy()
    (tmp_path / "wan_compat").symlink_to(ROOT, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([python, "-c", MAKE_ROOM, str(native_base / "models" / "diffusion_models" / MODEL)], cwd=root,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["before"] >= 1 and counts["after"] == 0, counts
