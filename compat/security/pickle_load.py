"""The one way a pickle-based checkpoint is ever loaded.

Order of checks, all on one open file (see `pinned.py`): static scan (its evidence goes into the
load report even when the file is refused), legacy format, sha256 allowlist, torch >= 2.6
(CVE-2025-32434), then `torch.load(weights_only=True, mmap=True)`. There is no fallback: a
file that fails under `weights_only=True` is refused, never retried with `weights_only=False`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ModelFileError, SecurityError
from .pickle_scan import PickleScan, scan_file
from .pinned import PinnedFile
from .policy import SecurityPolicy

MIN_TORCH_FOR_PICKLES = (2, 6)


def torch_can_load_pickles(torch_version: str) -> bool:
    """True for torch >= 2.6; '2.5.1+cu124', '2.6.0a0+git...' and '2.13.0+cpu' are all understood.

    A pre-release of 2.6 (2.6.0a0, 2.6.0rc1) counts as 2.6, the release the fix landed in.
    """
    numbers = re.findall(r"\d+", torch_version.split("+")[0])[:2]
    if len(numbers) < 2:
        return False
    return (int(numbers[0]), int(numbers[1])) >= MIN_TORCH_FOR_PICKLES


def require_torch_for_pickles(torch_version: str) -> None:
    if not torch_can_load_pickles(torch_version):
        raise SecurityError("TORCH_TOO_OLD_FOR_PICKLE", f"installed torch {torch_version}", installed=torch_version)


@dataclass
class PickleLoad:
    """What was decided about one pickle file (the load report's evidence)."""

    path: str
    sha256: str
    size: int
    scan: PickleScan
    allowlisted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "allowlisted": self.allowlisted, "scan": self.scan.to_dict()}


def check_pickle(pinned: PinnedFile, policy: SecurityPolicy) -> PickleLoad:
    """Scan and decide; raises the typed refusal, or returns the evidence of an allowed file."""
    scan = scan_file(pinned.path, pinned.fh)
    evidence = PickleLoad(str(pinned.path), pinned.sha256(), pinned.size, scan, policy.allows_pickle(pinned.sha256()))
    scan.raise_if_unsafe()
    if scan.container == "legacy_torch":
        raise SecurityError("PICKLE_LEGACY_FORMAT", pinned.path.name, path=str(pinned.path))
    if not evidence.allowlisted:
        raise SecurityError(
            "PICKLE_NOT_ALLOWED",
            f"{pinned.path.name} (sha256 {evidence.sha256}); it would import {', '.join(scan.imports()) or 'nothing'}",
            sha256=evidence.sha256,
            path=str(pinned.path),
        )
    return evidence


def load_pickle_state_dict(path: str | Path, policy: SecurityPolicy) -> tuple[dict[str, Any], PickleLoad]:
    """Load an allowlisted, clean pickle checkpoint as a flat state dict of tensors."""
    import torch

    with PinnedFile(path) as pinned:
        evidence = check_pickle(pinned, policy)
        require_torch_for_pickles(torch.__version__)
        try:
            loaded = torch.load(pinned.load_path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # weights_only refused something the scan allowed, or bad bytes
            raise SecurityError("PICKLE_MALFORMED", f"{pinned.path.name}: torch.load(weights_only=True) refused it: {exc}",
                                path=str(pinned.path)) from None
        pinned.verify_unchanged()
    return _state_dict(loaded, Path(path)), evidence


def _state_dict(loaded: Any, path: Path) -> dict[str, Any]:
    """The tensors of a checkpoint; Lightning-style {'state_dict': {...}} wrappers are unwrapped."""
    import torch

    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not loaded:
        raise ModelFileError("NO_WEIGHTS", f"{path.name} holds no state dict", path=str(path))
    bad = [k for k, v in loaded.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelFileError("NO_WEIGHTS", f"{path.name}: entries that are not named tensors, e.g. {bad[0]!r}", path=str(path))
    return dict(loaded)
