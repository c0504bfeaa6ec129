"""The bubblewrap sandbox: no network, read-only model folder, no tokens in the environment, nothing
of the file system but what it is given; and a typed refusal where no sandbox exists."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from wan_compat.compat.core.errors import SecurityError
from wan_compat.compat.security import sandbox

needs_bwrap = pytest.mark.usefixtures("bwrap")  # skips locally without bubblewrap, fails in CI (conftest.py)

PROBE = r"""
import json, os, socket, sys
model, out, secret = sys.argv[1], sys.argv[2], sys.argv[3]
found = {"env": sorted(os.environ)}
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3)
    found["internet"] = "reachable"
except OSError as exc:
    found["internet"] = type(exc).__name__
try:
    listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
    host_port = int(os.environ.get("HOST_PORT", "0"))
    socket.create_connection(("127.0.0.1", host_port), timeout=2) if host_port else None
    found["host_loopback"] = "reachable" if host_port else "untested"
except OSError as exc:
    found["host_loopback"] = type(exc).__name__
try:
    open(os.path.join(model, "planted.py"), "w").write("x")
    found["model_write"] = "written"
except OSError as exc:
    found["model_write"] = type(exc).__name__
found["model_read"] = open(os.path.join(model, "config.json")).read()
found["secret_visible"] = os.path.exists(secret)
open(os.path.join(out, "result.txt"), "w").write("ok")
print(json.dumps(found))
"""


@needs_bwrap
def test_sandbox_blocks_network_writes_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    model, out, private = tmp_path / "model", tmp_path / "out", tmp_path / "private"
    for folder in (model, out, private):
        folder.mkdir()
    (model / "config.json").write_text("{}")
    (private / "token").write_text("hf_secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_secret_token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    try:
        result = sandbox.run_python(
            ["-c", PROBE, str(model), str(out), str(private / "token")],
            read_only=[model], writable=[out], env={"HOST_PORT": str(host.getsockname()[1])}, timeout_s=120,
        )
    finally:
        host.close()
    found = json.loads(result.stdout)
    assert found["internet"] != "reachable"
    assert found["host_loopback"] != "reachable"  # the host's loopback is another network namespace
    assert found["model_write"] == "OSError" and not (model / "planted.py").exists()
    assert found["model_read"] == "{}"
    assert found["secret_visible"] is False
    assert not {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "AWS_SECRET_ACCESS_KEY"} & set(found["env"])
    assert (out / "result.txt").read_text() == "ok"


@needs_bwrap
def test_sandbox_failure_and_timeout_are_typed(tmp_path: Path) -> None:
    with pytest.raises(SecurityError) as err:
        sandbox.run_python(["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], timeout_s=60)
    assert err.value.code == "SANDBOX_FAILED" and "boom" in str(err.value) and "exit code 3" in str(err.value)
    with pytest.raises(SecurityError) as err:
        sandbox.run_python(["-c", "import time; time.sleep(30)"], timeout_s=1)
    assert err.value.code == "SANDBOX_TIMEOUT"


def test_no_sandbox_means_refusal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    sandbox.sandbox_status.cache_clear()
    try:
        assert sandbox.sandbox_status()[0] is False
        with pytest.raises(SecurityError) as err:
            sandbox.run_sandboxed(["/bin/sh", "-c", f"touch {canary}"])
        assert err.value.code == "SANDBOX_UNAVAILABLE" and "not installed" in str(err.value)
    finally:
        sandbox.sandbox_status.cache_clear()
    assert not canary.exists()


PROBE_PIPELINE = '''
import os, socket
import numpy as np
from diffusers import DiffusionPipeline


class ProbePipeline(DiffusionPipeline):
    """Trusted but unreviewed: it tries what a hostile pipeline would, and reports what worked."""

    def __init__(self):
        super().__init__()

    def __call__(self, prompt="", num_frames=2, secret_path="", model_dir="", output_type="np", generator=None):
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=3)
            network = 1.0
        except OSError:
            network = 0.0
        try:
            open(os.path.join(model_dir, "planted.py"), "w").write("x")
            wrote_model = 1.0
        except OSError:
            wrote_model = 0.0
        token = 1.0 if os.environ.get("HF_TOKEN") else 0.0
        secret = 1.0 if os.path.exists(secret_path) else 0.0
        frames = np.zeros((1, num_frames, 2, 2, 3), dtype=np.float32)
        frames[0, 0, 0, 0] = [network, wrote_model, token]
        frames[0, 0, 0, 1] = [secret, float(len(prompt)), 0.5]

        class Output:
            pass

        out = Output()
        out.frames = frames
        return out
'''


@needs_bwrap
def test_trusted_custom_pipeline_runs_only_in_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wan_compat.compat.loading import load_pipeline
    from wan_compat.compat.security.policy import SecurityPolicy
    from wan_compat.compat.security.trust import review_code

    folder = tmp_path / "models" / "custom"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": ["probe_pipeline", "ProbePipeline"], "_diffusers_version": "0.42.1"}))
    (folder / "probe_pipeline.py").write_text(PROBE_PIPELINE)
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")

    policy = SecurityPolicy(trusted_folders=[review_code(folder).trust_entry("test")], untrusted_code="sandbox")
    loaded = load_pipeline(folder, policy=policy, roots=[str(tmp_path / "models")])
    assert loaded.sandboxed and "ProbePipeline" in str(loaded.pipeline_class)
    assert any(f.role == "code" and f.path.endswith("probe_pipeline.py") for f in loaded.report.files)
    import sys

    assert "probe_pipeline" not in sys.modules  # nothing of it was imported here

    frames = loaded.pipeline(prompt="abc", num_frames=3, secret_path=str(secret), model_dir=str(folder)).frames
    assert frames.shape == (1, 3, 2, 2, 3)
    network, wrote_model, token = frames[0, 0, 0, 0]
    seen_secret, prompt_len, _ = frames[0, 0, 0, 1]
    assert (network, wrote_model, token, seen_secret) == (0.0, 0.0, 0.0, 0.0)
    assert prompt_len == 3.0
    assert not (folder / "planted.py").exists()

    with pytest.raises(Exception) as err:
        loaded.pipeline(prompt=object())
    assert getattr(err.value, "code", "") == "USAGE"
