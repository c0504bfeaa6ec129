"""Wan Safe Load (native) takes every scaled-fp8 marker form ComfyUI's own loader takes, at real
size, and builds the very model ComfyUI builds (bit-identical state dicts), in ComfyUI's Python.

A real-size Wan 2.1 T2V 1.3B (random weights, the Comfy-Org original naming) is written once as
scaled fp8 and once as plain fp8, then renamed into each form (tests/comfy_scripts/native_markers.py).
ComfyUI strips the prefix its keys carry and then looks for `scaled_fp8` (comfy/sd.py
`load_diffusion_model_state_dict`): so the Comfy-Org form (`model.diffusion_model.scaled_fp8`) and
the bare form load in both; a marker whose prefix differs from the keys' is missed by ComfyUI (the
scales stay unused: another model) or breaks its detection, and scales without a marker are left
unused. The pack hands ComfyUI the marker where it looks, so all of them build the scaled model.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from comfy_install import comfy_install

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.comfyui, pytest.mark.slow]


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    root, python = comfy_install()
    work = tmp_path_factory.mktemp("native_markers")
    run = subprocess.run([python, str(ROOT / "tests" / "comfy_scripts" / "native_markers.py"), str(root), str(work)],
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    found = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    for path in work.rglob("*.safetensors"):  # 1.4 GiB each: gone as soon as they are compared
        path.unlink()
    return {(d["form"], d["loader"]): d for d in found}


def test_the_forms_comfyui_loads_build_the_same_model_through_the_pack(loads: dict) -> None:
    scaled = loads[("comfy_org_prefixed_marker", "comfy")]["digest"]
    assert scaled is not None and loads[("bare_keys_bare_marker", "comfy")]["digest"] == scaled  # same bytes, two namings
    for form in ("comfy_org_prefixed_marker", "bare_keys_bare_marker"):
        assert loads[(form, "pack")] == {"form": form, "loader": "pack", "digest": scaled, "error": None}
    for form in ("kijai_fp8_no_marker", "kijai_fp8_no_marker_prefixed"):
        theirs = loads[(form, "comfy")]["digest"]
        assert theirs is not None and loads[(form, "pack")]["digest"] == theirs


def test_a_misplaced_or_missing_marker_still_builds_the_scaled_model(loads: dict) -> None:
    """Where ComfyUI alone builds another model (scales unused) or fails, the pack builds the one
    the Comfy-Org form gives: the marker is handed on beside the keys it goes with."""
    scaled = loads[("comfy_org_prefixed_marker", "comfy")]["digest"]
    for form in ("prefixed_keys_bare_marker", "scales_without_marker"):
        assert loads[(form, "comfy")]["digest"] not in (None, scaled)
        assert loads[(form, "pack")]["digest"] == scaled
    assert loads[("bare_keys_prefixed_marker", "comfy")]["error"] is not None
    assert loads[("bare_keys_prefixed_marker", "pack")]["digest"] == scaled
