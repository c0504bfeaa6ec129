"""A smoke test: the smallest real generation through every stage, with each check's verdict.

detect -> safe load -> VAE fix -> plan -> sample a few frames at the smallest size the model
takes -> check the frames' shape, finiteness and value range; with the time of each stage and the
peak memory beside the estimate. `wan-compat smoke PATH` prints it; exit 1 when a check fails.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import Problem, WanCompatError

PROMPT = "a cat walks on the grass"


@dataclass
class SmokeReport:
    stage = "smoke"
    path: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks) and not any(p.severity == "error" for p in self.problems)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})
        return bool(ok)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "checks": self.checks, "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
                "memory": self.memory, "sample": self.sample, "problems": [p.to_dict() for p in self.problems]}

    def summary(self) -> str:
        lines = [f"smoke test of {self.path}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"- {'ok  ' if c['ok'] else 'FAIL'} {c['name']}" + (f": {c['detail']}" if c["detail"] else "") for c in self.checks]
        if self.seconds:
            lines.append("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        if self.memory:
            m = self.memory
            lines.append(f"memory: peak {m['peak_bytes'] / 2**20:.0f} MiB ({m['method']}), grew by {m['increase_bytes'] / 2**20:.0f} MiB; "
                         f"estimate {m['estimate_bytes'] / 2**20:.0f} MiB above the resident weights")
        lines += [p.text() for p in self.problems]
        return "\n".join(lines)


def _condition_image(height: int, width: int) -> Any:
    """A smooth colour gradient as a one-image IMAGE batch (deterministic, not noise)."""
    import torch

    y = torch.linspace(0, 1, height).view(height, 1, 1).expand(height, width, 1)
    x = torch.linspace(0, 1, width).view(1, width, 1).expand(height, width, 1)
    return torch.cat([x, y, (x + y) / 2], dim=2).unsqueeze(0).contiguous()


def smoke_test(path: str | Path, *, num_frames: int = 5, steps: int = 2, seed: int = 0, width: int | None = None,
               height: int | None = None, dtype: str | None = None) -> SmokeReport:
    """Run the smoke test on a model folder or file; never raises for what it finds (the report does)."""
    report = SmokeReport(path=str(path))
    started = time.perf_counter()
    try:
        _run(report, Path(path), num_frames=num_frames, steps=steps, seed=seed, width=width, height=height, dtype=dtype)
    except WanCompatError as err:
        report.problems.append(err.problem)
    except Exception as exc:  # the report must still come back, with the raw error translated
        from ..core.translate import translate_or_wrap

        report.problems.append(translate_or_wrap(exc).problem)
    report.seconds["total"] = time.perf_counter() - started
    return report


def _timed(report: SmokeReport, name: str, started: float) -> float:
    now = time.perf_counter()
    report.seconds[name] = now - started
    return now


def _run(report: SmokeReport, path: Path, *, num_frames: int, steps: int, seed: int, width: int | None, height: int | None,
         dtype: str | None) -> None:
    from ..detect.detector import ArchitectureDetector
    from ..loading import LoadOptions, load_pipeline
    from ..optimize import OptimizationManager, Sizes
    from ..sampling import SampleRequest, sample
    from ..sampling.request import model_facts
    from ..vae import fix_vae

    t = time.perf_counter()
    info = ArchitectureDetector().inspect(path)
    t = _timed(report, "detect", t)
    errors = [p for p in info.problems if p.severity == "error"]
    if not report.check("detect", not errors, "; ".join(f"[{p.code}] {p.summary}" for p in errors) or f"{info.summary().splitlines()[0]}"):
        report.problems += errors
        return
    manager = OptimizationManager()
    precision = dtype or manager.plan(info, Sizes(64, 64, num_frames)).precision
    loaded = load_pipeline(path, model_info=info, options=LoadOptions(dtype=precision))  # not detected twice
    t = _timed(report, "load", t)
    report.check("load", True, f"{loaded.pipeline_class} in {precision}")
    fixed = fix_vae(loaded)
    t = _timed(report, "vae_fix", t)
    report.check("vae", True, fixed.vae_report.summary().splitlines()[0])
    facts = model_facts(fixed.pipeline)
    step_h, step_w = facts["step"]
    height, width = height or 2 * step_h, width or 2 * step_w
    plan = manager.plan(fixed, Sizes(width, height, num_frames))
    fits = report.check("plan", plan.fits, f"{plan.precision}, offload {plan.offload}, estimate {plan.estimate.device_peak / 2**20:.0f} MiB"
                        + ("" if plan.fits else f", over the budget of {plan.budget['device_bytes'] / 2**20:.0f} MiB: not sampled"))
    if not fits:
        report.problems += plan.problems
        return
    ready = replace(fixed, plan=plan)  # made for this size: the sample run applies it, for that run only
    t = _timed(report, "plan", t)
    image = _condition_image(height, width)
    request = SampleRequest(prompt=PROMPT, width=width, height=height, num_frames=num_frames, steps=steps, seed=seed,
                            image=image if facts["image_conditioned"] or facts["expand_timesteps"] else None,
                            last_image=image.flip(2) if facts["first_last"] else None)
    try:
        result = sample(ready, request, record=False)
    except WanCompatError as err:
        _timed(report, "sample", t)
        report.check("sample", False, err.message().splitlines()[0])
        report.problems.append(err.problem)
        return
    _timed(report, "sample", t)
    frames, stats = result.frames, result.stats
    report.check("sample", True, f"{stats.mode} {width}x{height}, {num_frames} frames, {steps} steps, {stats.seconds_per_step:.3f} s/step")
    expected = (num_frames, height, width, 3)
    report.check("shape", tuple(frames.shape) == expected, f"{list(frames.shape)} (expected {list(expected)})")
    import torch

    finite = bool(torch.isfinite(frames).all())
    report.check("finite", finite, "no NaN/Inf" if finite else "NaN/Inf in the frames")
    low, high = float(frames.min()), float(frames.max())
    report.check("range", 0.0 <= low and high <= 1.0, f"[{low:.4f}, {high:.4f}] within [0, 1]")
    report.memory = {"peak_bytes": stats.peak_memory_bytes, "method": stats.memory_method,
                     "increase_bytes": stats.peak_memory_bytes - stats.memory_baseline_bytes,
                     "estimate_bytes": stats.estimate.get("increase_bytes", 0), "estimate": stats.estimate}
    report.sample = stats.to_dict()
    report.problems += [p for p in stats.problems if p.code != "ESTIMATE_OFF"]
