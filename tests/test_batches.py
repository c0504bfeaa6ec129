"""Several videos per prompt stay apart from Wan Sample to Wan Encode Video, wired as the shipped
workflows wire them (Sample.frames -> Frame Process.images, Frame Process -> Encode), and a graph
that merges them on purpose still can. The frames are real: a tiny pipeline through the real nodes,
encoded by the real ffmpeg and counted from the written files."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.fixtures.tiny import TEST_PROMPTS  # noqa: E402
from wan_compat.compat.frames import boundaries  # noqa: E402
from wan_compat.nodes.encode_video import WanEncodeVideo  # noqa: E402
from wan_compat.nodes.frame_process import KEEP_APART, MERGE, WanFrameProcess  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402
from wan_compat.nodes.sample import WanSample  # noqa: E402

SIZE, FRAMES = 32, 5


@pytest.fixture(scope="module")
def two_videos(tiny_path, tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """Wan Sample's outputs for videos=2 on the tiny T2V pipeline (settings and history kept private)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path_factory.mktemp("settings")))
    patch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tiny_cache))
    try:
        loaded = WanSafeLoad().load(model_path=str(tiny_path("wan2.1-t2v")), dtype="fp32")["result"][0]
        out = WanSample().sample(loaded, prompt=TEST_PROMPTS[0], width=SIZE, height=SIZE, num_frames=FRAMES, steps=2, seed=3, videos=2)
    finally:
        patch.undo()
    return out["result"]


def _frames_per_file(encoded: dict) -> list[int]:
    import imageio_ffmpeg

    paths = encoded["result"][0].splitlines()
    return [imageio_ffmpeg.count_frames_and_secs(p)[0] for p in paths]


def _encode(images, frames_info=None, prefix: str = "batch") -> dict:
    return WanEncodeVideo().encode(images=images, fps=16.0, format="h264-mp4", crf=30, preset="ultrafast",
                                   filename_prefix=prefix, frames_info=frames_info, save_metadata=False)


def test_videos_two_gives_two_files_through_frame_process(two_videos, encode_env) -> None:
    frames, stats, fps, _ = two_videos
    assert tuple(frames.shape) == (2 * FRAMES, SIZE, SIZE, 3) and stats.videos == 2
    images, fps_out, info = WanFrameProcess().process(fps=fps, size_mode="keep", multiple_of=2, value_range="auto", images=frames)
    assert info.video_lengths == [FRAMES, FRAMES] and images is frames  # kept apart, and no copy
    assert _frames_per_file(_encode(images, info)) == [FRAMES, FRAMES]
    # Encode alone (frames_info not linked) still sees the videos Sample marked on the tensor.
    assert _frames_per_file(_encode(frames, prefix="direct")) == [FRAMES, FRAMES]


def test_a_padded_batch_keeps_its_videos(two_videos, encode_env) -> None:
    frames = two_videos[0]
    images, _, info = WanFrameProcess().process(fps=16.0, size_mode="pad", multiple_of=48, value_range="auto", images=frames)
    assert tuple(images.shape) == (2 * FRAMES, 48, 48, 3) and info.video_lengths == [FRAMES, FRAMES]
    assert boundaries.video_lengths(images) == [FRAMES, FRAMES]  # the new tensor carries them on
    assert _frames_per_file(_encode(images)) == [FRAMES, FRAMES]


def test_a_graph_can_merge_the_videos_on_purpose(two_videos, encode_env) -> None:
    frames = two_videos[0]
    images, _, info = WanFrameProcess().process(fps=16.0, size_mode="keep", multiple_of=2, value_range="auto", images=frames, batch=MERGE)
    assert info.video_lengths == [2 * FRAMES]
    assert images.data_ptr() == frames.data_ptr()  # a view: no copy of the frames
    assert boundaries.video_lengths(frames) == [FRAMES, FRAMES]  # Sample's cached output is unchanged
    assert _frames_per_file(_encode(images, info)) == [2 * FRAMES]
    assert _frames_per_file(_encode(images, prefix="merged_alone")) == [2 * FRAMES]  # also without frames_info
    # Any other node's new tensor (here an edit of a copy) is one video.
    assert _frames_per_file(_encode(frames.clone(), prefix="copy")) == [2 * FRAMES]
    assert KEEP_APART in WanFrameProcess.INPUT_TYPES()["optional"]["batch"][0]


def test_a_changed_tensor_loses_its_marks() -> None:
    frames = torch.rand(6, 4, 4, 3)
    assert boundaries.mark_videos(frames, [2, 4]) and boundaries.video_lengths(frames) == [2, 4]
    assert boundaries.video_lengths(frames[:3]) is None  # a part of it is not the batch
    frames.mul_(0.5)
    assert boundaries.video_lengths(frames) is None
    with pytest.raises(ValueError):
        boundaries.mark_videos(frames, [2, 3])  # do not add up
