"""What Wan Optimize says about a trusted custom pipeline, which runs in the sandbox: no plan."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Problem, problem


@dataclass
class SandboxedPlan:
    """What Wan Optimize can say about a trusted custom pipeline: it runs in the sandbox, where its own
    code chooses device, precision and offload; no plan is made or applied (a stage report)."""

    preferences: Any
    problems: list[Problem] = field(default_factory=list)
    stage = "plan_preview"
    preview = "a sandboxed pipeline: no plan"

    def to_dict(self) -> dict[str, Any]:
        prefs = self.preferences.model_dump(mode="json") if hasattr(self.preferences, "model_dump") else self.preferences
        return {"sandboxed": True, "preferences": prefs, "problems": [p.to_dict() for p in self.problems]}

    def summary(self) -> str:
        return "\n".join(p.text() for p in self.problems)


def sandboxed_plan(preferences: Any) -> SandboxedPlan:
    return SandboxedPlan(preferences, [problem(
        "SANDBOX_STAGE_LIMITED", "Wan Optimize cannot plan or apply precision, offload, tiling or chunked decode for a pipeline "
        "that runs in the sandbox; its code chooses them (your preferences are kept on the pipeline, unused)",
        severity="info", stage="Wan Optimize")])
