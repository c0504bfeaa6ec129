"""compat/loading/verified_state.py: single files checked name by name for ComfyUI's own loaders.

Real tiny Wan files (exports of the tiny diffusers pipelines, in the Comfy-Org naming) and real
safetensors/pickle bytes; the tensors handed on are compared bit-exact with the file's.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import pytest

from wan_compat.compat.core.errors import WanCompatError


@pytest.fixture
def exported(tiny_path: Callable[[str], Path], tmp_path: Path) -> Callable[..., dict[str, Path]]:
    """`exported("wan2.1-t2v", prefix=...)` -> part -> file, inside tmp_path/models."""
    from wan_compat.compat.fixtures.single_files import export_single_files

    def make(variant: str, naming: str = "original", prefix: str = "") -> dict[str, Path]:
        return export_single_files(tiny_path(variant), tmp_path / "models" / variant, naming=naming, prefix=prefix, name=variant)
    return make


def _verify(files: dict[str, Path], config: Path, **changed: Path) -> object:
    from wan_compat.compat.loading.verified_state import verified_state_dicts

    parts = {"vae": files["vae"], "text_encoder": files["text_encoder"], **({"clip_vision": files["clip_vision"]} if "clip_vision" in files else {})}
    parts.update(changed)
    model = parts.pop("model", files["transformer"])
    return verified_state_dicts(model, **parts, config_source=config, roots=[str(model.parents[1]), str(config.parent)])


@pytest.mark.parametrize("variant,prefix", [("wan2.1-t2v", ""), ("wan2.1-t2v", "model.diffusion_model."), ("wan2.1-i2v", "")])
def test_a_complete_set_passes_and_the_tensors_are_the_files(exported, tiny_path, variant: str, prefix: str) -> None:
    import torch
    from safetensors.torch import load_file

    files = exported(variant, prefix=prefix)
    checked = _verify(files, tiny_path(variant))
    assert set(checked.tensors) == {"model", "vae", "text_encoder"} | ({"clip_vision"} if variant.endswith("i2v") else set())
    for part, label in (("model", "transformer"), ("vae", "vae"), ("text_encoder", "text_encoder")):
        on_disk = load_file(files[label])
        assert set(checked.tensors[part]) == set(on_disk)
        assert all(torch.equal(checked.tensors[part][k], v) and checked.tensors[part][k].dtype == v.dtype for k, v in on_disk.items())
    assert checked.checked["model"] > 0 and checked.info.task == ("i2v" if variant.endswith("i2v") else "t2v")
    assert "every name and shape checked" in checked.summary()


def _rewrite(path: Path, out: Path, change: Callable[[dict], None]) -> Path:
    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    change(tensors)
    save_file(tensors, out, metadata={"format": "pt"})
    return out


def test_one_missing_tensor_is_refused_with_the_files_own_key_name(exported, tiny_path, tmp_path: Path) -> None:
    files = exported("wan2.1-t2v", prefix="model.diffusion_model.")
    key = "model.diffusion_model.blocks.1.cross_attn.k.bias"
    broken = _rewrite(files["transformer"], files["transformer"].parent / "broken.safetensors", lambda t: t.pop(key))
    with pytest.raises(WanCompatError) as err:
        _verify(files, tiny_path("wan2.1-t2v"), model=broken)
    assert err.value.code == "LOAD_MISSING_KEYS" and key in err.value.message()


def test_an_unexpected_or_reshaped_tensor_is_refused(exported, tiny_path) -> None:
    import torch

    files = exported("wan2.1-t2v")
    folder = files["vae"].parent
    extra = _rewrite(files["transformer"], folder / "extra.safetensors", lambda t: t.update({"blocks.0.lora_down.weight": torch.zeros(2, 2)}))
    with pytest.raises(WanCompatError) as err:
        _verify(files, tiny_path("wan2.1-t2v"), model=extra)
    assert err.value.code == "LOAD_UNEXPECTED_KEYS" and "blocks.0.lora_down.weight" in err.value.message()

    def reshape(t: dict) -> None:
        t["head.head.bias"] = torch.zeros(t["head.head.bias"].shape[0] + 1)
    wrong = _rewrite(files["transformer"], folder / "wrong.safetensors", reshape)
    with pytest.raises(WanCompatError) as err:
        _verify(files, tiny_path("wan2.1-t2v"), model=wrong)
    assert err.value.code == "LOAD_MISMATCHED_SHAPES" and "head.head.bias" in err.value.message()

    from safetensors.torch import load_file

    vae_key = next(k for k in load_file(files["vae"]) if k.startswith("decoder."))
    no_vae_key = _rewrite(files["vae"], folder / "vae_missing.safetensors", lambda t: t.pop(vae_key))
    with pytest.raises(WanCompatError) as err:
        _verify(files, tiny_path("wan2.1-t2v"), vae=no_vae_key)
    assert err.value.code == "LOAD_MISSING_KEYS" and vae_key in err.value.message()


def test_files_outside_the_roots_and_disguised_pickles_are_refused_unread(exported, tiny_path, tmp_path: Path) -> None:
    import torch

    from wan_compat.compat.loading.verified_state import verified_state_dicts

    files = exported("wan2.1-t2v")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    stray = outside / "model.safetensors"
    stray.write_bytes(files["transformer"].read_bytes())
    with pytest.raises(WanCompatError) as err:
        verified_state_dicts(stray, vae=files["vae"], config_source=tiny_path("wan2.1-t2v"),
                             roots=[str(files["vae"].parents[1]), str(tiny_path("wan2.1-t2v").parent)])
    assert err.value.code.startswith("PATH_"), err.value.code

    disguised = files["transformer"].parent / "disguised.safetensors"
    torch.save({"w": torch.zeros(1)}, disguised, pickle_protocol=pickle.DEFAULT_PROTOCOL, _use_new_zipfile_serialization=False)
    with pytest.raises(WanCompatError) as err:
        _verify(files, tiny_path("wan2.1-t2v"), model=disguised)
    assert err.value.code == "DISGUISED_PICKLE"


def test_real_size_text_encoder_names_are_checked_on_meta() -> None:
    """UMT5-XXL at its real size (the only size ComfyUI builds): names and shapes from the registry,
    tensors on meta, so nothing is allocated; one name dropped is refused by name."""
    import torch

    from wan_compat.compat.detect.model_info import ModelInfo
    from wan_compat.compat.fixtures.sparse import diffusers_shapes
    from wan_compat.compat.loading import component_configs
    from wan_compat.compat.loading.verified_state import check_part

    info = ModelInfo(path="x", format="single_file")
    info.variant = "wan2.1-t2v-1.3b"
    configs = component_configs.from_registry(info, False)
    tensors = {k: torch.empty(s, device="meta") for k, s in diffusers_shapes("umt5-xxl")}
    assert check_part("text_encoder", tensors, configs) == len(tensors)
    tensors.pop("encoder.block.23.layer.1.DenseReluDense.wo.weight")
    with pytest.raises(WanCompatError) as err:
        check_part("text_encoder", tensors, configs)
    assert err.value.code == "LOAD_MISSING_KEYS" and "encoder.block.23.layer.1.DenseReluDense.wo.weight" in err.value.message()


def test_native_node_refuses_a_missing_model_or_config_folder_before_the_run(tmp_path: Path) -> None:
    from wan_compat.nodes.native_load import WanSafeLoadNative

    assert "Choose the diffusion model file" in WanSafeLoadNative.VALIDATE_INPUTS(model="none")
    # config_path follows the one path policy: outside the model folders, an existing folder and a
    # missing one get the same refusal (nothing said about either).
    missing, existing = tmp_path / "no-such-folder", tmp_path
    refusals = [WanSafeLoadNative.VALIDATE_INPUTS(model="diffusion_models/x.safetensors", config_path=str(p)) for p in (missing, existing)]
    assert all("PATH_OUTSIDE_ROOTS" in r for r in refusals), refusals
    assert refusals[0].replace(str(missing), "<path>") == refusals[1].replace(str(existing), "<path>")
    assert set(WanSafeLoadNative.RETURN_TYPES[:4]) == {"MODEL", "CLIP", "VAE", "CLIP_VISION"}


@pytest.mark.parametrize("variant,vae,prefix", [("wan2.1-t2v-1.3b", "wan2.1-vae", ""), ("wan2.1-t2v-1.3b", "wan2.1-vae", "model.diffusion_model."),
                                                ("wan2.2-ti2v-5b", "wan2.2-vae", "")])
def test_real_size_comfy_org_names_pass_against_the_registry_configs(variant: str, vae: str, prefix: str) -> None:
    """The official sizes, in the Comfy-Org naming, against the registry's configs (what the native
    loader uses for an official file): names and shapes of the real files, tensors on meta."""
    import torch

    from wan_compat.compat.detect.model_info import ModelInfo
    from wan_compat.compat.fixtures.sparse import diffusers_shapes, original_names
    from wan_compat.compat.loading import component_configs
    from wan_compat.compat.loading.verified_state import check_part

    info = ModelInfo(path="x", format="single_file")
    info.variant = variant
    configs = component_configs.from_registry(info, False)
    for part, component in (("model", variant), ("vae", vae)):
        shapes = dict(diffusers_shapes(component))
        renamed = original_names(component)(list(shapes))
        tensors = {(prefix if part == "model" else "") + renamed[k]: torch.empty(s, device="meta") for k, s in shapes.items()}
        assert check_part(part, tensors, configs) == len(tensors)
        dropped = sorted(tensors)[len(tensors) // 2]
        tensors.pop(dropped)
        with pytest.raises(WanCompatError) as err:
            check_part(part, tensors, configs)
        assert err.value.code == "LOAD_MISSING_KEYS" and dropped in err.value.message()


def test_a_config_folder_linked_into_models_diffusers_is_read_as_wan_safe_load_reads_it(exported, tiny_path, tmp_path: Path) -> None:
    """Models on another disk: models/diffusers/<name> is a link to the folder. Wan Safe Load follows
    it; Wan Safe Load (native) does too now (it used to refuse it, naming the link's target), and a
    link inside that folder leading out is still refused without saying where it leads."""
    import shutil

    from wan_compat.compat.loading.verified_state import verified_state_dicts

    files = exported("wan2.1-t2v")
    elsewhere = tmp_path / "other_disk" / "Wan2.1-T2V-1.3B-Diffusers"
    shutil.copytree(tiny_path("wan2.1-t2v"), elsewhere)
    diffusers = tmp_path / "models" / "diffusers"
    diffusers.mkdir(parents=True)
    (diffusers / "Wan2.1-T2V-1.3B-Diffusers").symlink_to(elsewhere, target_is_directory=True)
    roots = [str(files["transformer"].parents[1]), str(diffusers)]
    parts = {"vae": files["vae"], "text_encoder": files["text_encoder"]}
    checked = verified_state_dicts(files["transformer"], **parts, config_source=diffusers / "Wan2.1-T2V-1.3B-Diffusers", roots=roots)
    assert checked.checked["model"] > 0 and "other_disk" not in checked.summary()

    secret = tmp_path / "secret_place"
    secret.mkdir()
    (secret / "config.json").write_text("{}")
    (elsewhere / "scheduler" / "leak").symlink_to(secret, target_is_directory=True)
    with pytest.raises(WanCompatError) as err:
        verified_state_dicts(files["transformer"], **parts, config_source=diffusers / "Wan2.1-T2V-1.3B-Diffusers", roots=roots)
    assert err.value.code == "PATH_OUTSIDE_ROOTS" and "secret_place" not in str(err.value) and "other_disk" not in str(err.value)


MARKER_FORMS = {  # form -> (rename of the keys of a scaled file with bare keys and a bare marker, prefix ComfyUI strips)
    "comfy_org_prefixed_marker": (lambda k: "model.diffusion_model." + k, "model.diffusion_model."),
    "bare_keys_bare_marker": (lambda k: k, ""),
    "prefixed_keys_bare_marker": (lambda k: k if k == "scaled_fp8" else "model.diffusion_model." + k, "model.diffusion_model."),
    "bare_keys_prefixed_marker": (lambda k: "model.diffusion_model." + k if k == "scaled_fp8" else k, ""),
    "scales_without_marker": (lambda k: None if k == "scaled_fp8" else k, ""),
}


@pytest.mark.parametrize("form", sorted(MARKER_FORMS))
def test_every_scaled_fp8_marker_form_is_accepted_and_handed_on_where_comfyui_looks(exported, tiny_path, form: str) -> None:
    """ComfyUI strips the prefix its keys carry, then looks for `scaled_fp8`: the Comfy-Org files
    carry `model.diffusion_model.scaled_fp8`. Every form passes the check, the marker reaches
    ComfyUI beside the keys it goes with (one is made for scales without a marker), and every other
    tensor is handed on as the file holds it."""
    import torch
    from safetensors.torch import load_file

    from wan_compat.compat.fixtures.filled import renamed_copy
    from wan_compat.compat.fixtures.scaled_fp8 import write_scaled_fp8

    files = exported("wan2.1-t2v")
    folder = files["transformer"].parent
    scaled = write_scaled_fp8(files["transformer"], folder / "scaled_base.safetensors")
    rename, prefix = MARKER_FORMS[form]
    model = renamed_copy(scaled, folder / f"{form}.safetensors", rename)
    with _verify(files, tiny_path("wan2.1-t2v"), model=model) as checked:
        handed = checked.tensors["model"]
        markers = [k for k in handed if k.endswith("scaled_fp8")]
        assert markers == [prefix + "scaled_fp8"] and handed[markers[0]].dtype == torch.float8_e4m3fn
        on_disk = load_file(model)
        assert {k for k in on_disk if not k.endswith("scaled_fp8")} == {k for k in handed if not k.endswith("scaled_fp8")}
        assert all(torch.equal(handed[k].reshape(-1).view(torch.uint8), v.reshape(-1).view(torch.uint8)) for k, v in on_disk.items() if not k.endswith("scaled_fp8"))
        assert ("handed to ComfyUI" in checked.report.text() or "so that it applies them" in checked.report.text()) == (form not in ("comfy_org_prefixed_marker", "bare_keys_bare_marker"))


def test_plain_fp8_without_a_marker_is_handed_on_unchanged(exported, tiny_path) -> None:
    """kijai's fp8 files: fp8 matrices, no scales, no marker; nothing is added."""
    import torch
    from safetensors.torch import load_file, save_file

    files = exported("wan2.1-t2v", prefix="model.diffusion_model.")
    tensors = {k: v.to(torch.float8_e4m3fn) if ".blocks." in f".{k}" and v.dim() == 2 else v for k, v in load_file(files["transformer"]).items()}
    plain = files["transformer"].parent / "plain_fp8.safetensors"
    save_file(tensors, plain, metadata={"format": "pt"})
    with _verify(files, tiny_path("wan2.1-t2v"), model=plain) as checked:
        assert set(checked.tensors["model"]) == set(tensors)
        assert any(t.dtype == torch.float8_e4m3fn for t in checked.tensors["model"].values())


def _mapped_inode(address: int) -> int | None:
    """The inode of the file mapped at `address` in this process (/proc/self/maps), None for anonymous memory."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= address < end:
                return int(fields[4]) or None
    return None


def test_the_tensors_map_the_checked_file_and_a_change_before_the_end_is_refused(exported, tiny_path) -> None:
    """No second copy: every tensor handed on lies in one mapping of the file (the host reads the
    bytes once). A file rewritten while the host reads it is FILE_CHANGED_DURING_LOAD at the end."""
    import os

    files = exported("wan2.1-t2v")
    checked = _verify(files, tiny_path("wan2.1-t2v"))
    with checked:
        inode = files["transformer"].stat().st_ino
        assert all(_mapped_inode(t.data_ptr()) == inode for t in checked.tensors["model"].values() if t.numel())
    assert checked.held == []  # released
    again = _verify(files, tiny_path("wan2.1-t2v"))
    with pytest.raises(WanCompatError) as err:
        with again:
            with open(files["vae"], "r+b") as fh:  # an in-place rewrite of one byte of the data
                fh.seek(-1, os.SEEK_END)
                last = fh.read(1)
                fh.seek(-1, os.SEEK_END)
                fh.write(bytes([last[0] ^ 1]))
    assert err.value.code == "FILE_CHANGED_DURING_LOAD" and "vae" in err.value.message()
