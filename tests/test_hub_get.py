"""`wan-compat get` against a loopback Hub: huggingface_hub's own code does every request
(HF_ENDPOINT points it at tools/local_hub.py), the files are real safetensors (tiny Wan exports),
and the command runs in its own process as a user runs it.

The repository paths are those of Comfy-Org's repackaged repositories as the official templates
link them (comfyui-workflow-templates 0.1.95, e.g. video_wan2_2_5B_ti2v.json `properties.models`).
"""
from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from hub_fixtures import (BIG, REPO_21, REPO_22, cli_env, get_command, home, hub, partials, pickle_bytes, run_get,  # noqa: F401 - fixtures
                          sha256, stand_ins, wait_for)
from local_hub import LocalHub

pytestmark = pytest.mark.slow


def test_a_registry_name_is_downloaded_pinned_verified_and_recorded(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    env = cli_env(hub.url, home)
    hub.requests.clear()
    rc, doc, err = run_get(env, "wan_2.1_vae.safetensors", "--models", str(home / "models"))
    assert rc == 0, err
    target = home / "models" / "vae" / "wan_2.1_vae.safetensors"
    assert target.read_bytes() == stand_ins["vae21"].read_bytes() and partials(target.parent) == []
    got = doc["downloads"][0]
    commit = hub.branches[REPO_21]["main"]
    assert got["status"] == "downloaded" and got["commit"] == commit and got["source"]["origin"] == "registry"
    assert got["files"][0]["digest"] == sha256(stand_ins["vae21"]) and got["files"][0]["algorithm"] == "sha256"
    assert got["check"]["kind"] == "vae" and "16 latent channels" in got["check"]["found"]
    # the file was fetched at the pinned commit, through the Hub's redirect to its CDN
    resolve = [r["path"] for r in hub.served("resolve")]
    assert resolve == [f"/{REPO_21}/resolve/{commit}/split_files/vae/wan_2.1_vae.safetensors"]
    assert len(hub.served("cdn")) == 1 and hub.served("cdn")[0]["range"] is None
    ledger = [json.loads(line) for line in (home / "settings" / "downloads.jsonl").read_text().splitlines()]
    assert ledger[-1]["commit"] == commit and ledger[-1]["sha256"] == sha256(target) and ledger[-1]["target"] == str(target)
    # the second time nothing is downloaded: the file in place has the Hub's bytes
    hub.requests.clear()
    rc, doc, err = run_get(env, "wan_2.1_vae.safetensors", "--models", str(home / "models"))
    assert rc == 0 and doc["downloads"][0]["status"] == "present" and hub.served("cdn") == []


def test_text_output_shows_the_verification(hub: LocalHub, home: Path) -> None:
    rc, text, err = run_get(cli_env(hub.url, home), f"{REPO_22}/split_files/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
                            "--models", str(home / "models"), json_out=False)
    assert rc == 0, err
    assert "downloaded:" in text and f"from {REPO_22}@{hub.branches[REPO_22]['main']}" in text
    assert "sha256" in text and "= the Hub's" in text and "header: a diffusion model (transformer)" in text
    assert (home / "models" / "diffusion_models" / "wan2.2_ti2v_5B_fp16.safetensors").is_file()


def test_resume_after_a_killed_download(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    hub.add_repo("someone/big", {"vae/big.safetensors": stand_ins["big"]})
    folder = home / "models" / "vae"
    hub.requests.clear()
    hub.pause_after, hub.resume = BIG // 2, __import__("threading").Event()
    try:
        process = subprocess.Popen(get_command("someone/big/vae/big.safetensors", "--models", str(home / "models")),
                                   env=cli_env(hub.url, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # huggingface_hub writes in 10 MiB chunks: the first one lands, then the Hub holds the stream
        wait_for(lambda: any(p.stat().st_size >= 10 * 1024 * 1024 for p in partials(folder)), "the first chunk on disk")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        hub.pause_after = None
        hub.resume.set()
    [partial] = partials(folder)
    kept = partial.stat().st_size
    assert kept >= 10 * 1024 * 1024 and not (folder / "big.safetensors").exists()
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/big/vae/big.safetensors", "--models", str(home / "models"))
    assert rc == 0, err
    assert hub.served("cdn")[-1]["range"] == f"bytes={kept}-"  # resumed, not started over
    assert sha256(folder / "big.safetensors") == sha256(stand_ins["big"]) and partials(folder) == []


def test_tampered_bytes_are_removed_and_nothing_is_put_in_place(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    digest = sha256(stand_ins["umt5"])
    original = stand_ins["umt5"].read_bytes()
    hub.tamper[digest] = original[:-4] + b"\x00\x00\x00\x00"  # same size, other bytes
    try:
        rc, doc, err = run_get(cli_env(hub.url, home), "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "--models", str(home / "models"))
    finally:
        del hub.tamper[digest]
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_CHECKSUM_MISMATCH"
    folder = home / "models" / "text_encoders"
    assert not (folder / "umt5_xxl_fp8_e4m3fn_scaled.safetensors").exists() and partials(folder) == []


def test_a_file_that_is_not_what_its_name_says_is_removed(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    # the Wan 2.1 VAE (16 latent channels) served as wan2.2_vae.safetensors (48), checksums all correct
    hub.add_repo("someone/mixed-up", {"split_files/vae/wan2.2_vae.safetensors": stand_ins["vae21"],
                                      "split_files/vae/my_vae.safetensors": stand_ins["umt5"]})
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/mixed-up/split_files/vae/wan2.2_vae.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_FILE_NOT_WHAT_NAMED"
    assert "16 latent channels" in doc["problems"][0]["detail"]
    # a text encoder in vae/: the folder alone says it is wrong
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/mixed-up/split_files/vae/my_vae.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_FILE_NOT_WHAT_NAMED" and "text encoder" in doc["problems"][0]["detail"]
    assert sorted(p.name for p in (home / "models" / "vae").iterdir() if not p.name.endswith(".lock")) == []


def test_pickles_are_never_fetched(hub: LocalHub, home: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    hub.add_repo("someone/pickles", {"vae/model.pt": pickle_bytes(canary), "vae/disguised.safetensors": pickle_bytes(canary)})
    hub.requests.clear()
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/pickles/vae/model.pt", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_NOT_A_MODEL_FILE" and hub.requests == []  # refused by name
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/pickles/vae/disguised.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_NOT_A_MODEL_FILE" and "pickle" in doc["problems"][0]["detail"]
    folder = home / "models" / "vae"
    assert not (folder / "disguised.safetensors").exists() and partials(folder) == [] and not canary.exists()


def test_offline_mode_asks_the_hub_nothing(hub: LocalHub, home: Path) -> None:
    hub.requests.clear()
    rc, doc, err = run_get(cli_env(hub.url, home, HF_HUB_OFFLINE="1"), "wan_2.1_vae.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_OFFLINE" and hub.requests == []


def test_two_downloads_of_one_file_at_once(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    import threading

    hub.add_repo("someone/shared", {"vae/shared.safetensors": stand_ins["big"]})
    hub.requests.clear()
    hub.pause_after, hub.resume = BIG // 2, threading.Event()
    args = ("someone/shared/vae/shared.safetensors", "--models", str(home / "models"), "--json")
    try:
        first = subprocess.Popen(get_command(*args), env=cli_env(hub.url, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(hub.served("cdn")) == 1, "the first download to start")
        second = subprocess.Popen(get_command(*args), env=cli_env(hub.url, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(hub.served("paths-info")) == 2, "the second download to ask for the file")
    finally:
        hub.resume.set()
        hub.pause_after = None
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert sorted(o["downloads"][0]["status"] for o in outs) == ["downloaded", "present"]
    assert len(hub.served("cdn")) == 1  # the bytes came once
    assert sha256(home / "models" / "vae" / "shared.safetensors") == sha256(stand_ins["big"])


def test_a_different_file_in_place_is_never_overwritten(hub: LocalHub, home: Path) -> None:
    target = home / "models" / "vae" / "wan_2.1_vae.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"the user's own file")
    rc, doc, err = run_get(cli_env(hub.url, home), "wan_2.1_vae.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_TARGET_EXISTS"
    assert target.read_bytes() == b"the user's own file"


def test_a_gated_repository_gets_the_users_token_and_the_cdn_never_does(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    hub.add_repo("someone/gated", {"vae/g.safetensors": stand_ins["vae21"]})
    hub.gated.add("someone/gated")
    hub.token = "hf_test_token_123"
    rc, doc, err = run_get(cli_env(hub.url, home), "someone/gated/vae/g.safetensors", "--models", str(home / "models"))
    assert rc == 1 and doc["problems"][0]["code"] == "HUB_ACCESS_DENIED"
    hub.requests.clear()
    rc, doc, err = run_get(cli_env(hub.url, home, HF_TOKEN=hub.token), "someone/gated/vae/g.safetensors", "--models", str(home / "models"))
    assert rc == 0, err
    assert all(r["authorization"] == f"Bearer {hub.token}" for r in hub.requests if r["kind"] != "cdn")
    assert [r["authorization"] for r in hub.served("cdn")] == [None]
    assert hub.token not in (home / "settings" / "downloads.jsonl").read_text()


def test_a_revision_is_pinned_to_its_commit(hub: LocalHub, home: Path, stand_ins: dict[str, Path]) -> None:
    first = hub.add_repo("someone/moving", {"vae/m.safetensors": stand_ins["vae21"]})
    hub.add_repo("someone/moving", {"vae/m.safetensors": stand_ins["vae22"]})  # main moves on
    rc, doc, err = run_get(cli_env(hub.url, home), f"someone/moving/vae/m.safetensors@{first}", "--models", str(home / "models"))
    assert rc == 0, err
    assert doc["downloads"][0]["commit"] == first
    assert (home / "models" / "vae" / "m.safetensors").read_bytes() == stand_ins["vae21"].read_bytes()


@pytest.mark.parametrize("spec, code", [
    ("../../etc/passwd", "HUB_SPEC_INVALID"),
    ("someone/repo/../../x.safetensors", "HUB_SPEC_INVALID"),
    ("someone/repo/vae/x.safetensors@..%2F..", "HUB_SPEC_INVALID"),
    ("someone/repo/x.safetensors", "HUB_SPEC_INVALID"),  # no folder in the path and none given
])
def test_bad_specs_are_usage_errors(hub: LocalHub, home: Path, spec: str, code: str) -> None:
    hub.requests.clear()
    done = subprocess.run(get_command(spec, "--models", str(home / "models")), env=cli_env(hub.url, home), capture_output=True, text=True)
    assert done.returncode == 2 and code in done.stderr and hub.requests == []
