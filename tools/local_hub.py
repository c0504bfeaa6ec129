"""A small Hugging Face Hub on loopback, for the download tests and benchmark: huggingface_hub's own
code talks to it through HF_ENDPOINT (or `endpoint=`), exactly as it talks to the Hub.

It answers what huggingface_hub calls for a download (read in huggingface_hub 2.5's
`hf_api.py`, `file_download.py` and `utils/_http.py`):
- `GET /api/models/{repo}/revision/{rev}`: the commit (`sha`) and the files (`siblings`);
- `POST /api/models/{repo}/paths-info/{rev}` (form field `paths`, repeated) and
  `GET /api/models/{repo}/tree/{rev}[/{dir}]?recursive=...`: each file's size, git blob id and,
  for LFS files, `lfs: {oid: sha256, size, pointerSize}`;
- `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: a git file answers 200 with `ETag` (its blob id),
  `X-Repo-Commit` and `Content-Length`; an LFS file answers 302 to the CDN with `X-Repo-Commit`,
  `X-Linked-Etag` (sha256) and `X-Linked-Size`, as the Hub does;
- the CDN (a second port: another origin, so the token never follows the redirect) serves the
  blob with `Range` requests (206 + `Content-Range`).
Errors carry the Hub's `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
Test hooks: `gated` repos need `Bearer <token>`; `tamper` serves other bytes than the metadata
says; `pause_after` holds the CDN stream after that many bytes until `resume` is set; every
request is logged in `requests`.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".model", ".pkl")


@dataclass
class Blob:
    path: Path  # the bytes, on disk
    size: int
    sha256: str
    git_sha1: str
    lfs: bool

    @classmethod
    def of(cls, source: Path, repo_path: str) -> Blob:
        sha256, sha1, size = hashlib.sha256(), hashlib.sha1(), source.stat().st_size  # noqa: S324 - git's blob id
        sha1.update(b"blob %d\x00" % size)
        with open(source, "rb") as fh:
            while block := fh.read(1 << 22):
                sha256.update(block)
                sha1.update(block)
        return cls(source, size, sha256.hexdigest(), sha1.hexdigest(), repo_path.endswith(LFS_SUFFIXES) or size > 10_000_000)

    def entry(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "path": path, "size": self.size, "oid": self.git_sha1}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return out


class LocalHub:
    """Repositories in memory (their files on disk), served on two loopback ports (Hub and CDN)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.commits: dict[str, dict[str, dict[str, Blob]]] = {}  # repo -> commit -> path -> blob
        self.branches: dict[str, dict[str, str]] = {}  # repo -> branch -> commit
        self.blobs: dict[str, Blob] = {}  # sha256 -> blob (the CDN)
        self.gated: set[str] = set()
        self.token: str | None = None
        self.tamper: dict[str, bytes] = {}  # sha256 -> the bytes the CDN serves instead
        self.pause_after: int | None = None
        self.resume = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._servers: list[ThreadingHTTPServer] = []
        self.url = self.cdn_url = ""

    # ------------------------------------------------------------------ content
    def add_repo(self, repo: str, files: dict[str, bytes | Path], branch: str = "main") -> str:
        """A new commit of `repo` holding `files` (bytes or a file to serve), at `branch`; returns its sha."""
        blobs: dict[str, Blob] = {}
        for path, content in sorted(files.items()):
            source = content if isinstance(content, Path) else self._write(content)
            blobs[path] = Blob.of(source, path)
            self.blobs.setdefault(blobs[path].sha256, blobs[path])
        listing = "\n".join(f"{p} {b.git_sha1}" for p, b in blobs.items()) + repo + str(len(self.commits.get(repo, {})))
        commit = hashlib.sha1(listing.encode()).hexdigest()  # noqa: S324 - a commit id, as git's
        self.commits.setdefault(repo, {})[commit] = blobs
        self.branches.setdefault(repo, {})[branch] = commit
        return commit

    def _write(self, data: bytes) -> Path:
        self.store.mkdir(parents=True, exist_ok=True)
        path = self.store / hashlib.sha256(data).hexdigest()
        path.write_bytes(data)
        return path

    def served(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["kind"] == kind]

    # ------------------------------------------------------------------ server
    def start(self) -> str:
        for role in ("hub", "cdn"):
            handler = type(f"{role}Handler", (_Handler,), {"hub": self, "role": role})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"local-hub-{role}", daemon=True).start()
            self._servers.append(server)
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.resume.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> LocalHub:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    role: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _log(self, kind: str) -> None:
        self.hub.requests.append({"kind": kind, "method": self.command, "path": self.path, "range": self.headers.get("Range"),
                                  "authorization": self.headers.get("Authorization")})

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, doc: Any) -> None:
        self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str) -> None:
        self._send(status, json.dumps({"error": code}).encode(), {"X-Error-Code": code, "Content-Type": "application/json"})

    def _files(self, repo: str, revision: str) -> tuple[str, dict[str, Blob]] | None:
        """(commit, files) of repo at revision; None after answering an error."""
        if repo not in self.hub.commits:
            self._error(401, "RepoNotFound")  # the Hub answers 401 for a missing (or private) repository
            return None
        if repo in self.hub.gated and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            self._error(403, "GatedRepo")
            return None
        commit = self.hub.branches[repo].get(revision, revision)
        if commit not in self.hub.commits[repo]:
            self._error(404, "RevisionNotFound")
            return None
        return commit, self.hub.commits[repo][commit]

    # ------------------------------------------------------------------ routes
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        if self.role == "cdn":
            self._log("cdn")
            return self._cdn(parts[-1])
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            self._log(parts[4])
            found = self._files(f"{parts[2]}/{parts[3]}", parts[5])
            if found is None:
                return None
            commit, files = found
            if parts[4] == "revision":
                return self._json({"id": f"{parts[2]}/{parts[3]}", "sha": commit, "siblings": [{"rfilename": p} for p in files]})
            prefix = "/".join(parts[6:])
            recursive = parse_qs(urlsplit(self.path).query).get("recursive", ["False"])[0].lower() == "true"
            return self._json(_tree(files, prefix, recursive))
        if len(parts) >= 5 and parts[2] == "resolve":
            self._log("resolve")
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        self._error(404, "NotFound")
        return None

    def do_POST(self) -> None:  # noqa: N802
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if parts[:2] != ["api", "models"] or len(parts) < 6 or parts[4] != "paths-info":
            return self._error(404, "NotFound")
        self._log("paths-info")
        found = self._files(f"{parts[2]}/{parts[3]}", parts[5])
        if found is None:
            return None
        _, files = found
        asked = parse_qs(body).get("paths", [])
        return self._json([files[p].entry(p) for p in asked if p in files])

    def _resolve(self, repo: str, revision: str, path: str) -> None:
        found = self._files(repo, revision)
        if found is None:
            return
        commit, files = found
        blob = files.get(path)
        if blob is None:
            return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
        if blob.lfs:
            return self._send(302, b"", {"Location": f"{self.hub.cdn_url}/cdn/{blob.sha256}", "X-Repo-Commit": commit,
                                         "X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size),
                                         "ETag": f'"{blob.git_sha1}"'})
        data = blob.path.read_bytes()
        self.send_response(200)
        for key, value in {"ETag": f'"{blob.git_sha1}"', "X-Repo-Commit": commit, "Content-Length": str(blob.size),
                           "Accept-Ranges": "bytes"}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return None

    def _cdn(self, sha256: str) -> None:
        blob = self.hub.blobs.get(sha256)
        if blob is None:
            return self._error(404, "NotFound")
        tampered = self.hub.tamper.get(sha256)
        size = len(tampered) if tampered is not None else blob.size
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted[6:].split("-")[0].isdigit():
            start = min(int(wanted[6:].split("-")[0]), size)
        status = 206 if start else 200
        self.send_response(status)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return None
        if tampered is not None:
            self.wfile.write(tampered[start:])
            return None
        self._stream(blob, start, size)
        return None

    def _stream(self, blob: Blob, start: int, size: int) -> None:
        """The bytes from `start`, held after `pause_after` until `resume` is set (a test's cue)."""
        pause = self.hub.pause_after
        try:
            with open(blob.path, "rb") as fh:
                if pause is not None and start < pause < size:
                    self.connection.sendfile(fh, start, pause - start)
                    self.hub.resume.wait()
                    start = pause
                self.connection.sendfile(fh, start, size - start)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed, cancelled)
            pass


def _tree(files: dict[str, Blob], prefix: str, recursive: bool) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    folders: set[str] = set()
    base = f"{prefix}/" if prefix else ""
    for path, blob in files.items():
        if not path.startswith(base):
            continue
        rest = path[len(base):]
        if "/" in rest and not recursive:
            folders.add(base + rest.split("/")[0])
            continue
        parents = rest.split("/")[:-1]
        folders.update(base + "/".join(parents[: i + 1]) for i in range(len(parents)))
        entries.append(blob.entry(path))
    return [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest()} for f in sorted(folders)] + entries  # noqa: S324
