"""Memory shared with ComfyUI's model manager (`comfy.model_management`).

- Before the pack loads or samples, ComfyUI is asked to unload its own cached models until the
  bytes the pack needs are free (`free_memory`, least recently used first).
- After a run, `soft_empty_cache` hands cached device memory back.
- The pack's own pipelines are released when ComfyUI unloads every model ("Unload models" or
  "Free model and node cache", i.e. POST /free with unload_models): ComfyUI has no hook for other
  models, so its `unload_all_models` is wrapped once, calling ComfyUI's own first. A released
  pipeline's weights go to `meta` (freed), and Wan Safe Load's IS_CHANGED changes with
  `generation()`, so the next run loads it again instead of reusing a released handle.

Outside ComfyUI every function does nothing.
"""
from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from typing import Any

log = logging.getLogger("wan_compat.memory")
_LOCK = threading.Lock()
_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()  # pipelines loaded by this pack, still referenced
_GENERATION = [0]
_MARK = "_wan_compat_releases_pipelines"


def _mm() -> Any:
    try:
        import comfy.model_management as mm  # ComfyUI's module
    except ImportError:
        return None
    return mm


def _modules(pipeline: Any) -> list[Any]:
    import torch

    parts = getattr(pipeline, "components", None) or {}
    return [m for m in parts.values() if isinstance(m, torch.nn.Module)]


def weight_bytes(pipeline: Any) -> int:
    """Bytes of every parameter and buffer of a pipeline's modules (what must be resident to run)."""
    total = 0
    for module in _modules(pipeline):
        for tensor in [*module.parameters(), *module.buffers()]:
            if not tensor.is_meta:
                total += tensor.numel() * tensor.element_size()
    return total


def make_room(needed_bytes: int) -> None:
    """Ask ComfyUI to unload its own models until `needed_bytes` are free on its device."""
    mm = _mm()
    if mm is None or needed_bytes <= 0:
        return
    log.debug("asking ComfyUI to free %.1f MiB for the pack", needed_bytes / 2**20)
    mm.free_memory(int(needed_bytes), mm.get_torch_device())


def after_run() -> None:
    mm = _mm()
    if mm is not None:
        mm.soft_empty_cache()


def register(pipeline: Any) -> None:
    """Track a pipeline this pack loaded, so ComfyUI's unload releases it too."""
    if _mm() is None:
        return
    install()
    with _LOCK:
        _LIVE.add(pipeline)


def generation() -> int:
    """Goes up each time the pack's pipelines were released (part of Safe Load's IS_CHANGED)."""
    return _GENERATION[0]


def release_all() -> int:
    """Free the weights of every tracked pipeline (to `meta`); returns the bytes released."""
    with _LOCK:
        pipelines = list(_LIVE)
        _LIVE.clear()
        _GENERATION[0] += 1
    released = 0
    for pipeline in pipelines:
        released += weight_bytes(pipeline)
        for module in _modules(pipeline):
            module.to("meta")
    _trim()
    if released:
        log.info("released %.1f MiB of pipeline weights with ComfyUI's unload", released / 2**20)
    return released


def _trim() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def install() -> None:
    """Wrap ComfyUI's unload_all_models once so it also releases the pack's pipelines."""
    mm = _mm()
    if mm is None or getattr(mm.unload_all_models, _MARK, False):
        return
    original = mm.unload_all_models

    def unload_all_models(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        release_all()
        return result

    setattr(unload_all_models, _MARK, True)
    unload_all_models.__doc__ = original.__doc__
    mm.unload_all_models = unload_all_models


def file_bytes(*paths: Any) -> int:
    """Bytes of the weight files a load will read (a folder: every weight file in it)."""
    from pathlib import Path

    total = 0
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        try:
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt", ".pth")]
            total += sum(p.stat().st_size for p in files if p.is_file())
        except OSError:
            continue
    return total
