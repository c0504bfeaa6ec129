"""Shared fixtures. Every fixture writes under pytest's tmp dirs only."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

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
    from wan_compat.compat import registry
    from wan_compat.compat.fixtures import sparse

    cache: dict[tuple, Path] = {}

    def make(variant_id: str, dtype: str = "bf16") -> Path:
        if (variant_id, dtype) not in cache:
            repo = registry.by_id(variant_id)["repo"].split("/")[-1]
            cache[(variant_id, dtype)] = sparse.write_pipeline_folder(sparse_root / "pipelines" / dtype / repo, variant_id, dtype)
        return cache[(variant_id, dtype)]

    return make
