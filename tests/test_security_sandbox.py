"""The bubblewrap sandbox: no network, read-only model folder, no tokens in the environment, nothing
of the file system but what it is given; and a typed refusal where no sandbox exists."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from wan_compat.compat.errors import SecurityError
from wan_compat.compat.security import sandbox

available, reason = sandbox.sandbox_status()
needs_bwrap = pytest.mark.skipif(not available, reason=f"no sandbox here: {reason} (CI installs Debian's bubblewrap)")

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
