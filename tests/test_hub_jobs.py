"""The background downloads behind the ComfyUI route (compat/hub/jobs.py), in process against the
loopback Hub: cancel keeps the partial file and the next download resumes it, asking twice joins the
running job, the queue is bounded, offline mode refuses. huggingface_hub reads HF_HUB_OFFLINE once at
import (conftest sets it for the session), so these tests switch its constant as the variable would.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from hub_fixtures import BIG, partials, sha256, unknown_safetensors, wait_for
from local_hub import LocalHub
from wan_compat.compat.core.errors import UsageError
from wan_compat.compat.hub.jobs import Downloads
from wan_compat.compat.hub.remote import Hub
from wan_compat.compat.hub.sources import from_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    store = tmp_path_factory.mktemp("jobs_hub")
    found = LocalHub(store / "blobs")
    found.add_repo("someone/files", {"vae/a.safetensors": unknown_safetensors(store / "a.safetensors", BIG, seed=2),
                                     "vae/b.safetensors": unknown_safetensors(store / "b.safetensors", BIG, seed=3)})
    found.start()
    yield found
    found.stop()


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "settings"))


def _downloads(hub: LocalHub, tmp_path: Path, **kw: int) -> Downloads:
    return Downloads(lambda folder: tmp_path / "models" / folder, hub=lambda: Hub(hub.url), **kw)


def _held(hub: LocalHub) -> None:
    hub.pause_after, hub.resume = BIG // 2, threading.Event()


def _release(hub: LocalHub) -> None:
    hub.resume.set()
    hub.pause_after = None


def test_cancel_keeps_the_partial_file_and_the_next_download_resumes(hub: LocalHub, tmp_path: Path, online: None) -> None:
    downloads = _downloads(hub, tmp_path)
    source = from_spec("someone/files/vae/a.safetensors")
    _held(hub)
    try:
        job = downloads.start(source)
        wait_for(lambda: job.done_bytes >= 10 * 1024 * 1024, "the first chunk")
        assert job.state == "running" and job.total_bytes > job.done_bytes
        downloads.cancel(job.id)
    finally:
        _release(hub)
    wait_for(lambda: job.state == "cancelled", "the cancel")
    assert job.problem["code"] == "HUB_DOWNLOAD_CANCELLED"
    folder = tmp_path / "models" / "vae"
    [partial] = partials(folder)
    kept = partial.stat().st_size
    again = downloads.start(source)
    assert again.id != job.id
    wait_for(lambda: again.state not in ("queued", "running"), "the second download")
    assert again.state == "done", again.problem
    assert hub.served("cdn")[-1]["range"] == f"bytes={kept}-"
    assert sha256(folder / "a.safetensors") == again.result["files"][0]["digest"] and partials(folder) == []


def test_asking_twice_joins_the_running_job_and_the_queue_is_bounded(hub: LocalHub, tmp_path: Path, online: None) -> None:
    downloads = _downloads(hub, tmp_path, max_active=1)
    hub.requests.clear()
    _held(hub)
    try:
        first = downloads.start(from_spec("someone/files/vae/b.safetensors"))
        assert downloads.start(from_spec("someone/files/vae/b.safetensors")) is first
        with pytest.raises(UsageError) as refused:
            downloads.start(from_spec("someone/files/vae/a.safetensors"))
        assert refused.value.code == "HUB_BUSY"
    finally:
        _release(hub)
    wait_for(lambda: first.state == "done", "the download")
    assert len(hub.served("cdn")) == 1 and [j.id for j in downloads.jobs([first.id])] == [first.id]


def test_offline_mode_fails_the_job_without_asking_the_hub(hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.requests.clear()
    job = _downloads(hub, tmp_path).start(from_spec("someone/files/vae/a.safetensors"))
    wait_for(lambda: job.state == "failed", "the refusal")
    assert job.problem["code"] == "HUB_OFFLINE" and hub.requests == []
