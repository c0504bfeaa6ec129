"""`WAN_PIPELINE`: what Wan Safe Load hands to the next nodes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..detect.model_info import ModelInfo
from .report import LoadReport


@dataclass
class LoadedPipeline:
    """A loaded pipeline, the detector's verdict on it, and the load report.

    `pipeline` is a diffusers Wan pipeline (or, for trusted custom code, a `SandboxedPipeline`
    whose calls run in the sandbox). `model_info` is the ModelInfo the checks were made against.
    """

    pipeline: Any
    model_info: ModelInfo
    report: LoadReport
    dtype: str = "bf16"
    sandboxed: bool = False

    @property
    def problems(self) -> list[Any]:
        """Every finding: detection's and the loader's (warnings; errors were raised)."""
        seen = {(p.code, p.detail) for p in self.model_info.problems}
        return list(self.model_info.problems) + [p for p in self.report.problems if (p.code, p.detail) not in seen]

    @property
    def pipeline_class(self) -> str | None:
        return self.report.pipeline_class

    @property
    def components(self) -> dict[str, Any]:
        return dict(getattr(self.pipeline, "components", {}) or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline_class": self.pipeline_class,
            "dtype": self.dtype,
            "sandboxed": self.sandboxed,
            "model_info": self.model_info.to_dict(),
            "report": self.report.to_dict(),
        }

    def summary(self) -> str:
        return self.report.text()

    def __repr__(self) -> str:  # ComfyUI shows this in some error messages
        return f"<LoadedPipeline {self.pipeline_class} from {self.report.source.get('model')} ({self.dtype})>"
