"""What detection found: the report behind `wan-compat inspect --json` and the Detect node.

A plain class, not pydantic or a dataclass: `wan-compat inspect` must stay close to a bare header
read, and importing pydantic (or building dataclasses) costs more than the inspection itself.
"""
from __future__ import annotations

from ..core.errors import Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("pipeline", "transformer", "vae", "text_encoder", "clip_vision", "unknown")


class ModelInfo:
    """The verdict on one path. Every field is JSON-able; `to_dict()` is the CLI's --json output."""

    def __init__(self, path: str, format: str) -> None:  # noqa: A002 - the JSON field is called format
        self.path = path
        self.format = format  # diffusers | single_file | sharded | pickle | gguf | unknown
        self.kind = "unknown"
        self.family = "unknown"
        self.version: str | None = None
        self.task: str | None = None
        self.size: str | None = None
        self.moe = False
        self.boundary_ratio: float | None = None
        self.pipeline_class: str | None = None
        self.variant: str | None = None
        self.candidates: list[str] = []
        self.expert: str | None = None  # high_noise | low_noise, for one Wan 2.2 A14B expert
        self.naming: str | None = None  # diffusers | original | hf | open_clip
        self.key_prefix = ""
        self.dtype: str | None = None
        self.dtypes: dict[str, int] = {}  # friendly dtype -> bytes
        self.quantization: str | None = None  # fp8, fp8_scaled
        self.params: int | None = None
        self.size_bytes = 0
        self.files: list[str] = []
        self.components: dict[str, dict[str, Any]] = {}
        self.vae: dict[str, Any] | None = None
        self.requirements: dict[str, Any] | None = None
        # What the settings forced (`advanced.pipeline_overrides`, overrides.py): by, pipeline_class, variant.
        self.forced: dict[str, Any] | None = None
        self.evidence: list[str] = []
        self.problems: list[Problem] = []
        # A folder's findings by the part they concern ([code, detail] pairs): a part replaced at load settles them.
        self.part_problems: dict[str, list[list[str]]] = {}
        self.elapsed_ms = 0.0
        # The files the verdict was made from (see fingerprint.py); None: unknown, never re-used.
        self.fingerprint: list[list[Any]] | None = None
        # The verdict on the model alone, when this one adds checks of other parts (check_parts).
        self._model_only: ModelInfo | None = None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def add(self, item: Problem) -> None:
        if not any(p.code == item.code and p.detail == item.detail for p in self.problems):
            self.problems.append(item)

    def model_only(self) -> ModelInfo:
        """The verdict on the model path alone, without the parts a compatibility check added."""
        return self._model_only or self

    def copy(self) -> ModelInfo:
        """An independent copy (the problems themselves are immutable and shared)."""
        import copy

        new = ModelInfo.__new__(ModelInfo)
        new.__dict__.update(copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in ("problems", "_model_only")}))
        new.problems = list(self.problems)
        new._model_only = self._model_only
        return new

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "problems" and not k.startswith("_")}
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
