"""`inspect`'s link rule for every reader of a model: the CLI, the workflow check and the nodes.

A folder is judged before detection reads a byte of it: every entry under it must resolve inside
the folder's own real path (a downloaded diffusers folder with a link to `/etc` is refused), nothing
may dangle, and only regular files may sit in it (`paths.check_tree`). The folder itself may be a
link placed in a model folder: that is the user's choice, as ComfyUI follows it too. Single files
are opened only when regular (`core.regular_file`), which detection does by itself.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import Problem, WanCompatError, problem
from ..detect.detector import ArchitectureDetector
from ..detect.model_info import ModelInfo
from . import paths


def link_problem(path: str | os.PathLike[str]) -> Problem | None:
    """Why the folder at `path` may not be read (a link out of it, a dangling link, a FIFO...), or
    None; files and missing paths pass (detection reports them)."""
    target = Path(path)
    try:
        if target.is_dir():
            paths.check_tree(target, paths.roots_from([target]))
    except WanCompatError as err:
        return err.problem
    except OSError as exc:
        return problem("INPUT_PARSE_FAILED", f"{target.name}: {type(exc).__name__}: {str(exc)[:200]}")
    return None


def refused_info(path: str | os.PathLike[str], found: Problem) -> ModelInfo:
    """The verdict on a folder the rule refused: read no further."""
    target = Path(path)
    info = ModelInfo(path=str(path), format="diffusers" if (target / "model_index.json").is_file() else "unknown")
    info.add(found)
    return info


class LinkCheckedDetector(ArchitectureDetector):
    """The detector with the link rule first, for the model and for each part (also when a verdict
    is re-used and its files changed, which detects again through `inspect`)."""

    def inspect(self, path: str | Path, *, vae: str | Path | None = None, text_encoder: str | Path | None = None,
                clip_vision: str | Path | None = None) -> ModelInfo:
        found = link_problem(path)
        if found is not None:
            return refused_info(path, found)
        info = super().inspect(path)
        return self.check_parts(info, vae=vae, text_encoder=text_encoder, clip_vision=clip_vision) if vae or text_encoder or clip_vision else info

    def check_parts(self, info: ModelInfo, *, vae: str | Path | None = None, text_encoder: str | Path | None = None,
                    clip_vision: str | Path | None = None) -> ModelInfo:
        given = {"vae": vae, "text_encoder": text_encoder, "clip_vision": clip_vision}
        refused = {name: found for name, part in given.items() if part and (found := link_problem(part)) is not None}
        kept = {name: (None if name in refused else part) for name, part in given.items()}
        out = super().check_parts(info, **kept)
        for found in refused.values():
            out.add(found)
        return out
