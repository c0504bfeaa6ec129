"""The security policy: part of the pack's settings, strict by default.

Defaults: safetensors only; a pickle-based file loads only when its sha256 is allowlisted (and then
only through `torch.load(weights_only=True)`); no remote or custom code. The pack never downloads
anything: models and code come from local folders only.
"""
from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TrustedFolder(BaseModel):
    """Custom code in a local folder, trusted only while its code files keep these sha256 hashes."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    code_sha256: dict[str, str] = Field(description="relative file path -> sha256 of its bytes")
    note: str = ""

    @field_validator("code_sha256")
    @classmethod
    def _hashes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if not _SHA256.match(v.lower())]
        if bad:
            raise ValueError(f"not sha256 hex digests: {', '.join(bad)}")
        return {k: v.lower() for k, v in value.items()}


class SecurityPolicy(BaseModel):
    """What may be loaded. Every field defaults to the strict choice; trust is data the user adds."""

    model_config = ConfigDict(extra="forbid")

    allowed_pickle_sha256: list[str] = Field(default_factory=list, description="sha256 of pickle files the user allowed")
    trusted_folders: list[TrustedFolder] = Field(default_factory=list)
    untrusted_code: Literal["refuse", "sandbox"] = Field(
        default="refuse", description="'sandbox' runs trusted-but-unreviewed code in a bubblewrap subprocess"
    )
    extra_model_roots: list[str] = Field(default_factory=list, description="folders besides ComfyUI's models/ that may hold models")
    hash_safetensors: bool = Field(
        default=False,
        description="record the sha256 of every safetensors file in the load report (reads each file once more; pickles are always hashed)",
    )
    sandbox_timeout_s: float = Field(default=600.0, gt=0, description="wall-clock limit of one sandboxed run")

    @field_validator("allowed_pickle_sha256")
    @classmethod
    def _sha256_list(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SHA256.match(v.lower())]
        if bad:
            raise ValueError(f"not sha256 hex digests: {', '.join(bad)}")
        return [v.lower() for v in value]

    def allows_pickle(self, sha256: str) -> bool:
        return sha256.lower() in self.allowed_pickle_sha256

    def trusted_folder(self, path: str | os.PathLike[str]) -> TrustedFolder | None:
        """The trust entry for a folder, matched by real path (a link to the folder matches too)."""
        real = os.path.realpath(path)
        return next((t for t in self.trusted_folders if os.path.realpath(t.path) == real), None)
