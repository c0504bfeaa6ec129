"""What detection found: the report behind `wan-compat inspect --json` and the Detect node.

Plain dataclasses, not pydantic: `wan-compat inspect` must stay within a few milliseconds of a bare
header read, and importing pydantic alone costs more than the whole inspection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Problem

KINDS = ("pipeline", "transformer", "vae", "text_encoder", "clip_vision", "unknown")


@dataclass
class ModelInfo:
    path: str
    format: str  # diffusers | single_file | sharded | pickle | gguf | unknown
    kind: str = "unknown"
    family: str = "unknown"
    version: str | None = None
    task: str | None = None
    size: str | None = None
    moe: bool = False
    boundary_ratio: float | None = None
    pipeline_class: str | None = None
    variant: str | None = None
    candidates: list[str] = field(default_factory=list)
    expert: str | None = None  # high_noise | low_noise, for one Wan 2.2 A14B expert
    naming: str | None = None  # diffusers | original
    key_prefix: str = ""
    dtype: str | None = None
    dtypes: dict[str, int] = field(default_factory=dict)  # friendly dtype -> bytes
    quantization: str | None = None  # fp8_scaled, ...
    params: int | None = None
    size_bytes: int = 0
    files: list[str] = field(default_factory=list)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    vae: dict[str, Any] | None = None
    requirements: dict[str, Any] | None = None
    evidence: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def add(self, item: Problem) -> None:
        if not any(p.code == item.code and p.detail == item.detail for p in self.problems):
            self.problems.append(item)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        out["problems"] = [p.to_dict() for p in self.problems]
        out["ok"] = self.ok
        return out

    def summary(self) -> str:
        """One readable paragraph: what it is, then each problem with its fix."""
        if self.family == "wan":
            bits = [f"Wan {self.version or '(version unknown)'}", (self.task or "").upper(), self.size or ""]
            what = " ".join(b for b in bits if b)
            if self.moe:
                what += " MoE"
            if self.expert:
                what += f" ({self.expert.replace('_', '-')} expert)"
        elif self.family == "unknown":
            what = "an unknown model"
        else:
            what = f"a {self.family} model (not Wan)"
        lines = [f"{self.path}: {what} [{self.kind}, {self.format}" + (f", {self.dtype}" if self.dtype else "") + "]"]
        if self.pipeline_class:
            lines.append(f"pipeline: {self.pipeline_class}")
        if self.vae:
            lines.append("vae: " + ", ".join(f"{k}={v}" for k, v in self.vae.items()))
        lines.extend(f"- {e}" for e in self.evidence)
        lines.extend(p.text() for p in self.problems)
        lines.append("verdict: OK" if self.ok else "verdict: NOT OK (see the errors above)")
        return "\n".join(lines)
