"""The on-prompt handler never changes, blocks or fails queueing; the check pool behind it and the
routes is bounded: one worker process, one check at a time, at most one waiting per client, a time
budget, and a gate that drops a prompt ComfyUI never queued without running anything."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from wan_compat.compat.fixtures.template_files import write_template_file
from wan_compat.compat.workflow.check_pool import CheckPool
from wan_compat.nodes import comfy_routes

# A worker that reads its request and never answers (a check that hangs on a file, or loops).
SILENT = [sys.executable, "-c", "import sys, time\nsys.stdin.buffer.readline()\ntime.sleep(120)"]


@pytest.mark.parametrize("body", [None, "text", [], {}, {"prompt": "x"}, {"prompt": {"1": {"class_type": "UNETLoader", "inputs": {}}}}])
def test_handler_returns_the_body_unchanged(body: object) -> None:
    assert comfy_routes.on_prompt(body) is body


def test_register_outside_comfyui_is_a_no_op() -> None:
    assert comfy_routes.register() is False


def _check(name: str) -> bytes:
    return json.dumps({"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": name}}}}).encode()


def test_the_pool_answers_from_its_worker_process(tmp_path: Path) -> None:
    write_template_file(tmp_path / "models", "vae", "wan_2.1_vae.safetensors")
    pool = CheckPool()
    try:
        answer = json.loads(pool.submit("a", "check", _check("wan_2.1_vae.safetensors"), {"vae": [str(tmp_path / "models" / "vae")]}).result(timeout=120))
        assert answer["ok"] and answer["files"][0]["kind"] == "vae"
        lazy = json.loads(pool.submit("a", "check", lambda: _check("missing.safetensors"), {"vae": [str(tmp_path)]}).result(timeout=120))
        assert lazy["problems"][0]["code"] == "WF_FILE_MISSING" and pool.started == 1
    finally:
        pool.close()


def test_a_prompt_comfyui_never_queued_is_never_checked() -> None:
    pool = CheckPool(gate_wait_s=0.3)
    made: list[int] = []
    try:
        future = pool.submit("p", "check", lambda: made.append(1) or b"{}", {}, gate=lambda: False)
        assert future.result(timeout=30) is None and made == [] and pool.started == 0
    finally:
        pool.close()


def test_a_check_past_its_budget_is_stopped_and_the_next_gets_a_fresh_worker() -> None:
    pool = CheckPool(time_budget_s=1.0, command=SILENT)
    try:
        first = json.loads(pool.submit("a", "check", b"{}", {}).result(timeout=60))
        assert first["problems"][0]["code"] == "WORKFLOW_CHECK_TIMEOUT"
        second = json.loads(pool.submit("a", "check", b"{}", {}).result(timeout=60))
        assert second["problems"][0]["code"] == "WORKFLOW_CHECK_TIMEOUT" and pool.started == 2
    finally:
        pool.close()


def test_one_check_per_client_waits_and_the_waiting_room_is_bounded() -> None:
    pool = CheckPool(time_budget_s=3.0, command=SILENT, max_waiting=2)
    try:
        running = pool.submit("a", "check", b"{}", {})
        while pool.running is None:  # the first is now in the worker
            threading.Event().wait(0.01)
        waiting = pool.submit("a", "check", b"{}", {})
        newer = pool.submit("a", "check", b"{}", {})  # replaces the waiting one, which is answered at once
        assert json.loads(waiting.result(timeout=5))["problems"][0]["code"] == "WORKFLOW_CHECK_BUSY" and not newer.done()
        other = pool.submit("b", "check", b"{}", {})
        refused = pool.submit("c", "check", b"{}", {})  # two are waiting: the room is full
        assert json.loads(refused.result(timeout=5))["problems"][0]["code"] == "WORKFLOW_CHECK_BUSY" and not other.done()
        assert json.loads(running.result(timeout=30))["problems"][0]["code"] == "WORKFLOW_CHECK_TIMEOUT"
    finally:
        pool.close()
