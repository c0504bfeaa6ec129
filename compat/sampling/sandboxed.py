"""Wan Sample for a trusted custom pipeline: one run inside the sandbox, frames and progress back.

The pipeline's code never runs in this process (`security/sandbox_pipeline.py`): the request goes to
the sandbox as JSON (prompt, sizes, frames, steps, guidance, seed, videos per prompt), each denoising
step comes back as a progress line (ComfyUI's bar moves, Cancel ends the sandbox between steps), and
the frames come back as a plain array, checked like any untrusted data (shape, dtype, finite, range)
before they become IMAGE frames. What the pack cannot do for code it does not run: apply a memory
plan, swap or check the VAE, decode in chunks; the stats say so.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..core.errors import SampleError, UsageError, problem
from ..frames.boundaries import mark_videos
from .images import check_frames
from .request import MAX_VIDEOS, SampleRequest
from .stats import SampleResult, SampleStats

Progress = Callable[[int, int], None]


def _checked(request: SampleRequest) -> None:
    """What can be checked without the model's code: JSON-able inputs in their ranges."""
    if request.image is not None or request.last_image is not None:
        raise UsageError("PIPELINE_UNSUPPORTED", "Wan Sample: images are not passed to a sandboxed pipeline (it takes JSON inputs only)",
                         stage="Wan Sample (image inputs)", pipeline_class="a sandboxed custom pipeline")
    for name in ("width", "height", "num_frames", "steps"):
        value = getattr(request, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SampleError("SAMPLE_VALUE_INVALID", f"{name} = {value!r}; a positive whole number is needed", name=name)
    if not 1 <= request.videos <= MAX_VIDEOS:
        raise SampleError("SAMPLE_VALUE_INVALID", f"videos = {request.videos}; 1 to {MAX_VIDEOS}", name="videos")


def sample_sandboxed(handle: Any, request: SampleRequest, *, on_progress: Progress | None = None,
                     check_interrupt: Callable[[], None] | None = None) -> Any:
    """Run `request` on the sandboxed pipeline of `handle`; returns a SampleResult."""
    import numpy as np
    import torch

    _checked(request)
    r = request
    kwargs = {"prompt": r.prompt, "negative_prompt": r.negative_prompt or None, "width": r.width, "height": r.height,
              "num_frames": r.num_frames, "num_inference_steps": r.steps, "guidance_scale": r.cfg, "seed": int(r.seed),
              "num_videos_per_prompt": r.videos}
    steps: list[float] = []
    started = last = time.perf_counter()

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        steps.append(now - last)
        last = now
        if on_progress is not None:
            on_progress(done, total)

    output = handle.pipeline(on_progress=progress, check_interrupt=check_interrupt, **kwargs)
    video = np.asarray(output.frames)
    if video.ndim == 4:
        video = video[None]
    if video.ndim != 5 or video.shape[-1] not in (1, 3, 4):
        raise SampleError("SAMPLE_OUTPUT_INVALID", f"the sandboxed pipeline returned frames of shape {list(video.shape)}; "
                          "(videos, frames, height, width, channels) was expected")
    videos, frames_per_video = int(video.shape[0]), int(video.shape[1])
    with torch.inference_mode(False):  # a version counter, so later stages can trust the check (frames/checked.py)
        frames = torch.from_numpy(np.ascontiguousarray(video[..., :3], dtype=np.float32)).reshape(-1, *video.shape[2:4], 3)
    check_frames(frames, (videos * frames_per_video, int(video.shape[2]), int(video.shape[3]), 3))
    mark_videos(frames, [frames_per_video] * videos)
    finished = time.perf_counter()
    info = handle.model_info
    stats = SampleStats(
        mode="sandboxed", pipeline_class=str(handle.pipeline_class), model=info.variant or Path(str(info.path)).name,
        device="chosen by the pipeline's code", dtype="chosen by the pipeline's code", width=r.width, height=r.height,
        num_frames=frames_per_video, videos=videos, steps=r.steps, seed=int(r.seed), cfg=r.cfg, cfg_2=None, shift=None,
        boundary_ratio=None, frames_shape=list(frames.shape), step_seconds=steps, decode_mode="the pipeline's own",
        total_seconds=finished - started,
        problems=[problem("SANDBOX_STAGE_LIMITED", "Wan Sample ran the pipeline in the sandbox: no memory plan, VAE check or chunked "
                          "decode was applied, the code chose its device and precision", severity="info", stage="Wan Sample")],
    )
    if not steps:
        stats.problems.append(problem("SANDBOX_STAGE_LIMITED", "the pipeline reported no steps (it does not take callback_on_step_end): "
                                      "the progress bar moved only at the end", severity="info", stage="Wan Sample"))
    if on_progress is not None:
        on_progress(r.steps, r.steps)
    return SampleResult(frames, stats)
