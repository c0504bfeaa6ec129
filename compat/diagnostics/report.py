"""DiagnosticReport: the findings at three levels, as JSON and as text.

- basic: one paragraph that says whether the setup works and exactly what to do next;
- detailed: every problem with its detail and fix, recommendations, each stage's summary, the machine;
- full: everything above plus every stage's figures, the whole system probe and the settings.

All output passes through `redact.Scrubber`: no tokens, home folder shortened to `~`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ..core.errors import Problem
from .redact import Scrubber

Level = Literal["basic", "detailed", "full"]
LEVELS: tuple[Level, ...] = ("basic", "detailed", "full")
REPORT_VERSION = 1
MAX_LISTED = 5
GIB = 1024**3
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class StageEntry:
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Finding:
    stage: str
    problem: Problem

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, **self.problem.to_dict()}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


@dataclass
class DiagnosticReport:
    stages: dict[str, StageEntry]
    system: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # ------------------------------------------------------------------ findings
    @property
    def findings(self) -> list[Finding]:
        """Every problem once (same code and detail counts once), errors first."""
        seen: set[tuple[str, str]] = set()
        out: list[Finding] = []
        for entry in self.stages.values():
            for p in entry.problems:
                if (p.code, p.detail) not in seen:
                    seen.add((p.code, p.detail))
                    out.append(Finding(entry.name, p))
        return sorted(out, key=lambda f: _SEVERITY_ORDER.get(f.problem.severity, 3))

    def _by_severity(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.problem.severity == severity]

    @property
    def verdict(self) -> str:
        if self._by_severity("error"):
            return "error"
        return "warning" if self._by_severity("warning") else "ok"

    @property
    def ok(self) -> bool:
        return self.verdict != "error"

    @property
    def recommendations(self) -> list[str]:
        """The fixes to apply, most important first, each once; then general advice."""
        out: list[str] = []
        for f in self.findings:
            if f.problem.severity in ("error", "warning") and f.problem.fix and f.problem.fix not in out:
                out.append(f.problem.fix)
        if self.verdict == "ok" and not self.stages:
            out.append("Connect the outputs of the Wan stage nodes to Wan Diagnose to check the whole graph.")
        return out

    # ------------------------------------------------------------------ text
    def _what(self) -> str:
        """What was checked, for the first sentence: the model and the device, e.g.
        " (Wan 2.2 TI2V 5B, CPU only, no NVIDIA GPU)"; empty when neither is known."""
        parts = []
        detect = next((e for e in self.stages.values() if e.data.get("family") is not None and "path" in e.data), None)
        if detect is not None:
            d = detect.data
            if d.get("family") == "wan":
                parts.append(" ".join(str(x) for x in ("Wan", d.get("version") or "(version unknown)", (d.get("task") or "").upper(), d.get("size") or "") if x))
            else:
                parts.append(f"a {d.get('family')} model")
        if self.system:
            parts.append(self.system["gpu"]["summary"])
        return f" ({', '.join(parts)})" if parts else ""

    def basic(self) -> str:
        errors, warnings = self._by_severity("error"), self._by_severity("warning")
        what = self._what()
        if errors:
            n = len(errors)
            lead = f"Not working yet{what}: {n} problem{'s' if n > 1 else ''} must be fixed."
            items = [
                f"({i}) {_sentence(f.problem.summary)}" + (f" Found: {_sentence(f.problem.detail)}" if f.problem.detail else "")
                + f" Fix: {_sentence(f.problem.fix)}"
                for i, f in enumerate(errors[:MAX_LISTED], 1)
            ]
            tail = []
            if n > MAX_LISTED:
                tail.append(f"{n - MAX_LISTED} more problem(s) are listed in the detailed report.")
            if warnings:
                tail.append(f"There {'is' if len(warnings) == 1 else 'are'} also {len(warnings)} warning(s) in the detailed report.")
            tail.append("Fix these in this order, then run Wan Diagnose again.")
            return " ".join([lead, *items, *tail])
        lead = f"Your setup works{what}."
        if warnings:
            first = warnings[0].problem
            more = f" ({len(warnings) - 1} more warning(s) in the detailed report)" if len(warnings) > 1 else ""
            return f"{lead} Worth fixing{more}: {_sentence(first.summary)} {_sentence(first.fix)}"
        return f"{lead} Nothing needs fixing." + (f" Next: {self.recommendations[0]}" if self.recommendations else "")

    def _system_lines(self) -> list[str]:
        s = self.system
        if not s:
            return []
        pk = s["packages"]
        os_ = s["os"]
        mem = s.get("memory", {})
        lines = [
            f"OS: {os_['system']} {os_['release']} ({os_['machine']}), Python {os_['python']}",
            "packages: " + ", ".join(f"{k} {v or 'missing'}" for k, v in pk.items() if k in ("comfyui-wan-compat", "torch", "diffusers", "transformers")),
            f"GPU: {s['gpu']['summary']}" + (f" [NVML: {s['gpu']['nvml']['reason']}]" if s["gpu"]["nvml"].get("reason") else ""),
        ]
        if "available_bytes" in mem:
            lines.append(f"RAM: {mem['available_bytes'] / GIB:.1f} GiB free of {mem['total_bytes'] / GIB:.1f} GiB")
        ff = s.get("ffmpeg")
        if ff:
            if ff["found"]:
                from ...encoders.ffmpeg_probe import RANKED_ENCODERS

                have = [e for e in RANKED_ENCODERS if e in ff["video_encoders"]]
                lines.append(f"ffmpeg: {ff['version']} ({ff['source']}: {ff['path']}); encoders: {', '.join(have) or 'none of the usual'}")
            else:
                lines.append(f"ffmpeg: not found ({ff['error']})")
        return lines

    def _settings_lines(self) -> list[str]:
        st = self.settings
        if not st:
            return []
        if not st["ok"]:
            return [f"settings: {st['path']} cannot be used (see problems); defaults apply"]
        v = st["values"]
        line = f"settings: {st['path']}" + ("" if st["exists"] else " (not created yet: defaults)")
        if st.get("migrated_from"):
            line += f", migrated from version {st['migrated_from']}"
        if st.get("overrides"):
            line += ", overridden by " + ", ".join(sorted(st["overrides"].values()))
        opt, enc = v["optimization"], v["encoder"]
        return [line, "  optimization: " + ", ".join(f"{k}={opt[k]}" for k in opt),
                "  encoder: " + ", ".join(f"{k}={enc[k]}" for k in enc)]

    def _performance_lines(self) -> list[str]:
        perf = self.performance
        if not perf:
            return []
        if "error" in perf:
            return [f"performance history: unreadable ({perf['error']})"]
        lines = [f"performance history: {len(perf['runs'])} recent run(s)" + (f" of {perf['model']}" if perf.get("model") else "")]
        for r in perf["runs"][:5]:
            peak = f", peak {r['peak_memory_bytes'] / GIB:.2f} GiB" if r.get("peak_memory_bytes") else ""
            lines.append(f"  #{r['id']} {r['model']} {r['width']}x{r['height']}x{r['frames']}, {r['steps']} steps on {r['device']}: "
                         f"{r['seconds_per_step']:.3g} s/step{peak}")
        for g in perf["regressions"]:
            lines.append(f"  regression: run #{g['run_id']} {g['ratio']}x the median ({g['median_seconds_per_step']:.3g} s/step)")
        return lines

    def _detailed_lines(self) -> list[str]:
        lines = [f"Wan Compat diagnosis: {self.verdict.upper()} "
                 f"({len(self._by_severity('error'))} error(s), {len(self._by_severity('warning'))} warning(s))", "", self.basic(), ""]
        if self.findings:
            lines.append("Problems:")
            for f in self.findings:
                lines.append(f"[{f.problem.severity}] {f.problem.code} ({f.stage}): {f.problem.summary}")
                if f.problem.detail:
                    lines.append(f"    found: {f.problem.detail}")
                if f.problem.fix:
                    lines.append(f"    fix: {f.problem.fix}")
            lines.append("")
        if self.recommendations:
            lines.append("Recommendations:")
            lines += [f"{i}. {r}" for i, r in enumerate(self.recommendations, 1)]
            lines.append("")
        if self.stages:
            lines.append("Stages:")
            for entry in self.stages.values():
                status = "error" if any(p.severity == "error" for p in entry.problems) else "ok"
                lines.append(f"- {entry.name} [{status}]")
                if entry.summary:
                    lines += [f"    {line}" for line in entry.summary.splitlines()]
            lines.append("")
        for block in (self._system_lines(), self._settings_lines(), self._performance_lines()):
            if block:
                lines += block + [""]
        return lines

    def text(self, level: Level = "basic") -> str:
        _check_level(level)
        scrub = Scrubber()
        if level == "basic":
            return scrub.text(self.basic())
        lines = self._detailed_lines()
        if level == "full":
            lines.append("Stage figures:")
            for entry in self.stages.values():
                lines.append(f"- {entry.name}:")
                lines += ["    " + line for line in json.dumps(scrub(entry.data), indent=2, default=str).splitlines()]
            for title, block in (("System", self.system), ("Settings", self.settings), ("Performance", self.performance)):
                if block:
                    lines.append(f"{title}:")
                    lines += ["    " + line for line in json.dumps(scrub(block), indent=2, default=str).splitlines()]
        return scrub.text("\n".join(lines).rstrip() + "\n")

    # ------------------------------------------------------------------ JSON
    def to_dict(self, level: Level = "full") -> dict[str, Any]:
        _check_level(level)
        doc: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "created": self.created,
            "level": level,
            "verdict": self.verdict,
            "ok": self.ok,
            "basic": self.basic(),
            "problems": [f.to_dict() for f in self.findings],
            "recommendations": self.recommendations,
        }
        if level != "basic":
            doc["stages"] = {
                name: {"summary": e.summary, "problems": [p.to_dict() for p in e.problems],
                       **({"data": e.data} if level == "full" else {})}
                for name, e in self.stages.items()
            }
            doc["system"] = self.system if level == "full" else {"lines": self._system_lines()}
            doc["settings"] = self.settings if level == "full" else {"lines": self._settings_lines()}
            doc["performance"] = self.performance
        return Scrubber()(doc)

    def to_json(self, level: Level = "full") -> str:
        return json.dumps(self.to_dict(level), indent=2, default=str)


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
