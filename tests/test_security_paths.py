"""Path safety: real paths inside the allowed roots, no escaping or dangling links, files are files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from wan_compat.compat.core.errors import SecurityError, UsageError
from wan_compat.compat.security.paths import check_model_folder, check_tree, resolve_inside, roots_from


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    models = tmp_path / "models"
    outside = tmp_path / "outside"
    (models / "diffusers" / "wan").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.safetensors").write_bytes(b"x")
    (models / "vae.safetensors").write_bytes(b"x")
    return models, outside, roots_from([models])


def test_file_inside_root_resolves(layout: tuple[Path, Path, list[str]]) -> None:
    models, _, roots = layout
    assert resolve_inside(models / "vae.safetensors", roots, expect="file") == Path(os.path.realpath(models / "vae.safetensors"))


def test_file_outside_root_is_refused(layout: tuple[Path, Path, list[str]]) -> None:
    models, outside, roots = layout
    for path in (outside / "secret.safetensors", models / ".." / "outside" / "secret.safetensors"):
        with pytest.raises(SecurityError) as err:
            resolve_inside(path, roots, expect="file")
        assert err.value.code == "PATH_OUTSIDE_ROOTS" and str(models.resolve()) in str(err.value)


def test_symlink_escaping_the_root_is_refused(layout: tuple[Path, Path, list[str]]) -> None:
    models, outside, roots = layout
    # A link placed in the model folder itself is followed, as ComfyUI follows it (issue 15) ...
    link = models / "escape.safetensors"
    link.symlink_to(outside / "secret.safetensors")
    assert resolve_inside(link, roots, expect="file") == Path(os.path.realpath(outside / "secret.safetensors"))
    # ... but a link further down, inside a model folder, that leads out is refused, and the
    # refusal does not say where it leads.
    deeper = models / "diffusers" / "wan" / "escape.safetensors"
    deeper.symlink_to(outside / "secret.safetensors")
    with pytest.raises(SecurityError) as err:
        resolve_inside(deeper, roots, expect="file")
    assert err.value.code == "PATH_OUTSIDE_ROOTS" and str(outside) not in err.value.detail
    deeper.unlink()
    # Inside a model folder too, and for a linked directory.
    (models / "diffusers" / "wan" / "vae").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SecurityError) as err:
        check_tree(models / "diffusers" / "wan", roots)
    assert err.value.code == "PATH_OUTSIDE_ROOTS"


def test_dangling_link_is_refused(layout: tuple[Path, Path, list[str]]) -> None:
    models, _, roots = layout
    link = models / "diffusers" / "wan" / "diffusion_pytorch_model.safetensors"
    link.symlink_to(models / "gone.safetensors")
    with pytest.raises(SecurityError) as err:
        resolve_inside(link, roots, expect="file")
    assert err.value.code == "PATH_DANGLING_LINK"
    with pytest.raises(SecurityError) as err:
        check_tree(models / "diffusers" / "wan", roots)
    assert err.value.code == "PATH_DANGLING_LINK"


def test_directory_where_a_file_is_expected(layout: tuple[Path, Path, list[str]]) -> None:
    models, _, roots = layout
    with pytest.raises(SecurityError) as err:
        resolve_inside(models / "diffusers", roots, expect="file")
    assert err.value.code == "PATH_NOT_A_FILE"
    folder = models / "diffusers" / "wan"
    (folder / "model_index.json").write_text("{}")
    (folder / "vae" / "config.json").mkdir(parents=True)
    with pytest.raises(SecurityError) as err:
        check_model_folder(folder, roots)
    assert err.value.code == "PATH_NOT_A_FILE" and "config.json" in str(err.value)


def test_expected_file_missing_or_folder_not_a_folder(layout: tuple[Path, Path, list[str]]) -> None:
    models, _, roots = layout
    folder = models / "diffusers" / "wan"
    with pytest.raises(UsageError) as err:
        check_model_folder(folder, roots, expected_files=["model_index.json"])
    assert err.value.code == "PATH_NOT_FOUND"
    with pytest.raises(SecurityError) as err:
        check_model_folder(models / "vae.safetensors", roots)
    assert err.value.code == "PATH_NOT_A_FOLDER"


def test_fifo_in_a_model_folder_is_refused(layout: tuple[Path, Path, list[str]]) -> None:
    models, _, roots = layout
    os.mkfifo(models / "diffusers" / "wan" / "weights.safetensors")
    with pytest.raises(SecurityError) as err:
        check_tree(models / "diffusers" / "wan", roots)
    assert err.value.code == "PATH_NOT_A_FILE"


def test_hub_cache_snapshot_links_into_its_blobs(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--org--wan"
    blob = repo / "blobs" / "abc123"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"x")
    snapshot = repo / "snapshots" / ("c" * 40)
    (snapshot / "vae").mkdir(parents=True)
    (snapshot / "vae" / "diffusion_pytorch_model.safetensors").symlink_to(os.path.relpath(blob, snapshot / "vae"))
    roots = roots_from([snapshot])
    assert str(repo.resolve()) in roots
    files = check_tree(snapshot, roots)
    assert [f.name for f in files] == ["diffusion_pytorch_model.safetensors"]


def test_roots_skip_missing_and_empty_entries(tmp_path: Path) -> None:
    assert roots_from(["", str(tmp_path / "nope"), str(tmp_path)]) == [str(tmp_path.resolve())]
