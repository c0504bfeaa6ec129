"""One broken part does not cost the whole folder: Wan Safe Load says which part is broken and which
input replaces it, and with that input set (a single file, or another folder's part) loads the folder
with the replacement, never reading the broken part. Real tiny folders, real files, real loads."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import LoadError  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

REQUEST = dict(prompt="a tram in the rain", width=32, height=32, num_frames=5, steps=2, seed=9)


@pytest.fixture(autouse=True)
def _roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_settings: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tmp_path / "models"))


def _truncate(folder: Path) -> None:
    for path in folder.glob("*.safetensors"):
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size // 2)


def test_a_broken_text_encoder_is_named_with_the_input_that_replaces_it(t2v: Path, files: dict[str, Path]) -> None:
    intact = load_pipeline(t2v, options=LoadOptions(dtype="fp32"), roots=[str(t2v.parent)])
    plain = sample(intact, SampleRequest(**REQUEST), record=False).frames
    _truncate(t2v / "text_encoder")
    with pytest.raises(LoadError) as err:
        WanSafeLoad().load(model_path=str(t2v), dtype="fp32")
    assert err.value.code == "FOLDER_PART_BROKEN" and "text_encoder/" in err.value.summary
    assert "Set Wan Safe Load's text_encoder input to a UMT5-XXL text encoder file" in err.value.fix
    assert "SAFETENSORS_TRUNCATED" in err.value.detail

    loaded = WanSafeLoad().load(model_path=str(t2v), dtype="fp32", text_encoder_path=str(files["text_encoder"]))["result"][0]
    read = {r.path for r in loaded.report.files}
    assert str(files["text_encoder"]) in read and not any("/text_encoder/" in p for p in read)  # the broken part is never read
    from safetensors.torch import load_file

    on_file = load_file(files["text_encoder"])  # UMT5 files are in transformers' naming
    state = loaded.pipeline.text_encoder.state_dict()
    assert sum(torch.equal(state[k], v) for k, v in on_file.items() if k in state) == len(set(on_file) & set(state)) > 10
    # The same weights through another load path: the frames of the intact folder.
    assert_frames_close(sample(loaded, SampleRequest(**REQUEST), record=False).frames, plain, dtype=torch.float32, path="pipeline")


def test_another_folders_part_replaces_a_broken_vae(t2v: Path, tiny_path, tmp_path: Path) -> None:
    donor = Path(shutil.copytree(tiny_path("wan2.1-t2v") / "vae", tmp_path / "models" / "donor" / "vae"))
    _truncate(t2v / "vae")
    with pytest.raises(LoadError) as err:
        load_pipeline(t2v, roots=[str(tmp_path / "models")])
    assert err.value.code == "FOLDER_PART_BROKEN" and "Set Wan Safe Load's vae input" in err.value.fix
    loaded = load_pipeline(t2v, vae=donor, options=LoadOptions(dtype="fp32"), roots=[str(tmp_path / "models")])
    assert loaded.report.components["vae"]["class"] == "AutoencoderKLWan"
    assert any(f.path.startswith(str(donor)) for f in loaded.report.files)
    assert tuple(sample(loaded, SampleRequest(**REQUEST), record=False).frames.shape) == (5, 32, 32, 3)


def test_a_vae_that_does_not_fit_is_the_vaes_finding(t2v: Path, tiny_path, files: dict[str, Path], tmp_path: Path) -> None:
    """The wrong VAE in the folder (the 2.2 VAE of TI2V-5B): the finding is the VAE's, so the refusal
    names the vae input, and the right VAE there settles it (a folder part, with its config: a file
    cannot borrow the wrong VAE's config, and says so)."""
    shutil.rmtree(t2v / "vae")
    shutil.copytree(tiny_path("wan2.2-ti2v-5b") / "vae", t2v / "vae")
    with pytest.raises(LoadError) as err:
        load_pipeline(t2v, roots=[str(tmp_path / "models")])
    assert err.value.code == "FOLDER_PART_BROKEN" and "WRONG_VAE" in err.value.detail and "vae/" in err.value.summary
    with pytest.raises(LoadError) as err:
        load_pipeline(t2v, vae=files["vae"], options=LoadOptions(dtype="fp32"), roots=[str(tmp_path / "models")])
    assert err.value.code == "SINGLE_FILE_CONFIG_UNKNOWN" and "describes another vae (z_dim 48 vs 16" in err.value.detail
    right = Path(shutil.copytree(tiny_path("wan2.1-t2v") / "vae", tmp_path / "models" / "right" / "vae"))
    loaded = load_pipeline(t2v, vae=right, options=LoadOptions(dtype="fp32"), roots=[str(tmp_path / "models")])
    assert loaded.pipeline.vae.config.z_dim == 16 and not [p for p in loaded.problems if p.code == "WRONG_VAE"]


def test_a_replacement_that_does_not_fit_is_refused(t2v: Path, tiny_path, tmp_path: Path) -> None:
    wrong = Path(shutil.copytree(tiny_path("wan2.2-ti2v-5b") / "vae", tmp_path / "models" / "other" / "vae"))
    with pytest.raises(LoadError) as err:
        load_pipeline(t2v, vae=wrong, roots=[str(tmp_path / "models")])
    assert err.value.code == "MODEL_NOT_LOADABLE" and "WRONG_VAE" in err.value.detail
