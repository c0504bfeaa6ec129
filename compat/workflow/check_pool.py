"""A bounded worker for the server's workflow checks: one separate process, one check at a time.

Why a process: ComfyUI runs the pack's routes and on-prompt handler in its own process and event
loop; a check is CPU-bound Python (JSON, flattening, headers), and in a thread it would still hold
the interpreter lock against the loop. A process also lets a check be stopped: one that runs past
TIME_BUDGET_S is ended (its answer is WORKFLOW_CHECK_TIMEOUT) and a fresh process starts with the
next request.

Bounds: at most one check per client is waiting (a newer request replaces the waiting one, which
is answered as superseded), MAX_WAITING in all; a job may wait on a gate (for the on-prompt check:
"has ComfyUI queued this prompt?") and is dropped, never run, when the gate stays shut for
GATE_WAIT_S (a prompt ComfyUI rejected is never checked). The process is started on the first
request and ends after IDLE_S without one.

Nothing here touches ComfyUI: the adapter (`nodes/comfy_routes.py`) passes the folders, the client
and the gate. The parent thread does only I/O (pipe writes and reads, waits), and an answer stays
the bytes the worker wrote: the route sends them as they are, so ComfyUI's event loop never parses
or encodes one.
"""
from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .check_service import refusal

TIME_BUDGET_S = 30.0
GATE_WAIT_S = 5.0
IDLE_S = 300.0
MAX_WAITING = 16
_POLL_S = 0.05
SERVICE = Path(__file__).with_name("check_service.py")
PACK_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("wan_compat.workflow_check")


@dataclass
class Job:
    client: str
    op: str
    payload: Any  # bytes, or a callable making them (run in the worker thread, only if the job runs)
    folders: dict[str, list[str]]
    gate: Callable[[], bool] | None = None
    future: Future = field(default_factory=Future)
    since: float = field(default_factory=time.monotonic)


def encoded(answer: dict[str, Any]) -> bytes:
    """An answer made here (busy, timeout), as the worker would have written it."""
    return json.dumps(answer).encode()


def busy(reason: str) -> bytes:
    return encoded(refusal("WORKFLOW_CHECK_BUSY", reason, limit=MAX_WAITING, reason=reason))


class CheckPool:
    """Jobs by client, answered by one worker process; `submit` never blocks."""

    def __init__(self, *, time_budget_s: float = TIME_BUDGET_S, gate_wait_s: float = GATE_WAIT_S, idle_s: float = IDLE_S,
                 max_waiting: int = MAX_WAITING, command: list[str] | None = None) -> None:
        self.time_budget_s, self.gate_wait_s, self.idle_s, self.max_waiting = time_budget_s, gate_wait_s, idle_s, max_waiting
        self.command = command or [sys.executable, "-I", str(SERVICE), str(PACK_ROOT)]
        self._waiting: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()
        self.running: Job | None = None
        self.started = 0  # worker processes started (for tests and the benchmark)

    # ------------------------------------------------------------------ caller side
    def submit(self, client: str, op: str, payload: Any, folders: dict[str, list[str]], gate: Callable[[], bool] | None = None) -> Future:
        """A Future of the answer (the route's JSON, as bytes); None for a gated job that was dropped."""
        job = Job(client, op, payload, folders, gate)
        with self._lock:
            old = self._waiting.pop(client, None)
            if old is not None:
                _settle(old.future, busy("a newer request from the same client replaced this one"))
            elif len(self._waiting) >= self.max_waiting:
                _settle(job.future, busy(f"{len(self._waiting)} checks are waiting"))
                return job.future
            self._waiting[client] = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="wan_compat-check-pool", daemon=True)
                self._thread.start()
            self._lock.notify()
        return job.future

    def close(self) -> None:
        """End the worker process (tests; ComfyUI simply exits)."""
        with self._lock:
            for job in self._waiting.values():
                _settle(job.future, None)
            self._waiting.clear()
        self._stop_process()

    # ------------------------------------------------------------------ worker thread
    def _next(self) -> Job | None:
        """The first job whose gate is open; gated jobs past GATE_WAIT_S are dropped. Waits for work;
        None once idle for idle_s (the process is then ended)."""
        idle_since = time.monotonic()
        with self._lock:
            while True:
                now = time.monotonic()
                for client, job in list(self._waiting.items()):
                    if job.future.cancelled():  # the caller went away (a client that disconnected)
                        del self._waiting[client]
                        continue
                    opened = job.gate is None or _safe_gate(job.gate)
                    if opened:
                        del self._waiting[client]
                        return job
                    if now - job.since > self.gate_wait_s:
                        del self._waiting[client]
                        _settle(job.future, None)  # never queued by ComfyUI: not checked
                if not self._waiting and now - idle_since > self.idle_s:
                    return None
                self._lock.wait(_POLL_S if self._waiting else self.idle_s)

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                self._stop_process()
                with self._lock:
                    if not self._waiting:
                        self._thread = None
                        return
                continue
            self.running = job
            try:
                _settle(job.future, self._run(job))
            except Exception as exc:  # noqa: BLE001 - the caller gets an answer whatever happens
                log.warning("[wan_compat] the check worker failed: %s", exc, exc_info=True)
                self._stop_process()
                _settle(job.future, encoded(refusal("UNEXPECTED_ERROR", f"{type(exc).__name__}: {exc}", type=type(exc).__name__)))
            finally:
                self.running = None

    def _run(self, job: Job) -> bytes:
        payload = job.payload() if callable(job.payload) else job.payload
        process = self._ensure_process()
        header = json.dumps({"op": job.op, "folders": job.folders, "length": len(payload)}).encode() + b"\n"
        assert process.stdin is not None
        try:
            process.stdin.write(header + payload)
            process.stdin.flush()
        except OSError:  # the process died: one fresh start
            self._stop_process()
            process = self._ensure_process()
            assert process.stdin is not None
            process.stdin.write(header + payload)
            process.stdin.flush()
        try:
            line = self._lines.get(timeout=self.time_budget_s)
        except queue.Empty:
            self._stop_process()
            return encoded(refusal("WORKFLOW_CHECK_TIMEOUT", f"stopped after {self.time_budget_s:g} s", seconds=f"{self.time_budget_s:g}"))
        if not line:
            self._stop_process()
            return encoded(refusal("UNEXPECTED_ERROR", "the check process ended without an answer", type="process"))
        return line.rstrip(b"\n")

    # ------------------------------------------------------------------ the process
    def _ensure_process(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._lines = queue.Queue()
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.started += 1
        threading.Thread(target=_read_lines, args=(self._process, self._lines), name="wan_compat-check-reader", daemon=True).start()
        return self._process

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that does not end a process
            log.warning("[wan_compat] the check process %s did not end", process.pid)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _read_lines(process: subprocess.Popen[bytes], lines: queue.Queue[bytes]) -> None:
    """Answers as they come; an empty line once the process has ended."""
    assert process.stdout is not None
    try:
        for line in iter(process.stdout.readline, b""):
            lines.put(line)
    except (OSError, ValueError):
        pass
    lines.put(b"")


def _settle(future: Future, value: Any) -> None:
    try:
        future.set_result(value)
    except InvalidStateError:  # cancelled by the caller meanwhile, or already answered
        pass


def _safe_gate(gate: Callable[[], bool]) -> bool:
    try:
        return bool(gate())
    except Exception:  # noqa: BLE001 - a gate that fails stays shut (the job is dropped in time)
        log.debug("wan_compat: check gate failed", exc_info=True)
        return False
