"""`wan-compat get --workflow` on the official 5B template, a link that is not the Hub's, a whole
diffusers repository, and a full disk (a real tmpfs), against the loopback Hub (tools/local_hub.py).

The workflow is comfyui-workflow-templates 0.1.95 `video_wan2_2_5B_ti2v.json`: its loaders link
their files on huggingface.co (`properties.models`), which HF_ENDPOINT sends to the loopback Hub.
"""
from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hub_fixtures import (BIG, cli_env, get_command, home, hub, partials, run_get, sha256, stand_ins,  # noqa: F401 - fixtures
                          unknown_safetensors, wait_for)
from local_hub import LocalHub

pytestmark = pytest.mark.slow
templates = pytest.importorskip("comfyui_workflow_templates")
TEMPLATE = Path(templates.get_templates_path()) / "video_wan2_2_5B_ti2v.json"


def _template(tmp_path: Path, change: Callable[[dict], None] | None = None) -> Path:
    doc = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    if change:
        change(doc)
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(doc))
    return path


def _node(doc: dict, node_id: int) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def test_every_missing_file_of_the_template_is_fetched_from_its_own_link(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    workflow = _template(home)
    hub.requests.clear()
    rc, doc, err = run_get(cli_env(hub.url, home), "--workflow", str(workflow), "--models", str(home / "models"))
    assert rc == 0, err
    got = {d["source"]["name"]: d for d in doc["downloads"]}
    assert set(got) == {"wan2.2_ti2v_5B_fp16.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan2.2_vae.safetensors"}
    assert all(d["source"]["origin"] == "workflow" and d["status"] == "downloaded" for d in got.values())
    assert (home / "models" / "vae" / "wan2.2_vae.safetensors").read_bytes() == stand_ins["vae22"].read_bytes()
    # the workflow's check now finds every file
    done = subprocess.run([*get_command()[:-1], "check-workflow", str(workflow), "--models", str(home / "models"), "--json"],
                          env=cli_env(hub.url, home), capture_output=True, text=True)
    assert not [p for p in json.loads(done.stdout)["problems"] if p["code"] == "WF_FILE_MISSING"]
    rc, text, err = run_get(cli_env(hub.url, home), "--workflow", str(workflow), "--models", str(home / "models"), json_out=False)
    assert rc == 0 and "Nothing to get" in text


def test_a_link_that_is_not_the_hubs_is_shown_never_fetched(hub: LocalHub, home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = LocalHub(tmp_path_factory.mktemp("elsewhere"))  # any other server: it must see no request
    elsewhere.start()
    link = f"{elsewhere.url}/files/my_vae.safetensors"
    other = f"{elsewhere.url}/files/umt5_xxl_fp8_e4m3fn_scaled.safetensors"

    def change(doc: dict) -> None:
        vae = _node(doc, 39)
        vae["widgets_values"][0] = "my_vae.safetensors"
        vae["properties"]["models"] = [{"name": "my_vae.safetensors", "url": link, "directory": "vae"}]
        _node(doc, 38)["properties"]["models"][0]["url"] = other  # a name the registry knows: its official source instead

    try:
        rc, doc, err = run_get(cli_env(hub.url, home), "--workflow", str(_template(home, change)), "--models", str(home / "models"))
    finally:
        elsewhere.stop()
    assert rc == 1
    [refused] = doc["problems"]
    assert refused["code"] == "HUB_URL_NOT_HUB" and link in refused["detail"] and refused["name"] == "vae/my_vae.safetensors"
    origins = {d["source"]["name"]: d["source"]["origin"] for d in doc["downloads"]}
    assert origins == {"wan2.2_ti2v_5B_fp16.safetensors": "workflow", "umt5_xxl_fp8_e4m3fn_scaled.safetensors": "registry"}
    assert elsewhere.requests == [] and not (home / "models" / "vae" / "my_vae.safetensors").exists()


def test_a_diffusers_repository_comes_file_by_file_without_code_or_pickles(hub: LocalHub, home: Path, tiny_path: Callable[[str], Path]) -> None:
    tiny = tiny_path("wan2.1-t2v")
    files = {str(p.relative_to(tiny)): p for p in tiny.rglob("*") if p.is_file()}
    extra = {"pipeline_custom.py": b"import os\nos.system('echo hi')\n", "transformer/diffusion_pytorch_model.bin": b"\x80\x04K\x01.",
             "README.md": b"# readme\n"}
    hub.add_repo("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", {**files, **extra})
    rc, doc, err = run_get(cli_env(hub.url, home), "Wan2.1-T2V-1.3B-Diffusers", "--models", str(home / "models"))
    assert rc == 0, err
    target = home / "models" / "diffusers" / "Wan2.1-T2V-1.3B-Diffusers"
    got = doc["downloads"][0]
    assert got["source"]["origin"] == "registry" and got["check"]["kind"] == "pipeline"
    assert sorted(got["skipped"]) == sorted(extra)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == sorted(files)
    assert all(sha256(target / name) == sha256(source) for name, source in files.items())
    assert [p.name for p in (home / "models" / "diffusers").iterdir() if p.name.endswith(".partial")] == []


@pytest.fixture
def small_disk(home: Path) -> Iterator[Path]:
    """models/vae on a real 32 MiB tmpfs (mounting needs root, as CI runs)."""
    folder = home / "models" / "vae"
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_found_before_and_during_a_download(hub: LocalHub, home: Path, stand_ins: dict[str, Path],
                                                           small_disk: Path, tmp_path: Path) -> None:
    large = unknown_safetensors(tmp_path / "large.safetensors", 40 * 1024 * 1024, seed=1)
    hub.add_repo("someone/disk", {"vae/large.safetensors": large, "vae/fits.safetensors": stand_ins["big"]})
    hub.requests.clear()
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/disk/vae/large.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_DISK_FULL" and hub.served("cdn") == []
    # 24 MiB fit in 32 MiB when it starts; then something else fills the disk half way through
    hub.pause_after, hub.resume = BIG // 2, threading.Event()
    try:
        process = subprocess.Popen(get_command("someone/disk/vae/fits.safetensors", "--models", str(home / "models"), "--json"),
                                   env=cli_env(hub.url, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: any(p.stat().st_size >= 10 * 1024 * 1024 for p in partials(small_disk)), "the first chunk on disk")
        with open(small_disk / "filler", "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
    finally:
        hub.resume.set()
        hub.pause_after = None
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 1 and json.loads(out)["problems"][0]["code"] == "HUB_DOWNLOAD_FAILED"
    assert not (small_disk / "fits.safetensors").exists() and len(partials(small_disk)) == 1
    (small_disk / "filler").unlink()
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/disk/vae/fits.safetensors", "--models", str(home / "models"))
    assert rc == 0, err
    assert sha256(small_disk / "fits.safetensors") == sha256(stand_ins["big"]) and partials(small_disk) == []
