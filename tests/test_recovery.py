"""A run is not lost where it can be saved: an out-of-memory at the VAE decode retries on the same
latents (chunked or tiled, then on the CPU), one while sampling retries once with the next offload
level, and each retry is reported with what it changed. The errors are real `torch.OutOfMemoryError`s
raised at the real call site (a forward pre-hook on the module that runs there, raising the first
time(s) it is called), and the frames are compared with a plain run of the same request."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import ResourceError  # noqa: E402
from wan_compat.compat.sampling import SampleRequest, sample  # noqa: E402
from wan_compat.compat.settings.store import OptimizationPreferences  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

REQUEST = dict(prompt="a sailing boat at dusk", width=32, height=32, num_frames=5, steps=3, seed=4)


@pytest.fixture(autouse=True)
def _private(private_settings: Path) -> None:
    pass


def _handle(tiny_loaded, **prefs):
    return dataclasses.replace(tiny_loaded("wan2.1-t2v"), preferences=OptimizationPreferences(**{"precision": "fp32", **prefs}))


def _raise_oom(module, times: int) -> list[int]:
    """A forward pre-hook that raises torch.OutOfMemoryError the first `times` calls (as the
    allocator would inside that module), then lets every call through; returns its call count."""
    calls: list[int] = []

    def hook(_module, _args):
        calls.append(1)
        if len(calls) <= times:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")

    module.register_forward_pre_hook(hook)
    return calls


@pytest.fixture(scope="module")
def plain(tiny_path, tmp_path_factory):
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    patch = pytest.MonkeyPatch()
    patch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path_factory.mktemp("settings")))
    try:
        handle = dataclasses.replace(load_pipeline(tiny_path("wan2.1-t2v"), options=LoadOptions(dtype="fp32")),
                                     preferences=OptimizationPreferences(precision="fp32"))
        return sample(handle, SampleRequest(**REQUEST), record=False)
    finally:
        patch.undo()


@pytest.mark.parametrize("failures, expected", [
    (1, ["out of memory in the chunked decode (OutOfMemoryError): retried with tiled decode (spatial tiles)"]),
    (2, ["out of memory in the chunked decode (OutOfMemoryError): retried with tiled decode (spatial tiles)",
         "out of memory in the tiled decode (OutOfMemoryError): retried with decode on the CPU (chunked)"]),
])
def test_out_of_memory_at_decode_retries_on_the_same_latents(tiny_loaded, plain, failures: int, expected: list[str]) -> None:
    handle = _handle(tiny_loaded)
    calls = _raise_oom(handle.pipeline.vae.decoder, failures)
    result = sample(handle, SampleRequest(**REQUEST), record=False)
    stats = result.stats
    assert [f"{r['error']}: {r['changed']}" for r in stats.retries] == expected and all(r["stage"] == "decode" for r in stats.retries)
    assert [p.detail for p in stats.problems if p.code == "OUT_OF_MEMORY_RETRIED"] == expected
    assert stats.decode_mode == ("full" if failures == 1 else "cpu (chunked)")  # 32x32 is smaller than one tile: tiled = full
    assert len(stats.step_seconds) == REQUEST["steps"]  # the steps ran once: the latents were kept
    assert len(calls) > failures
    # Another decode path (one full decode, or chunks on the CPU) of the same latents: fp32 pipeline tolerance.
    assert_frames_close(result.frames, plain.frames, dtype=torch.float32, path="pipeline")


def test_out_of_memory_while_sampling_retries_once_with_the_next_offload(tiny_loaded, plain) -> None:
    handle = _handle(tiny_loaded, offload="none")
    _raise_oom(handle.pipeline.transformer, 1)
    result = sample(handle, SampleRequest(**REQUEST), record=False)
    stats = result.stats
    assert stats.plan.offload == "group"  # the only offload a CPU has
    assert stats.retries == [{"stage": "sample", "error": "out of memory at step 1 (OutOfMemoryError)",
                              "changed": "retried once with group offload (was none)"}]
    assert stats.plan.choice("offload").source == "retry"
    # group offload to disk against no offload: the measured gap is 6.2e-6 (tests/tolerances.py)
    assert_frames_close(result.frames, plain.frames, dtype=torch.float32, path="pipeline")
    assert handle.module_state()["transformer"]["hooks"].get("diffusers", 0) == 0  # the retry's offload hooks went with the run


def test_a_second_out_of_memory_while_sampling_is_the_error(tiny_loaded) -> None:
    handle = _handle(tiny_loaded, offload="none")
    calls = _raise_oom(handle.pipeline.transformer, 2)
    with pytest.raises(ResourceError) as err:
        sample(handle, SampleRequest(**REQUEST), record=False)
    assert err.value.code == "GPU_OUT_OF_MEMORY" and len(calls) == 2  # retried once, not more


def test_an_out_of_memory_the_cpu_decode_cannot_avoid_is_the_error(tiny_loaded) -> None:
    handle = _handle(tiny_loaded)
    _raise_oom(handle.pipeline.vae.decoder, 3)
    with pytest.raises(ResourceError) as err:
        sample(handle, SampleRequest(**REQUEST), record=False)
    assert err.value.code == "VAE_DECODE_OUT_OF_MEMORY"
