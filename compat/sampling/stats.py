"""What one Wan Sample run did: the `WAN_SAMPLE_STATS` output (a stage report for Wan Diagnose,
which also shows the plan the run applied as the `plan` stage)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import Problem

if TYPE_CHECKING:
    from ..optimize.manager import OptimizationPlan

GIB = 1024**3


@dataclass
class SampleStats:
    stage = "sample"
    mode: str
    pipeline_class: str
    model: str
    device: str
    dtype: str
    width: int
    height: int
    num_frames: int
    videos: int
    steps: int
    seed: int
    cfg: float
    cfg_2: float | None
    shift: float | None
    boundary_ratio: float | None
    frames_shape: list[int] = field(default_factory=list)
    fps: float | None = None
    step_seconds: list[float] = field(default_factory=list)
    timesteps: list[float] = field(default_factory=list)
    experts: list[str] = field(default_factory=list)  # which transformer ran each step
    switch_step: int | None = None  # first step (1-based) of the low-noise expert, Wan 2.2 MoE
    prepare_seconds: float = 0.0  # text (and image) encoding before the first step
    decode_seconds: float = 0.0
    total_seconds: float = 0.0
    decode_mode: str = ""
    peak_memory_bytes: int = 0
    memory_baseline_bytes: int = 0
    memory_method: str = ""
    estimate: dict[str, Any] = field(default_factory=dict)
    retries: list[dict[str, str]] = field(default_factory=list)  # out-of-memory retries: stage, error, what changed
    problems: list[Problem] = field(default_factory=list)
    plan: OptimizationPlan | None = None  # the plan applied for this run (made for its size)
    loras: dict[str, str] = field(default_factory=dict)  # expert -> how its LoRAs ran: "merge" (for the run) or "hooks"

    @property
    def seconds_per_step(self) -> float:
        return sum(self.step_seconds) / len(self.step_seconds) if self.step_seconds else 0.0

    @property
    def frames_note(self) -> str:
        if self.videos == 1:
            return f"{self.num_frames} frames"
        return (f"{self.videos} videos of {self.num_frames} frames, concatenated along the frame axis "
                f"(video k is frames k*{self.num_frames} to (k+1)*{self.num_frames}-1)")

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("problems", "plan")}
        p = self.plan
        out["plan"] = None if p is None else {"precision": p.precision, "offload": p.offload, "device": p.device,
                                               "decode": p.decode.to_dict(), "sizes": p.sizes.to_dict(), "fits": p.fits}
        out.update(seconds_per_step=round(self.seconds_per_step, 6), frames_note=self.frames_note,
                   video_lengths=[self.num_frames] * self.videos,
                   step_seconds=[round(s, 6) for s in self.step_seconds],
                   problems=[p.to_dict() for p in self.problems])
        return out

    def summary(self) -> str:
        lines = [
            f"{self.mode.upper()} {self.width}x{self.height}, {self.frames_note}, {self.steps} steps, seed {self.seed}, "
            f"cfg {self.cfg:g}" + (f" / {self.cfg_2:g}" if self.cfg_2 is not None else "") + f", shift {self.shift}",
            f"time: {self.total_seconds:.2f} s ({self.seconds_per_step:.3f} s/step, prepare {self.prepare_seconds:.2f} s, "
            f"decode {self.decode_seconds:.2f} s {self.decode_mode}) on {self.device} ({self.dtype})",
            f"peak memory: {self.peak_memory_bytes / GIB:.2f} GiB ({self.memory_method})"
            + (f"; estimate {self.estimate['device_peak_bytes'] / GIB:.2f} GiB" if self.estimate.get("device_peak_bytes") else ""),
        ]
        if self.plan is not None:
            d = self.plan.decode
            lines.append(f"plan for this run: {self.plan.precision}, offload {self.plan.offload}, "
                         f"{'chunked' if d.chunked else 'full'} decode, tiling {'on' if d.tiling else 'off'}"
                         + ("" if self.plan.fits else " (over the memory budget)"))
        if self.switch_step is not None:
            lines.append(f"experts: high-noise for steps 1-{self.switch_step - 1}, low-noise from step {self.switch_step} "
                         f"(boundary_ratio {self.boundary_ratio})")
        elif self.boundary_ratio is not None:
            lines.append(f"experts: only {self.experts[0] if self.experts else '?'} ran (boundary_ratio {self.boundary_ratio})")
        if self.loras:
            lines.append("LoRAs: " + ", ".join(f"{expert} {'merged for the run' if way == 'merge' else 'as hooks'}" for expert, way in self.loras.items()))
        lines.extend(p.text() for p in self.problems)
        return "\n".join(lines)


@dataclass
class SampleResult:
    """What one generation gives: IMAGE frames, (videos * num_frames, H, W, 3) float32 in [0, 1] and
    marked with its videos' lengths (frames/boundaries.py), and the run's statistics."""

    frames: Any
    stats: SampleStats
