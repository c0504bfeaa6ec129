"""The pack's server side of the queue check (ComfyUI adapter: the only module here that touches
ComfyUI's `server` and `folder_paths`).

- `POST /wan_compat/check_workflow` with `{"workflow": <UI graph>}` or `{"prompt": <API graph>}`:
  the web extension asks before it queues; the answer is `check_workflow`'s files and problems.
- `POST /wan_compat/explain_error` with a native node's raw error (and the graph): the catalogue's
  cause and fix, plus the graph's own findings, so the fix names the actual files;
- an on-prompt handler: a prompt POSTed straight to `/prompt` (a script) is checked once ComfyUI has
  queued it, and the verdict goes to the server log. The handler returns at once, does no CPU work
  on the event loop (it only gives the prompt an id so it can be found in the queue), and never
  blocks or fails queueing; a prompt ComfyUI rejects is never checked.

Nothing CPU-bound runs in ComfyUI's process: the routes read the raw body (at most MAX_BODY bytes,
chunked or not) and hand it to the check pool (`compat/workflow/check_pool.py`), whose separate
process parses and checks it, one request at a time, at most one waiting per client, within a time
budget, cached by content. The routes take only `Content-Type: application/json` and, when the
browser sends an Origin, only the page's own origin (for any host name; ComfyUI's own middleware
checks this only for loopback hosts). Names are looked up only in ComfyUI's own model folders
(`folder_paths`, extra_model_paths.yaml included); a path sent by a client is never opened.
Registering imports neither torch nor the checker.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from . import comfy_env

ROUTE = "/wan_compat/check_workflow"
EXPLAIN_ROUTE = "/wan_compat/explain_error"
# ComfyUI folder keys the checker may resolve names in (its own names for them).
FOLDER_KEYS = ("diffusion_models", "unet", "text_encoders", "clip", "vae", "clip_vision", "loras", "checkpoints", "diffusers")
MAX_BODY = 16 * 1024 * 1024
PROMPT_STRING_MAX = 4096  # longer widget strings are not model names: left out of what the check reads
log = logging.getLogger("wan_compat.workflow_check")
_pool_lock = threading.Lock()
_pool: Any = None


def pool() -> Any:
    """The one check pool of this process (its worker process starts on the first request)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from ..compat.workflow.check_pool import CheckPool

            _pool = CheckPool()
        return _pool


def folder_spec() -> dict[str, list[str]]:
    """ComfyUI's model folders by key (every folder ComfyUI itself would search); cheap lookups only."""
    import folder_paths  # ComfyUI's module

    spec: dict[str, list[str]] = {}
    for key in FOLDER_KEYS:
        try:
            spec[key] = [str(p) for p in folder_paths.get_folder_paths(key)]
        except Exception:  # a key this ComfyUI does not know
            continue
    return spec


def refused(request_headers: Any, content_type: str) -> tuple[int, str] | None:
    """(HTTP status, reason) for a request the routes do not take, or None. Only JSON (a browser
    cannot send it cross-site without asking first), and an Origin must be the page's own host
    (or the one ComfyUI was told to allow with --enable-cors-header)."""
    if content_type != "application/json":
        return 415, f"the body must be application/json, not {content_type[:60] or 'unnamed'}"
    origin = request_headers.get("Origin")
    if origin is None:
        return None  # not a browser (a script on this machine or the network, as for ComfyUI's own routes)
    allowed = comfy_env.cors_origin()
    if allowed and (allowed == "*" or origin == allowed):
        return None
    host = (request_headers.get("Host") or "").lower()
    parsed = urlsplit(origin.lower())
    if not host or parsed.netloc != host and not (parsed.port is None and parsed.hostname == urlsplit("//" + host).hostname):
        return 403, f"the request comes from another site ({origin[:100]}) than this server ({host[:100] or 'no Host header'})"
    return None


def log_verdict(result: dict[str, Any], where: str) -> None:
    problems = [p for p in result.get("problems", []) if p["severity"] in ("error", "warning")]
    checked = len(result.get("files", []))
    if not problems:
        if checked:
            log.info("[wan_compat] %s: the workflow's files fit (%d checked)", where, checked)
        else:
            log.info("[wan_compat] %s: no model file to check (no loader the check knows picks one)", where)
        return
    for p in problems:
        log.warning("[wan_compat] %s: %s %s (node %s): %s. Fix: %s", where, p["severity"].upper(), p["code"],
                    ", ".join(p["node_ids"]) or "-", p["summary"], p["fix"])


def _workflow_models(json_data: Any, scalar: Any) -> list[dict[str, Any]]:
    """The download links a queued prompt's UI workflow lists (`properties.models`, what the
    frontend sends as extra_data.extra_pnginfo.workflow), so the log names the workflow's own link.
    Read in the pool's thread; at most MAX_ITEMS nodes and 64 entries each are looked at."""
    from itertools import islice

    from ..compat.workflow.graph import MAX_ITEMS

    extra = json_data.get("extra_data") if isinstance(json_data, dict) else None
    pnginfo = extra.get("extra_pnginfo") if isinstance(extra, dict) else None
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    if not isinstance(workflow, dict):
        return []
    lists = [workflow.get("models")]
    nodes = workflow.get("nodes")
    for node in islice(nodes if isinstance(nodes, list) else (), MAX_ITEMS):
        props = node.get("properties") if isinstance(node, dict) else None
        lists.append(props.get("models") if isinstance(props, dict) else None)
    return [{k: v for k, v in m.items() if k in ("name", "url", "directory") and scalar(v)}
            for models in lists if isinstance(models, list) for m in models[:64] if isinstance(m, dict)]


def on_prompt(json_data: Any) -> Any:
    """ComfyUI's on-prompt hook: give the prompt an id (ComfyUI uses a given one), hand the check to
    the pool, gated on ComfyUI queueing that id, and return the body unchanged otherwise. Only
    dictionary lookups run here, on the event loop; the prompt is read in the pool's thread and
    checked in its process, and only if ComfyUI accepted it."""
    try:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict):
            folders = folder_spec()
            if "prompt_id" not in json_data:
                json_data["prompt_id"] = str(uuid.uuid4())
            prompt_id = str(json_data["prompt_id"])
            client = "prompt:" + str(json_data.get("client_id"))[:64]
            future = pool().submit(client, "check", lambda: _prompt_bytes(prompt, json_data), folders, gate=lambda: comfy_env.prompt_queued(prompt_id))
            future.add_done_callback(_log_answer)
    except Exception:  # never break queueing
        log.debug("wan_compat: on-prompt check not started", exc_info=True)
    return json_data


def _prompt_bytes(prompt: dict[str, Any], json_data: Any = None) -> bytes:
    """What the check reads of an API prompt (class types, links, short scalar inputs, model
    entries) and the download links of the UI workflow sent beside it, as JSON: big values
    (images, long texts, nested data) are left out, and nodes past the check's budget are not
    looked at (the check refuses the prompt as too large)."""
    import json
    from itertools import islice

    from ..compat.workflow.graph import MAX_ITEMS

    def scalar(value: Any) -> bool:
        return value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= PROMPT_STRING_MAX)

    out: dict[str, Any] = {}
    for node_id, raw in islice(prompt.items(), MAX_ITEMS + 1):
        if not isinstance(raw, dict):
            out[str(node_id)[:PROMPT_STRING_MAX]] = None
            continue
        inputs = raw.get("inputs")
        kept = {}
        for name, value in (inputs.items() if isinstance(inputs, dict) else ()):
            if scalar(value) or (isinstance(value, list) and len(value) == 2 and all(scalar(v) for v in value)):
                kept[name] = value
        node: dict[str, Any] = {"class_type": raw.get("class_type") if scalar(raw.get("class_type")) else None, "inputs": kept}
        meta = raw.get("_meta")
        models = meta.get("models") if isinstance(meta, dict) else None
        if isinstance(models, list):
            node["_meta"] = {"models": [{k: v for k, v in m.items() if k in ("name", "url", "directory") and scalar(v)}
                                        for m in models[:64] if isinstance(m, dict)]}
        out[str(node_id)[:PROMPT_STRING_MAX]] = node
    return json.dumps({"prompt": out, "models": _workflow_models(json_data, scalar)}).encode()


def _log_answer(future: Any) -> None:
    """The verdict in the server log (run in the pool's thread, off the event loop)."""
    import json

    try:
        raw = future.result()
    except Exception:  # cancelled
        return
    if raw is None:
        log.debug("wan_compat: the prompt was not queued by ComfyUI: not checked")
        return
    try:
        log_verdict(json.loads(raw), "queued prompt")
    except Exception:
        log.warning("[wan_compat] the workflow check failed; the prompt was queued unchecked", exc_info=True)


async def _read_body(request: Any, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, at most `limit` bytes whatever Content-Length says (a chunked body has none);
    None when it is longer. Reading is I/O: no parsing happens here."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _json_post(instance: Any, route: str, op: str) -> None:
    """A POST route whose bounded raw body goes to the check pool; the event loop only waits."""
    from aiohttp import web

    @instance.routes.post(route)
    async def _handle(request: web.Request) -> web.Response:
        import asyncio

        from ..compat.workflow.check_service import refusal

        problem = refused(request.headers, request.content_type)
        if problem is None:
            raw = await _read_body(request)
            if raw is None:
                problem = (413, f"the body is over {MAX_BODY // (1024 * 1024)} MB")
        if problem is not None:
            status, reason = problem
            return web.json_response(refusal("REQUEST_REFUSED", reason, reason=reason, limit="16 MB"), status=status)
        future = pool().submit("route:" + str(request.remote), op, raw, folder_spec())
        answer = await asyncio.wrap_future(future)  # the worker's JSON, sent as it is
        return web.Response(body=answer, content_type="application/json")


def guarded_post(instance: Any, route: str, handler: Any, max_body: int = 4 * 1024 * 1024) -> None:
    """A POST route with the same refusals as the check routes (JSON only, same origin, bounded
    body) whose light `handler(body) -> dict` runs in the executor: the body is parsed there within
    the JSON limits, never on the event loop. For routes that only look things up and enqueue."""
    from aiohttp import web

    @instance.routes.post(route)
    async def _handle(request: web.Request) -> web.Response:
        import asyncio

        from ..compat.workflow.check_service import refusal

        problem = refused(request.headers, request.content_type)
        if problem is None:
            raw = await _read_body(request, max_body)
            if raw is None:
                problem = (413, f"the body is over {max_body // (1024 * 1024)} MB")
        if problem is not None:
            status, reason = problem
            return web.json_response(refusal("REQUEST_REFUSED", reason, reason=reason, limit=f"{max_body // (1024 * 1024)} MB"), status=status)
        answer = await asyncio.get_running_loop().run_in_executor(None, _answer, handler, raw)
        return web.Response(body=answer, content_type="application/json")


def _answer(handler: Any, raw: bytes) -> bytes:
    import json

    from ..compat.core.safe_json import JsonLimitError, loads

    try:
        body = loads(raw, what="the request body")
    except JsonLimitError as exc:
        return json.dumps({"error": str(exc)[:300]}).encode()
    return json.dumps(handler(body)).encode()


def register() -> bool:
    """Add the routes and the on-prompt handler to ComfyUI's running server (once); False outside ComfyUI."""
    def add(instance: Any) -> None:
        _json_post(instance, ROUTE, "check")
        _json_post(instance, EXPLAIN_ROUTE, "explain")
        instance.add_on_prompt_handler(on_prompt)

    return comfy_env.add_to_server("check routes", add)
