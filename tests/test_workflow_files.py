"""The shipped workflows' single files: the same names and links as the official ComfyUI template
of each model, and a set Wan Safe Load can assemble offline (configs from the pack's registry).

Checked on sparse real-size files under the exact names (headers only, nothing loaded); loading
the picks end to end is tests/test_comfyui_server.py (tiny stand-ins under the same names).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from workflow_specs import workflow_path  # noqa: E402

# shipped workflow -> (registry variant, the official template of the same model)
WORKFLOWS = {
    "wan21_t2v_1.3B": ("wan2.1-t2v-1.3b", "text_to_video_wan.json"),
    "wan21_i2v_14B_480p": ("wan2.1-i2v-14b-480p", "image_to_video_wan.json"),
    "wan22_t2v_A14B": ("wan2.2-t2v-a14b", "video_wan2_2_14B_t2v.json"),
    "wan22_i2v_A14B": ("wan2.2-i2v-a14b", "video_wan2_2_14B_i2v.json"),
    "wan22_ti2v_5B": ("wan2.2-ti2v-5b", "video_wan2_2_5B_ti2v.json"),
    "wan21_t2v_1.3B_native": ("wan2.1-t2v-1.3b", "text_to_video_wan.json"),
    "wan22_ti2v_5B_native": ("wan2.2-ti2v-5b", "video_wan2_2_5B_ti2v.json"),
}


def _workflow(name: str) -> dict:
    return json.loads(workflow_path(name).read_text(encoding="utf-8"))


def _listed(workflow: dict) -> set[tuple[str, str, str]]:
    """(directory, name, url) of every `properties.models` entry (LoRAs aside), query strings dropped."""
    nodes = list(workflow["nodes"]) + [n for sub in workflow.get("definitions", {}).get("subgraphs", []) for n in sub["nodes"]]
    return {(m["directory"], m["name"], m["url"].split("?")[0]) for n in nodes
            for m in n.get("properties", {}).get("models", []) or [] if m["directory"] != "loras"}


def _picked(workflow: dict) -> dict[str, str]:
    """Input name -> file for every single file the pack's nodes pick: the widget value is the
    `name` of the node's `properties.models` entry, as the frontends match them."""
    picks = {}
    for node in workflow["nodes"]:
        if node["type"] in ("WanDetectArchitecture", "WanSafeLoad", "WanSafeLoadNative", "WanCheckCompatibility"):
            listed = {m["name"] for m in node["properties"].get("models", [])}
            picks.update({f"{node['type']}:{v}": v for v in node["widgets_values"] if v in listed})
    return picks


@pytest.mark.parametrize("name", WORKFLOWS)
def test_files_and_links_are_the_official_templates(name: str) -> None:
    templates = pytest.importorskip("comfyui_workflow_templates")  # in the `test` extra: CI installs it
    official = json.loads((Path(templates.get_templates_path()) / WORKFLOWS[name][1]).read_text(encoding="utf-8"))
    workflow = _workflow(name)
    assert _listed(workflow) == _listed(official)
    # each listed file is also picked by a node (what the frontend's missing-models check needs)
    assert set(_picked(workflow).values()) == {n for _, n, _ in _listed(workflow)}


@pytest.mark.parametrize("name", [n for n in WORKFLOWS if not n.endswith("_native")])
def test_safe_load_assembles_the_picks_offline(name: str, tmp_path: Path) -> None:
    """Detect's pick (for A14B the high-noise expert) with Safe Load's parts resolves to the
    workflow's model from the registry's configs: no config folder, no download."""
    from wan_compat.compat.detect.detector import ArchitectureDetector
    from wan_compat.compat.fixtures.template_files import write_template_file
    from wan_compat.compat.loading import component_configs

    variant, _ = WORKFLOWS[name]
    workflow = _workflow(name)
    detect = next(n for n in workflow["nodes"] if n["type"] == "WanDetectArchitecture")
    load = next(n for n in workflow["nodes"] if n["type"] == "WanSafeLoad")
    file = detect["widgets_values"][0]
    folder = next(m["directory"] for m in detect["properties"]["models"] if m["name"] == file)
    assert folder == "diffusion_models"
    path = write_template_file(tmp_path, folder, file)
    parts = load["properties"]["models"]
    slots = {"vae": "vae", "text_encoders": "text_encoder", "clip_vision": "clip_vision"}
    given = {slots[m["directory"]]: write_template_file(tmp_path, m["directory"], m["name"]) for m in parts if m["directory"] in slots}
    moe = any(m["name"].endswith("low_noise_14B_fp8_scaled.safetensors") for m in parts)
    assert ("high_noise" in file) == moe
    detector = ArchitectureDetector()
    info = detector.inspect(path)
    checked = detector.check_parts(info, **given)  # what Wan Check Compatibility and Safe Load verify
    assert checked.ok, [p.code for p in checked.problems if p.severity == "error"]
    configs = component_configs.from_registry(info, moe)
    assert configs.origin.endswith(f"({variant})"), configs.origin
    assert (configs.image_encoder is not None) == any(m["directory"] == "clip_vision" for m in parts)


def test_scaled_fp8_stand_ins_are_stored_as_comfyui_stores_them(tiny_path) -> None:
    """The tiny stand-ins under `*_fp8_scaled` names (tools/comfyui_server.py) hold what the real
    files hold: block matrices in fp8 with a scalar fp32 scale each, the rest bf16, the marker; and
    the pack's loader (`loading.fp8`) multiplies them back to within fp8's rounding (3 mantissa bits: half a step
    is 1/16 of the value, plus half the smallest subnormal step (2^-9) times the scale)."""
    import torch
    from safetensors.torch import load_file

    from wan_compat.compat.fixtures.scaled_fp8 import write_scaled_fp8
    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.loading import fp8 as loading_fp8

    with tempfile.TemporaryDirectory() as tmp:
        exported = export_single_files(tiny_path("wan2.1-t2v"), Path(tmp) / "out", name="tiny")
        for component in ("transformer", "text_encoder"):
            original = load_file(exported[component])
            stored = load_file(write_scaled_fp8(exported[component], Path(tmp) / f"{component}_fp8_scaled.safetensors"))
            assert stored["scaled_fp8"].dtype == torch.float8_e4m3fn and stored["scaled_fp8"].numel() == 0
            fp8 = [k for k, v in stored.items() if v.dtype == torch.float8_e4m3fn and k != "scaled_fp8"]
            assert fp8 and all(stored[k[: -len("weight")] + "scale_weight"].shape == () for k in fp8)
            assert all(v.dtype in (torch.bfloat16, torch.uint8) for k, v in stored.items()
                       if k not in fp8 and k != "scaled_fp8" and not k.endswith(".scale_weight"))
            weights, scales = loading_fp8.split_scales(stored)
            back = loading_fp8.dequantize(weights, scales)
            assert scales and set(back) == set(original)
            for key in fp8:
                scale = float(stored[key[: -len("weight")] + "scale_weight"])
                error = (back[key] - original[key].float()).abs()
                assert bool((error <= original[key].float().abs() / 16 + scale * 2 ** -10).all()), key
