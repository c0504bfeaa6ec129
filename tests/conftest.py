"""Shared fixtures. Every fixture writes under pytest's tmp dirs only."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# --------------------------------------------------------------------------- sparse real-size files
SparseFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def sparse_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sparse")


@pytest.fixture(scope="session")
def sparse_file(sparse_root: Path) -> SparseFactory:
    """make(variant_id, dtype="bf16", name=None, prefix="", rename=None) -> a cached sparse single file."""
    from wan_compat.compat.fixtures import sparse

    cache: dict[tuple, Path] = {}

    def make(variant_id: str, dtype: str = "bf16", name: str | None = None, prefix: str = "",
             rename: Callable | None = None, naming: str = "diffusers") -> Path:
        key = (variant_id, dtype, name, prefix, naming)
        if key not in cache:
            file_name = name or f"{variant_id}-{naming}-{dtype}{'-prefixed' if prefix else ''}.safetensors"
            folder = sparse_root / "single" / f"f{len(cache)}"  # neutral: folder names count as name hints
            cache[key] = sparse.write_single_file(folder / file_name, variant_id, dtype, rename=rename, prefix=prefix)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def sparse_pipeline(sparse_root: Path) -> Callable[[str], Path]:
    """make(variant_id, dtype="bf16") -> a cached real-size diffusers folder named like Wan-AI's repos."""
    from wan_compat.compat.detect import registry
    from wan_compat.compat.fixtures import sparse

    cache: dict[tuple, Path] = {}

    def make(variant_id: str, dtype: str = "bf16") -> Path:
        if (variant_id, dtype) not in cache:
            repo = registry.by_id(variant_id)["repo"].split("/")[-1]
            cache[(variant_id, dtype)] = sparse.write_pipeline_folder(sparse_root / "pipelines" / dtype / repo, variant_id, dtype)
        return cache[(variant_id, dtype)]

    return make


# ============================================================================ tiny Wan pipelines
# Real tiny Wan pipelines (compat/fixtures/tiny.py), built once per session into a temporary cache;
# WAN_COMPAT_CACHE points there for the whole session, so nothing is written under the user's home.
# Hub downloads never work here: fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's tiny-pipeline cache folder (also exported as $WAN_COMPAT_CACHE)."""
    path = tmp_path_factory.mktemp("wan-compat-tiny-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("WAN_COMPAT_CACHE", str(path))
    yield path
    patch.undo()


@pytest.fixture(scope="session")
def tiny_path(tiny_cache: Path) -> Callable[[str], Path]:
    """`tiny_path("wan2.1-t2v")` -> that variant's diffusers folder, built on first use."""
    from wan_compat.compat.fixtures.tiny import tiny_pipeline_path

    return lambda variant: tiny_pipeline_path(variant, tiny_cache)


@pytest.fixture(scope="session")
def tiny_pipelines(tiny_path: Callable[[str], Path]) -> dict[str, Path]:
    """Every tiny variant: name -> diffusers folder."""
    from wan_compat.compat.fixtures.tiny import TINY_VARIANTS

    return {variant: tiny_path(variant) for variant in TINY_VARIANTS}


# ======================================================================== end tiny Wan pipelines


# ==================================================================== loaded tiny pipelines (WAN_PIPELINE)
@pytest.fixture(scope="session")
def tiny_loaded(tiny_path: Callable[[str], Path]) -> Callable[..., object]:
    """`tiny_loaded("wan2.1-t2v", dtype="fp32")` -> a fresh WAN_PIPELINE handle (Wan Safe Load's loader).
    Fresh on every call: tests may corrupt weights or offload without touching other tests."""
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    return lambda variant, dtype="fp32": load_pipeline(tiny_path(variant), options=LoadOptions(dtype=dtype))


@pytest.fixture
def private_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings and the performance history in this test's tmp dir."""
    folder = tmp_path / "wan-compat-settings"
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(folder))
    return folder


# --------------------------------------------------------------------------- the sandbox
@pytest.fixture
def bwrap() -> str:
    """Why the sandbox can run here. Without it the test skips locally, and fails in CI
    (`WAN_COMPAT_CI=1`, set by .ci/run, which installs bubblewrap): a CI that cannot sandbox must
    not pass green with every sandbox test skipped."""
    from wan_compat.compat.security import sandbox

    available, reason = sandbox.sandbox_status()
    if not available:
        if os.environ.get("WAN_COMPAT_CI"):
            pytest.fail(f"CI cannot sandbox: {reason}")
        pytest.skip(f"no sandbox here: {reason} (CI installs Debian's bubblewrap)")
    return reason


# --------------------------------------------------------------------------- encoding
@pytest.fixture
def encode_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Output, temp and settings folders of one test; the bundled ffmpeg, not an override."""
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setenv("WAN_COMPAT_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("WAN_COMPAT_TEMP_DIR", str(tmp_path / "temp"))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "config"))


# ============================================================================ private copies to change
@pytest.fixture
def t2v(tiny_pipelines: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the tiny T2V folder under tmp_path/models, free to change or break."""
    import shutil

    return Path(shutil.copytree(tiny_pipelines["wan2.1-t2v"], tmp_path / "models" / "wan-t2v"))


@pytest.fixture
def files(t2v: Path, tmp_path: Path) -> dict[str, Path]:
    """That copy exported as ComfyUI single files (tmp_path/models/single), slot -> path."""
    from wan_compat.compat.fixtures.single_files import export_single_files
    from wan_compat.compat.loading import key_naming

    return export_single_files(t2v, tmp_path / "models" / "single", prefix=key_naming.COMFY_PREFIX, name="t2v")
