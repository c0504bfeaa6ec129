"""Diagnostics: one report of every stage's findings, the machine, settings and performance.

Public API (import from here):
- `DiagnosticCollector` (collector.py): `add(stage_report, stage=None)`, `add_error(exc, stage=None)`,
  `add_problem`, `add_settings`, `add_performance`, `add_system`, `build() -> DiagnosticReport`.
- `StageReport` (protocol.py): what a stage report must provide (`problems`, `to_dict()`).
- `DiagnosticReport` (report.py): `text(level)`, `to_dict(level)`, `to_json(level)`, `verdict`.

Importing this package is cheap: no torch, diffusers or pydantic.
"""
from __future__ import annotations

from .collector import DiagnosticCollector
from .protocol import StageReport
from .report import LEVELS, DiagnosticReport

__all__ = ["DiagnosticCollector", "DiagnosticReport", "LEVELS", "StageReport"]
