"""What to generate, validated against the model before any work starts.

Every value is checked here, with an error naming the input, the value and the values that would
work (diffusers only logs a warning and silently rounds frames and sizes, or fails after the last
step). A request leaves `None` for "the model's own value" (shift, cfg_2, boundary_ratio).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Problem, SampleError, problem
from ..detect.validate import check_moe

MAX_VIDEOS = 16


@dataclass
class SampleRequest:
    prompt: str
    negative_prompt: str = ""
    width: int = 832
    height: int = 480
    num_frames: int = 81
    steps: int = 30
    seed: int = 0
    cfg: float = 5.0
    cfg_2: float | None = None  # Wan 2.2 MoE low-noise expert; None: the model's default, else cfg
    shift: float | None = None  # flow shift; None: the scheduler's own
    boundary_ratio: float | None = None  # Wan 2.2 MoE; None: the model's own
    image: Any = None  # IMAGE (B, H, W, C) in [0, 1] or a PIL image: the first frame
    last_image: Any = None  # FLF2V: the last frame
    videos: int = 1  # videos per prompt; their frames are concatenated in the output

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("image", "last_image")}
        out["image"] = _describe_image(self.image)
        out["last_image"] = _describe_image(self.last_image)
        return out


def _describe_image(image: Any) -> Any:
    if image is None:
        return None
    shape = getattr(image, "shape", None)
    return list(shape) if shape is not None else f"{type(image).__name__} {getattr(image, 'size', '')}"


@dataclass
class Resolved:
    """A request checked against one pipeline: the mode, the pipeline class to call, every value."""

    request: SampleRequest
    mode: str
    pipeline_class: str
    spatial_step: tuple[int, int]  # (height, width) multiples
    temporal: int
    moe: bool
    shift: float
    cfg_2: float | None
    boundary_ratio: float | None
    problems: list[Problem] = field(default_factory=list)


def model_facts(pipeline: Any) -> dict[str, Any]:
    """The few facts of a loaded Wan pipeline that decide the mode and the valid sizes."""
    transformer = pipeline.transformer if pipeline.transformer is not None else pipeline.transformer_2
    tc, vae = transformer.config, pipeline.vae
    z = tc.out_channels
    patch = tuple(tc.patch_size)
    spatial = vae.config.get("scale_factor_spatial", 8) if vae is not None else 8
    return {
        "expand_timesteps": bool(pipeline.config.get("expand_timesteps")),
        "image_conditioned": tc.in_channels == 2 * z + 4,
        "first_last": tc.get("pos_embed_seq_len") is not None,
        "moe": getattr(pipeline, "transformer_2", None) is not None,
        "boundary_ratio": pipeline.config.get("boundary_ratio"),
        "step": (spatial * patch[1], spatial * patch[2]),
        "temporal": vae.config.get("scale_factor_temporal", 4) if vae is not None else 4,
        "flow_shift": pipeline.scheduler.config.get("flow_shift"),
    }


def _nearest(value: int, step: int, offset: int = 0) -> str:
    low = max(offset or step, (value - offset) // step * step + offset)
    high = low + step if low < value else low
    return f"{low}" if low == high else f"{low} or {high}"


def _bad(name: str, value: Any, needed: str) -> SampleError:
    return SampleError("SAMPLE_VALUE_INVALID", f"{name} = {value!r}; {needed}", name=name)


def _number(name: str, value: Any, *, minimum: float, integer: bool = False, exclusive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = value > minimum if exclusive else value >= minimum
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise _bad(name, value, f"it must be {kind} {'>' if exclusive else '>='} {minimum:g}")


def resolve(pipeline: Any, request: SampleRequest) -> Resolved:
    """Check `request` against the pipeline's model; raises SampleError with the exact fix."""
    facts = model_facts(pipeline)
    r = request
    if not isinstance(r.prompt, str):
        raise _bad("prompt", type(r.prompt).__name__, "it must be text")
    if not isinstance(r.negative_prompt, str):
        raise _bad("negative_prompt", type(r.negative_prompt).__name__, "it must be text")
    _number("steps", r.steps, minimum=1, integer=True)
    _number("seed", r.seed, minimum=0, integer=True)
    if isinstance(r.seed, (int, float)) and r.seed >= 2**64:
        raise _bad("seed", r.seed, "it must be below 2**64")
    _number("cfg", r.cfg, minimum=0)
    _number("videos", r.videos, minimum=1, integer=True)
    if r.videos > MAX_VIDEOS:
        raise _bad("videos", r.videos, f"at most {MAX_VIDEOS} videos per prompt")
    temporal = facts["temporal"]
    _number("num_frames", r.num_frames, minimum=1, integer=True)
    if (r.num_frames - 1) % temporal:
        raise SampleError("SAMPLE_FRAMES_INVALID", f"num_frames = {r.num_frames}", temporal=temporal,
                          suggestion=_nearest(r.num_frames, temporal, 1))
    step_h, step_w = facts["step"]
    for name, value, step in (("width", r.width, step_w), ("height", r.height, step_h)):
        _number(name, value, minimum=step, integer=True)
        if value % step:
            raise SampleError("SAMPLE_SIZE_INVALID", f"{name} = {value}", name=name, step=step, suggestion=_nearest(value, step))
    problems: list[Problem] = []
    mode, pipeline_class = _mode(facts, r)
    shift = facts["flow_shift"] if r.shift is None else r.shift
    if r.shift is not None:
        _number("shift", r.shift, minimum=0, exclusive=True)
    boundary = facts["boundary_ratio"]
    if r.boundary_ratio is not None:
        if not facts["moe"]:
            raise SampleError("SAMPLE_MOE_ONLY", f"boundary_ratio = {r.boundary_ratio} for a model with one transformer", name="boundary_ratio")
        found = check_moe(True, r.boundary_ratio)
        if found:
            raise SampleError(found[0].code, found[0].detail)
        boundary = r.boundary_ratio
    cfg_2 = r.cfg_2
    if cfg_2 is not None:
        _number("cfg_2", cfg_2, minimum=0)
        if not facts["moe"]:
            problems.append(problem("SAMPLE_MOE_ONLY", f"cfg_2 = {cfg_2} ignored: the model has one transformer", severity="warning", name="cfg_2"))
            cfg_2 = None
    elif facts["moe"]:
        cfg_2 = r.cfg
    return Resolved(request=r, mode=mode, pipeline_class=pipeline_class, spatial_step=(step_h, step_w), temporal=temporal,
                    moe=facts["moe"], shift=shift, cfg_2=cfg_2, boundary_ratio=boundary if facts["moe"] else None, problems=problems)


def _mode(facts: dict[str, Any], r: SampleRequest) -> tuple[str, str]:
    """The generation mode and the diffusers pipeline class that runs it."""
    image, last = r.image is not None, r.last_image is not None
    if facts["expand_timesteps"]:  # Wan 2.2 TI2V-5B: text-to-video, or image-to-video with a first frame
        if last:
            raise SampleError("SAMPLE_LAST_IMAGE_UNSUPPORTED", "Wan 2.2 TI2V-5B conditions on a first frame only", model="Wan 2.2 TI2V-5B")
        return ("ti2v", "WanImageToVideoPipeline") if image else ("ti2v", "WanPipeline")
    if facts["image_conditioned"]:
        if not image:
            raise SampleError("SAMPLE_IMAGE_REQUIRED", "this image-to-video model needs `image` (the first frame)"
                              + (" and `last_image`" if facts["first_last"] else ""))
        if last and not facts["first_last"]:
            raise SampleError("SAMPLE_LAST_IMAGE_UNSUPPORTED", "this I2V model has no first/last-frame position embedding",
                              model="this image-to-video model")
        if facts["first_last"] and not last:
            raise SampleError("SAMPLE_IMAGE_REQUIRED", "this first/last-frame model needs `last_image` too")
        return ("flf2v" if last else "i2v"), "WanImageToVideoPipeline"
    if image or last:
        raise SampleError("SAMPLE_IMAGE_UNUSED", "this text-to-video model takes no image")
    return "t2v", "WanPipeline"
