"""DiagnosticCollector: gathers every stage's report, the errors, the machine, the settings and the
performance history into one DiagnosticReport.

    collector = DiagnosticCollector()
    collector.add(model_info)                    # any StageReport (see protocol.py)
    collector.add(load_report, stage="load")
    collector.add(stats, stage="sample")         # adds the plan the run applied as the `plan` stage
    collector.add_error(exc, stage="sample")     # WanCompatError or a raw exception (translated)
    collector.add_settings(user_dir=...)         # effective settings, or the settings error
    collector.add_performance(history, model="wan2.1-t2v-1.3b")
    collector.add_system()                       # OS, versions, GPU, RAM, ffmpeg + doctor's findings
    report = collector.build()
    report.text("basic"); report.to_dict("full")
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Problem, SettingsError, WanCompatError
from .protocol import StageReport
from .report import DiagnosticReport, StageEntry
from ..core.translate import translate_or_wrap


def _stage_name(report: Any) -> str:
    name = getattr(report, "stage", None)
    if isinstance(name, str) and name:
        return name
    if type(report).__name__ == "ModelInfo":
        return "detect"
    words = re.sub(r"(?<!^)(?=[A-Z])", "_", type(report).__name__).lower()
    return words.removesuffix("_report") or "stage"


@dataclass
class DiagnosticCollector:
    stages: dict[str, StageEntry] = field(default_factory=dict)
    system: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    _added: dict[int, Any] = field(default_factory=dict, repr=False)  # reports already shown (a plan is shown once)

    def _entry(self, stage: str) -> StageEntry:
        name, n = stage, 2
        while name in self.stages:
            name, n = f"{stage}_{n}", n + 1
        entry = StageEntry(name)
        self.stages[name] = entry
        return entry

    def add(self, report: StageReport | BaseException, stage: str | None = None) -> None:
        """Add a stage report (anything with `problems` and `to_dict()`) or an error."""
        if isinstance(report, BaseException):
            self.add_error(report, stage=stage)
            return
        if not isinstance(report, StageReport):
            raise TypeError(f"{type(report).__name__} is not a stage report: it needs `problems` and `to_dict()`")
        declared = getattr(report, "stage", None)
        # A report may declare a narrower stage than the input it came through (a preview plan via `plan`).
        narrower = isinstance(declared, str) and bool(stage) and declared.startswith(f"{stage}_")
        entry = self._entry(declared if narrower else stage or _stage_name(report))
        entry.data = report.to_dict()
        summary = getattr(report, "summary", None)
        entry.summary = summary() if callable(summary) else (summary if isinstance(summary, str) else None)
        entry.problems = list(report.problems)
        self._added[id(report)] = report  # kept, so the id stays this report's
        plan = getattr(report, "plan", None)  # the plan a run applied (sample stats), or a pipeline's plan
        if plan is not None and id(plan) not in self._added and isinstance(plan, StageReport):
            self.add(plan, stage="plan")

    def add_data(self, stage: str, data: dict[str, Any], summary: str | None = None) -> None:
        """A stage that hands plain data instead of a report object (shown, but has no typed problems)."""
        entry = self._entry(stage)
        entry.data, entry.summary = dict(data), summary

    def add_error(self, exc: BaseException, stage: str | None = None) -> WanCompatError:
        """Record an error; raw exceptions are translated into catalogue errors first."""
        error = translate_or_wrap(exc, stage=stage)
        entry = self._entry(stage or "errors")
        entry.data = {"error": type(error).__name__, "code": error.code, "detail": error.detail}
        cause = error.__cause__
        if cause is not None and cause is not error:
            entry.data["raw"] = f"{type(cause).__name__}: {cause}"[:2000]
        entry.problems = [error.problem]
        return error

    def add_problem(self, item: Problem, stage: str = "checks") -> None:
        entry = self.stages.get(stage) or self._entry(stage)
        entry.problems.append(item)

    def add_settings(self, *, user_dir: str | None = None, directory: str | None = None) -> None:
        """The effective settings (with where they came from), or the error that stops reading them."""
        from ..settings.store import SettingsStore

        store = SettingsStore(directory, user_dir=user_dir)
        try:
            loaded = store.load()
        except SettingsError as err:
            self.settings = {"path": str(store.path), "ok": False}
            self.add_problem(err.problem, stage="settings")
            return
        self.settings = {
            "path": str(loaded.path), "ok": True, "exists": loaded.exists, "migrated_from": loaded.migrated_from,
            "overrides": loaded.overrides, "digest": loaded.settings.digest(),
            "values": loaded.settings.model_dump(mode="json"),
        }

    def add_performance(self, history: Any, *, model: str | None = None, threshold: float = 0.25,
                        min_runs: int = 3, last: int = 10) -> None:
        """Recent runs (of `model`, if given) and the regressions among them."""
        try:
            runs = history.runs(model=model, limit=last)
            regressions = list(history.regressions(model=model, threshold=threshold, min_runs=min_runs, last=last))
        except WanCompatError as err:
            self.performance = {"path": str(history.path), "error": err.code}
            self.add_problem(err.problem, stage="performance")
            return
        self.performance = {
            "path": str(history.path), "model": model,
            "runs": [r.to_dict() for r in runs],
            "regressions": [r.to_dict() for r in regressions],
        }
        for regression in regressions:
            self.add_problem(regression.to_problem(), stage="performance")

    def add_system(self, info: dict[str, Any] | None = None, *, checks: bool = True) -> None:
        """Machine facts; with `checks`, doctor's findings (missing packages, ffmpeg, encoders, GPU,
        memory) become problems of the `system` stage."""
        from . import doctor
        from . import machine

        self.system = info if info is not None else machine.collect()
        if checks:
            for check in doctor.run_checks(self.system, settings=False):
                if check.problem is not None:
                    self.add_problem(check.problem, stage="system")

    def _work_does_not_fit(self) -> bool:
        """A plan in the report that does not fit the machine's memory (PLAN_EXCEEDS_MEMORY or `fits` false)."""
        return any(entry.data.get("fits") is False or any(p.code == "PLAN_EXCEEDS_MEMORY" for p in entry.problems)
                   for entry in self.stages.values())

    def build(self) -> DiagnosticReport:
        # CPU-only is information (NO_GPU is `info` in the catalogue) unless the requested work would not fit.
        if self._work_does_not_fit():
            for entry in self.stages.values():
                for item in entry.problems:
                    if item.code == "NO_GPU":
                        item.severity = "warning"
        return DiagnosticReport(stages=dict(self.stages), system=self.system, settings=self.settings, performance=self.performance)
