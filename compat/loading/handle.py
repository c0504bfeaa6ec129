"""`WAN_PIPELINE`: what Wan Safe Load hands to the next nodes, and what each stage adds to it.

ComfyUI caches node outputs and hands the same object to every run, so the handle is frozen:
a stage returns a new handle (`dataclasses.replace`) carrying its own result, never changes the
one it got. The modules inside `pipeline` are shared by all those handles (weights are never
copied) and are changed only for the duration of one Wan Sample run (`compat.optimize.runtime`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..detect.model_info import ModelInfo
from .report import LoadReport


class StageResult(Protocol):
    """What a later stage leaves on the handle (Wan VAE Fix's `VaeFixReport` and `DecodeOptions`,
    Wan Optimize's `OptimizationPlan`): described by what the handle uses of it, so this module
    names no later stage and the stages that take and give handles import it without a circle."""

    def to_dict(self) -> dict[str, Any]: ...


class Preferences(Protocol):
    """Wan Optimize's preferences (`settings.store.OptimizationPreferences`, a pydantic model)."""

    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True, eq=False)
class PipelineHandle:
    """A loaded pipeline, the detector's verdict on it, the load report, and later stages' choices.

    `pipeline` is a diffusers Wan pipeline (or, for trusted custom code, a `SandboxedPipeline`
    whose calls run in the sandbox). `model_info` is the ModelInfo the checks were made against.
    `vae_report`/`decode` come from Wan VAE Fix, `preferences` from Wan Optimize; `plan` is a plan
    made for one size, used by Wan Sample only when it runs that size; `loras` come from Wan LoRA
    and change the experts' outputs only during a Wan Sample run (`compat.lora.apply`).
    """

    pipeline: Any
    model_info: ModelInfo
    report: LoadReport
    dtype: str = "bf16"
    sandboxed: bool = False
    vae_report: StageResult | None = None  # compat.vae.fix.VaeFixReport
    decode: StageResult | None = None  # compat.vae.decode.DecodeOptions
    preferences: Preferences | None = None  # compat.settings.store.OptimizationPreferences
    plan: StageResult | None = None  # compat.optimize.manager.OptimizationPlan
    loras: tuple[Any, ...] = ()  # compat.lora.LoraSpec: active only inside a Wan Sample run

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

    def module_state(self) -> dict[str, dict[str, Any]]:
        """Per component: dtypes, devices and hooks now (see `module_state.py`)."""
        from .module_state import pipeline_state

        return {} if self.sandboxed else pipeline_state(self.pipeline)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline_class": self.pipeline_class,
            "dtype": self.dtype,
            "sandboxed": self.sandboxed,
            "model_info": self.model_info.to_dict(),
            "report": self.report.to_dict(),
            "decode": self.decode.to_dict() if self.decode is not None else None,
            "preferences": self.preferences.model_dump(mode="json") if self.preferences is not None else None,
            "loras": [spec.to_dict() for spec in self.loras],
            "modules": self.module_state(),
        }

    def summary(self) -> str:
        return self.report.text()

    def __repr__(self) -> str:  # ComfyUI shows this in some error messages
        return f"<PipelineHandle {self.pipeline_class} from {self.report.source.get('model')} ({self.dtype})>"
