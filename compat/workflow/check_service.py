"""The workflow check as a service: one request in, one answer out, never an exception.

ComfyUI's routes and on-prompt handler run in ComfyUI's one process, where a CPU-bound check would
stall the server (GET /queue, the websocket, every user). So the server hands each request to a
separate process (`check_pool.py` starts this file as a script) and this module does the work:
parse the raw body within the JSON limits, check the workflow or explain the native error, and
answer with the route's JSON. Answers are cached by content (the body's canonical JSON and the
model folders) and re-used while the files the answer names are unchanged.

Protocol (binary, on stdin/stdout): a request is one JSON header line `{"op", "folders", "length"}`
followed by `length` bytes of body; the answer is one JSON line.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import OrderedDict
from typing import Any, BinaryIO, Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .folders import ModelFolders

BODY_MAX_BYTES = 16 * 1024 * 1024  # the routes' limit
BODY_MAX_DEPTH = 64  # as `check-workflow` (subgraphs nest deeper than model configs)
CACHE_SIZE = 64
_PACKAGE = "_wan_compat_check_service"  # the pack's root, imported under this name in the worker process
_cache: OrderedDict[str, tuple[dict[str, Any], list[Any]]] = OrderedDict()


def refusal(code: str, detail: str = "", **context: Any) -> dict[str, Any]:
    """The route's answer for a request that was not checked: one problem, `ok` false."""
    from ..core.errors import problem

    entry = problem(code, detail, **context).to_dict()
    entry["node_ids"] = []
    return {"files": [], "problems": [entry], "ok": entry["severity"] != "error", "checked": False}


def _folders(spec: Any) -> ModelFolders:
    from .folders import ModelFolders

    folders = ModelFolders()
    for name, paths in (spec.items() if isinstance(spec, dict) else ()):
        for path in paths if isinstance(paths, list) else ():
            if isinstance(name, str) and isinstance(path, str):
                folders.add(name, path)
    return folders


def _stamp(path: str | None) -> list[Any] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _stamps(result: dict[str, Any], folders: ModelFolders) -> list[Any]:
    """What an answer depends on: where each picked name resolves now and that file's identity."""
    out = []
    for f in result.get("files", []):
        path = folders.resolve(f["folder"], f["name"])
        out.append([f["folder"], f["name"], path, _stamp(path)])
    return out


def checked(doc: Any, folders: ModelFolders, models: list[Any] | None = None) -> dict[str, Any]:
    """`check_workflow` with the content cache; a typed refusal becomes the answer, as the route gives it.
    `models`: download links sent beside the document (`report.check_workflow`)."""
    from ..core.errors import WanCompatError
    from .report import check_workflow

    key = hashlib.sha256(json.dumps([doc, models, folders.folders], sort_keys=True, default=str).encode()).hexdigest()
    hit = _cache.get(key)
    if hit is not None and _stamps(hit[0], folders) == hit[1]:
        _cache.move_to_end(key)
        return hit[0]
    try:
        result = check_workflow(doc, folders, models=models)
    except WanCompatError as err:
        entry = err.problem.to_dict()
        entry["node_ids"] = []
        result = {"files": [], "problems": [entry], "ok": False}
    _cache[key] = (result, _stamps(result, folders))
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return result


def check(body: Any, folders: ModelFolders) -> dict[str, Any]:
    """The check route: `{"workflow": <UI graph>}` or `{"prompt": <API graph>, "models": [...]}`
    (the download links of the UI workflow the frontend sent beside the prompt)."""
    doc = body.get("workflow") or body.get("prompt") if isinstance(body, dict) else None
    models = body.get("models") if isinstance(body, dict) and isinstance(body.get("models"), list) else None
    return checked(doc, folders, models)


def explain_error(body: Any, folders: ModelFolders) -> dict[str, Any]:
    """The explain route: a native node's raw error with the catalogue's cause and fix."""
    from .explain import explain

    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return {"explained": False}
    found = explain(body["message"], str(body.get("exception_type") or "")[:200], str(body.get("node_type") or "")[:200],
                    body.get("workflow"), folders, check=checked)
    return {"explained": found is not None, **(found or {})}


OPS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {"check": check, "explain": explain_error}


def answer(op: str, raw: bytes, folder_spec: Any) -> dict[str, Any]:
    """One request: never raises (an untyped failure is answered as UNEXPECTED_ERROR and logged)."""
    from ..core import safe_json
    from ..core.translate import translate_or_wrap

    if op not in OPS:
        return refusal("REQUEST_REFUSED", f"unknown operation {op[:40]!r}", reason="unknown operation", limit="16 MB")
    try:
        body = safe_json.loads(raw, max_bytes=BODY_MAX_BYTES, max_depth=BODY_MAX_DEPTH, what="the request body")
    except ValueError as err:
        return refusal("REQUEST_REFUSED", str(err), reason="the body is not JSON within the limits", limit="16 MB")
    try:
        return OPS[op](body, _folders(folder_spec))
    except Exception as exc:  # noqa: BLE001 - a request must get an answer; the fuzz tests keep this path empty
        err = translate_or_wrap(exc)
        print(f"[wan_compat] check service: {type(exc).__name__}: {exc}", file=sys.stderr)
        return refusal(err.code, err.detail)


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer framed requests until stdin closes."""
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            header = json.loads(line)
            raw = stdin.read(int(header["length"]))
            result = answer(str(header.get("op")), raw, header.get("folders"))
        except (ValueError, KeyError, TypeError) as exc:  # a broken frame from the parent: answer, then go on
            result = {"error": f"bad frame: {exc}"}
        stdout.write(json.dumps(result, default=str).encode() + b"\n")
        stdout.flush()


def _main(pack_root: str) -> None:
    """Run as a script: import the pack from `pack_root` under a private name (its `__init__.py`
    registers ComfyUI nodes; only `compat` is needed here), then serve."""
    import importlib
    import types

    package = types.ModuleType(_PACKAGE)
    package.__path__ = [pack_root]  # type: ignore[attr-defined]
    sys.modules[_PACKAGE] = package
    service = importlib.import_module(f"{_PACKAGE}.compat.workflow.check_service")
    service.serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    _main(sys.argv[1])
