"""One error hierarchy for the whole pack.

Every error and every reported problem has a stable code. Its one-line summary, its cause and its
fix live in the catalogue (`compat/data/errors/*.json`, one file per stage), so the messages a node
raises, the CLI prints and the docs page lists are the same text. Call sites add only the detail:
what was found against what was expected.
"""
from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the `wan-compat inspect` path
    from typing import Any, Literal

    Severity = Literal["error", "warning", "info"]

_CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "data" / "errors"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """All catalogue entries by code, merged from every stage file."""
    entries: dict[str, dict[str, str]] = {}
    for path in sorted(_CATALOGUE_DIR.glob("*.json")):
        for code, entry in json.loads(path.read_text(encoding="utf-8")).items():
            if code in entries:
                raise RuntimeError(f"error code {code} is defined twice (second time in {path.name})")
            entries[code] = {"stage": path.stem, **entry}
    return entries


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, context: dict[str, Any]) -> str:
    """Format `{name}` placeholders from context; unknown ones stay as written."""
    if "{" not in template:
        return template
    return string.Formatter().vformat(template, (), _KeepMissing(context))


def _entry(code: str) -> dict[str, str]:
    entry = catalogue().get(code)
    if entry is None:
        raise KeyError(f"unknown error code {code!r}: add it to compat/data/errors/")
    return entry


class Problem:
    """A finding to report (not necessarily raised): the JSON `problems` entries."""

    __slots__ = ("code", "severity", "summary", "fix", "detail", "context")

    def __init__(self, code: str, severity: Severity, summary: str, fix: str, detail: str = "",
                 context: dict[str, Any] | None = None) -> None:
        self.code, self.severity, self.summary, self.fix, self.detail = code, severity, summary, fix, detail
        self.context = context or {}

    def __repr__(self) -> str:
        return f"Problem({self.code!r}, {self.severity!r}, detail={self.detail!r})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "summary": self.summary,
            "fix": self.fix,
        }
        if self.detail:
            out["detail"] = self.detail
        return out

    def text(self) -> str:
        line = f"[{self.severity}] {self.code}: {self.summary}"
        if self.detail:
            line += f"\n    {self.detail}"
        if self.fix:
            line += f"\n    fix: {self.fix}"
        return line


def problem(code: str, detail: str = "", *, severity: Severity | None = None, **context: Any) -> Problem:
    """Build a Problem from the catalogue; `context` fills placeholders in summary and fix."""
    entry = _entry(code)
    return Problem(
        code=code,
        severity=severity or entry.get("severity", "error"),  # type: ignore[arg-type]
        summary=_fill(entry["summary"], context),
        fix=_fill(entry["fix"], context),
        detail=detail,
        context=context,
    )


class WanCompatError(Exception):
    """Base of every error the pack raises on purpose. `str(err)` is summary, detail and fix."""

    def __init__(self, code: str, detail: str = "", **context: Any) -> None:
        self.problem = problem(code, detail, severity="error", **context)
        super().__init__(self.message())

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def summary(self) -> str:
        return self.problem.summary

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def fix(self) -> str:
        return self.problem.fix

    def message(self) -> str:
        text = f"[{self.code}] {self.summary}"
        if self.detail:
            text += f": {self.detail}"
        if self.fix:
            text += f"\nHow to fix: {self.fix}"
        return text


class UsageError(WanCompatError):
    """The request itself is wrong (a bad argument, a path that does not exist)."""


class ModelFileError(WanCompatError):
    """A model file or folder is malformed, truncated or not what its name says."""


class CompatibilityError(WanCompatError):
    """Parts that do not fit together (wrong VAE, wrong text encoder, missing CLIP vision...)."""


class SecurityError(WanCompatError):
    """Refused for safety: pickles, remote code, paths outside the allowed roots."""


class LoadError(WanCompatError):
    """Loading produced (or would produce) missing, mismatched or uninitialised weights."""


class ResourceError(WanCompatError):
    """Not enough memory, no suitable device, or an unsupported precision."""


class SampleError(WanCompatError):
    """Sampling inputs are invalid or the run produced unusable values."""


class FrameError(WanCompatError):
    """Frames cannot be turned into a valid IMAGE batch."""


class EncodeError(WanCompatError):
    """Writing the video failed; a fallback may have been written instead."""


class SettingsError(WanCompatError):
    """The settings file or an override is invalid."""
