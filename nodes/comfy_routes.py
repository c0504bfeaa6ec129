"""The pack's server side of the queue check (ComfyUI adapter: the only module here that touches
ComfyUI's `server` and `folder_paths`).

- `POST /wan_compat/check_workflow` with `{"workflow": <UI graph>}` or `{"prompt": <API graph>}`:
  the web extension asks before it queues; the answer is `check_workflow`'s files and problems.
- `POST /wan_compat/explain_error` with a native node's raw error (and the graph): the catalogue's
  cause and fix, plus the graph's own findings, so the fix names the actual files;
- an on-prompt handler: a prompt POSTed straight to `/prompt` (a script) is checked in a thread and
  the verdict goes to the server log. The handler returns the prompt untouched at once; it never
  blocks queueing and never fails it.

Names are looked up only in ComfyUI's own model folders (`folder_paths`, extra_model_paths.yaml
included); a path sent by a client is never opened. Registering imports neither torch nor the
checker: both load on the first request.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from . import comfy_env

ROUTE = "/wan_compat/check_workflow"
EXPLAIN_ROUTE = "/wan_compat/explain_error"
# ComfyUI folder keys the checker may resolve names in (its own names for them).
FOLDER_KEYS = ("diffusion_models", "unet", "text_encoders", "clip", "vae", "clip_vision", "loras", "checkpoints", "diffusers")
MAX_BODY = 16 * 1024 * 1024
log = logging.getLogger("wan_compat.workflow_check")
_registered = False


def comfy_folders() -> Any:
    """ModelFolders from ComfyUI's folder_paths (every folder ComfyUI itself would search)."""
    import folder_paths  # ComfyUI's module

    from ..compat.workflow.folders import ModelFolders

    folders = ModelFolders()
    for key in FOLDER_KEYS:
        try:
            paths = folder_paths.get_folder_paths(key)
        except Exception:  # a key this ComfyUI does not know
            continue
        for path in paths:
            folders.add(key, path)
    return folders


def check(body: Any) -> dict[str, Any]:
    """The verdict on a request body; a body that is not a workflow gives one WORKFLOW_INVALID problem."""
    from ..compat.core.errors import WanCompatError
    from ..compat.workflow.report import check_workflow

    doc = body.get("workflow") or body.get("prompt") if isinstance(body, dict) else None
    models = body.get("models") if isinstance(body, dict) and isinstance(body.get("models"), list) else None
    try:
        return check_workflow(doc, comfy_folders(), models=models)
    except WanCompatError as err:
        entry = err.problem.to_dict()
        entry["node_ids"] = []
        return {"files": [], "problems": [entry], "ok": False}


def explain_error(body: Any) -> dict[str, Any]:
    """A native node's raw error with the catalogue's cause and fix and the graph's own findings."""
    from ..compat.workflow.explain import explain

    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return {"explained": False}
    found = explain(body["message"], str(body.get("exception_type") or ""), str(body.get("node_type") or ""),
                    body.get("workflow"), comfy_folders())
    return {"explained": found is not None, **(found or {})}


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


def _workflow_models(json_data: dict[str, Any]) -> list[Any]:
    """The download links a queued prompt's UI workflow lists (`properties.models`, what the
    frontend sends as extra_data.extra_pnginfo.workflow), so the log names the workflow's own link."""
    workflow = ((json_data.get("extra_data") or {}).get("extra_pnginfo") or {}).get("workflow")
    if not isinstance(workflow, dict):
        return []
    found = list(workflow.get("models") or []) if isinstance(workflow.get("models"), list) else []
    for node in workflow.get("nodes") or []:
        models = (node.get("properties") or {}).get("models") if isinstance(node, dict) else None
        if isinstance(models, list):
            found += models
    return found


def on_prompt(json_data: Any) -> Any:
    """ComfyUI's on-prompt hook: start the check in a thread and return the prompt unchanged."""
    try:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict):
            models = _workflow_models(json_data)
            threading.Thread(target=_check_and_log, args=(prompt, models), name="wan_compat-check", daemon=True).start()
    except Exception:  # never break queueing
        log.debug("wan_compat: on-prompt check not started", exc_info=True)
    return json_data


def _check_and_log(prompt: dict[str, Any], models: list[Any] | None = None) -> None:
    try:
        log_verdict(check({"prompt": prompt, "models": models or []}), "queued prompt")
    except Exception:
        log.warning("[wan_compat] the workflow check failed; the prompt was queued unchecked", exc_info=True)


def _json_post(instance: Any, route: str, handler: Any) -> None:
    """A POST route taking a bounded JSON body; `handler` runs off the event loop (it reads headers)."""
    from aiohttp import web

    @instance.routes.post(route)
    async def _handle(request: web.Request) -> web.Response:
        import asyncio

        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            body = await request.json()
        except Exception:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        return web.json_response(await asyncio.get_running_loop().run_in_executor(None, handler, body))


def register() -> bool:
    """Add the routes and the on-prompt handler to ComfyUI's running server (once); False outside ComfyUI."""
    global _registered
    if _registered:
        return True
    instance = comfy_env.prompt_server()
    if instance is None:
        return False
    _json_post(instance, ROUTE, check)
    _json_post(instance, EXPLAIN_ROUTE, explain_error)
    instance.add_on_prompt_handler(on_prompt)
    _registered = True
    return True
