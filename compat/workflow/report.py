"""`check_workflow`: a workflow document and the model folders in, `files` + `problems` out.

The one entry point for the CLI (`wan-compat check-workflow`), the server route and the on-prompt
log. Never raises for what a graph contains (that becomes a problem); only a document that is not
a workflow at all raises WORKFLOW_INVALID.
"""
from __future__ import annotations

import time
from typing import Any

from .checks import Checker
from .execution import execute
from .folders import ModelFolders
from .graph import parse
from .picks import collect


def check_workflow(doc: Any, folders: ModelFolders, models: list[Any] | None = None) -> dict[str, Any]:
    """`models`: download links in the `properties.models` format from elsewhere (the UI workflow
    sent beside an API prompt), for files the document itself lists none for."""
    started = time.perf_counter()
    graph = parse(doc)
    run = execute(graph)
    picks = collect(run, folders)
    listed = [m for m in (models or []) if isinstance(m, dict)] + graph.models()
    urls = {m["name"]: m["url"] for m in listed if isinstance(m.get("name"), str) and isinstance(m.get("url"), str)}
    problems = Checker(graph, run, picks, urls).run_all()
    return {
        "format": graph.format,
        "files": [p.to_dict() for p in picks],
        "problems": problems,
        "ok": not any(p["severity"] == "error" for p in problems),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
    }


def summary(result: dict[str, Any]) -> str:
    """Readable text: each file, then each problem with its nodes and fix."""
    lines = []
    for f in result["files"]:
        what = " ".join(str(x) for x in (f.get("family"), f.get("version"), (f.get("task") or "").upper(), f.get("size"), f.get("kind")) if x)
        where = f["path"] or f"MISSING from {f['folder']}"
        lines.append(f"#{f['node_id']} {f['node_type']}.{f['input']}: {f['name']} -> {what or '?'} [{where}]")
    for p in result["problems"]:
        lines.append(f"[{p['severity']}] {p['code']} (node {', '.join(p['node_ids']) or '-'}): {p['summary']}")
        if p.get("detail"):
            lines.append(f"    {p['detail']}")
        lines.append(f"    fix: {p['fix']}")
    lines.append("verdict: OK" if result["ok"] else "verdict: NOT OK (see the errors above)")
    return "\n".join(lines)
