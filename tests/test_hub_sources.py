"""What may be downloaded, decided before the Hub is asked anything (compat/hub/sources.py): only Hub
`resolve` links of model repositories, names that stay inside their folder, model files that are not
pickles or code, the registry's official sources for the names it knows."""
from __future__ import annotations

import pytest

from wan_compat.compat.core.errors import WanCompatError
from wan_compat.compat.hub.sources import from_registry, from_spec, from_workflow, parse_resolve_url

HUB = "https://huggingface.co"
VAE_LINK = f"{HUB}/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/vae/wan_2.1_vae.safetensors?download=true"


@pytest.mark.parametrize("url, expected", [
    (VAE_LINK, ("Comfy-Org/Wan_2.1_ComfyUI_repackaged", "main", "split_files/vae/wan_2.1_vae.safetensors")),
    ("https://hf.co/Kijai/WanVideo_comfy/resolve/main/Lightx2v/lora.safetensors", ("Kijai/WanVideo_comfy", "main", "Lightx2v/lora.safetensors")),
    ("https://huggingface.co/o/r/resolve/refs%2Fpr%2F3/x.safetensors", ("o/r", "refs/pr/3", "x.safetensors")),
    ("http://huggingface.co/o/r/resolve/main/x.safetensors", None),  # not https
    ("https://huggingface.co.evil.example/o/r/resolve/main/x.safetensors", None),
    ("https://user:pw@huggingface.co/o/r/resolve/main/x.safetensors", None),
    ("https://huggingface.co/o/r/blob/main/x.safetensors", None),  # a web page, not the file
    ("https://huggingface.co/datasets/o/r/resolve/main/x.safetensors", None),
    ("https://huggingface.co/o/r/resolve/main/../../x.safetensors", None),
    ("https://huggingface.co/o/r/resolve/main/a/%2e%2e/x.safetensors", None),
    ("https://civitai.com/api/download/models/12345", None),
    ("file:///etc/passwd", None),
])
def test_only_hub_resolve_links_of_model_repositories(url: str, expected: tuple | None) -> None:
    assert parse_resolve_url(url, HUB) == expected


def test_the_configured_mirror_counts_as_the_hub() -> None:
    mirror = "http://127.0.0.1:8123"
    assert parse_resolve_url(f"{mirror}/o/r/resolve/main/x.safetensors", mirror) == ("o/r", "main", "x.safetensors")
    assert parse_resolve_url("http://127.0.0.1:9999/o/r/resolve/main/x.safetensors", mirror) is not None  # same host
    assert parse_resolve_url("http://10.0.0.1/o/r/resolve/main/x.safetensors", mirror) is None


def test_a_workflow_link_wins_then_the_registry_and_anything_else_is_refused() -> None:
    got = from_workflow("vae", "wan_2.1_vae.safetensors", VAE_LINK, HUB)
    assert (got.origin, got.repo, got.variant) == ("workflow", "Comfy-Org/Wan_2.1_ComfyUI_repackaged", "wan2.1-vae")
    official = from_workflow("vae", "wan2.2_vae.safetensors", "https://example.com/wan2.2_vae.safetensors", HUB)
    assert (official.origin, official.path) == ("registry", "split_files/vae/wan2.2_vae.safetensors")
    with pytest.raises(WanCompatError) as err:
        from_workflow("vae", "mine.safetensors", "https://example.com/mine.safetensors", HUB)
    assert err.value.code == "HUB_URL_NOT_HUB" and "https://example.com/mine.safetensors" in err.value.detail
    with pytest.raises(WanCompatError) as err:
        from_workflow("vae", "mine.safetensors", None, HUB)
    assert err.value.code == "HUB_SOURCE_UNKNOWN"


@pytest.mark.parametrize("folder, name, code", [
    ("vae", "../wan_2.1_vae.safetensors", "HUB_SPEC_INVALID"),
    ("vae", "/etc/wan_2.1_vae.safetensors", "HUB_SPEC_INVALID"),
    ("vae", "C:\\x\\..\\y.safetensors", "HUB_SPEC_INVALID"),
    ("vae", "a\x00b.safetensors", "HUB_SPEC_INVALID"),
    ("custom_nodes", "wan_2.1_vae.safetensors", "HUB_FOLDER_UNSUPPORTED"),
    ("checkpoints", "wan_2.1_vae.safetensors", "HUB_FOLDER_UNSUPPORTED"),
])
def test_names_and_folders_never_leave_the_model_folders(folder: str, name: str, code: str) -> None:
    with pytest.raises(WanCompatError) as err:
        from_workflow(folder, name, VAE_LINK, HUB)
    assert err.value.code == code


@pytest.mark.parametrize("link", ["pytorch_model.bin", "model.ckpt", "model.pt", "model.pth", "nodes.py", "weights.pkl"])
def test_pickles_and_code_are_never_model_files(link: str) -> None:
    with pytest.raises(WanCompatError) as err:
        from_workflow("diffusion_models", "x.safetensors", f"{HUB}/o/r/resolve/main/{link}", HUB)
    assert err.value.code == "HUB_NOT_A_MODEL_FILE"
    with pytest.raises(WanCompatError):
        from_spec(f"o/r/vae/{link}")


def test_specs() -> None:
    assert from_spec("umt5_xxl_fp8_e4m3fn_scaled.safetensors").path == "split_files/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    folder = from_spec("Wan2.2-TI2V-5B-Diffusers")
    assert (folder.repo, folder.path, folder.folder) == ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", None, "diffusers")
    pinned = from_spec("Kijai/WanVideo_comfy/Lightx2v/l.safetensors@0123abc", folder="loras")
    assert (pinned.revision, pinned.folder, pinned.name) == ("0123abc", "loras", "l.safetensors")
    assert from_spec("o/r/split_files/unet/x.safetensors").folder == "diffusion_models"  # ComfyUI's legacy name
    assert from_registry("diffusion_models", "not_a_known_file.safetensors") is None
    for bad in ("o/r/x.safetensors", "o/r@..", "o/r/vae/x.safetensors@a b", "o/r/vae/x.safetensors", "no_such_name.safetensors"):
        with pytest.raises(WanCompatError):
            from_spec(bad, folder="diffusers" if bad == "o/r/vae/x.safetensors" else None)
