"""The files a workflow picks: each loader widget, the file it names (if found) and what that
file really is. Each file identity (device, inode, size, mtime) is inspected once per process;
the safetensors header cache of the detect layer makes even a first look cost a header read.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

from ..detect.model_info import ModelInfo
from ..security.link_rule import LinkCheckedDetector
from .execution import Run
from .folders import ModelFolders, picker_folder
from .node_table import FALLBACK_FOLDERS, LOADERS

_CACHE: OrderedDict[tuple, ModelInfo] = OrderedDict()
_CACHE_SIZE = 256


@dataclass
class Pick:
    node_id: str
    node_type: str
    input: str
    name: str
    folder: str
    role: str
    path: str | None = None
    info: ModelInfo | None = None
    runs: bool = True  # False: on a switch branch that is never taken (validated, never loaded)

    def facts(self) -> dict:
        """The transformer/VAE/LoRA numbers the checks compare (empty when not read)."""
        if self.info is None:
            return {}
        return self.info.components.get(self.info.kind) or {}

    def to_dict(self) -> dict:
        info = self.info
        out = {"node_id": self.node_id, "node_type": self.node_type, "input": self.input, "name": self.name,
               "folder": self.folder, "path": self.path,
               "kind": info.kind if info else None, "family": info.family if info else None,
               "version": info.version if info else None, "task": info.task if info else None,
               "size": info.size if info else None, "dtype": info.dtype if info else None}
        if info is not None and info.expert:
            out["expert"] = info.expert
        if not self.runs:
            out["runs"] = False
        return out


def inspect_cached(path: str) -> ModelInfo:
    """The detector's verdict on `path` (inspect's link rule first), re-used while the file's identity is unchanged."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _CACHE.get(key)
    if found is not None:
        _CACHE.move_to_end(key)
        return found
    info = LinkCheckedDetector().inspect(path)
    _CACHE[key] = info
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return info


def collect(run: Run, folders: ModelFolders) -> list[Pick]:
    """Every file named by a loader ComfyUI would keep in the prompt (muted and bypassed loaders
    are left out, as the frontend leaves them out), resolved in the model folders and inspected."""
    picks: list[Pick] = []
    for node in run.graph.nodes.values():
        if not node.active or node.type not in LOADERS:
            continue
        for widget, folder, role in LOADERS[node.type]:
            name = node.widgets.get(widget)
            if not isinstance(name, str) or not name or name == "none":  # "none": an empty slot of a multi-LoRA picker
                continue
            if folder == "*":  # this pack's pickers: a name of the folders its slot lists, or "none"
                if name == "none":
                    continue
                folder, name = picker_folder(role, name)
            pick = Pick(node.id, node.type, widget, name, folder, role, runs=node.id not in run.off)
            for candidate in (folder, *FALLBACK_FOLDERS.get((node.type, widget), ())):
                pick.path = folders.resolve(candidate, name)
                if pick.path is not None:
                    break
            if pick.path is not None:
                pick.info = inspect_cached(pick.path)
            picks.append(pick)
    return picks
