"""Where each video of a batch starts, carried with the frames themselves.

ComfyUI's `IMAGE` is one tensor of frames (F, H, W, C): Wan Sample with `videos=2` hands over both
videos one after the other, and nothing in the tensor says where the second one starts. Wan Sample
marks the tensor it returns with its videos' lengths (`mark_videos`); Wan Frame Process and Wan
Encode Video read them back (`video_lengths`) while that very tensor is unchanged, so a batch stays
one file per video from Sample to Encode without an extra link. Anything that makes a new tensor
(another node, a resize, an edit in place) carries no mark: its frames are one video, which is also
how a graph merges a batch on purpose (Wan Frame Process's `batch` input: merge into one video).
The marks live in `checked.TensorMarks` (by identity, weakly, valid while the tensor is unchanged).
"""
from __future__ import annotations

from .checked import TensorMarks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

_VIDEOS = TensorMarks()


def mark_videos(x: Any, lengths: Sequence[int]) -> bool:
    """Record that `x`'s frames are videos of these lengths, one after the other (they must add up
    to `x`'s frame count). False when `x` cannot carry a mark (numpy, an inference tensor)."""
    lengths = tuple(int(n) for n in lengths)
    if not lengths or any(n < 1 for n in lengths) or sum(lengths) != int(getattr(x, "shape", (0,))[0]):
        raise ValueError(f"video lengths {list(lengths)} do not add up to the {getattr(x, 'shape', ('?',))[0]} frames")
    return _VIDEOS.mark(x, lengths)


def video_lengths(x: Any) -> list[int] | None:
    """The lengths `mark_videos` recorded for exactly this tensor while it is unchanged, else None."""
    found = _VIDEOS.get(x)
    return list(found) if found is not None else None


def spans(lengths: Sequence[int]) -> list[tuple[int, int]]:
    """(start, stop) of each video inside the frames."""
    out, start = [], 0
    for n in lengths:
        out.append((start, start + int(n)))
        start += int(n)
    return out
