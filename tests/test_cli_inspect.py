"""The `wan-compat inspect` / `scan` contract (DESIGN.md §4), run as real processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRED_KEYS = {"path", "format", "family", "version", "task", "size", "moe", "boundary_ratio", "pipeline_class",
                 "dtype", "components", "vae", "evidence", "problems", "kind"}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_compat", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_inspect_json_contract_single_file(sparse_file) -> None:
    path = sparse_file("wan2.2-ti2v-5b", "fp16", name="wan2.2_ti2v_5B_fp16.safetensors")
    run = cli("inspect", str(path), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert REQUIRED_KEYS <= set(doc)
    assert (doc["format"], doc["kind"], doc["family"], doc["version"], doc["task"], doc["size"], doc["moe"]) == (
        "single_file", "transformer", "wan", "2.2", "ti2v", "5B", False)
    assert doc["dtype"] == "fp16" and doc["pipeline_class"] == "WanPipeline"
    assert all(set(p) >= {"code", "severity", "summary", "fix"} for p in doc["problems"])
    assert isinstance(doc["evidence"], list) and doc["evidence"]


def test_inspect_json_contract_pipeline(sparse_pipeline) -> None:
    run = cli("inspect", str(sparse_pipeline("wan2.2-t2v-a14b")), "--json")
    doc = json.loads(run.stdout)
    assert run.returncode == 0
    assert (doc["format"], doc["kind"], doc["moe"], doc["boundary_ratio"], doc["size"]) == ("diffusers", "pipeline", True, 0.875, "A14B")
    assert doc["components"]["transformer_2"]["class"] == "WanTransformer3DModel"
    assert doc["vae"] == {"z_dim": 16, "is_3d": True, "version": "2.1"}


def test_inspect_vae_reports_its_latent_channels(sparse_file) -> None:
    doc = json.loads(cli("inspect", str(sparse_file("wan2.2-vae")), "--json").stdout)
    assert doc["kind"] == "vae" and doc["vae"]["z_dim"] == 48


def test_inspect_with_parts_exit_1_on_wrong_vae(sparse_file) -> None:
    run = cli("inspect", str(sparse_file("wan2.2-ti2v-5b")), "--vae", str(sparse_file("wan2.1-vae")), "--json")
    doc = json.loads(run.stdout)
    assert run.returncode == 1 and [p["code"] for p in doc["problems"]] == ["WRONG_VAE"]


def _file(name: str, content: bytes):
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder / name

    return make


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: d / "missing.safetensors", "PATH_NOT_FOUND"),
        (_file("empty.safetensors", b""), "FILE_EMPTY"),
        (_file("trunc.safetensors", b'\x40\x00\x00\x00\x00\x00\x00\x00{"a"'), "SAFETENSORS_TRUNCATED"),
        (_file("big.safetensors", (2**45).to_bytes(8, "little") + b"{}"), "SAFETENSORS_HEADER_TOO_LARGE"),
        (_file("notes.safetensors", b"these are my notes, not a model"), "SAFETENSORS_HEADER_INVALID"),
    ],
)
def test_bad_input_exit_1_with_problem_and_no_traceback(tmp_path: Path, make, code: str) -> None:
    path = make(tmp_path)
    for args in (("inspect", str(path), "--json"), ("inspect", str(path))):
        run = cli(*args)
        assert run.returncode == 1
        assert "Traceback" not in run.stdout + run.stderr
        assert code in run.stdout


def test_disguised_pickle_exit_1_and_never_unpickled(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    # GLOBAL os.system; the payload would create the canary if anything ever unpickled this file.
    payload = b"cos\nsystem\n(V" + f"touch {canary}".encode() + b"\ntR."
    path = tmp_path / "model.safetensors"
    path.write_bytes(payload)
    run = cli("inspect", str(path), "--json")
    assert run.returncode == 1 and json.loads(run.stdout)["problems"][0]["code"] == "DISGUISED_PICKLE"
    assert not canary.exists()


def test_broken_model_index_and_missing_component(sparse_pipeline, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures.sparse import copy_sparse_tree

    folder = copy_sparse_tree(sparse_pipeline("wan2.1-t2v-1.3b"), tmp_path / "m")
    (folder / "model_index.json").write_text('{"_class_name": 3, "vae": "x"}')
    run = cli("inspect", str(folder), "--json")
    assert run.returncode == 1 and "MODEL_INDEX_INVALID" in run.stdout
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", "vae": ["diffusers", "AutoencoderKLWan"],
                                                         "transformer": ["diffusers", "WanTransformer3DModel"],
                                                         "text_encoder": ["transformers", "UMT5EncoderModel"],
                                                         "extra_part": ["diffusers", "Thing"]}))
    run = cli("inspect", str(folder), "--json")
    assert run.returncode == 1 and "COMPONENT_SLOT_UNKNOWN" in run.stdout and "extra_part" in run.stdout


def test_usage_errors_exit_2() -> None:
    assert cli("inspect").returncode == 2
    assert cli("no-such-command").returncode == 2
    assert cli().returncode == 2


def test_text_output_is_readable(sparse_file) -> None:
    run = cli("inspect", str(sparse_file("wan2.1-t2v-1.3b")))
    assert run.returncode == 0 and "Wan 2.1 T2V 1.3B" in run.stdout and "verdict: OK" in run.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / ("wan-compat.exe" if os.name == "nt" else "wan-compat")
    run = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "inspect" in run.stdout


def test_scan_a_comfyui_models_folder(sparse_file, sparse_pipeline, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures import sparse

    models = tmp_path / "models"
    sparse.copy_sparse_tree(sparse_pipeline("wan2.2-ti2v-5b"), models / "diffusers" / "Wan2.2-TI2V-5B-Diffusers")
    for folder, variant, name in [
        ("diffusion_models", "wan2.1-t2v-1.3b", "wan2.1_t2v_1.3B_fp16.safetensors"),
        ("vae", "wan2.1-vae", "wan_2.1_vae.safetensors"),
        ("text_encoders", "umt5-xxl", "umt5_xxl_fp16.safetensors"),
        ("clip_vision", "clip-vit-h-14", "clip_vision_h.safetensors"),
    ]:
        sparse.copy_sparse_tree(sparse_file(variant).parent, models / folder)
        (models / folder / sparse_file(variant).name).rename(models / folder / name)
    (models / "vae" / "broken.safetensors").write_bytes(b"\x01")
    (models / "loras").mkdir()
    (models / "loras" / "readme.txt").write_text("not a model")
    run = cli("scan", str(models), "--json")
    results = {Path(r["path"]).name: r for r in json.loads(run.stdout)}
    assert set(results) == {"Wan2.2-TI2V-5B-Diffusers", "wan2.1_t2v_1.3B_fp16.safetensors", "wan_2.1_vae.safetensors",
                            "umt5_xxl_fp16.safetensors", "clip_vision_h.safetensors", "broken.safetensors"}
    assert results["Wan2.2-TI2V-5B-Diffusers"]["task"] == "ti2v"
    assert results["wan_2.1_vae.safetensors"]["vae"]["z_dim"] == 16
    assert run.returncode == 1  # the broken file is an error


def test_scan_missing_folder_exit_1(tmp_path: Path) -> None:
    run = cli("scan", str(tmp_path / "nope"))
    assert run.returncode == 1 and "Traceback" not in run.stderr


def test_fixtures_command_then_scan(tmp_path: Path) -> None:
    run = cli("fixtures", str(tmp_path / "try"), "--json")
    assert run.returncode == 0, run.stderr
    models = json.loads(run.stdout)["models"]
    scan = cli("scan", models, "--json")
    results = json.loads(scan.stdout)
    assert scan.returncode == 0 and len(results) >= 40
    assert all(r["family"] in ("wan", "umt5", "clip_vision") for r in results)
    assert all(r["version"] for r in results if r["kind"] in ("pipeline", "transformer", "vae"))
    again = cli("fixtures", str(tmp_path / "try"))
    assert again.returncode == 2 and "not empty" in again.stderr
