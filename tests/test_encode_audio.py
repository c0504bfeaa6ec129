"""Audio muxed by Wan Encode Video (encoders/audio.py): real audio in ComfyUI's AUDIO format, real
ffmpeg, the written files decoded back.

The audio is a real WAV file ffmpeg makes (two tones, one per channel), read with Python's `wave`
module into ComfyUI's AUDIO layout ({"waveform": (batch, channels, samples) float32 in [-1, 1],
"sample_rate"}, comfy_extras/nodes_audio.py `load`); torchaudio has no build for the torch here, and
ComfyUI's own audio decode (PyAV) runs in the real-server test (tests/test_comfyui_server.py).
"""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from wan_compat.compat.core.errors import EncodeError
from wan_compat.encoders.audio import from_comfy
from wan_compat.encoders.container_probe import audio_tracks
from wan_compat.encoders.encode import EncodeFailed, encode_video
from wan_compat.encoders.ffmpeg import find_ffmpeg
from wan_compat.encoders.formats import VideoFormat, get_format
from wan_compat.encoders.png_sequence import AUDIO_NAME, read_sidecar

pytestmark = pytest.mark.usefixtures("encode_env")
RATE, SECONDS = 44100, 3.0
FPS, FRAMES = 16.0, 33  # 2.0625 s of video: the 3 s of audio is cut to it


def tone_wav(path: Path, seconds: float = SECONDS) -> Path:
    """A real stereo WAV from ffmpeg: 440 Hz left, 660 Hz right, 16-bit."""
    subprocess.run([find_ffmpeg().path, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={RATE}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=660:sample_rate={RATE}:duration={seconds}",
                    "-filter_complex", "[0][1]amerge=inputs=2", "-c:a", "pcm_s16le", str(path)], check=True, timeout=60)
    return path


def comfy_audio(path: Path) -> dict:
    """ComfyUI's AUDIO from a WAV file: (1, channels, samples) float32 in [-1, 1]."""
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels()).T
        return {"waveform": torch.from_numpy(pcm.astype(np.float32) / 2**15).unsqueeze(0), "sample_rate": w.getframerate()}


def decoded_audio(path: Path) -> np.ndarray:
    """The file's audio decoded by ffmpeg: (channels, samples) float32 at RATE."""
    done = subprocess.run([find_ffmpeg().path, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
                           "-ar", str(RATE), "-ac", "2", "-"], capture_output=True, check=True, timeout=60)
    return np.frombuffer(done.stdout, "<f4").reshape(-1, 2).T


def frames() -> np.ndarray:
    return np.linspace(0, 1, FRAMES * 16 * 16 * 3, dtype=np.float32).reshape(FRAMES, 16, 16, 3)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return comfy_audio(tone_wav(tmp_path_factory.mktemp("wav") / "tones.wav"))


@pytest.mark.parametrize("fmt,codec", [("h264-mp4", "aac"), ("vp9-webm", "opus"), ("ffv1-mkv", "flac"), ("prores-mov", "pcm_s16le")])
def test_audio_is_muxed_in_the_containers_codec_and_cut_to_the_video(tmp_path: Path, audio: dict, fmt: str, codec: str) -> None:
    if not find_ffmpeg().has_encoder(get_format(fmt).encoder):
        pytest.skip(f"this ffmpeg cannot write {fmt}")
    video = encode_video(frames(), output_dir=tmp_path, fmt=fmt, fps=FPS, audio=from_comfy(audio))
    probe = subprocess.run([find_ffmpeg().path, "-hide_banner", "-i", str(video.path)], capture_output=True, text=True).stderr
    assert f"Audio: {codec}" in probe and audio_tracks(video.path) == 1
    assert video.audio == {"codec": get_format(fmt).audio_encoder, "sample_rate": RATE, "channels": 2,
                           "seconds": round(np.ceil(FRAMES / FPS * RATE) / RATE, 3)}
    back = decoded_audio(video.path)
    source = audio["waveform"][0].numpy()
    assert abs(back.shape[1] / RATE - FRAMES / FPS) < 0.05  # the video decides the length (3 s of audio in)
    # The same tones on the same channels: lossless codecs give the samples back (16-bit), lossy ones
    # correlate (aligned by the encoder's own delay, which ffmpeg removes on decode).
    n = min(back.shape[1], source.shape[1]) - 2048
    for channel in (0, 1):
        a, b = back[channel, 1024:n], source[channel, 1024:n]
        if codec in ("flac", "pcm_s16le"):
            assert np.max(np.abs(a - b)) <= 1 / 2**15
        else:
            assert np.corrcoef(a, b)[0, 1] > 0.95, (fmt, channel)
    assert sorted(p.name for p in tmp_path.iterdir()) == [video.path.name]  # no raw audio or temp file left


def test_shorter_audio_keeps_every_frame(tmp_path: Path) -> None:
    short = comfy_audio(tone_wav(tmp_path / "short.wav", seconds=0.5))
    video = encode_video(frames(), output_dir=tmp_path / "out", fmt="h264-mp4", fps=FPS, audio=from_comfy(short))
    assert video.frames == FRAMES and video.audio["seconds"] == 0.5 and audio_tracks(video.path) == 1


@pytest.mark.parametrize("bad,why", [
    ("not audio", "not a dict"),
    ({"waveform": torch.zeros(2, 100), "sample_rate": RATE}, "shape"),
    ({"waveform": torch.zeros(1, 9, 100), "sample_rate": RATE}, "shape"),
    ({"waveform": torch.zeros(1, 2, 100), "sample_rate": 12.5}, "sample_rate"),
    ({"waveform": torch.zeros(1, 2, 100), "sample_rate": True}, "sample_rate"),
    ({"waveform": torch.zeros(1, 2, 100, dtype=torch.int8), "sample_rate": RATE}, "dtype"),
])
def test_audio_that_is_not_comfyuis_audio_is_refused(bad: object, why: str) -> None:
    with pytest.raises(EncodeError) as err:
        from_comfy(bad)
    assert err.value.code == "ENCODE_AUDIO_INVALID" and why in err.value.detail


def test_non_finite_audio_is_refused_and_nothing_is_written(tmp_path: Path, audio: dict) -> None:
    broken = {"waveform": audio["waveform"].clone(), "sample_rate": RATE}
    broken["waveform"][0, 1, 5000] = float("nan")
    with pytest.raises(EncodeFailed) as err:
        encode_video(frames(), output_dir=tmp_path, fmt="h264-mp4", fps=FPS, audio=from_comfy(broken), fallback=False)
    assert err.value.code == "ENCODE_AUDIO_INVALID" and "NaN" in err.value.detail
    assert list(tmp_path.iterdir()) == []  # no video, no hidden temp file, no raw audio


def test_the_png_fallback_keeps_the_audio(tmp_path: Path, audio: dict) -> None:
    """Encoding fails (an encoder this ffmpeg lacks): the frames go to PNG and the audio, cut the same
    way, to audio.wav beside them, named in the sidecar."""
    fmt = VideoFormat.from_dict({"name": "nope-mp4", "label": "x", "extension": "mp4", "muxer": "mp4", "encoder": "libnope264",
                                 "pix_fmt": "yuv420p", "align": 2, "audio": {"encoder": "aac", "args": []}})
    with pytest.raises(EncodeFailed) as err:
        encode_video(frames(), output_dir=tmp_path, fmt=fmt, fps=FPS, audio=from_comfy(audio))
    folder = err.value.result.fallback
    assert read_sidecar(folder)["audio"] == AUDIO_NAME
    with wave.open(str(folder / AUDIO_NAME)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, RATE, int(np.ceil(FRAMES / FPS * RATE)))
        kept = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).T / 2**15
    assert np.max(np.abs(kept - audio["waveform"][0, :, :kept.shape[1]].numpy())) <= 1 / 2**15


def test_a_format_without_audio_refuses_it_before_writing(tmp_path: Path, audio: dict) -> None:
    silent = VideoFormat.from_dict({"name": "silent-mp4", "label": "x", "extension": "mp4", "muxer": "mp4", "encoder": "libx264",
                                    "pix_fmt": "yuv420p", "align": 2})
    with pytest.raises(EncodeError) as err:
        encode_video(frames(), output_dir=tmp_path, fmt=silent, fps=FPS, audio=from_comfy(audio), fallback=False)
    assert err.value.code == "ENCODE_AUDIO_INVALID" and "carries no audio" in err.value.detail
    assert list(tmp_path.iterdir()) == []
