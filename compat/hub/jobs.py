"""Downloads that run in the background for the ComfyUI route: a bounded pool of worker threads (never
the server's event loop), a bounded queue, one job per target (asking twice joins the running job),
progress and cancel per job, and a short memory of finished jobs for the dialog to read.
"""
from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..core.errors import UsageError, WanCompatError, problem
from .get import FolderDir, get
from .remote import Hub
from .sources import Source

ACTIVE = ("queued", "running")


class Job:
    """One download as the dialog sees it."""

    def __init__(self, source: Source) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.source = source
        self.state = "queued"  # queued | running | done | failed | cancelled
        self.done_bytes = 0
        self.total_bytes: int | None = None
        self.result: dict[str, Any] | None = None
        self.problem: dict[str, Any] | None = None
        self.cancel = threading.Event()

    @property
    def key(self) -> tuple[str, str]:
        return self.source.folder, self.source.name

    def progress(self, done: int, total: int) -> None:
        self.done_bytes, self.total_bytes = done, total

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.source.name, "folder": self.source.folder, "source": self.source.label,
                "state": self.state, "done_bytes": self.done_bytes, "total_bytes": self.total_bytes,
                "result": self.result, "problem": self.problem}


class Downloads:
    """The jobs of one server."""

    def __init__(self, folder_dir: FolderDir, *, workers: int = 2, max_active: int = 16, keep_finished: int = 64,
                 hub: Callable[[], Hub] = Hub, user_dir: Any = None) -> None:
        self._folder_dir, self._hub, self._user_dir = folder_dir, hub, user_dir
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wan_compat-download")
        self._max_active, self._keep = max_active, keep_finished
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, source: Source) -> Job:
        """A new job for `source`, or the one already queued or running for the same target."""
        with self._lock:
            active = [j for j in self._jobs.values() if j.state in ACTIVE]
            same = next((j for j in active if j.key == (source.folder, source.name)), None)
            if same is not None:
                return same
            if len(active) >= self._max_active:
                raise UsageError("HUB_BUSY", f"{len(active)} downloads queued or running")
            job = Job(source)
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job)
        return job

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None and job.state in ACTIVE:
            job.cancel.set()
        return job

    def jobs(self, ids: list[str] | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if ids is None or j.id in ids]

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state not in ACTIVE]
        for key in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[key]

    def _run(self, job: Job) -> None:
        if job.cancel.is_set():
            job.state, job.problem = "cancelled", problem("HUB_DOWNLOAD_CANCELLED", job.source.name, name=job.source.name).to_dict()
            return
        job.state = "running"
        try:
            outcome = get(job.source, self._folder_dir, hub=self._hub(), progress=job.progress, cancel=job.cancel, user_dir=self._user_dir)
        except WanCompatError as err:
            job.problem = err.problem.to_dict()
            job.state = "cancelled" if err.code == "HUB_DOWNLOAD_CANCELLED" else "failed"
            return
        except Exception as err:  # a worker never dies silently: the dialog shows what happened
            job.problem = problem("HUB_DOWNLOAD_FAILED", f"{type(err).__name__}: {err}"[:300], name=job.source.name).to_dict()
            job.state = "failed"
            return
        job.result = outcome.to_dict()
        job.done_bytes = job.total_bytes = outcome.bytes or job.total_bytes or 0
        job.state = "done"
