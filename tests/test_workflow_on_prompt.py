"""The on-prompt handler never changes, blocks or fails queueing: it returns the very object it got,
for any body, and a failing check only logs."""
from __future__ import annotations

import logging
import threading

import pytest

from wan_compat.nodes import comfy_routes


@pytest.mark.parametrize("body", [None, "text", [], {}, {"prompt": "x"}, {"prompt": {"1": {"class_type": "UNETLoader", "inputs": {}}}}])
def test_handler_returns_the_body_unchanged(body: object) -> None:
    assert comfy_routes.on_prompt(body) is body


def test_a_failing_check_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    # outside ComfyUI `folder_paths` cannot be imported: the check fails inside the thread
    with caplog.at_level(logging.WARNING, logger="wan_compat.workflow_check"):
        body = {"prompt": {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "x.safetensors"}}}}
        assert comfy_routes.on_prompt(body) is body
        for thread in [t for t in threading.enumerate() if t.name == "wan_compat-check"]:
            thread.join()
    assert any("queued unchecked" in r.getMessage() for r in caplog.records)


def test_register_outside_comfyui_is_a_no_op() -> None:
    assert comfy_routes.register() is False
