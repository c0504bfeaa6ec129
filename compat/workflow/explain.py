"""A raw error of a native node (KSampler, VAEDecode, WanImageToVideo, CLIPTextEncode...) explained:
the catalogue entry the translator finds for its message, plus the problems the workflow check
finds in the same graph, so the fix names the graph's actual files (which VAE, which model).
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.errors import WanCompatError
from ..core.translate import translate
from .folders import ModelFolders
from .report import check_workflow

# Which workflow findings explain which translated error.
RELATED = {
    "LATENT_CHANNEL_MISMATCH": ("WF_VAE_LATENT_MISMATCH", "WF_MODEL_TASK_MISMATCH", "WF_LORA_AS_MODEL", "WF_WRONG_KIND"),
    "WRONG_TEXT_ENCODER": ("WF_TEXT_ENCODER_NOT_UMT5", "WF_CLIP_TYPE_NOT_WAN", "WF_LOADER_CANNOT_READ"),
    "GPU_OUT_OF_MEMORY": (),
    "RAM_OUT_OF_MEMORY": (),
    "VAE_DECODE_OUT_OF_MEMORY": (),
}


class NativeError(RuntimeError):
    """The message ComfyUI reported, as an exception the translator can read (type kept for OOM)."""

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name


def explain(message: str, exception_type: str = "", node_type: str = "", workflow: Any = None,
            folders: ModelFolders | None = None, check: Callable[[Any, ModelFolders], dict[str, Any]] = check_workflow) -> dict[str, Any] | None:
    """{code, summary, fix, detail, related: [problems naming files]} or None when no rule applies.
    `check` checks the graph (the check service passes its cached one)."""
    stage = "decode" if node_type.startswith("VAEDecode") else None
    exc: BaseException = NativeError(str(message)[:20000], exception_type)
    if exception_type.endswith("OutOfMemoryError"):
        exc = type("OutOfMemoryError", (RuntimeError,), {})(str(message)[:20000])
    error = translate(exc, stage=stage)
    if error is None:
        return None
    out: dict[str, Any] = {**error.problem.to_dict(), "related": [], "files": []}
    if workflow is not None and folders is not None:
        try:
            result = check(workflow, folders)
        except WanCompatError:
            return out
        wanted = RELATED.get(error.code, ())
        out["related"] = [p for p in result["problems"] if p["code"] in wanted and p["severity"] == "error"]
        out["files"] = [{"node_id": f["node_id"], "name": f["name"], "kind": f["kind"], "size": f["size"], "dtype": f["dtype"]}
                        for f in result["files"] if f["path"]]
    return out
