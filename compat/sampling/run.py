"""Wan Sample's backend: one generation with a diffusers Wan pipeline, watched step by step.

Before any step: the request is validated against the model (frames 4k+1, sizes multiples of the
spatial step, the inputs each mode needs) and the VAE against the transformer(s), so a wrong VAE
is refused before the first denoising step instead of after the last. Each run uses its own
pipeline object around the same modules (the mode's class, the requested flow shift and
boundary ratio), and the memory plan for the size it runs (Wan Optimize's preferences, else the
settings) is applied to the modules for this run only (`optimize.runtime.applied`): nothing of a
run stays on the caller's pipeline or its modules.

During the run `callback_on_step_end` times each step, refuses NaN/Inf latents naming the step,
reports progress and checks for interrupt; forward pre-hooks on the transformers record which
expert ran each step (Wan 2.2 MoE). The pipeline stops at latents; the VAE decode is ours
(`vae.decode`: chunked by default, bit-identical to diffusers' decode) and writes IMAGE frames.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core.translate import out_of_memory, translate_or_wrap
from ..frames.boundaries import mark_videos
from ..core.errors import SampleError, WanCompatError, problem
from ..loading.pipeline_checks import require_wan_pipeline
from ..lora.apply import lora_applied
from ..optimize.manager import OptimizationPlan, next_offload, plan_for_run
from ..optimize.memory import ModelShape, Sizes, estimate, transformer_tokens
from ..optimize.runtime import applied
from ..vae.checks import check_pipeline_vae
from ..vae.decode import unnormalize
from ..vae.decode_retry import Retry, decode_with_retries
from .images import check_frames, to_pil
from .memory import PeakMemory
from .request import Resolved, SampleRequest, resolve
from .stats import SampleResult, SampleStats

Progress = Callable[[int, int], None]
log = logging.getLogger("wan_compat.sample")
ESTIMATE_TOLERANCE = 0.5  # report ESTIMATE_OFF beyond +-50 % ...
ESTIMATE_SLACK = 64 * 2**20  # ... and 64 MiB (small runs are dominated by allocator noise)


class _StepWatch:
    """The step callback and the expert hooks of one run."""

    def __init__(self, pipeline: Any, total: int, on_progress: Progress | None, check_interrupt: Callable[[], None] | None) -> None:
        self.total, self.on_progress, self.check_interrupt = total, on_progress, check_interrupt
        self.step_seconds: list[float] = []
        self.experts: list[str] = []
        self.started: float | None = None
        self.last = 0.0
        self.raised: BaseException | None = None  # from the caller's progress / interrupt check: passed on unchanged
        moe = pipeline.transformer_2 is not None
        roles = {"transformer": "high_noise" if moe else "transformer", "transformer_2": "low_noise"}
        self.hooks = [
            module.register_forward_pre_hook(self._hook(role))
            for name, role in roles.items()
            if (module := getattr(pipeline, name, None)) is not None
        ]

    def _hook(self, role: str) -> Callable[..., None]:
        def record(module: Any, args: Any) -> None:
            if self.started is None:
                self.started = self.last = time.perf_counter()
            if len(self.experts) == len(self.step_seconds):  # first forward of this step (cond before uncond)
                self.experts.append(role)
        return record

    def callback(self, pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        import torch

        now = time.perf_counter()
        self.step_seconds.append(now - self.last)
        self.last = now
        log.debug("step %d/%d (timestep %g, %s): %.3f s", step + 1, self.total, float(timestep),
                  self.experts[-1] if self.experts else "transformer", self.step_seconds[-1])
        latents = tensors["latents"]
        if not bool(torch.isfinite(latents).all()):
            bad = int((~torch.isfinite(latents)).sum())
            raise SampleError("SAMPLE_NONFINITE_LATENTS", f"step {step + 1} of {self.total} (timestep {float(timestep):g}): "
                              f"{bad} of {latents.numel()} latent values are NaN/Inf after the {self.experts[-1] if self.experts else 'transformer'}",
                              step=step + 1)
        self.progress(step + 1)
        return {}

    def progress(self, done: int, interrupt: bool = True) -> None:
        """Report progress and check for interrupt; what the caller's functions raise is kept, so it
        is passed on unchanged (ComfyUI's interrupt must reach ComfyUI as itself)."""
        try:
            if self.on_progress is not None:
                self.on_progress(done, self.total)
            if interrupt and self.check_interrupt is not None:
                self.check_interrupt()
        except BaseException as exc:
            self.raised = exc
            raise

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks = []


def run_pipeline(pipeline: Any, resolved: Resolved) -> Any:
    """The pipeline object this run calls: the mode's class around the same modules, with the
    requested flow shift and boundary ratio. Never the caller's object, which stays untouched
    (offload state such as `_all_hooks` lives on this object for the run only)."""
    from ..loading import assemble

    parts = dict(pipeline.components)
    scheduler = pipeline.scheduler
    shift = {"flow_shift": resolved.shift} if resolved.shift is not None and resolved.shift != scheduler.config.get("flow_shift") else {}
    parts["scheduler"] = type(scheduler).from_config(scheduler.config, **shift)  # its step state is the run's own
    scalars = {"boundary_ratio": resolved.boundary_ratio, "expand_timesteps": pipeline.config.get("expand_timesteps")}
    run = assemble.assemble(resolved.pipeline_class, parts, scalars)
    run.set_progress_bar_config(disable=True)
    return run


def _estimate(plan: OptimizationPlan, run: Any, sizes: Sizes, device: Any) -> dict[str, Any]:
    """The plan's estimate for this request, with the weights resident on the measured device once
    the plan is applied, so the measured increase during the run can be compared with the estimate."""
    shape = ModelShape.from_pipeline(run)
    est = estimate(shape, sizes, precision=plan.precision, device=device.type, offload=plan.offload,
                   chunked_decode=plan.decode.chunked, tiling=plan.decode.tiling).to_dict()
    est["resident_weights_bytes"] = resident = shape.device_bytes.get(device.type, 0)
    est["increase_bytes"] = max(0, est["device_peak_bytes"] - resident)
    return est


def sample(
    handle: Any,
    request: SampleRequest,
    *,
    on_progress: Progress | None = None,
    check_interrupt: Callable[[], None] | None = None,
    record: bool = True,
    user_dir: str | Path | None = None,
) -> SampleResult:
    """Generate `request` with the `WAN_PIPELINE` handle; returns IMAGE frames and SampleStats.

    `on_progress(done, total)` is called after every denoising step and every decoded chunk (total =
    steps + chunks); `check_interrupt()` after every step: whatever either raises (ComfyUI's
    interrupt) stops the run and is raised unchanged. Typed errors: SampleError (inputs, NaN/Inf
    latents, bad frames), CompatibilityError / LoadError (VAE, weights), and translated raw errors.
    The memory plan for the request's size (`handle.plan` when made for exactly it, else one from
    `handle.preferences` or the settings in `user_dir`) is applied for this run only: `stats.plan`.
    """
    if getattr(handle, "sandboxed", False):  # trusted custom code: the run happens in the sandbox
        from .sandboxed import sample_sandboxed

        return sample_sandboxed(handle, request, on_progress=on_progress, check_interrupt=check_interrupt)
    started = time.perf_counter()
    pipeline = require_wan_pipeline(handle, "Wan Sample")
    info = handle.model_info
    check_pipeline_vae(pipeline, info, vae_values=handle.vae_report is None)
    resolved = resolve(pipeline, request)
    r = resolved.request
    images = {name: to_pil(getattr(r, name), name) for name in ("image", "last_image") if getattr(r, name) is not None}
    sizes = Sizes(r.width, r.height, r.num_frames, r.videos)
    plan, plan_problems = plan_for_run(handle, sizes, user_dir=str(user_dir) if user_dir else None)
    run = run_pipeline(pipeline, resolved)
    latent_frames = (r.num_frames - 1) // resolved.temporal + 1
    decode = plan.decode
    chunks = r.videos * -(-latent_frames // decode.chunk_latent_frames) if decode.chunked else 1
    context = _Run(handle, run, resolved, sizes, images, r.steps + chunks, on_progress, check_interrupt)
    retries: list[Retry] = []
    while True:  # once more with the next offload level after an out-of-memory while sampling
        try:
            done = context.once(plan)
            break
        except BaseException as exc:
            watch = context.watch
            if (watch is not None and exc is watch.raised) or not isinstance(exc, Exception) or isinstance(exc, WanCompatError):
                raise
            denoising = watch is None or len(watch.step_seconds) < r.steps
            following = next_offload(plan) if denoising and not retries and out_of_memory(exc) else None
            if following is None:
                raise translate_or_wrap(exc, stage="sample" if denoising else "decode") from exc
            retries.append(Retry("sample", f"out of memory at step {len(watch.step_seconds) + 1 if watch else 1} ({type(exc).__name__})",
                                 f"retried once with {following.offload} offload (was {plan.offload})"))
            log.warning("out of memory while sampling with %s offload; retrying once with %s offload", plan.offload, following.offload)
            plan = following
    frames, mode, watch = done.frames, done.mode, done.watch
    finished = time.perf_counter()
    check_frames(frames, (r.videos * r.num_frames, r.height, r.width, 3))
    mark_videos(frames, [r.num_frames] * r.videos)  # the videos stay apart on the IMAGE link (frames/boundaries.py)
    stats = _stats(handle, run, resolved, watch, frames, mode, done.peak, done.estimate, done.device, done.dtype)
    stats.plan = plan
    stats.loras = done.loras
    stats.problems[:0] = plan_problems
    for retry in retries + done.retries:
        stats.retries.append(retry.to_dict())
        stats.problems.append(problem("OUT_OF_MEMORY_RETRIED", f"{retry.error}: {retry.changed}", severity="warning", stage=retry.stage))
    stats.prepare_seconds = (watch.started or done.denoised) - started
    stats.decode_seconds = finished - done.denoised
    stats.total_seconds = finished - started
    if mode != "chunked":  # a full or tiled decode is one piece of work
        watch.progress(context.total, interrupt=False)
    if record:
        _record(stats, info, user_dir, handle.loras)
    log.info("%s %dx%d, %d frame(s) x %d video(s), %d steps in %.1f s (%.2f s/step, decode %s) on %s", stats.mode.upper(), r.width,
             r.height, r.num_frames, r.videos, r.steps, stats.total_seconds, stats.seconds_per_step, mode, stats.device)
    log.debug("plan: %s", plan.summary())
    return SampleResult(frames, stats)


@dataclass
class _Done:
    frames: Any
    mode: str
    retries: list[Retry]
    peak: PeakMemory
    estimate: dict[str, Any]
    device: Any
    dtype: str
    watch: _StepWatch
    denoised: float
    loras: dict[str, str]


class _Run:
    """One request on one run pipeline; `once(plan)` applies the plan, denoises and decodes."""

    def __init__(self, handle: Any, run: Any, resolved: Resolved, sizes: Sizes, images: dict[str, Any], total: int,
                 on_progress: Progress | None, check_interrupt: Callable[[], None] | None) -> None:
        self.handle, self.run, self.resolved, self.sizes, self.images, self.total = handle, run, resolved, sizes, images, total
        self.on_progress, self.check_interrupt = on_progress, check_interrupt
        self.watch: _StepWatch | None = None

    def once(self, plan: OptimizationPlan) -> _Done:
        import torch

        run, r = self.run, self.resolved.request
        self.watch = None
        calls = 2 if r.cfg > 1 or (self.resolved.cfg_2 or 0) > 1 else 1  # guidance: a second transformer call per step
        tokens = transformer_tokens(ModelShape.from_pipeline(run), self.sizes) * calls if self.handle.loras else None
        lora_ways: dict[str, str] = {}  # expert -> merged / hooked, as lora_applied chose for this run
        with applied(run, plan, plan.decode), lora_applied(run, self.handle.loras, steps=r.steps, tokens=tokens, chosen=lora_ways):  # this run only
            device = run._execution_device
            estimate = _estimate(plan, run, self.sizes, device)
            transformer = run.transformer if run.transformer is not None else run.transformer_2
            dtype = str(transformer.dtype).replace("torch.", "")
            watch = self.watch = _StepWatch(run, self.total, self.on_progress, self.check_interrupt)
            kwargs: dict[str, Any] = dict(prompt=r.prompt, negative_prompt=r.negative_prompt, height=r.height, width=r.width,
                                          num_frames=r.num_frames, num_inference_steps=r.steps, guidance_scale=r.cfg,
                                          num_videos_per_prompt=r.videos, output_type="latent",
                                          generator=torch.Generator(device=device).manual_seed(int(r.seed)),
                                          callback_on_step_end=watch.callback, **self.images)
            if self.resolved.moe:
                kwargs["guidance_scale_2"] = self.resolved.cfg_2
            try:
                with PeakMemory(device) as peak, torch.no_grad():
                    latents = run(**kwargs).frames
                    denoised = time.perf_counter()
                    frames, mode, retries = decode_with_retries(run.vae, unnormalize(run.vae, latents), plan.decode,
                                                                on_chunk=lambda done, _: watch.progress(r.steps + done))
                    del latents
            finally:
                watch.remove()
        return _Done(frames, mode, retries, peak, estimate, device, dtype, watch, denoised, lora_ways)


def _stats(handle: Any, run: Any, resolved: Resolved, watch: _StepWatch, frames: Any, mode: str, peak: PeakMemory,
           estimate: dict[str, Any], device: Any, dtype: str) -> SampleStats:
    r = resolved.request
    info = handle.model_info
    switch = next((i + 1 for i, role in enumerate(watch.experts) if role == "low_noise"), None)
    stats = SampleStats(
        mode=resolved.mode, pipeline_class=type(run).__name__, model=info.variant or Path(str(info.path)).name,
        device=str(device), dtype=dtype,
        width=r.width, height=r.height, num_frames=r.num_frames, videos=r.videos, steps=r.steps, seed=int(r.seed),
        cfg=r.cfg, cfg_2=resolved.cfg_2, shift=resolved.shift, boundary_ratio=resolved.boundary_ratio,
        frames_shape=list(frames.shape), fps=(info.requirements or {}).get("fps"),
        step_seconds=watch.step_seconds, timesteps=[float(t) for t in run.scheduler.timesteps],
        experts=watch.experts, switch_step=switch, decode_mode=mode,
        peak_memory_bytes=peak.bytes, memory_baseline_bytes=peak.baseline, memory_method=peak.method,
        estimate=estimate, problems=list(resolved.problems),
    )
    measured, expected = peak.bytes - peak.baseline, estimate["increase_bytes"]
    if abs(measured - expected) > max(ESTIMATE_TOLERANCE * expected, ESTIMATE_SLACK):
        stats.problems.append(problem("ESTIMATE_OFF", f"memory grew by {measured / 2**20:.0f} MiB during the run ({peak.method}); "
                                      f"the estimate was {expected / 2**20:.0f} MiB above the resident weights",
                                      severity="info", percent=int(ESTIMATE_TOLERANCE * 100)))
    return stats


def applied_plan(stats: SampleStats, loras: Any = ()) -> dict[str, Any]:
    """The strategy a run applied, as the history records it (and hashes it)."""
    plan = stats.plan
    if plan is None:
        return {}
    return {"precision": plan.precision, "offload": plan.offload, "tiling": plan.decode.tiling, "slicing": plan.decode.slicing,
            "chunked": plan.decode.chunked, "decode_mode": stats.decode_mode, "weight_storage": plan.weight_storage,
            "loras": [{"name": spec.name, "strength": spec.strength, "target": spec.target} for spec in loras]}


def _record(stats: SampleStats, info: Any, user_dir: str | Path | None, loras: Any = ()) -> None:
    """Store the run in the performance history; a failure there is a warning, never a failed run."""
    from .perf_history import PerfRun, record_run

    try:
        regression = record_run(PerfRun(
            model=stats.model, variant=info.variant, device=stats.device, width=stats.width, height=stats.height,
            frames=stats.num_frames, steps=stats.steps, seconds_per_step=stats.seconds_per_step, total_seconds=stats.total_seconds,
            peak_memory_bytes=stats.peak_memory_bytes, estimate_bytes=stats.estimate.get("device_peak_bytes"),
            extra={"mode": stats.mode, "videos": stats.videos, "decode_mode": stats.decode_mode, "switch_step": stats.switch_step,
                   "dtype": stats.dtype, "retries": stats.retries}, plan=applied_plan(stats, loras)), user_dir=user_dir)
    except WanCompatError as err:
        stats.problems.append(problem(err.code, err.detail, severity="warning", **err.problem.context))
        return
    if regression is not None:
        stats.problems.append(regression.to_problem())
