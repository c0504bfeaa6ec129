"""Pipelines whose code the pack does not ship, with real folders and real code:

- a folder naming a class diffusers does not ship, with standard Wan parts, loads as the Wan
  pipeline that fits them (a warning naming both classes) and generates what that pipeline does;
- a trusted custom pipeline (a subclass of diffusers' WanPipeline in the folder's own .py, on the
  tiny Wan weights) runs end to end in the bubblewrap sandbox through Wan Sample: progress per step
  and the frames come back over the worker protocol, Cancel ends the sandbox, the settings' time
  limit ends a run that does not finish; VAE Fix and Optimize say what they cannot do for it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import SecurityError, UsageError  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.compat.security.policy import SecurityPolicy  # noqa: E402
from wan_compat.compat.security.trust import review_code  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

REQUEST = dict(prompt="a red fox in the snow", width=32, height=32, num_frames=5, steps=3, seed=11, cfg=4.0)
CUSTOM = '''
from diffusers import WanPipeline


class MyWanPipeline(WanPipeline):
    """A fine-tune's own pipeline class: the Wan pipeline, shipped as code in the model folder."""
'''
SLOW = '''
import time

from diffusers import DiffusionPipeline


class SlowPipeline(DiffusionPipeline):
    def __init__(self):
        super().__init__()

    def __call__(self, **kwargs):
        while True:
            time.sleep(1)
'''


@pytest.fixture(autouse=True)
def _private(private_settings: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tmp_path / "models"))  # the nodes' model folders


def _index(folder: Path, **changes) -> None:
    path = folder / "model_index.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _trusted(folder: Path, timeout_s: float = 600.0) -> SecurityPolicy:
    return SecurityPolicy(trusted_folders=[review_code(folder).trust_entry("test")], untrusted_code="sandbox", sandbox_timeout_s=timeout_s)


@pytest.fixture(scope="module")
def plain_frames(tiny_path):
    """The tiny T2V pipeline's frames for REQUEST, run in this process by the pack (fp32)."""
    return sample(load_pipeline(tiny_path("wan2.1-t2v"), options=LoadOptions(dtype="fp32")), SampleRequest(**REQUEST), record=False).frames


def test_an_unknown_class_with_standard_parts_loads_as_the_wan_pipeline(tiny_path, tmp_path: Path, plain_frames) -> None:
    folder = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "models" / "fancy"))
    _index(folder, _class_name="MyFancyWanPipeline")  # no code anywhere: only a name diffusers does not ship
    loaded = load_pipeline(folder, options=LoadOptions(dtype="fp32"), roots=[str(tmp_path / "models")])
    assert type(loaded.pipeline).__name__ == "WanPipeline" and loaded.pipeline_class == "WanPipeline"
    warning = next(p for p in loaded.problems if p.code == "PIPELINE_CLASS_FALLBACK")
    assert warning.severity == "warning" and "MyFancyWanPipeline" in warning.detail and "WanPipeline" in warning.detail
    frames = sample(loaded, SampleRequest(**REQUEST), record=False).frames
    assert_frames_close(frames, plain_frames, dtype=torch.float32, path="pipeline")


@pytest.fixture
def custom(tiny_path, tmp_path: Path) -> Path:
    """The tiny T2V folder as a fine-tune ships it with its own pipeline code."""
    folder = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "models" / "custom"))
    (folder / "my_wan.py").write_text(CUSTOM)
    _index(folder, _class_name=["my_wan", "MyWanPipeline"])
    return folder


def test_a_trusted_custom_pipeline_runs_through_sample_in_the_sandbox(bwrap, custom: Path, tmp_path: Path, plain_frames) -> None:
    from wan_compat.nodes.optimize import WanOptimize
    from wan_compat.nodes.sample import WanSample
    from wan_compat.nodes.vae_fix import WanVAEFix

    roots = [str(tmp_path / "models")]
    with pytest.raises(SecurityError) as err:  # untrusted: refused, never run
        load_pipeline(custom, roots=roots)
    assert err.value.code == "CUSTOM_CODE_FILES"
    loaded = load_pipeline(custom, policy=_trusted(custom), roots=roots)
    assert loaded.sandboxed and "MyWanPipeline" in str(loaded.pipeline_class)

    fixed, text = WanVAEFix().fix(loaded)["result"]
    assert fixed.pipeline is loaded.pipeline and "cannot check or replace the VAE" in text
    assert [p.code for p in fixed.vae_report.problems] == ["SANDBOX_STAGE_LIMITED"]
    with pytest.raises(UsageError) as err:
        WanVAEFix().fix(loaded, vae_path=str(custom / "vae"))
    assert err.value.code == "PIPELINE_UNSUPPORTED"
    optimized, shown, text = WanOptimize().optimize(fixed)["result"]
    assert optimized.sandboxed and "cannot plan or apply" in text and shown.to_dict()["sandboxed"] is True

    progress: list[tuple[int, int]] = []
    result = sample(optimized, SampleRequest(**REQUEST), on_progress=lambda d, t: progress.append((d, t)), record=False)
    assert progress[: REQUEST["steps"]] == [(1, 3), (2, 3), (3, 3)]  # one line per step over the worker protocol, while it ran
    assert result.stats.mode == "sandboxed" and len(result.stats.step_seconds) == REQUEST["steps"]
    # The same weights, seed and pipeline code as the in-process run: the same frames.
    assert_frames_close(result.frames, plain_frames, dtype=torch.float32, path="pipeline")

    out = WanSample().sample(optimized, prompt=REQUEST["prompt"], width=32, height=32, num_frames=5, steps=2, seed=1, videos=2)
    frames = out["result"][0]
    from wan_compat.compat.frames.boundaries import video_lengths

    assert tuple(frames.shape) == (10, 32, 32, 3) and video_lengths(frames) == [5, 5]


def test_cancel_ends_the_sandboxed_run(bwrap, custom: Path, tmp_path: Path) -> None:
    loaded = load_pipeline(custom, policy=_trusted(custom), roots=[str(tmp_path / "models")])

    class Cancelled(Exception):
        pass

    seen: list[int] = []

    def stop_after_first(done: int, total: int) -> None:
        seen.append(done)
        if done == 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        sample(loaded, SampleRequest(**REQUEST), on_progress=stop_after_first, record=False)
    assert seen == [1]
    assert not list(Path(__import__("tempfile").gettempdir()).glob("wan-compat-sandbox-*/request.json"))


def test_the_settings_time_limit_ends_a_sandboxed_run(bwrap, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "slow"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": ["slow_pipeline", "SlowPipeline"], "_diffusers_version": "0.42.1"}))
    (folder / "slow_pipeline.py").write_text(SLOW)
    loaded = load_pipeline(folder, policy=_trusted(folder, timeout_s=20), roots=[str(tmp_path / "models")])
    assert loaded.pipeline.timeout_s == 20
    with pytest.raises(SecurityError) as err:
        sample(loaded, SampleRequest(**REQUEST), record=False)
    assert err.value.code == "SANDBOX_TIMEOUT" and "stopped after 20 s (security.sandbox_timeout_s)" in err.value.detail
