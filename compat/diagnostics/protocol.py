"""What a stage hands to the DiagnosticCollector.

A stage report is any object with

- `problems`: a list of `compat.errors.Problem` (empty when all went well), and
- `to_dict()`: its figures as JSON-able data (the full report shows them as they are).

Optional, used when present:

- `stage`: a short stage name (`"load"`, `"plan"`, `"sample"`, `"encode"`...); otherwise the
  collector is told the name, or derives it from the class name;
- `summary()`: readable text for the detailed report (the first line also appears in listings).

`ModelInfo` from detection already fits. Errors fit too: pass a `WanCompatError` (or any exception,
which is translated into one) to `DiagnosticCollector.add_error`.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..core.errors import Problem


@runtime_checkable
class StageReport(Protocol):
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]: ...
