"""Frames checked once per run: Wan Sample checks what it decodes; Wan Frame Process and Wan Encode
Video trust that check while the tensor is provably unchanged, and scan anything else as before."""
from __future__ import annotations

import gc

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import FrameError  # noqa: E402
from wan_compat.compat.fixtures.tiny import TEST_PROMPTS  # noqa: E402
from wan_compat.compat.frames import arrays, checked  # noqa: E402
from wan_compat.nodes.encode_video import WanEncodeVideo  # noqa: E402
from wan_compat.nodes.frame_process import WanFrameProcess  # noqa: E402
from wan_compat.nodes.sample import WanSample  # noqa: E402

pytestmark = pytest.mark.usefixtures("encode_env")
FRAMES, SIZE = 9, 16


@pytest.fixture(scope="module")
def handle(tiny_loaded):
    return tiny_loaded("wan2.1-t2v")


def _sample(handle):
    """Wan Sample as ComfyUI runs it (inside torch.inference_mode)."""
    with torch.inference_mode():
        return WanSample().sample(handle, TEST_PROMPTS[0], width=SIZE, height=SIZE, num_frames=FRAMES, steps=2, seed=3)["result"]


def _process(images, fps=16.0, **kwargs):
    with torch.inference_mode():
        return WanFrameProcess().process(fps=fps, size_mode=kwargs.pop("size_mode", "keep"), multiple_of=kwargs.pop("multiple_of", 2),
                                         value_range="auto", images=images, **kwargs)


def _encode(images, fps, info=None):
    with torch.inference_mode():
        return WanEncodeVideo().encode(images, fps, "h264-mp4", -1, "default", "once", frames_info=info)["result"][1]


def test_sample_frame_process_encode_scans_the_frames_once(handle) -> None:
    arrays.reset_scan_counts()
    frames, _stats, fps, _ = _sample(handle)
    assert arrays.reset_scan_counts() == {"nan_frames": FRAMES, "range_frames": FRAMES}  # Sample's own check
    assert not frames.is_inference() and checked.checked_bounds(frames) is not None
    images, fps_out, info = _process(frames, fps=fps)
    assert images is frames and fps_out == fps == 16.0  # fps from the model, through Sample's output
    report = _encode(images, fps_out, info)
    assert arrays.reset_scan_counts() == {"nan_frames": 0, "range_frames": 0}
    assert report.ok and [v.finite_check for v in report.videos] == ["upstream"] and report.videos[0].fps == 16.0


def test_an_in_place_change_after_sample_is_scanned_again(handle) -> None:
    frames = _sample(handle)[0]
    with torch.inference_mode():  # a misbehaving node changing its input, as ComfyUI would run it
        frames[4, 0, 0, 0] = float("nan")
    assert checked.checked_bounds(frames) is None
    with pytest.raises(FrameError) as err:
        _process(frames)
    assert err.value.code == "FRAMES_NOT_FINITE" and "frame 4" in err.value.detail


def test_an_in_place_change_after_frame_process_is_caught_by_encode(handle) -> None:
    images, fps, info = _process(_sample(handle)[0])
    images[7].fill_(float("inf"))  # through a view: the version counter is shared
    with pytest.raises(FrameError) as err:
        _encode(images, fps, info)
    assert err.value.code == "FRAMES_NOT_FINITE" and "frame 7" in err.value.detail


def test_frame_process_marks_the_frames_it_makes(tmp_path) -> None:
    source = torch.rand(3, 15, 17, 3) * 0.5 + 0.25  # any IMAGE, odd size: padded to 16 x 18
    arrays.reset_scan_counts()
    images, fps, info = _process(source, size_mode="pad")
    assert arrays.reset_scan_counts() == {"nan_frames": 3, "range_frames": 3}
    assert images is not source and checked.checked_bounds(images) == (0.0, pytest.approx(float(source.max())))
    report = _encode(images, fps, info)
    assert arrays.reset_scan_counts()["nan_frames"] == 0 and report.videos[0].finite_check == "upstream"


def test_encode_still_checks_any_other_image() -> None:
    clean = torch.rand(2, 8, 8, 3)
    report = _encode(clean, 16.0)
    assert report.videos[0].finite_check == "streaming" and arrays.reset_scan_counts()["nan_frames"] >= 2
    with torch.inference_mode():
        made_in_inference_mode = torch.rand(2, 8, 8, 3)
    assert not checked.mark_checked(made_in_inference_mode, 0.0, 1.0)  # no version counter: never trusted
    bad = clean.clone()
    bad[1, 2, 2, 0] = float("nan")
    with pytest.raises(FrameError) as err:
        _encode(bad, 16.0)
    assert err.value.code == "FRAMES_NOT_FINITE"


def test_only_memory_of_a_checked_tensor_counts_as_checked() -> None:
    base = torch.rand(6, 4, 4, 3)
    assert checked.mark_checked(base, 0.0, 1.0)
    assert checked.checked_bounds(base[2:5]) == (0.0, 1.0)  # one video of a batch
    assert checked.checked_bounds(base[2:5][1:]) == (0.0, 1.0)  # a view of a view
    assert checked.checked_bounds(base.view(torch.int32)) is None  # the bits as another type
    assert checked.checked_bounds(torch.from_numpy(base.numpy())) is None  # same memory, own version counter
    assert checked.checked_bounds(base.clone()) is None and checked.checked_bounds(np.zeros((1, 2, 2, 3))) is None
    part = base[1:3]
    assert checked.mark_checked(part, 0.1, 0.9)
    assert checked.checked_bounds(base[1:2]) in ((0.1, 0.9), (0.0, 1.0))  # inside both: either holds
    assert checked.checked_bounds(base[0:3]) == (0.0, 1.0)  # wider than `part`: only the whole base covers it
    base.resize_(2, 4, 4, 3)
    assert checked.checked_bounds(base) is None
    key = id(base)
    del base, part
    gc.collect()
    assert key not in checked._CHECKED._entries  # weak: the entry goes with its tensor
