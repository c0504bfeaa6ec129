"""Frames from any producer to ComfyUI IMAGE: float32 in [0, 1], (F, H, W, C), validated.

Pipelines hand frames over in many shapes: diffusers gives numpy (B, F, H, W, C), torch
(B, F, C, H, W) or lists of PIL images; ComfyUI nodes give IMAGE (F, H, W, C). FrameTensorHandler
reads all of them, rejects what would encode as garbage (no frames, NaN/inf, values in another
range than assumed, shapes that are not video), and returns one IMAGE batch plus FramesInfo, which
remembers fps, where each video of a batch starts and ends (several videos from one prompt stay
apart), and what was changed (padding, resizing, clipping).

numpy and torch are imported inside functions: importing the pack stays cheap. Work happens chunk
by chunk, so the only full-size allocation is the output itself, and none when the input already is
a valid IMAGE.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..core.errors import FrameError, Problem, problem
from .arrays import CHANNELS, chunk_frames, first_non_finite, is_float, is_torch, is_uint8, iter_chunks, numpy_chunk, value_bounds
from .boundaries import mark_videos, spans
from .checked import checked_bounds, mark_checked
from .options import SIZE_MODES, VALUE_RANGES

ValueRange = Literal["auto", "0..1", "-1..1", "0..255"]
SizeMode = Literal["keep", "pad", "resize"]
_RANGES = {"0..1": (0.0, 1.0), "-1..1": (-1.0, 1.0), "0..255": (0.0, 255.0)}
# Overshoot accepted (and clipped) on the [0, 1] scale before values count as another range.
_TOLERANCE = 0.05
# Values this close to the range are not worth a warning: they round to 0 or 255 anyway.
_QUIET_CLIP = 1.0 / 255.0


@dataclass
class FramesInfo:
    """What travels beside the IMAGE: fps, video boundaries, sizes and what was changed."""

    fps: float
    video_lengths: list[int]
    width: int
    height: int
    source_width: int
    source_height: int
    source_layout: str = "IMAGE (F,H,W,C)"
    value_range: str = "0..1"
    size_mode: str = "keep"
    metadata: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(self.video_lengths)

    def boundaries(self) -> list[tuple[int, int]]:
        """(start, stop) of each video inside the IMAGE batch."""
        return spans(self.video_lengths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps, "frames": self.frames, "videos": len(self.video_lengths),
            "video_lengths": list(self.video_lengths), "width": self.width, "height": self.height,
            "source_width": self.source_width, "source_height": self.source_height,
            "source_layout": self.source_layout, "value_range": self.value_range, "size_mode": self.size_mode,
            "metadata": self.metadata, "problems": [p.to_dict() for p in self.problems],
        }


# ---- array helpers shared with the encoder -------------------------------------------------

def model_verdict(info: Any) -> dict[str, Any] | None:
    """The few facts of a detection report worth embedding in a video's metadata."""
    if info is None:
        return None
    data = info.to_dict() if hasattr(info, "to_dict") else dict(info)
    keep = ("family", "version", "task", "size", "moe", "dtype", "pipeline_class", "variant")
    verdict = {k: data.get(k) for k in keep if data.get(k) is not None}
    verdict["problems"] = [p.get("code") for p in data.get("problems", []) if isinstance(p, dict)]
    verdict["ok"] = not any(p.get("severity") == "error" for p in data.get("problems", []) if isinstance(p, dict))
    return verdict


# ---- the handler ---------------------------------------------------------------------------

@dataclass
class _Video:
    array: Any  # numpy or torch, channels-last (F, H, W, C)
    layout: str


class FrameTensorHandler:
    """Reads pipeline output or IMAGE batches and returns a validated IMAGE plus FramesInfo."""

    def __init__(self, *, value_range: ValueRange = "auto", size_mode: SizeMode = "keep",
                 multiple_of: int = 2, backend: Literal["torch", "numpy"] = "torch") -> None:
        if value_range not in VALUE_RANGES:
            raise FrameError("FRAMES_OUT_OF_RANGE", f"unknown value_range {value_range!r}", suggested=", ".join(VALUE_RANGES))
        if size_mode not in SIZE_MODES:
            raise FrameError("FRAMES_BAD_SHAPE", f"unknown size_mode {size_mode!r}; use one of {SIZE_MODES}")
        if multiple_of < 1:
            raise FrameError("FRAMES_BAD_SHAPE", f"multiple_of must be >= 1, got {multiple_of}")
        self.value_range, self.size_mode, self.multiple_of, self.backend = value_range, size_mode, multiple_of, backend

    def normalize(self, frames: Any, *, fps: float = 16.0, metadata: dict[str, Any] | None = None,
                  lengths: list[int] | None = None) -> tuple[Any, FramesInfo]:
        """`lengths`: where the videos of a single IMAGE batch start (Wan Sample's mark), so they stay
        apart; they must add up to its frames. The output tensor carries them too (`boundaries.py`)."""
        if not fps or fps <= 0:
            raise FrameError("FRAMES_BAD_SHAPE", f"fps must be > 0, got {fps}")
        videos = self._videos(frames)
        if not videos:
            raise FrameError("FRAMES_EMPTY", "no videos in the input")
        problems: list[Problem] = []
        f0, h, w, c0 = (int(n) for n in videos[0].array.shape)
        known = [checked_bounds(v.array) for v in videos]  # checked upstream (Wan Sample) and unchanged: no second scan
        for i, video in enumerate(videos):
            f, vh, vw, c = (int(n) for n in video.array.shape)
            if f == 0:
                raise FrameError("FRAMES_EMPTY", f"video {i} has 0 frames (shape {tuple(video.array.shape)})")
            if vh < 1 or vw < 1 or c not in CHANNELS:
                raise FrameError("FRAMES_BAD_SHAPE", f"video {i} has shape {tuple(video.array.shape)} ({video.layout}): need H, W >= 1 and 1, 3 or 4 channels")
            if (vh, vw) != (h, w):
                raise FrameError("FRAMES_MIXED_SIZES", f"video 0 is {w}x{h}, video {i} is {vw}x{vh}")
            if not (is_float(video.array) or is_uint8(video.array)):
                raise FrameError("FRAMES_BAD_TYPE", f"video {i} has dtype {video.array.dtype}: need uint8 or float")
            bad = first_non_finite(video.array) if known[i] is None else None
            if bad is not None:
                raise FrameError("FRAMES_NOT_FINITE", f"video {i}, frame {bad} holds NaN or inf")
        value_range, scale, offset, (lo, hi) = self._value_mapping(videos, known)
        if lo < -_QUIET_CLIP or hi > 1 + _QUIET_CLIP:
            problems.append(problem("FRAMES_CLIPPED", f"values reached {lo:.4f}..{hi:.4f} on the [0, 1] scale"))
        if any(int(v.array.shape[-1]) == 4 for v in videos):
            problems.append(problem("FRAMES_ALPHA_DROPPED", "RGBA input"))
        out_h, out_w = self._target_size(h, w)
        if (out_h, out_w) != (h, w):
            code = "FRAMES_PADDED" if self.size_mode == "pad" else "FRAMES_RESIZED"
            problems.append(problem(code, f"{w}x{h} -> {out_w}x{out_h} (multiple of {self.multiple_of})"))
        image = self._assemble(videos, scale, offset, 0.0 <= lo and hi <= 1.0, out_h, out_w)
        if checked_bounds(image) is None:  # finite, clipped to [0, 1]; black borders add 0
            mark_checked(image, 0.0 if (out_h, out_w) != (h, w) and self.size_mode == "pad" else max(lo, 0.0), min(hi, 1.0))
        found = [int(v.array.shape[0]) for v in videos]
        if lengths and len(videos) == 1 and sum(lengths) == found[0]:
            found = [int(n) for n in lengths]
        if len(found) > 1:
            mark_videos(image, found)
        info = FramesInfo(
            fps=float(fps), video_lengths=found, width=out_w, height=out_h,
            source_width=w, source_height=h, source_layout=videos[0].layout, value_range=value_range,
            size_mode=self.size_mode, metadata=dict(metadata or {}), problems=problems,
        )
        return image, info

    # -- reading every input form into channels-last videos --

    def _videos(self, frames: Any) -> list[_Video]:
        if hasattr(frames, "frames") and not hasattr(frames, "shape"):
            frames = frames.frames  # diffusers WanPipelineOutput
        if _is_pil(frames):
            return [_Video(_pil_stack([frames]), "PIL image")]
        if isinstance(frames, (list, tuple)):
            return self._from_list(list(frames))
        if hasattr(frames, "shape") and hasattr(frames, "dtype"):
            return self._from_array(frames)
        raise FrameError("FRAMES_BAD_TYPE", f"got {type(frames).__module__}.{type(frames).__name__}")

    def _from_list(self, items: list[Any]) -> list[_Video]:
        if not items:
            raise FrameError("FRAMES_EMPTY", "the input list is empty")
        if all(_is_pil(i) for i in items):
            return [_Video(_pil_stack(items), "list of PIL images")]
        if all(isinstance(i, (list, tuple)) for i in items):
            videos = []
            for i in items:
                if not i:
                    raise FrameError("FRAMES_EMPTY", "a video in the list has no frames")
                videos += self._from_list(list(i))
            return videos
        if all(hasattr(i, "shape") for i in items):
            if all(len(i.shape) == 3 for i in items):  # frames of one video
                return self._from_array(_stack(items))
            videos = []
            for item in items:
                videos += self._from_array(item)
            return videos
        raise FrameError("FRAMES_BAD_TYPE", f"a list of {sorted({type(i).__name__ for i in items})}")

    def _from_array(self, x: Any) -> list[_Video]:
        shape = tuple(int(n) for n in x.shape)
        torch_in = is_torch(x)
        if len(shape) == 5:
            last, first = shape[-1] in CHANNELS, shape[2] in CHANNELS
            if first and (not last or torch_in):
                x, layout = x.permute(0, 1, 3, 4, 2) if torch_in else x.transpose(0, 1, 3, 4, 2), "(B,F,C,H,W)"
            elif last:
                layout = "(B,F,H,W,C)"
            else:
                raise FrameError("FRAMES_BAD_SHAPE", f"5-D input {shape} has no channel axis of size 1, 3 or 4")
            kind = "pt" if torch_in else "np"
            return [_Video(x[b], f"{kind} {layout}, video {b}") for b in range(shape[0])]
        if len(shape) == 4:
            if shape[-1] in CHANNELS:
                return [_Video(x, "IMAGE (F,H,W,C)")]
            if shape[1] in CHANNELS:
                return [_Video(x.permute(0, 2, 3, 1) if torch_in else x.transpose(0, 2, 3, 1), "(F,C,H,W)")]
            raise FrameError("FRAMES_BAD_SHAPE", f"4-D input {shape} has no channel axis of size 1, 3 or 4")
        if len(shape) == 3 and shape[-1] in CHANNELS:
            return [_Video(x[None], "one frame (H,W,C)")]
        if len(shape) == 2:
            return [_Video(x[None, :, :, None], "one grey frame (H,W)")]
        raise FrameError("FRAMES_BAD_SHAPE", f"got shape {shape}")

    # -- values and sizes --

    def _value_mapping(self, videos: list[_Video], known: list[tuple[float, float] | None]) -> tuple[str, float, float, tuple[float, float]]:
        """The range in use, the affine map (scale, offset) to [0, 1], and the mapped bounds
        (`known`: each video's bounds when they were checked upstream)."""
        uint8 = [is_uint8(v.array) for v in videos]
        if all(uint8):
            return "0..255", 1.0 / 255.0, 0.0, (0.0, 1.0)
        if any(uint8):
            raise FrameError("FRAMES_BAD_TYPE", "some videos are uint8 and some are float; give them one type")
        lo, hi = float("inf"), float("-inf")
        for v, bounds in zip(videos, known):
            vlo, vhi = bounds or value_bounds(v.array)
            lo, hi = min(lo, vlo), max(hi, vhi)
        chosen = self.value_range
        if chosen == "auto":
            if lo >= -_TOLERANCE and hi <= 1 + _TOLERANCE:
                chosen = "0..1"
            else:
                raise FrameError("FRAMES_OUT_OF_RANGE", f"values span {lo:.4g}..{hi:.4g}, expected 0..1",
                                 suggested=_suggest_range(lo, hi))
        low, high = _RANGES[chosen]
        scale = 1.0 / (high - low)
        offset = -low * scale
        n_lo, n_hi = lo * scale + offset, hi * scale + offset
        if n_lo < -_TOLERANCE or n_hi > 1 + _TOLERANCE:
            raise FrameError("FRAMES_OUT_OF_RANGE", f"values span {lo:.4g}..{hi:.4g}, outside {chosen}",
                             suggested=_suggest_range(lo, hi))
        return chosen, scale, offset, (n_lo, n_hi)

    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        m = self.multiple_of
        if self.size_mode == "pad":
            return -(-h // m) * m, -(-w // m) * m
        if self.size_mode == "resize":
            return max(m, round(h / m) * m), max(m, round(w / m) * m)
        return h, w

    def _assemble(self, videos: list[_Video], scale: float, offset: float, in_range: bool, out_h: int, out_w: int) -> Any:
        import numpy as np

        only = videos[0].array
        if (len(videos) == 1 and in_range and (scale, offset) == (1.0, 0.0) and tuple(only.shape[1:]) == (out_h, out_w, 3)
                and str(only.dtype).endswith("float32") and _is_contiguous(only)
                and is_torch(only) == (self.backend == "torch") and (not is_torch(only) or only.device.type == "cpu")):
            return only  # already a valid IMAGE: no copy at all
        total = sum(int(v.array.shape[0]) for v in videos)
        out = np.zeros((total, out_h, out_w, 3), dtype=np.float32)
        h, w = int(only.shape[1]), int(only.shape[2])
        top, left = (out_h - h) // 2, (out_w - w) // 2
        row = 0
        for video in videos:
            x = video.array
            for start, stop in iter_chunks(int(x.shape[0]), chunk_frames(tuple(x.shape))):
                part = numpy_chunk(x, start, stop)[..., :3]  # drops alpha
                if part.shape[-1] == 1:
                    part = np.broadcast_to(part, part.shape[:-1] + (3,))
                if self.size_mode == "resize" and (out_h, out_w) != (h, w):
                    dest = out[row + start:row + stop]
                    dest[...] = _resize(part, out_h, out_w)
                elif (out_h, out_w) != (h, w):
                    dest = out[row + start:row + stop, top:top + h, left:left + w]
                    dest[...] = part
                else:
                    dest = out[row + start:row + stop]
                    dest[...] = part
                if scale != 1.0 or offset != 0.0:
                    dest *= scale
                    dest += offset
                np.clip(dest, 0.0, 1.0, out=dest)
            row += int(x.shape[0])
        if self.backend == "torch":
            import torch

            with torch.inference_mode(False):  # a version counter, so Encode can trust this check (checked.py)
                return torch.from_numpy(out)
        return out


def _suggest_range(lo: float, hi: float) -> str:
    if lo >= -1 - _TOLERANCE and hi <= 1 + _TOLERANCE:
        return "-1..1"
    if lo >= -_TOLERANCE and hi <= 255 * (1 + _TOLERANCE):
        return "0..255"
    return "no standard range fits; rescale upstream"


def _is_pil(x: Any) -> bool:
    return type(x).__module__.startswith("PIL.") and hasattr(x, "convert") and hasattr(x, "size")


def _pil_stack(images: list[Any]) -> Any:
    import numpy as np

    sizes = {im.size for im in images}
    if len(sizes) > 1:
        raise FrameError("FRAMES_MIXED_SIZES", f"PIL frames of sizes {sorted(sizes)}")
    return np.stack([np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB")) for im in images])


def _stack(frames: list[Any]) -> Any:
    if all(is_torch(f) for f in frames):
        import torch

        return torch.stack(frames)
    import numpy as np

    shapes = {tuple(f.shape) for f in frames}
    if len(shapes) > 1:
        raise FrameError("FRAMES_MIXED_SIZES", f"frames of shapes {sorted(shapes)}")
    return np.stack([numpy_chunk(f[None], 0, 1)[0] for f in frames])


def _is_contiguous(x: Any) -> bool:
    if is_torch(x):
        return bool(x.is_contiguous())
    return bool(x.flags["C_CONTIGUOUS"])


def _resize(part: Any, out_h: int, out_w: int) -> Any:
    """Bilinear, antialiased (so shrinking does not alias): torch's implementation on a chunk."""
    import torch

    t = torch.from_numpy(np_float32(part)).permute(0, 3, 1, 2)
    t = torch.nn.functional.interpolate(t, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False)
    return t.permute(0, 2, 3, 1).numpy()


def np_float32(part: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(part, dtype=np.float32)
