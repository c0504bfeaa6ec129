"""Fetching pipeline code through huggingface_hub, against a loopback server that answers as the
Hub's resolve endpoint does (HEAD/GET /{repo}/resolve/{revision}/{file} with X-Repo-Commit, ETag
and X-Linked-Etag). The endpoint is passed per call; the server binds 127.0.0.1 only and stops
itself after a bounded time."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

pytest.importorskip("huggingface_hub")

from wan_compat.compat.core.errors import SecurityError, UsageError  # noqa: E402
from wan_compat.compat.security.hub import fetch_files  # noqa: E402
from wan_compat.compat.security.policy import SecurityPolicy, TrustedRepo  # noqa: E402

REPO = "wan-test/custom-pipeline"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {"pipeline.py": b"class CustomWanPipeline:\n    pass\n", "transformer/model.py": b"X = 1\n"}
MAX_SERVER_SECONDS = 60


class FakeHub:
    """A resolve endpoint for one repository at one commit; records every request."""

    def __init__(self, files: dict[str, bytes], commit: str, answer_commit: str | None = None) -> None:
        self.files, self.commit = files, commit
        self.answer_commit = answer_commit or commit
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _resolve(self, send_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                prefix = f"/{REPO}/resolve/"
                path = unquote(self.path.split("?")[0])
                if not path.startswith(prefix):
                    self._error(404, "RepoNotFound")
                    return
                revision, _, filename = path[len(prefix):].partition("/")
                if revision not in (hub.commit, "main"):
                    self._error(404, "RevisionNotFound")
                    return
                if filename not in hub.files:
                    self._error(404, "EntryNotFound")
                    return
                body = hub.files[filename]
                etag = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()  # git blob id, as the Hub
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.answer_commit)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _error(self, status: int, code: str) -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Repo-Commit", hub.answer_commit)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802
                self._resolve(send_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._resolve(send_body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._stopper = threading.Timer(MAX_SERVER_SECONDS, self.stop)

    def start(self) -> "FakeHub":
        self._thread.start()
        self._stopper.start()
        return self

    def stop(self) -> None:
        self._stopper.cancel()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub():
    servers: list[FakeHub] = []

    def start(answer_commit: str | None = None) -> FakeHub:
        server = FakeHub(FILES, COMMIT, answer_commit).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; the suite sets it so nothing reaches the
    # real Hub. These tests talk to their own loopback server only, so the library is put online.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


TRUSTED = [TrustedRepo(repo_id=REPO, revision=COMMIT)]


def test_fetch_at_pinned_commit_with_network_allowed(hub, tmp_path: Path) -> None:
    server = hub()
    policy = SecurityPolicy(trusted_repos=TRUSTED, allow_network=True)
    got = fetch_files(REPO, COMMIT, list(FILES), policy, endpoint=server.endpoint, cache_dir=tmp_path / "cache")
    for name, body in FILES.items():
        assert got[name].read_bytes() == body
        assert COMMIT in got[name].parts
    resolved = {path for _, path in server.requests}
    assert resolved == {f"/{REPO}/resolve/{COMMIT}/{name}" for name in FILES}
    assert {method for method, _ in server.requests} <= {"HEAD", "GET"}

    # Offline afterwards: served from the cache, no request at all.
    before = len(server.requests)
    offline = policy.model_copy(update={"allow_network": False})
    again = fetch_files(REPO, COMMIT, ["pipeline.py"], offline, endpoint=server.endpoint, cache_dir=tmp_path / "cache")
    assert again["pipeline.py"].read_bytes() == FILES["pipeline.py"]
    assert len(server.requests) == before


def test_network_not_allowed_and_not_cached(hub, tmp_path: Path) -> None:
    server = hub()
    policy = SecurityPolicy(trusted_repos=TRUSTED)
    with pytest.raises(SecurityError) as err:
        fetch_files(REPO, COMMIT, ["pipeline.py"], policy, endpoint=server.endpoint, cache_dir=tmp_path / "cache")
    assert err.value.code == "NETWORK_NOT_ALLOWED" and "pipeline.py" in str(err.value)
    assert server.requests == []
    assert not any((tmp_path / "cache").rglob("pipeline.py"))


def test_untrusted_repo_or_moving_revision_makes_no_request(hub, tmp_path: Path) -> None:
    server = hub()
    open_policy = SecurityPolicy(allow_network=True)
    with pytest.raises(SecurityError) as err:
        fetch_files(REPO, COMMIT, ["pipeline.py"], open_policy, endpoint=server.endpoint, cache_dir=tmp_path)
    assert err.value.code == "REPO_NOT_TRUSTED"
    with pytest.raises(SecurityError) as err:
        fetch_files(REPO, "main", ["pipeline.py"], open_policy, endpoint=server.endpoint, cache_dir=tmp_path)
    assert err.value.code == "REVISION_NOT_PINNED"
    assert server.requests == []


def test_missing_file_and_wrong_commit_answer(hub, tmp_path: Path) -> None:
    policy = SecurityPolicy(trusted_repos=TRUSTED, allow_network=True)
    server = hub()
    with pytest.raises(SecurityError) as err:
        fetch_files(REPO, COMMIT, ["nope.py"], policy, endpoint=server.endpoint, cache_dir=tmp_path / "a")
    assert err.value.code == "HUB_FETCH_FAILED" and "nope.py" in str(err.value)

    liar = hub(answer_commit="f" * 40)
    with pytest.raises(SecurityError) as err:
        fetch_files(REPO, COMMIT, ["pipeline.py"], policy, endpoint=liar.endpoint, cache_dir=tmp_path / "b")
    assert err.value.code == "HUB_FETCH_FAILED"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b", "a\\b"])
def test_file_names_must_stay_in_the_repository(name: str, tmp_path: Path) -> None:
    policy = SecurityPolicy(trusted_repos=TRUSTED, allow_network=True)
    with pytest.raises(UsageError):
        fetch_files(REPO, COMMIT, [name], policy, endpoint="http://127.0.0.1:9", cache_dir=tmp_path)
