"""Shared pytest fixtures. Each helper keeps its fixtures in its own delimited section."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
