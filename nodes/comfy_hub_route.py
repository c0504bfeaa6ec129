"""The download routes behind the queue-check dialog's "Download" buttons (ComfyUI adapter).

- `POST /wan_compat/hub/plan` `{"workflow", "files": [{"name", "folder"}]}`: for each missing file,
  the Hub source it would come from, or why it cannot (a link that is not the Hub's, no source);
- `POST /wan_compat/hub/download` `{"workflow", "name", "folder"}`: start (or join) its download;
- `POST /wan_compat/hub/jobs` `{"ids": [...]}`: progress and outcome; `POST /wan_compat/hub/cancel` `{"id"}`.

A request names a file only by its folder and name: the link comes from the registry or from that
name's `properties.models` entry in the posted workflow (a Hub `resolve` link only), never from a
path or a free URL, and the file goes into ComfyUI's own folder for that key. Downloads run on the
pack's bounded pool (`compat/hub/jobs.py`), never on the event loop; the handlers only look up and
enqueue, in the executor, behind the check routes' refusals (`comfy_routes.guarded_post`: JSON only,
same origin, at most 4 MB). The workflow's links are read without flattening it (`declared_models`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env

PREFIX = "/wan_compat/hub"
_downloads: Any = None


def folder_dir(folder: str) -> Path:
    """ComfyUI's directory for a model folder key: the one named after the key (models/diffusion_models,
    not the legacy models/unet that folder_paths lists first), else its first."""
    import folder_paths  # ComfyUI's module

    paths = [Path(p) for p in folder_paths.get_folder_paths(folder)]
    if not paths:
        raise FileNotFoundError(folder)
    return next((p for p in paths if p.name == folder), paths[0])


def downloads() -> Any:
    global _downloads
    if _downloads is None:
        from ..compat.hub.jobs import Downloads

        _downloads = Downloads(folder_dir, user_dir=comfy_env.user_directory())
    return _downloads


def _workflow_link(workflow: Any, folder: str, name: str) -> str | None:
    """The link the posted workflow's `properties.models` gives for that name in that folder."""
    from ..compat.hub.sources import canonical_folder
    from ..compat.workflow.graph import declared_models

    for entry in declared_models(workflow):
        if entry.get("name") == name and canonical_folder(str(entry.get("directory") or folder)) == folder:
            url = entry.get("url")
            return url if isinstance(url, str) else None
    return None


def source_for(body: dict[str, Any], name: Any, folder: Any) -> Any:
    """The Source for one requested file (raises the typed refusal)."""
    from ..compat.hub.remote import default_endpoint
    from ..compat.hub.sources import check_folder, from_workflow, plain_name

    folder, name = check_folder(str(folder)), plain_name(name)
    return from_workflow(folder, name, _workflow_link(body.get("workflow"), folder, name), default_endpoint())


def _refused(err: Any, name: Any, folder: Any) -> dict[str, Any]:
    return {"name": str(name)[:200], "folder": str(folder)[:64], "problem": err.problem.to_dict()}


def plan(body: Any) -> dict[str, Any]:
    from ..compat.core.errors import WanCompatError
    from ..compat.hub.remote import is_offline

    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        return {"error": "expected {workflow, files: [{name, folder}]}"}
    answer = []
    for item in body["files"][:64]:
        name, folder = (item.get("name"), item.get("folder")) if isinstance(item, dict) else (None, None)
        try:
            answer.append({"name": name, "folder": folder, "source": source_for(body, name, folder).to_dict()})
        except WanCompatError as err:
            answer.append(_refused(err, name, folder))
    return {"files": answer, "offline": is_offline()}


def download(body: Any) -> dict[str, Any]:
    from ..compat.core.errors import WanCompatError

    if not isinstance(body, dict):
        return {"error": "expected {workflow, name, folder}"}
    try:
        return {"job": downloads().start(source_for(body, body.get("name"), body.get("folder"))).to_dict()}
    except WanCompatError as err:
        return _refused(err, body.get("name"), body.get("folder"))


def jobs(body: Any) -> dict[str, Any]:
    ids = body.get("ids") if isinstance(body, dict) else None
    ids = [str(i) for i in ids[:256]] if isinstance(ids, list) else None
    return {"jobs": [j.to_dict() for j in downloads().jobs(ids)]}


def cancel(body: Any) -> dict[str, Any]:
    job = downloads().cancel(str(body.get("id"))) if isinstance(body, dict) else None
    return {"job": job.to_dict() if job is not None else None}


def register() -> bool:
    """Add the routes to ComfyUI's running server (once); False outside ComfyUI."""
    def add(instance: Any) -> None:
        from .comfy_routes import guarded_post

        for name, handler in (("plan", plan), ("download", download), ("jobs", jobs), ("cancel", cancel)):
            guarded_post(instance, f"{PREFIX}/{name}", handler)

    return comfy_env.add_to_server("hub routes", add)
