"""`wan-compat demo`: every stage, end to end, on a tiny Wan model built offline.

detect -> safe load -> VAE fix -> optimize (a plan for the demo's size, applied by the sample run
only) -> sample -> frame process -> encode (MP4 and WebM) -> diagnose. The model has random weights (its video is noise) but every shape, path, check and
file is real, so the demo proves the installation works on any machine, GPU or not, in seconds.
A stage that fails stops the run; the report is still written, with that stage's error and fix.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..core.errors import WanCompatError

PROMPT = "a cat walks on the grass"
DEFAULT_VARIANT = "wan2.1-t2v"


class DemoResult:
    """The files the demo wrote and the diagnosis that describes the run."""

    def __init__(self) -> None:
        self.videos: list[Path] = []
        self.report_path: Path | None = None
        self.report: Any = None
        self.seconds: dict[str, float] = {}
        self.failed_stage: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_stage is None and self.report is not None and self.report.verdict != "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "videos": [str(p) for p in self.videos],
            "report": str(self.report_path) if self.report_path else None,
            "verdict": self.report.verdict if self.report is not None else None,
            "failed_stage": self.failed_stage,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def run_demo(out: str | Path, *, variant: str = DEFAULT_VARIANT, width: int = 64, height: int = 64, num_frames: int = 17,
             steps: int = 4, seed: int = 42, prompt: str = PROMPT, cache_dir: str | Path | None = None,
             log: Callable[[str], None] = lambda line: None) -> DemoResult:
    """Run the demo into `out` (created if needed; nothing in it is ever overwritten)."""
    from ..diagnostics import DiagnosticCollector

    out = Path(out).absolute()
    result = DemoResult()
    collector = DiagnosticCollector()
    state: dict[str, Any] = {}
    stages: list[tuple[str, Callable[[], None]]] = [
        ("model", lambda: _model(state, variant, cache_dir)),
        ("detect", lambda: _detect(state, collector)),
        ("load", lambda: _load(state, collector)),
        ("vae", lambda: _vae(state, collector)),
        ("optimize", lambda: _optimize(state, collector, width, height, num_frames)),
        ("sample", lambda: _sample(state, collector, prompt, width, height, num_frames, steps, seed)),
        ("frames", lambda: _frames(state, collector)),
        ("encode", lambda: _encode(state, collector, out, result)),
    ]
    for name, step in stages:
        started = time.perf_counter()
        try:
            step()
        except WanCompatError as err:
            collector.add_error(err, stage=name)
            result.failed_stage = name
        except Exception as exc:  # a raw failure is translated into a catalogue code for the report
            collector.add_error(exc, stage=name)
            result.failed_stage = name
        result.seconds[name] = time.perf_counter() - started
        log(f"{name:<9} {'FAILED' if result.failed_stage == name else 'ok':<6} {result.seconds[name]:6.2f} s")
        if result.failed_stage:
            break
    started = time.perf_counter()
    from ..diagnostics.report_file import write_report

    collector.add_system()
    result.report = collector.build()
    result.report_path = write_report(result.report, out, "wan_demo_report")
    result.seconds["diagnose"] = time.perf_counter() - started
    log(f"{'diagnose':<9} {'ok':<6} {result.seconds['diagnose']:6.2f} s")
    return result


def _model(state: dict[str, Any], variant: str, cache_dir: str | Path | None) -> None:
    from ..fixtures.tiny import tiny_pipeline_path

    state["model"] = tiny_pipeline_path(variant, cache_dir)  # built once, then cached


def _detect(state: dict[str, Any], collector: Any) -> None:
    from ..detect.detector import ArchitectureDetector

    info = ArchitectureDetector().inspect(state["model"])
    collector.add(info)
    errors = [p for p in info.problems if p.severity == "error"]
    if errors:
        raise WanCompatError(errors[0].code, errors[0].detail, **errors[0].context)
    state["info"] = info


def _load(state: dict[str, Any], collector: Any) -> None:
    from ..loading import LoadOptions, load_pipeline
    from ..optimize import OptimizationManager, Sizes

    precision = OptimizationManager().plan(state["info"], Sizes(64, 64, 5)).precision
    state["loaded"] = load_pipeline(state["model"], model_info=state["info"], options=LoadOptions(dtype=precision))  # not detected twice
    collector.add(state["loaded"].report, stage="load")


def _vae(state: dict[str, Any], collector: Any) -> None:
    from ..vae import fix_vae

    state["fixed"] = fix_vae(state["loaded"])
    collector.add(state["fixed"].vae_report, stage="vae")


def _optimize(state: dict[str, Any], collector: Any, width: int, height: int, num_frames: int) -> None:
    from dataclasses import replace

    from ..optimize import plan

    state["plan"] = plan(state["fixed"], width, height, num_frames)
    collector.add(state["plan"], stage="optimize")
    state["ready"] = replace(state["fixed"], plan=state["plan"])  # made for the size sampled: the run applies it


def _sample(state: dict[str, Any], collector: Any, prompt: str, width: int, height: int, num_frames: int,
            steps: int, seed: int) -> None:
    from ..sampling import SampleRequest, sample

    request = SampleRequest(prompt=prompt, width=width, height=height, num_frames=num_frames, steps=steps, seed=seed)
    state["sampled"] = sample(state["ready"], request, record=False)
    collector.add(state["sampled"].stats, stage="sample")


def _frames(state: dict[str, Any], collector: Any) -> None:
    from ..frames.handler import FrameTensorHandler, model_verdict

    stats = state["sampled"].stats
    images, info = FrameTensorHandler().normalize(state["sampled"].frames, fps=stats.fps,
                                                  metadata={"prompt": stats.to_dict().get("prompt"), "model": model_verdict(state["info"])})
    state["images"], state["frames_info"] = images, info
    collector.add(info, stage="frames")


def _encode(state: dict[str, Any], collector: Any, out: Path, result: DemoResult) -> None:
    from ...encoders.encode import EncodeReport, encode_video
    from ..frames.handler import model_verdict

    metadata = {"wan_compat": {"demo": True, "model": model_verdict(state["info"])}}
    report = EncodeReport()
    try:
        for fmt in ("h264-mp4", "vp9-webm"):
            video = encode_video(state["images"], output_dir=out, filename_prefix="wan_demo", fmt=fmt,
                                 fps=state["frames_info"].fps, metadata=metadata)
            report.videos.append(video)
            result.videos.append(video.path)
    finally:
        collector.add(report, stage="encode")
