"""Audio muxed beside the frames: ComfyUI's AUDIO (`{"waveform": (batch, channels, samples) float
tensor in [-1, 1], "sample_rate": int}`, as comfy_extras/nodes_audio.py and the VIDEO type make it)
checked, cut to the video's length and handed to ffmpeg.

The samples go to ffmpeg as raw 32-bit float (f32le) through a hidden file beside the hidden video
file, written one second at a time (never a second copy of the whole waveform in memory) and
removed with it, whatever happens: ffmpeg reads one stream from stdin (the frames), so the second
one comes from a file. The video decides the length, as core SaveVideo does: audio longer than
`frames / fps` is cut, shorter audio ends early (the video keeps every frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compat.core.errors import EncodeError

MAX_CHANNELS = 8
RATES = (1000, 768_000)
_CHUNK_SECONDS = 1


@dataclass(frozen=True)
class AudioTrack:
    """One video's audio: a (channels, samples) float array or tensor and its sample rate."""

    samples: Any
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def length(self) -> int:
        return int(self.samples.shape[1])

    def seconds(self) -> float:
        return self.length / self.sample_rate


def from_comfy(audio: Any, item: int = 0) -> AudioTrack:
    """The `item`-th waveform of a ComfyUI AUDIO (the last one when the batch is shorter: one
    soundtrack for every video of a batch); anything else is ENCODE_AUDIO_INVALID."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise EncodeError("ENCODE_AUDIO_INVALID", f"got {type(audio).__name__}, not a dict with waveform and sample_rate")
    waveform, rate = audio["waveform"], audio["sample_rate"]
    shape = tuple(getattr(waveform, "shape", ()))
    if len(shape) != 3 or not shape[0] or not 1 <= shape[1] <= MAX_CHANNELS:
        raise EncodeError("ENCODE_AUDIO_INVALID", f"waveform shape {shape}, expected (batch, 1..{MAX_CHANNELS} channels, samples)")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not float(rate).is_integer() or not RATES[0] <= rate <= RATES[1]:
        raise EncodeError("ENCODE_AUDIO_INVALID", f"sample_rate {rate!r}, expected a whole number of Hz from {RATES[0]} to {RATES[1]}")
    dtype = str(getattr(waveform, "dtype", ""))
    if "float" not in dtype and "int16" not in dtype and "int32" not in dtype:
        raise EncodeError("ENCODE_AUDIO_INVALID", f"waveform dtype {dtype or type(waveform).__name__}, expected float (or int16/int32 PCM)")
    return AudioTrack(waveform[min(item, shape[0] - 1)], int(rate))


def samples_for(track: AudioTrack, frames: int, fps: float) -> int:
    """How many samples go with `frames` at `fps` (all of them when the audio is shorter)."""
    return min(track.length, math.ceil(frames / fps * track.sample_rate))


def _chunk(track: AudioTrack, start: int, stop: int) -> Any:
    """Samples [start, stop) as interleaved float32 numpy (samples, channels), checked finite."""
    import numpy as np

    part = track.samples[:, start:stop]
    if hasattr(part, "detach"):  # a torch tensor
        part = part.detach().to("cpu").numpy()
    part = np.asarray(part)
    if part.dtype == np.int16:
        part = part.astype(np.float32) / 2**15
    elif part.dtype == np.int32:
        part = part.astype(np.float32) / 2**31
    part = np.ascontiguousarray(part.T, dtype="<f4")
    if not np.isfinite(part).all():
        raise EncodeError("ENCODE_AUDIO_INVALID", f"the waveform holds NaN or infinite values between samples {start} and {stop}")
    return part


def write_raw(track: AudioTrack, path: Path, count: int) -> None:
    """Write the first `count` samples to `path` as f32le, one second at a time."""
    step = track.sample_rate * _CHUNK_SECONDS
    with open(path, "xb") as fh:
        for start in range(0, count, step):
            fh.write(_chunk(track, start, min(count, start + step)).tobytes())


def write_wav(track: AudioTrack, path: Path, count: int) -> None:
    """The first `count` samples as a 16-bit PCM WAV (the PNG fallback keeps the audio too)."""
    import wave

    import numpy as np

    step = track.sample_rate * _CHUNK_SECONDS
    with open(path, "xb") as fh, wave.open(fh, "wb") as out:
        out.setnchannels(track.channels)
        out.setsampwidth(2)
        out.setframerate(track.sample_rate)
        for start in range(0, count, step):
            chunk = _chunk(track, start, min(count, start + step))
            out.writeframes((np.clip(chunk, -1.0, 1.0) * 32767).round().astype("<i2").tobytes())


def ffmpeg_input(track: AudioTrack, path: Path) -> list[str]:
    """The input arguments that read a file `write_raw` wrote."""
    return ["-f", "f32le", "-ar", str(track.sample_rate), "-ac", str(track.channels), "-i", str(path)]


def describe(track: AudioTrack, count: int, codec: str) -> dict[str, Any]:
    return {"codec": codec, "sample_rate": track.sample_rate, "channels": track.channels,
            "seconds": round(count / track.sample_rate, 3)}
