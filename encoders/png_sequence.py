"""The fallback when a video cannot be written: the frames as PNG files plus a JSON sidecar.

The sidecar says why encoding failed, the fps and size, the metadata, and the exact command to
encode the folder later (`wan-compat encode FOLDER ...`), which reads the folder back through
`PngSequence` without loading every frame at once.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from ..compat.core.errors import EncodeError, WanCompatError
from ..compat.frames.arrays import chunk_frames, iter_chunks, numpy_chunk
from .audio import AudioTrack, write_wav
from .convert import Uint8Converter
from .formats import VideoFormat
from .paths import SaveTarget, os_error

SIDECAR = "wan-compat-frames.json"
AUDIO_NAME = "audio.wav"
FRAME_NAME = "frame_{:05d}.png"
_DIGITS = re.compile(r"(\d+)")


def write_png_sequence(frames: Any, targets: Sequence[SaveTarget], *, fps: float, reason: WanCompatError,
                       fmt: VideoFormat, crf: int | None, preset: str | None, metadata: dict[str, Any] | None,
                       audio: tuple[AudioTrack, int] | None = None) -> Path:
    """Write the frames into the first target folder that takes them (with the audio, if any, as
    `audio.wav`); nothing partial stays behind."""
    from PIL import Image

    last: EncodeError | None = None
    for target in targets:
        folder: Path | None = None
        try:
            folder = target.claim_dir("frames")
            total, height, width, channels = (int(n) for n in frames.shape)
            converter = Uint8Converter((height, width, channels))
            for start, stop in iter_chunks(total, min(converter.frames_per_chunk, chunk_frames(tuple(frames.shape)))):
                block = converter.convert(numpy_chunk(frames, start, stop))
                for i in range(block.shape[0]):
                    frame = block[i, :, :, 0] if channels == 1 else block[i, :, :, :3]
                    Image.fromarray(frame).save(folder / FRAME_NAME.format(start + i), compress_level=1)
            if audio is not None:
                write_wav(audio[0], folder / AUDIO_NAME, audio[1])
            command = ["wan-compat", "encode", str(folder), "--format", fmt.name, "--fps", f"{fps:g}", "--out", f"{folder}.{fmt.extension}"]
            sidecar = {
                "wan_compat_frames": 1,
                "why": reason.problem.to_dict(),
                "fps": fps, "frames": total, "width": width, "height": height,
                "format": fmt.name, "crf": crf, "preset": preset,
                "encode_later": " ".join(shlex.quote(c) for c in command),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "metadata": metadata or {},
                **({"audio": AUDIO_NAME} if audio is not None else {}),
            }
            with open(folder / SIDECAR, "x", encoding="utf-8") as handle:
                json.dump(sidecar, handle, indent=1, default=str)
            return folder
        except OSError as exc:
            last = os_error(exc, target.folder)
        except EncodeError as exc:
            last = exc
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    raise last or EncodeError("ENCODE_TARGET_UNWRITABLE", "no folder to write the PNG frames to")


def read_sidecar(folder: Path) -> dict[str, Any]:
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in _DIGITS.split(path.name)]


class PngSequence:
    """A folder of PNG frames as a lazy (F, H, W, 3) uint8 array: frames load when sliced."""

    def __init__(self, folder: Path | str) -> None:
        from PIL import Image
        import numpy as np

        self.folder = Path(folder)
        self.files = sorted((p for p in self.folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()), key=_natural_key)
        if not self.files:
            raise EncodeError("ENCODE_INPUT_UNREADABLE", f"{self.folder} holds no .png files")
        sizes = {}
        for p in self.files:  # headers only: PIL reads pixels lazily
            try:
                with Image.open(p) as im:
                    sizes.setdefault(im.size, p.name)
            except OSError as exc:
                raise EncodeError("ENCODE_INPUT_UNREADABLE", f"{p.name} is not a readable PNG: {exc}") from exc
        if len(sizes) > 1:
            raise EncodeError("ENCODE_INPUT_UNREADABLE", f"frames differ in size: {', '.join(f'{w}x{h} ({n})' for (w, h), n in sizes.items())}")
        (width, height), = sizes
        self.shape = (len(self.files), height, width, 3)
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> Any:
        from PIL import Image
        import numpy as np

        if not isinstance(index, slice):
            raise TypeError("PngSequence supports slices only")
        out = []
        for p in self.files[index]:
            with Image.open(p) as im:
                out.append(np.asarray(im.convert("RGB")))
        return np.stack(out) if out else np.empty((0, *self.shape[1:]), dtype=np.uint8)
