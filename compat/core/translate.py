"""Turn the raw exceptions users meet into catalogue errors with a fix.

torch, diffusers and ffmpeg report these failures in prose that says what broke but not what to do
("expected input[1, 48, 21, 60, 104] to have 16 channels", "but only set() were passed"). Each
rule below recognises one such message (the texts are quoted from the libraries; the tests
reproduce each with real code where a CPU can) and names the catalogue code whose summary and fix
explain it. `translate(exc)` returns the typed error, with the raw exception as its `__cause__`,
or None when no rule applies.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from .errors import CompatibilityError, EncodeError, LoadError, ResourceError, WanCompatError

# Stages in which an out-of-memory error means the VAE decode.
DECODE_STAGES = frozenset({"decode", "vae_decode", "vae"})
_MAX_DETAIL = 400


@dataclass(frozen=True)
class Rule:
    """One raw message. `anchors`: literal texts the message always contains; the pattern is tried
    only in a bounded window at each of the first MAX_WINDOWS places an anchor occurs (starting
    `before` characters ahead of it), so a hostile 20,000-character message costs a few bounded
    regex runs, never a backtracking scan of the whole text."""

    code: str
    error: type[WanCompatError]
    pattern: re.Pattern[str]
    anchors: tuple[str, ...]
    context: Callable[[re.Match[str]], dict[str, Any]] = lambda m: {}
    applies: Callable[[re.Match[str]], bool] = lambda m: True  # a second look at what matched
    before: int = 0


# Every pattern below is linear in its window (negated classes between literals, no nested or
# adjacent unbounded repeats over the same characters); the windows bound the rest.
WINDOW = 2048  # the longest real message a rule reads (a diffusers "Cannot load" names a path)
MAX_WINDOWS = 8


def _groups(match: re.Match[str]) -> dict[str, Any]:
    return {k: v for k, v in match.groupdict().items() if v is not None}


# Channel counts of Wan latents (16: 2.1 VAE, 48: 2.2 VAE) and I2V transformer inputs (36 = 2 x 16 + 4).
LATENT_CHANNELS = frozenset({"16", "36", "48"})


def _channels(match: re.Match[str]) -> dict[str, Any]:
    g = _groups(match)
    return {"expected": g.get("expected") or g.get("b"), "found": g.get("found") or g.get("a")}


def _latent_counts(match: re.Match[str]) -> bool:
    """Only Wan's channel counts mean parts that do not fit; other sizes are a shape bug elsewhere."""
    return set(_channels(match).values()) <= LATENT_CHANNELS


def _missing_components(match: re.Match[str]) -> dict[str, Any]:
    expected = re.findall(r"'(\w+)'", match.group("expected"))
    passed = set(re.findall(r"'(\w+)'", match.group("passed")))
    missing = [name for name in expected if name not in passed]
    return {"missing": ", ".join(missing) or "(see detail)", "pipeline": match.group("pipeline")}


RULES: tuple[Rule, ...] = (
    # torch, aten/src/ATen/native/Convolution.cpp (check_input_shape_forward):
    # "Given groups=1, weight of size [8, 16, 1, 1, 1], expected input[1, 48, 1, 2, 2] to have 16 channels, but got 48 channels instead"
    Rule("LATENT_CHANNEL_MISMATCH", CompatibilityError,
         re.compile(r"expected input\[[^\]]*\] to have (?P<expected>\d+) channels, but got (?P<found>\d+) channels"),
         ("expected input[",), _channels, _latent_counts),
    # torch broadcasting (aten/src/ATen/ExpandUtils.cpp, infer_size_impl), e.g. latents (48) against the
    # 2.1 VAE's latents_mean (16): "The size of tensor a (48) must match the size of tensor b (16) at non-singleton dimension 1"
    Rule("LATENT_CHANNEL_MISMATCH", CompatibilityError,
         re.compile(r"The size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\) at non-singleton dimension 1\b"),
         ("The size of tensor a (",), _channels, _latent_counts),
    # torch, aten/src/ATen/native/LinearAlgebra.cpp (addmm): Wan's text embedding takes UMT5's 4096-wide
    # features; another encoder (CLIP-L 768, T5-base...) gives "mat1 and mat2 shapes cannot be multiplied (77x768 and 4096x5120)"
    Rule("WRONG_TEXT_ENCODER", CompatibilityError,
         re.compile(r"mat1 and mat2 shapes cannot be multiplied \((?P<rows>\d+)x(?P<found>\d+) and (?P<expected>\d+)x(?P<out>\d+)\)"),
         ("mat1 and mat2 shapes",), lambda m: {"expected": f"UMT5-XXL {m.group('expected')}-wide", "found": f"{m.group('found')}-wide"},
         lambda m: m.group("expected") == "4096" and m.group("found") != "4096"),
    # diffusers models/model_loading_utils.py, load_model_dict_into_meta:
    # "Cannot load {name} because {param} expected shape {shape}, but got {shape}. ..."
    Rule("WEIGHT_SHAPE_MISMATCH", LoadError,
         re.compile(r"Cannot load [^\n]{0,1500}? because (?P<param>\S+) expected shape (?P<expected>torch\.Size\(\[[^\]]*\]\)|[^,\s]+), "
                    r"but got (?P<found>torch\.Size\(\[[^\]]*\]\)|[^\s.]+)"),
         ("Cannot load ",), _groups),
    # diffusers pipelines/pipeline_utils.py, DiffusionPipeline.from_pretrained (and auto_pipeline.py):
    # "Pipeline <class '...WanPipeline'> expected ['scheduler', ...], but only set() were passed."
    Rule("PIPELINE_COMPONENTS_MISSING", LoadError,
         re.compile(r"Pipeline (?:<class ')?(?:[\w.]*\.)?(?P<pipeline>\w+)'?>? expected (?P<expected>[\[{][^\]}]*[\]}]), "
                    r"but only (?P<passed>set\(\)|\{[^}]*\}) were passed"),
         ("Pipeline ",), _missing_components),
    # torch, aten/src/ATen/native/cuda/Blas.cpp (_scaled_mm_out_cuda):
    # "torch._scaled_mm is only supported on CUDA devices with compute capability >= 9.0 or 8.9, or ROCm MI300+"
    Rule("FP8_COMPUTE_UNSUPPORTED", ResourceError,
         re.compile(r"_scaled_mm is only supported on CUDA devices with compute capability"), ("_scaled_mm is only supported",)),
    # torch, aten/src/ATen/Dispatch.h (AT_DISPATCH_SWITCH): "\"addmm_cuda\" not implemented for 'Float8_e4m3fn'"
    Rule("FP8_COMPUTE_UNSUPPORTED", ResourceError,
         re.compile(r"\"(?P<op>\w{1,100})\" not implemented for 'Float8_e(?:4m3fn|5m2)(?:uz|fnuz)?'"),
         ("\" not implemented for 'Float8_e",), before=102),
    # torch, c10/core/impl/alloc_cpu.cpp: "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes."
    Rule("RAM_OUT_OF_MEMORY", ResourceError,
         re.compile(r"DefaultCPUAllocator: can't allocate memory: you tried to allocate (?P<bytes>\d+) bytes"),
         ("DefaultCPUAllocator",), _groups),
    # torch, c10/cuda/CUDACachingAllocator.cpp: "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has ..."
    Rule("GPU_OUT_OF_MEMORY", ResourceError, re.compile(r"out of memory", re.I), ("out of memory", "Out of memory", "OUT OF MEMORY")),
    # torch (aten/src/ATen/native/TensorConversions.cpp / meta kernels): copying or mixing meta tensors.
    Rule("META_TENSOR_USED", LoadError,
         re.compile(r"Cannot copy out of meta tensor|Tensor on device meta is not on the expected device|"
                    r"Tensor on device \w+(?::\d+)? is not on the expected device meta"),
         ("Cannot copy out of meta tensor", "Tensor on device ")),
    # ffmpeg (fftools/ffmpeg_mux_init.c): "Unknown encoder 'libfoo'" then "... Encoder not found"
    Rule("FFMPEG_ENCODER_MISSING", EncodeError, re.compile(r"Unknown encoder '(?P<encoder>[^']+)'"), ("Unknown encoder '",), _groups),
    Rule("FFMPEG_ENCODER_MISSING", EncodeError, re.compile(r"Encoder not found"), ("Encoder not found",), lambda m: {"encoder": "requested"}),
    # libx264/libx265 (libavcodec/libx264.c): "width not divisible by 2 (63x64)", "height not divisible by 2 (64x63)"
    Rule("FFMPEG_ODD_DIMENSION", EncodeError,
         re.compile(r"(?P<dimension>width|height) not divisible by 2(?: \((?P<size>\d+x\d+)\))?"), (" not divisible by 2",), _groups,
         before=6),
)


def _find(rule: Rule, text: str) -> re.Match[str] | None:
    """The first match of `rule` that applies, looked for only in the windows at its anchors."""
    for anchor in rule.anchors:
        at, tried = text.find(anchor), 0
        while at >= 0 and tried < MAX_WINDOWS:
            start = max(0, at - rule.before)
            match = rule.pattern.search(text, start, at + len(anchor) + WINDOW)
            if match is not None and rule.applies(match):
                return match
            at, tried = text.find(anchor, at + 1), tried + 1
    return None


def _message(exc: BaseException) -> str:
    """The exception's text plus any captured stderr (subprocess errors keep it out of str())."""
    parts = [str(exc)]
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    if isinstance(stderr, str) and stderr:
        parts.append(stderr)
    return "\n".join(parts)


def _missing_clip_vision(exc: BaseException) -> bool:
    """diffusers' WanImageToVideoPipeline with a Wan 2.1 I2V transformer (image_dim set) but no
    image_encoder/image_processor fails inside `encode_image` with "'NoneType' object is not callable"
    (diffusers 0.42, pipelines/wan/pipeline_wan_i2v.py) or "... has no attribute" in other releases."""
    if not isinstance(exc, (TypeError, AttributeError)) or "NoneType" not in str(exc):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "encode_image" and "pipeline_wan" in f.filename for f in frames)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _in_vae_decode(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any("autoencoder" in f.filename and "decode" in f.name for f in frames)


def translate(exc: BaseException, *, stage: str | None = None) -> WanCompatError | None:
    """The catalogue error that explains `exc`, or None. `stage` (e.g. "decode") sharpens
    out-of-memory errors. A WanCompatError is returned unchanged."""
    if isinstance(exc, WanCompatError):
        return exc
    text = _message(exc)
    error: WanCompatError | None = None
    if _missing_clip_vision(exc):
        error = CompatibilityError("CLIP_VISION_MISSING", f"the pipeline has no image_encoder: {_short(text)}")
    else:
        for rule in RULES:
            match = _find(rule, text)
            if match is not None:
                error = rule.error(rule.code, _short(text), **rule.context(match))
                break
        if error is None and isinstance(exc, MemoryError):
            error = ResourceError("RAM_OUT_OF_MEMORY", _short(text) or "MemoryError")
        elif error is None and type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
            error = ResourceError("GPU_OUT_OF_MEMORY", _short(text))
    oom = ("GPU_OUT_OF_MEMORY", "RAM_OUT_OF_MEMORY")
    if error is not None and error.code in oom and (stage in DECODE_STAGES or _in_vae_decode(exc)):
        error = ResourceError("VAE_DECODE_OUT_OF_MEMORY", error.detail)
    if error is not None:
        error.__cause__ = exc
    return error


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure another strategy could avoid: torch.OutOfMemoryError
    (CUDA, HIP, MPS, XPU), torch's CPU allocator failing, or a MemoryError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    error = translate(exc) if isinstance(exc, Exception) and not isinstance(exc, WanCompatError) else None
    return error is not None and error.code in ("GPU_OUT_OF_MEMORY", "RAM_OUT_OF_MEMORY")


def translate_or_wrap(exc: BaseException, *, stage: str | None = None) -> WanCompatError:
    """Like `translate`, but an unknown exception becomes UNEXPECTED_ERROR instead of None."""
    error = translate(exc, stage=stage)
    if error is None:
        error = WanCompatError("UNEXPECTED_ERROR", _short(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__)
        error.__cause__ = exc
    return error
