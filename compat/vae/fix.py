"""Wan VAE Fix: check the pipeline's VAE against its transformer(s), swap in one that fits, refuse
with the exact file to use when none does, and set how latents are decoded.

`fix_vae(handle, ...)` returns a new `WAN_PIPELINE` handle with `vae_report` (what was checked,
found and done) and `decode` (the DecodeOptions Wan Sample applies for its run; the VAE itself is
not changed here); the pipeline object is rebuilt around a replaced VAE.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from ..core.errors import CompatibilityError, Problem, UsageError, problem
from ..loading.pipeline_checks import require_wan_pipeline
from . import checks, swap
from .decode import DecodeOptions

log = logging.getLogger("wan_compat.vae")
CHOICES = ("auto", "on", "off")
# Findings a replacement VAE can cure (it fits, has the right stats and scale, and loads from a checked file).
CURABLE = ("VAE_MISSING", "WRONG_VAE", "VAE_NOT_3D", "VAE_LATENT_STATS_INVALID", "VAE_SCALE_INVALID",
           "WEIGHTS_META", "WEIGHTS_NONFINITE", "WEIGHTS_IMPLAUSIBLE")


@dataclass
class VaeFixReport:
    """What Wan VAE Fix checked, found and did (a stage report for Wan Diagnose)."""

    stage = "vae"
    found: dict[str, Any] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    swapped: dict[str, Any] | None = None
    rebuilt: bool = False
    decode: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "checks": self.checks, "candidates": self.candidates, "swapped": self.swapped,
                "rebuilt": self.rebuilt, "decode": self.decode, "choices": self.choices,
                "problems": [p.to_dict() for p in self.problems], "seconds": round(self.seconds, 4)}

    def summary(self) -> str:
        f = self.found
        if not self.checks:  # nothing was checked (a sandboxed pipeline): say only why
            return "\n".join([f"VAE: {f.get('class')}"] + [p.text() for p in self.problems])
        lines = [f"VAE: {f.get('class')} z_dim {f.get('z_dim')}, {f.get('spatial')}x spatial / {f.get('temporal')}x temporal, {f.get('dtype')}"]
        if self.swapped:
            lines.append(f"replaced by {self.swapped['path']} ({self.swapped['reason']})")
        elif self.rebuilt:
            lines.append("pipeline rebuilt around its VAE (latent scale refreshed)")
        else:
            lines.append("fits the model: " + ", ".join(self.checks))
        d = self.decode
        mode = f"chunked ({d.get('chunk_latent_frames')} latent frame(s) per chunk)" if d.get("chunked") else "full"
        lines.append(f"decode: {mode}; tiling {'on' if d.get('tiling') else 'off'}; slicing {'on' if d.get('slicing') else 'off'}")
        lines.extend(p.text() for p in self.problems)
        return "\n".join(lines)


def describe_vae(vae: Any) -> dict[str, Any]:
    config = vae.config
    return {"class": type(vae).__name__, "z_dim": config.get("z_dim") or config.get("latent_channels"),
            "spatial": config.get("scale_factor_spatial"), "temporal": config.get("scale_factor_temporal"),
            "residual": config.get("is_residual"), "dtype": str(next(vae.parameters()).dtype).replace("torch.", "")}


def decode_options(previous: DecodeOptions | None, *, tiling: str, slicing: str, chunked: str,
                   chunk_latent_frames: int) -> tuple[DecodeOptions, dict[str, str]]:
    """Explicit choices ('on'/'off') win; 'auto' keeps what an earlier stage set, else the default
    (chunked decode on, tiling and slicing off until Wan Optimize decides)."""
    values = {"tiling": tiling, "slicing": slicing, "chunked": chunked}
    bad = {k: v for k, v in values.items() if v not in CHOICES}
    if bad or not isinstance(chunk_latent_frames, int) or isinstance(chunk_latent_frames, bool) or chunk_latent_frames < 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in bad.items()) or f"chunk_latent_frames={chunk_latent_frames!r}"
        raise UsageError("DECODE_OPTION_INVALID", shown)
    options = DecodeOptions(**(previous.to_dict() if previous else {}))
    for name, value in values.items():
        if value != "auto":
            setattr(options, name, value == "on")
    options.chunk_latent_frames = chunk_latent_frames
    return options, {k: v for k, v in values.items() if v != "auto"}


def fix_vae(
    handle: Any,
    *,
    vae: str | Path | None = None,
    search: Iterable[str | Path] = (),
    tiling: str = "auto",
    slicing: str = "auto",
    chunked: str = "auto",
    chunk_latent_frames: int = 1,
    config_source: str | Path | None = None,
    policy: Any = None,
    roots: list[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Check (and if needed replace) the VAE; returns a new handle with `vae_report` and `decode`.

    `vae`: a VAE file or folder to use instead of the pipeline's (refused if it does not fit).
    `search`: where to look for a replacement when the pipeline's VAE does not fit (ComfyUI's
    models/vae files); the model folder's own `vae/` is always looked at first.
    Raises CompatibilityError (VAE_CHOICE_WRONG, VAE_NOT_AVAILABLE naming the right file),
    LoadError for weights that were never loaded, UsageError for bad options. `on_progress(done,
    total)`: the bytes of a VAE swapped in as they are read, then the checks done.
    """
    started = time.perf_counter()
    if getattr(handle, "sandboxed", False):
        return _sandboxed(handle, vae)
    pipeline = require_wan_pipeline(handle, "Wan VAE Fix")
    info = handle.model_info
    options, choices = decode_options(handle.decode, tiling=tiling, slicing=slicing,
                                      chunked=chunked, chunk_latent_frames=chunk_latent_frames)
    report = VaeFixReport(choices=choices)
    z_dim = next((t.config.out_channels for _, t in checks.transformers_of(pipeline)), None)
    needed = checks.needed_vae(info)
    right = checks.right_vae(pipeline, info)
    source = dict(policy=policy, roots=roots, config_source=Path(config_source) if config_source else None, on_progress=on_progress)

    if vae is not None:
        candidate = swap.judge(swap.inspect(Path(vae)), z_dim, needed)
        report.candidates.append(candidate.to_dict())
        if not candidate.fits:
            raise CompatibilityError("VAE_CHOICE_WRONG", f"{Path(vae).name}: {candidate.verdict}", right_vae=right)
        pipeline = _swap_in(pipeline, candidate, report, "chosen", source)
    else:
        found = _findings(pipeline, info)
        stale = next((p for p in found if p.code == "VAE_PIPELINE_STALE"), None)
        if stale is not None:
            pipeline = swap.rebuild(pipeline)
            report.rebuilt = True
            report.problems.append(problem("VAE_PIPELINE_STALE", stale.detail + "; fixed: the pipeline was rebuilt around its VAE", severity="info"))
            found = _findings(pipeline, info)
        curable = [p for p in found if p.code in CURABLE and p.severity == "error"]
        if curable:
            paths = [p for p in [swap.model_folder_vae(info)] if p is not None] + [Path(p) for p in search]
            candidates = swap.find(paths, z_dim, needed)
            report.candidates = [c.to_dict() for c in candidates]
            chosen = next((c for c in candidates if c.fits), None)
            what = "; ".join(f"[{p.code}] {p.detail}" for p in curable)
            if chosen is None and all(p.code.startswith("WEIGHTS_") for p in curable):
                checks.raise_first(curable)  # broken weights and no file to reload them from: say what is broken
            if chosen is None:
                looked = ", ".join(str(p) for p in paths) or "nowhere (no model folder, no models/vae files)"
                raise CompatibilityError("VAE_NOT_AVAILABLE", f"{what}; looked in {looked}", right_vae=right)
            pipeline = _swap_in(pipeline, chosen, report, what, source)
            for item in curable:
                report.problems.append(problem(item.code, f"{item.detail}; fixed: replaced by {chosen.path}", severity="warning", **item.context))
    # Whatever was done, the result must pass every check (a replacement is checked like the original).
    checks.check_pipeline_vae(pipeline, info)
    report.checks = _checks_done(pipeline)
    report.found = describe_vae(pipeline.vae)
    report.decode = options.to_dict()
    report.seconds = time.perf_counter() - started
    if report.swapped:
        log.info("VAE replaced by %s (%s)", report.swapped["path"], report.swapped["reason"])
    log.debug("VAE checked: %s", "; ".join(report.checks))
    if on_progress is not None:
        on_progress(1, 1)
    # A plan made before carries the decode options it was made with: Wan Sample makes a new one.
    return replace(handle, pipeline=pipeline, vae_report=report, decode=options, plan=None)


def _sandboxed(handle: Any, vae: str | Path | None) -> Any:
    """A trusted custom pipeline runs only in the sandbox: its VAE is built and run by its own code,
    out of reach. Passed on unchanged, with a report saying so; a VAE to swap in is refused."""
    if vae is not None:
        raise UsageError("PIPELINE_UNSUPPORTED", f"Wan VAE Fix: {Path(vae).name} cannot be swapped into a sandboxed pipeline, "
                         "whose code builds its own VAE", stage="Wan VAE Fix", pipeline_class=str(handle.pipeline_class))
    report = VaeFixReport(found={"class": "the pipeline's own (in the sandbox)"}, checks=[])
    report.problems.append(problem("SANDBOX_STAGE_LIMITED", "Wan VAE Fix cannot check or replace the VAE of a sandboxed pipeline, "
                                   "and tiling, slicing and chunked decode do not apply; the pipeline is passed on unchanged",
                                   severity="info", stage="Wan VAE Fix"))
    return replace(handle, vae_report=report)


def _findings(pipeline: Any, info: Any) -> list[Problem]:
    found = checks.vae_problems(pipeline, info)
    return found + (checks.weight_problems(pipeline.vae, "vae") if pipeline.vae is not None else [])


def _swap_in(pipeline: Any, candidate: swap.VaeCandidate, report: VaeFixReport, reason: str, source: dict[str, Any]) -> Any:
    """Load the candidate in the old VAE's dtype, on its device, and rebuild the pipeline around it."""
    import torch

    old = pipeline.vae
    first = next(old.parameters(), None) if old is not None else None
    from ..loading.report import LoadReport

    reading = LoadReport(source={"vae": str(candidate.path)})
    reading.track(source.get("on_progress"))  # the replacement's bytes as they are read
    replacement = swap.load(candidate, dtype=first.dtype if first is not None else torch.float32, report=reading,
                            **{k: v for k, v in source.items() if k != "on_progress"})
    reading.finish()  # the bar is full: the header bytes are read too
    if first is not None and first.device.type != "meta":
        replacement = replacement.to(first.device)
    report.swapped = {"path": str(candidate.path), "z_dim": candidate.z_dim, "version": candidate.version, "reason": reason,
                      "previous": describe_vae(old) if old is not None else None}
    report.rebuilt = True
    return swap.rebuild(pipeline, vae=replacement)


def _checks_done(pipeline: Any) -> list[str]:
    names = [name for name, _ in checks.transformers_of(pipeline)]
    return [
        f"z_dim vs {'/'.join(names)} out_channels",
        "in_channels is z or 2z+4",
        "latents_mean/latents_std lengths",
        "spatial scale (config, layers, pipeline)",
        "3D Wan VAE and release (2.1 / 2.2)",
        "no meta, NaN/Inf or absurd weights",
    ]
