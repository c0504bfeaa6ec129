"""The pack's report page: `GET /wan_compat/report?filename=<report>.json&level=<level>` renders a
report Wan Diagnose wrote to ComfyUI's output folder as a readable page; `&format=json` downloads it.

Only plain report names in the output folder itself are served: any other name, a missing file or
a file that is not a Wan Compat report get the same 404, so a refused path reveals nothing. A report
is read within the JSON limits (size, depth), only from a regular file, and read and rendered off
ComfyUI's event loop.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import comfy_env

ROUTE = "/wan_compat/report"
MAX_REPORT_BYTES = 16 * 1024 * 1024  # a full report is tens of kilobytes
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.json$")
NOT_FOUND = "No Wan Compat report of that name in ComfyUI's output folder. Run Wan Diagnose, then open its report."


def find_report(filename: str, output_dir: Path) -> dict[str, Any] | None:
    """The report document named `filename` directly in `output_dir`, or None (for any refusal)."""
    if not _NAME.match(filename or "") or ".." in filename:
        return None
    folder = output_dir.resolve()
    path = (folder / filename)
    from ..compat.core import safe_json
    from ..compat.core.errors import WanCompatError

    try:
        if path.is_symlink() or path.resolve().parent != folder or not path.is_file():
            return None
        doc = safe_json.load_file(path, max_bytes=MAX_REPORT_BYTES, max_depth=64)
    except (OSError, ValueError, WanCompatError):  # WanCompatError: not a regular file
        return None
    return doc if isinstance(doc, dict) and "report_version" in doc and "verdict" in doc else None


def respond(query: dict[str, str], output_dir: Path) -> tuple[int, str, str, dict[str, str]]:
    """(status, content type, body, extra headers) for one request; no ComfyUI needed, for tests."""
    from ..compat.diagnostics import report_html
    from ..compat.diagnostics.report import LEVELS

    filename = query.get("filename", "")
    doc = find_report(filename, output_dir)
    if doc is None:
        return 404, "text/plain", NOT_FOUND, {}
    if query.get("format") == "json":
        return 200, "application/json", json.dumps(doc, indent=2), {"Content-Disposition": f'attachment; filename="{filename}"'}
    level = query.get("level", "detailed")
    if level not in LEVELS:
        return 400, "text/plain", f"level must be one of {', '.join(LEVELS)}.", {}
    page = report_html.render(doc, level, "?" + urlencode({"filename": filename, "format": "json"}))
    # No script may run in the page: it shows file contents.
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return 200, "text/html", page, headers


def register() -> bool:
    """Add the route to ComfyUI's server (at import time, before ComfyUI adds its /api copies);
    False outside ComfyUI."""
    instance = comfy_env.prompt_server()
    if instance is None:
        return False
    from aiohttp import web

    @instance.routes.get(ROUTE)
    async def report_page(request: Any) -> Any:
        import asyncio

        query = dict(request.rel_url.query)
        status, kind, body, headers = await asyncio.get_running_loop().run_in_executor(None, respond, query, comfy_env.output_directory())
        return web.Response(status=status, text=body, content_type=kind, charset="utf-8", headers=headers)

    return True
