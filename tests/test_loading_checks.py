"""The post-load checks catch what lenient loads leave behind, forced on purpose with real diffusers
calls (the loader itself never makes them): `ignore_mismatched_sizes=True`, `low_cpu_mem_usage=False`
with a missing key (uninitialised memory), and `from_single_file(low_cpu_mem_usage=False)` with a
missing key (random init, no warning)."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.loading import key_naming  # noqa: E402
from wan_compat.compat.core.errors import LoadError  # noqa: E402
from wan_compat.compat.fixtures.single_files import export_single_files  # noqa: E402
from wan_compat.compat.loading import checks  # noqa: E402


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from wan_compat.compat.detect.safetensors_header import read_header

    return {k: v.shape for k, v in read_header(path).tensors.items()}


def _rewrite(path: Path, change) -> None:  # noqa: ANN001
    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


@pytest.fixture
def vae_folder(tiny_pipelines: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_pipelines["wan2.1-t2v"] / "vae", tmp_path / "vae"))


def test_ignore_mismatched_sizes_is_caught(vae_folder: Path) -> None:
    from diffusers import AutoencoderKLWan

    key = "post_quant_conv.bias"
    _rewrite(vae_folder / "diffusion_pytorch_model.safetensors", lambda t: t.update({key: torch.zeros(17)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = AutoencoderKLWan.from_pretrained(vae_folder, ignore_mismatched_sizes=True, low_cpu_mem_usage=False,
                                                       output_loading_info=True)
    provided = _shapes(vae_folder / "diffusion_pytorch_model.safetensors")
    with pytest.raises(LoadError) as err:
        checks.verify_loaded(model, "vae", provided, info)
    assert err.value.code == "LOAD_MISMATCHED_SHAPES" and key in str(err.value)
    with pytest.raises(LoadError) as err:  # without diffusers' own report, from the model and the header alone
        checks.verify_loaded(model, "vae", provided)
    assert err.value.code == "LOAD_MISMATCHED_SHAPES" and key in str(err.value)


def test_low_cpu_mem_usage_false_with_a_missing_key_is_caught(vae_folder: Path) -> None:
    from diffusers import AutoencoderKLWan

    key = "decoder.conv_out.bias"
    _rewrite(vae_folder / "diffusion_pytorch_model.safetensors", lambda t: t.pop(key))
    model, info = AutoencoderKLWan.from_pretrained(vae_folder, low_cpu_mem_usage=False, output_loading_info=True)
    assert not getattr(model.decoder.conv_out.bias, "is_meta", False)  # "loaded": real memory, not from the file
    provided = _shapes(vae_folder / "diffusion_pytorch_model.safetensors")
    with pytest.raises(LoadError) as err:
        checks.verify_loaded(model, "vae", provided, info)
    assert err.value.code == "LOAD_MISSING_KEYS" and key in str(err.value)
    with pytest.raises(LoadError) as err:
        checks.verify_loaded(model, "vae", provided)
    assert err.value.code == "LOAD_UNINITIALISED_PARAMETERS" and key in str(err.value)


def test_low_cpu_mem_usage_true_with_a_missing_key_leaves_meta_and_is_caught(vae_folder: Path) -> None:
    from diffusers import AutoencoderKLWan

    key = "decoder.conv_out.bias"
    _rewrite(vae_folder / "diffusion_pytorch_model.safetensors", lambda t: t.pop(key))
    model = AutoencoderKLWan.from_pretrained(vae_folder)
    with pytest.raises(LoadError) as err:
        checks.verify_loaded(model, "vae", _shapes(vae_folder / "diffusion_pytorch_model.safetensors"))
    assert err.value.code == "LOAD_META_PARAMETERS" and key in str(err.value)


def test_from_single_file_random_init_is_caught(tiny_pipelines: dict[str, Path], tmp_path: Path) -> None:
    from diffusers import AutoencoderKLWan

    folder = tiny_pipelines["wan2.1-t2v"]
    vae_file = export_single_files(folder, tmp_path, name="t2v")["vae"]
    original_key = "decoder.head.2.bias"
    _rewrite(vae_file, lambda t: t.pop(original_key))
    model = AutoencoderKLWan.from_single_file(str(vae_file), config=str(folder), subfolder="vae", low_cpu_mem_usage=False)
    assert not model.decoder.conv_out.bias.is_meta  # diffusers initialised it at random, silently
    provided = key_naming.vae_to_diffusers(_shapes(vae_file), "2.1")
    with pytest.raises(LoadError) as err:
        checks.verify_loaded(model, "vae", provided)
    assert err.value.code == "LOAD_UNINITIALISED_PARAMETERS" and "decoder.conv_out.bias" in str(err.value)


def test_a_complete_load_passes(tiny_pipelines: dict[str, Path]) -> None:
    from diffusers import AutoencoderKLWan

    folder = tiny_pipelines["wan2.1-t2v"] / "vae"
    model, info = AutoencoderKLWan.from_pretrained(folder, output_loading_info=True)
    checks.verify_loaded(model, "vae", _shapes(folder / "diffusion_pytorch_model.safetensors"), info)


def test_tied_weights_count_as_provided(tiny_pipelines: dict[str, Path]) -> None:
    from transformers import UMT5EncoderModel

    folder = tiny_pipelines["wan2.1-t2v"] / "text_encoder"
    model = UMT5EncoderModel.from_pretrained(folder)
    provided = _shapes(folder / "model.safetensors")
    assert "encoder.embed_tokens.weight" not in provided
    checks.verify_loaded(model, "text_encoder", provided)


def test_compare_keys_lists_every_problem() -> None:
    diff = checks.compare_keys({"a": (2,), "b": (3,), "t": (4,)}, {"a": (2,), "b": (5,), "x": (1,)}, tied={"t": "a"})
    assert diff.missing == [] and diff.unexpected == ["x"] and diff.mismatched == [("b", (3,), (5,))]
    diff = checks.compare_keys({"a": (2,), "t": (4,)}, {}, tied={"t": "a"})
    assert diff.missing == ["a", "t"]
    many = checks.compare_keys({f"k{i:02d}": (1,) for i in range(20)}, {})
    with pytest.raises(LoadError) as err:
        many.raise_if_any("vae")
    assert "20 missing" in str(err.value) and "and 8 more" in str(err.value)
