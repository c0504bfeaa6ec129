"""What the nodes show (compat/detect/verdict_words.py, nodes/detect.py, nodes/shown_paths.py): the
verdict in a user's words, one line per set of parts, problems with their fixes, the evidence
apart, no absolute path; and the report page's headings.

Real-size sparse files under the Comfy-Org names (headers of the real models, data a hole).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.detect.verdict_words import face, headline, part_states
from wan_compat.compat.fixtures.template_files import write_template_file

FILES = {"model": ("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors"), "vae": ("vae", "wan_2.1_vae.safetensors"),
         "vae_22": ("vae", "wan2.2_vae.safetensors"), "text_encoder": ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
         "i2v": ("diffusion_models", "wan2.1_i2v_480p_14B_fp16.safetensors")}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faces") / "models"
    return {key: write_template_file(root, folder, name) for key, (folder, name) in FILES.items()}


def test_the_headline_says_what_the_model_is_and_whether_each_part_fits(models: dict[str, Path]) -> None:
    detector = ArchitectureDetector()
    info = detector.inspect(models["model"])
    assert headline(info) == "Wan 2.1 T2V 1.3B · fp16"
    fits = detector.check_parts(info, vae=models["vae"], text_encoder=models["text_encoder"])
    assert headline(fits) == "Wan 2.1 T2V 1.3B · fp16 · VAE fits · text encoder fits"
    wrong = detector.check_parts(info, vae=models["vae_22"], text_encoder=models["text_encoder"])
    assert headline(wrong) == "Wan 2.1 T2V 1.3B · fp16 · VAE does not fit · text encoder fits"
    shown = face(wrong, lambda text: text.replace(str(models["model"].parents[1]), "<models>"))
    assert shown["problems"][0].startswith("✗ ") and "Fix: " in shown["problems"][0]
    assert shown["evidence"][0] == "model: <models>/diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors (transformer, single file)"
    assert any("[1536, 16, 1, 2, 2]" in line for line in shown["evidence"])  # the shapes are one click away, not on the face
    assert not any("[1536" in line for line in shown["problems"])
    i2v = detector.inspect(models["i2v"])
    assert part_states(detector.check_parts(i2v, vae=models["vae"])) == {"vae": "fits"}
    # a VAE given as CLIP vision: the finding is about that part
    assert part_states(detector.check_parts(i2v, vae=models["vae"], clip_vision=models["vae"])) == {"vae": "fits", "clip_vision": "does not fit"}


def test_check_compatibility_says_what_it_checked_and_reads_parts_named_upstream(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """In a native graph Check's pickers stay at none: the parts Wan Safe Load (native) named in
    model_info are checked again and the face says so; a part picked here wins."""
    from wan_compat.nodes.detect import WanCheckCompatibility

    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(models["model"].parents[1]))  # a typed path must lie in the model folders
    detector = ArchitectureDetector()
    loaded = detector.check_parts(detector.inspect(models["model"]), vae=models["vae"], text_encoder=models["text_encoder"])
    out = WanCheckCompatibility().check(loaded)
    verdict = out["ui"]["wan_verdict"][0]
    assert verdict["headline"] == "Wan 2.1 T2V 1.3B · fp16 · VAE fits · text encoder fits" and verdict["status"] == "ok"
    assert verdict["checked"] == ("Checked the model against: VAE wan_2.1_vae.safetensors (from model_info), "
                                  "text encoder umt5_xxl_fp8_e4m3fn_scaled.safetensors (from model_info)")
    picked = WanCheckCompatibility().check(loaded, vae_path=str(models["vae_22"]))["ui"]["wan_verdict"][0]
    assert picked["status"] == "error" and "VAE does not fit" in picked["headline"] and "wan2.2_vae.safetensors (picked here)" in picked["checked"]
    alone = WanCheckCompatibility().check(detector.inspect(models["model"]))["ui"]["wan_verdict"][0]
    assert alone["checked"].startswith("Checked the model alone")


def test_node_texts_show_paths_relative_to_comfyuis_folders(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """ComfyUI's folder list (folder_paths) is the adapter's; with it, nothing a node shows holds an
    absolute path: the face, its evidence and the summary output."""
    from wan_compat.nodes import comfy_env
    from wan_compat.nodes.detect import WanDetectArchitecture

    root = models["model"].parents[1]
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(root))
    monkeypatch.setattr(comfy_env, "path_labels", lambda: [(str(root / "diffusion_models"), "diffusion_models"), (str(root / "vae"), "vae")])
    out = WanDetectArchitecture().detect(model_path=str(models["model"]))
    shown = json.dumps(out["ui"]) + out["result"][1]
    assert str(root) not in shown and "diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors" in shown
    from wan_compat.nodes.shown_paths import relative

    assert relative(f"{root}/vae2/x and {root}/vae/y") == f"{root}/vae2/x and vae/y"  # whole path components only


def test_the_report_page_counts_only_real_problems(tmp_path: Path) -> None:
    """An ok verdict with one piece of information reads "Notes (1)", never "Problems (1)"."""
    from wan_compat.compat.core.errors import problem
    from wan_compat.compat.diagnostics.report_html import render

    note = problem("NO_GPU", "no NVIDIA driver", severity="info").to_dict()
    page = render({"verdict": "ok", "problems": [note], "basic": "Your setup works."}, "detailed", "x.json")
    assert "Notes (1)" in page and "Problems" not in page
    warning = problem("NO_GPU", "plan does not fit", severity="warning").to_dict()
    page = render({"verdict": "warning", "problems": [warning, note], "basic": "Check the plan."}, "detailed", "x.json")
    assert "Problems (1)" in page and "Notes (1)" in page
