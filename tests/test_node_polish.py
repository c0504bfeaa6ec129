"""What a new user sees before running anything: node-library folders, template cards, the `-1`
sentinels, and the missing-model message (nodes/missing_model.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ORDER = ["Wan Compat/Check models", "Wan Compat/Load", "Wan Compat/Prepare", "Wan Compat/Generate",
                  "Wan Compat/Frames", "Wan Compat/Save video", "Wan Compat/Diagnose"]


def test_categories_are_named_without_numbers_in_pipeline_order() -> None:
    from wan_compat import NODE_CLASS_MAPPINGS

    categories = [cls.CATEGORY for cls in NODE_CLASS_MAPPINGS.values()]
    assert not [c for c in categories if re.search(r"\d", c)], categories
    # The frontend's node library lists folders in the order /object_info gives the nodes.
    assert list(dict.fromkeys(categories)) == PIPELINE_ORDER


def test_every_template_has_its_thumbnail() -> None:
    """The frontend asks for <name>.jpg beside each template <name>.json (1.27 and 1.58)."""
    from PIL import Image

    workflows = sorted((ROOT / "workflows").glob("*.json"))
    assert workflows
    for path in workflows:
        thumb = path.with_suffix(".jpg")
        assert thumb.is_file(), f"{thumb.name} missing: run python tools/build_thumbnails.py"
        with Image.open(thumb) as image:
            assert (image.format, image.size) == ("JPEG", (512, 384))
            assert len(set(image.convert("L").resize((64, 48)).tobytes())) > 8  # a drawing, not a blank card
    assert not [p.name for p in (ROOT / "workflows").glob("*.jpg") if not p.with_suffix(".json").exists()]


def test_thumbnails_show_the_current_workflow(tmp_path: Path) -> None:
    """Redrawn from the JSON, each card equals the committed one up to JPEG/Pillow differences."""
    sys.path.insert(0, str(ROOT / "tools"))
    import io

    from build_thumbnails import draw
    from PIL import Image, ImageChops

    for path in sorted((ROOT / "workflows").glob("*.json")):
        fresh = Image.open(io.BytesIO(draw(json.loads(path.read_text())))).convert("L")
        with Image.open(path.with_suffix(".jpg")) as committed:
            diff = ImageChops.difference(fresh, committed.convert("L")).tobytes()
            assert max(diff) < 64 and sum(diff) / len(diff) < 2, f"{path.name}: run python tools/build_thumbnails.py"


def test_settings_say_model_default_instead_of_a_sentinel() -> None:
    """shift, cfg_2 and boundary_ratio show "model default" (no -1); numbers from API prompts and
    from workflows saved by 0.2 (-1 meant the default) still validate and mean the same."""
    from wan_compat.nodes.sample import MODEL_DEFAULT, WanSample, setting

    inputs = {**WanSample.INPUT_TYPES()["required"], **WanSample.INPUT_TYPES().get("optional", {})}
    for name in ("shift", "cfg_2", "boundary_ratio"):
        choices, options = inputs[name]
        assert choices[0] == options["default"] == MODEL_DEFAULT and "-1" not in " ".join(choices) + options["tooltip"], name
    assert [setting(v) for v in (MODEL_DEFAULT, "5", 5.0, -1, -1.0)] == [None, 5.0, 5.0, None, None]
    assert WanSample.VALIDATE_INPUTS(shift=6.5, cfg_2="model default", boundary_ratio=0.9) is True
    assert "between 0 and 0.999" in WanSample.VALIDATE_INPUTS(boundary_ratio=1.5)
    assert "must be 'model default' or a number" in WanSample.VALIDATE_INPUTS(shift="fast")


def test_missing_model_message_names_file_folder_and_source() -> None:
    """One voice (the queue check's WF_FILE_MISSING words): the file and what it is, the folder
    relative and in ComfyUI's current names, one download link (the file itself for Comfy-Org files)."""
    from wan_compat.nodes.missing_model import check_choice, message

    text = message("Wan2.2-TI2V-5B-Diffusers")
    assert text.startswith("Model not found: Wan2.2-TI2V-5B-Diffusers (Wan 2.2 TI2V 5B, a diffusers folder). Fix: Put it in models/diffusers/Wan2.2-TI2V-5B-Diffusers.")
    assert "Download: https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B-Diffusers (hf download Wan-AI/Wan2.2-TI2V-5B-Diffusers" in text
    single = message("wan2.1_t2v_1.3B_bf16.safetensors")
    assert single.startswith("Model not found: wan2.1_t2v_1.3B_bf16.safetensors (Wan 2.1 T2V 1.3B, a file). Fix: Put it in models/diffusion_models. Download: "
                             "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/diffusion_models/wan2.1_t2v_1.3B_bf16.safetensors.")
    assert single.count("https://") == 1 and "Wan-AI" not in single  # not the multi-GB diffusers repository
    assert message("diffusion_models/wan2.1_t2v_1.3B_bf16.safetensors") == single  # the 0.2 form of the same pick
    vae = message("wan2.2_vae.safetensors", "vae")
    assert "Put it in models/vae." in vae and "Wan 2.2 VAE" in vae
    unknown = message("my-own-finetune")
    assert "my-own-finetune (a diffusers folder)" in unknown and "Neither the workflow nor the pack's registry gives a download link" in unknown
    assert check_choice("none") is True and check_choice("") is True


def test_model_pickers_name_only_what_they_check() -> None:
    """ComfyUI repeats a VALIDATE_INPUTS message once per input the method names (every input with
    **kwargs): the nodes name only the inputs they check, and Detect only its picker."""
    import inspect

    from wan_compat import NODE_CLASS_MAPPINGS

    for name, cls in NODE_CLASS_MAPPINGS.items():
        if hasattr(cls, "VALIDATE_INPUTS"):
            spec = inspect.getfullargspec(cls.VALIDATE_INPUTS)
            assert spec.varkw is None, name
    assert inspect.getfullargspec(NODE_CLASS_MAPPINGS["WanDetectArchitecture"].VALIDATE_INPUTS).args == ["cls", "model"]


def test_build_thumbnails_check_runs() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_thumbnails.py"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--check" in done.stdout


def test_detect_without_a_model_says_so() -> None:
    """Detect names only its picker before the run, so an empty choice is refused when it runs."""
    import pytest

    from wan_compat.compat.core.errors import UsageError
    from wan_compat.nodes.detect import WanDetectArchitecture

    with pytest.raises(UsageError) as caught:
        WanDetectArchitecture().detect(model="none", model_path="  ")
    assert caught.value.code == "MODEL_NOT_CHOSEN" and "model_path" in caught.value.problem.fix
