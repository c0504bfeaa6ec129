"""Safe loading of Wan pipelines: a diffusers folder, or single files (ComfyUI's layout).

`load_pipeline(model, ...)` decides by what `model` is:
- a folder with `model_index.json` (`folder_loader.py`): every file path-checked, code refused or
  trusted, classes checked against the detector's verdict, each component loaded with its own
  class, then the pipeline assembled; `vae`, `text_encoder`, `clip_vision` and `transformer_2`,
  when given, replace the folder's own part (a single file or another folder's part);
- a single file (the diffusion model) plus `vae`, `text_encoder`, `clip_vision` (Wan 2.1
  I2V/FLF2V), `transformer_2` (Wan 2.2 A14B low-noise expert) and a tokenizer source
  (`single_loader.py`): each file format-checked and loaded under the policy, keys converted from
  the original naming (`key_naming`), loaded strictly into models built from the registry's configs
  (or those of a `config_source` folder), then assembled.

`model_info` (Wan Detect Architecture's verdict on the same model) spares the second detection when
the model's files are unchanged since (`verdict.py`); every security check runs either way.

The result is a `PipelineHandle` (the `WAN_PIPELINE` type): pipeline, verdict and load report.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core.errors import UsageError
from ..detect.model_info import ModelInfo
from ..security import paths
from ..security.policy import SecurityPolicy
from .folder_loader import FolderLoader
from .options import LoadOptions  # noqa: F401 - part of this module's API
from .handle import PipelineHandle
from .report import LoadReport
from .single_loader import SingleFileLoader
from .verdict import load_target

log = logging.getLogger("wan_compat.load")
# Wan Safe Load's inputs that replace a diffusers folder's part, and the folder slot each replaces.
FOLDER_SLOTS = {"vae": "vae", "text_encoder": "text_encoder", "clip_vision": "image_encoder", "transformer_2": "transformer_2"}


def load_pipeline(
    model: str | Path | None = None,
    *,
    model_info: ModelInfo | None = None,
    transformer_2: str | Path | None = None,
    vae: str | Path | None = None,
    text_encoder: str | Path | None = None,
    clip_vision: str | Path | None = None,
    tokenizer: str | Path | None = None,
    config_source: str | Path | None = None,
    policy: SecurityPolicy | None = None,
    roots: list[str] | None = None,
    options: LoadOptions | None = None,
    overrides: Sequence[Any] = (),
    on_progress: Callable[[int, int], None] | None = None,
) -> PipelineHandle:
    """Load a Wan pipeline safely; raises a WanCompatError subclass for anything refused.

    `roots`: the folders models may come from (ComfyUI's model folders). None means the paths given
    here are explicit (the command line), so they are allowed themselves. `security.extra_model_roots`
    always adds to the roots. `model_info`: the Detect node's verdict on `model` (or instead of it).
    `overrides`: the settings' `advanced.pipeline_overrides` (a forced pipeline class or variant,
    `compat/detect/overrides.py`), applied to the verdict before anything is built from it.
    `on_progress(bytes read, bytes to read)`: the weights read so far (each tensor of a single file,
    each component of a folder), for a progress bar.
    """
    policy = policy or SecurityPolicy()
    options = options or LoadOptions()
    model = load_target(model, model_info)
    given = {"model": model, "transformer_2": transformer_2, "vae": vae, "text_encoder": text_encoder,
             "clip_vision": clip_vision, "tokenizer": tokenizer, "config_source": config_source}
    given = {k: Path(str(v)).expanduser() for k, v in given.items() if v not in (None, "")}
    allowed = paths.roots_from(list(roots if roots is not None else given.values()) + list(policy.extra_model_roots))
    report = LoadReport(source={"model": str(given["model"]), **{k: str(v) for k, v in given.items() if k != "model"}})
    report.track(on_progress)  # the bytes to read are known once the files are checked (`expect`)
    options.check()
    target = paths.resolve_inside(given["model"], allowed, expect="any")
    if target.is_dir():
        extras = sorted(k for k in ("tokenizer", "config_source") if k in given)
        if extras:
            raise UsageError("USAGE", f"{', '.join(extras)} cannot be combined with a diffusers folder, which holds its own "
                             f"configs and tokenizer: set Wan Safe Load's {', '.join(extras)} to none to use the folder, or pick "
                             "the single-file model (models/diffusion_models) in Wan Detect Architecture to keep the files")
        report.source["format"] = "diffusers"
        replacements = {FOLDER_SLOTS[k]: v for k, v in given.items() if k in FOLDER_SLOTS}  # parts of the folder replaced
        loaded = FolderLoader(given["model"], allowed, policy, options, report, model_info, overrides, replacements).load()
    else:
        report.source["format"] = "single_files"
        loaded = SingleFileLoader(given, allowed, policy, options, report, model_info, overrides).load()
    report.finish()
    _log_load(loaded)
    return loaded


def _log_load(loaded: PipelineHandle) -> None:
    """INFO: what was loaded, from where, how long it took; DEBUG: each policy decision."""
    report = loaded.report
    log.info("loaded %s (%s) from %s in %.1f s", report.pipeline_class, loaded.model_info.variant or loaded.model_info.task or "model",
             report.source.get("model"), report.timings_ms.get("total", 0.0) / 1000)
    for decision in report.decisions:
        log.debug("%s: %s (%s)", decision.decision, decision.subject, decision.reason)
    for item in report.problems:
        log.debug("%s", item.text())
