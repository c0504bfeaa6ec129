"""The diagnosis as a readable HTML page, from the JSON report Wan Diagnose writes (level `full`).

The page shows what the node's level shows (basic, detailed or full) with problems as cards, the
fixes as a numbered list and the figures folded away; the JSON stays downloadable from the page.
Every value is HTML-escaped and the page carries no script, so a report cannot inject anything.
A report file is data someone may have written by hand: every field is read by its JSON type
(a list where a list belongs, objects where objects belong) and anything else is left out.
"""
from __future__ import annotations

import json
from html import escape
from typing import Any

from .report import LEVELS, DiagnosticReport

_COLORS = {"ok": "#34d399", "info": "#60a5fa", "warning": "#fbbf24", "error": "#f87171"}
_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#16181d;color:#e5e7eb}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #333;padding-bottom:4px}
.verdict{display:inline-block;padding:2px 12px;border-radius:12px;color:#111;font-weight:700}
.meta{color:#9ca3af;font-size:13px} .lead{font-size:16px;background:#1f2229;padding:12px 16px;border-radius:8px}
.card{border-left:5px solid;background:#1f2229;border-radius:6px;padding:8px 14px;margin:10px 0}
.card b.code{font-family:monospace} .card .sev{text-transform:uppercase;font-size:12px;font-weight:700}
.card p{margin:4px 0} pre{white-space:pre-wrap;background:#111317;padding:10px;border-radius:6px;font-size:12.5px;overflow:auto}
details{margin:6px 0} summary{cursor:pointer;font-weight:600} a{color:#93c5fd}
table{border-collapse:collapse} td{padding:2px 12px 2px 0;vertical-align:top}
"""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _card(item: dict[str, Any]) -> str:
    severity = str(item.get("severity", "warning"))
    color = _COLORS.get(severity, _COLORS["warning"])
    parts = [f'<div class="card" style="border-color:{color}"><span class="sev" style="color:{color}">{escape(severity)}</span> '
             f'<b class="code">{escape(str(item.get("code", "")))}</b> <span class="meta">({escape(str(item.get("stage", "")))})</span>',
             f'<p>{escape(str(item.get("summary", "")))}</p>']
    if item.get("detail"):
        parts.append(f'<p><b>Found:</b> {escape(str(item["detail"]))}</p>')
    if item.get("fix"):
        parts.append(f'<p><b>How to fix:</b> {escape(str(item["fix"]))}</p>')
    return "".join(parts) + "</div>"


def _json_block(title: str, value: Any) -> str:
    return f"<details><summary>{escape(title)}</summary><pre>{escape(json.dumps(value, indent=2, default=str))}</pre></details>"


def _machine_lines(doc: dict[str, Any]) -> list[str]:
    """The short machine and settings lines of the detailed text report, from the JSON document."""
    system, settings = doc.get("system"), doc.get("settings")
    if isinstance(system, dict) and "lines" in system:  # a detailed-level document keeps only the lines
        lines = _list(system["lines"]) + (_list(settings.get("lines")) if isinstance(settings, dict) else [])
        return [str(line) for line in lines]
    report = DiagnosticReport(stages={}, system=system if isinstance(system, dict) else None,
                              settings=settings if isinstance(settings, dict) else None)
    try:
        return [str(line) for line in report._system_lines() + report._settings_lines()]
    except (KeyError, TypeError, AttributeError, ValueError):  # another version, or another shape: the figures are in `full`
        return []


def render(doc: dict[str, Any], level: str, json_href: str) -> str:
    """The page for one report document at `level`; `json_href` is where its JSON downloads from."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    verdict = str(doc.get("verdict", "warning"))
    problems = _dicts(doc.get("problems"))
    shown = problems if level != "basic" else [p for p in problems if p.get("severity") in ("error", "warning")]
    body = [
        f'<h1>Wan Compat diagnosis <span class="verdict" style="background:{_COLORS.get(verdict, _COLORS["warning"])}">{escape(verdict)}</span></h1>',
        f'<p class="meta">{escape(str(doc.get("created", "")))} · level: {escape(level)} · '
        f'<a href="{escape(json_href)}" download>download the JSON report</a></p>',
        f'<p class="lead">{escape(str(doc.get("basic", "")))}</p>',
    ]
    # Problems are what is wrong or doubtful; information is not counted as one (an ok verdict
    # with one info item reads "Notes (1)", never "Problems (1)").
    wrong = [p for p in shown if p.get("severity") in ("error", "warning")]
    notes = [p for p in shown if p.get("severity") not in ("error", "warning")]
    for title, items in (("Problems", wrong), ("Notes", notes)):
        if items:
            body.append(f"<h2>{title} ({len(items)})</h2>" + "".join(_card(p) for p in items))
    recommendations = _list(doc.get("recommendations"))
    if recommendations and level != "basic":
        body.append("<h2>What to do</h2><ol>" + "".join(f"<li>{escape(str(r))}</li>" for r in recommendations) + "</ol>")
    if level != "basic":
        stages = {name: stage for name, stage in doc["stages"].items() if isinstance(stage, dict)} if isinstance(doc.get("stages"), dict) else {}
        if stages:
            body.append("<h2>Stages</h2>")
            for name, stage in stages.items():
                failed = any(p.get("severity") == "error" for p in _dicts(stage.get("problems")))
                mark = "error" if failed else "ok"
                summary = escape(str(stage.get("summary") or ""))
                body.append(f'<details {"open" if failed else ""}><summary>{escape(name)} '
                            f'<span style="color:{_COLORS[mark]}">[{mark}]</span></summary><pre>{summary}</pre>'
                            + (_json_block("figures", stage["data"]) if level == "full" and "data" in stage else "") + "</details>")
        lines = _machine_lines(doc)
        if lines:
            body.append("<h2>Machine and settings</h2><pre>" + escape("\n".join(lines)) + "</pre>")
    if level == "full":
        for title in ("system", "settings", "performance"):
            if doc.get(title):
                body.append(_json_block(title, doc[title]))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Wan Compat diagnosis: "
            f"{escape(verdict)}</title><style>{_CSS}</style></head><body><main>{''.join(body)}</main></body></html>")
