"""FrameTensorHandler: every input form to a valid IMAGE, and every bad input refused with its code."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wan_compat.compat.core.errors import FrameError
from wan_compat.compat.frames.handler import FrameTensorHandler, model_verdict
from wan_compat.compat.frames.arrays import check_video_array, first_non_finite


def ramp(f: int = 3, h: int = 6, w: int = 10, c: int = 3) -> np.ndarray:
    return np.linspace(0.0, 1.0, f * h * w * c, dtype=np.float32).reshape(f, h, w, c)


def handle(x, **kw):
    fps = kw.pop("fps", 16.0)
    return FrameTensorHandler(**kw).normalize(x, fps=fps)


def test_image_batch_passes_through_without_a_copy():
    x = torch.from_numpy(ramp())
    image, info = handle(x)
    assert image is x
    assert (info.frames, info.width, info.height, info.video_lengths, info.problems) == (3, 10, 6, [3], [])


def test_numpy_pipeline_output_keeps_videos_apart():
    x = np.stack([ramp(), ramp() * 0.5])  # diffusers output_type="np": (B, F, H, W, C)
    image, info = handle(x)
    assert isinstance(image, torch.Tensor) and image.dtype == torch.float32
    assert tuple(image.shape) == (6, 6, 10, 3)
    assert info.video_lengths == [3, 3] and info.boundaries() == [(0, 3), (3, 6)]
    assert torch.allclose(image[3:], torch.from_numpy(ramp() * 0.5))
    assert info.source_layout.startswith("np (B,F,H,W,C)")


def test_torch_pipeline_output_channels_first():
    x = torch.from_numpy(np.stack([ramp()])).permute(0, 1, 4, 2, 3).contiguous()  # (B, F, C, H, W)
    image, info = handle(x)
    assert tuple(image.shape) == (3, 6, 10, 3)
    assert torch.equal(image, torch.from_numpy(ramp()))
    assert "(B,F,C,H,W)" in info.source_layout


def test_bfloat16_tensor_is_read():
    x = torch.from_numpy(ramp()).to(torch.bfloat16)
    image, _ = handle(x)
    assert image.dtype == torch.float32 and torch.allclose(image, torch.from_numpy(ramp()), atol=1e-2)


def test_pil_lists_one_video_and_several_videos():
    frames = [Image.fromarray(np.full((6, 10, 3), v, np.uint8)) for v in (0, 128, 255)]
    image, info = handle(frames)
    assert tuple(image.shape) == (3, 6, 10, 3) and float(image[2].min()) == 1.0
    image, info = handle([frames, frames[:2]])  # diffusers output_type="pil": list of lists
    assert info.video_lengths == [3, 2]


def test_object_with_frames_attribute():
    class Output:  # the shape of diffusers' WanPipelineOutput
        def __init__(self, frames):
            self.frames = frames

    _, info = handle(Output(np.stack([ramp()])))
    assert info.frames == 3


def test_uint8_grey_and_rgba():
    grey = (ramp(c=1) * 255).astype(np.uint8)
    image, info = handle(grey)
    assert tuple(image.shape) == (3, 6, 10, 3) and info.value_range == "0..255"
    assert torch.equal(image[..., 0], image[..., 2])
    rgba = np.concatenate([ramp(), np.ones((3, 6, 10, 1), np.float32)], axis=-1)
    image, info = handle(rgba)
    assert image.shape[-1] == 3 and [p.code for p in info.problems] == ["FRAMES_ALPHA_DROPPED"]


def test_minus_one_to_one_is_named_then_accepted_when_declared():
    x = ramp() * 2 - 1
    with pytest.raises(FrameError) as err:
        handle(x)
    assert err.value.code == "FRAMES_OUT_OF_RANGE" and "-1..1" in str(err.value)
    image, info = handle(x, value_range="-1..1")
    assert torch.allclose(image, torch.from_numpy(ramp()), atol=1e-6) and info.value_range == "-1..1"


def test_pixel_floats_suggest_0_255():
    with pytest.raises(FrameError) as err:
        handle(ramp() * 255)
    assert "0..255" in err.value.fix


def test_small_overshoot_is_clipped_with_a_warning():
    x = ramp()
    x[0, 0, 0, 0] = 1.03
    image, info = handle(x)
    assert float(image.max()) == 1.0
    assert [p.code for p in info.problems] == ["FRAMES_CLIPPED"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_with_the_frame(bad):
    x = ramp(f=5)
    x[3, 2, 1, 0] = bad
    assert first_non_finite(x) == 3
    with pytest.raises(FrameError) as err:
        handle(x)
    assert err.value.code == "FRAMES_NOT_FINITE" and "frame 3" in str(err.value)


@pytest.mark.parametrize("x", [np.zeros((0, 6, 10, 3), np.float32), np.zeros((2, 0, 6, 10, 3), np.float32), [], [[]]])
def test_no_frames(x):
    with pytest.raises(FrameError) as err:
        handle(x)
    assert err.value.code == "FRAMES_EMPTY"


@pytest.mark.parametrize("x, code", [
    (np.zeros((2, 6, 10, 7), np.float32), "FRAMES_BAD_SHAPE"),
    (np.zeros((1, 2, 3, 6, 10, 3), np.float32), "FRAMES_BAD_SHAPE"),
    (np.zeros((2, 6, 10, 3), np.int32), "FRAMES_BAD_TYPE"),
    ("frames.png", "FRAMES_BAD_TYPE"),
    ([np.zeros((2, 6, 10, 3), np.float32), np.zeros((2, 6, 12, 3), np.float32)], "FRAMES_MIXED_SIZES"),
])
def test_bad_shapes_and_types(x, code):
    with pytest.raises(FrameError) as err:
        handle(x)
    assert err.value.code == code


def test_pad_centres_and_resize_rounds_to_the_multiple():
    image, info = handle(ramp(h=5, w=9), size_mode="pad", multiple_of=4)
    assert tuple(image.shape) == (3, 8, 12, 3) and (info.width, info.height) == (12, 8)
    assert float(image[:, 0].max()) == 0.0 and torch.equal(image[:, 1:6, 1:10], torch.from_numpy(ramp(h=5, w=9)))
    assert [p.code for p in info.problems] == ["FRAMES_PADDED"]
    image, info = handle(ramp(h=30, w=50), size_mode="resize", multiple_of=16)
    assert tuple(image.shape) == (3, 32, 48, 3) and info.source_width == 50
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_numpy_backend_and_fps_and_metadata():
    image, info = FrameTensorHandler(backend="numpy").normalize(ramp(), fps=24, metadata={"model": {"task": "t2v"}})
    assert isinstance(image, np.ndarray) and info.fps == 24.0 and info.to_dict()["metadata"] == {"model": {"task": "t2v"}}
    with pytest.raises(FrameError):
        FrameTensorHandler().normalize(ramp(), fps=0)


def test_check_video_array_for_the_encoder():
    assert check_video_array(ramp()) == (3, 6, 10, 3)
    with pytest.raises(FrameError) as err:
        check_video_array(np.zeros((0, 4, 4, 3), np.uint8))
    assert err.value.code == "FRAMES_EMPTY"


def test_model_verdict_keeps_the_decisive_facts():
    report = {"family": "wan", "version": "2.2", "task": "ti2v", "size": "5B", "path": "/secret/path",
              "problems": [{"code": "VAE_MISMATCH", "severity": "error"}]}
    verdict = model_verdict(report)
    assert verdict == {"family": "wan", "version": "2.2", "task": "ti2v", "size": "5B", "problems": ["VAE_MISMATCH"], "ok": False}
