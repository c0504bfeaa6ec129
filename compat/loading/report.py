"""The load report: what was loaded from which bytes, what the policy decided, how long it took and
how much memory it used. Plain dataclasses with `to_dict()`, so the diagnose stage and the CLI can
print it as JSON."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..core.errors import Problem


@dataclass
class FileRecord:
    role: str  # transformer, vae, text_encoder, config, code, ...
    path: str
    format: str  # safetensors | torch_zip | pickle | json | ...
    size: int
    sha256: str | None = None  # None when not hashed (see security.hash_safetensors)
    scan: dict[str, Any] | None = None  # the pickle scan, for pickle-based files

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if out["scan"] is None:
            out.pop("scan")
        return out


@dataclass
class Decision:
    subject: str
    decision: str  # allowed | refused
    reason: str
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _rss() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


@dataclass
class LoadReport:
    source: dict[str, Any] = field(default_factory=dict)
    pipeline_class: str | None = None
    files: list[FileRecord] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _started: float = field(default_factory=time.perf_counter, repr=False)
    # Progress of the weight bytes read, for ComfyUI's bar (`expect`, `advance`); dropped at `finish`.
    _progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)
    _bytes: list[int] = field(default_factory=lambda: [0, 0], repr=False, compare=False)  # [read, expected]

    def __post_init__(self) -> None:
        self.memory["rss_before"] = _rss()

    def track(self, on_progress: Callable[[int, int], None] | None) -> None:
        """Report the weight bytes read through `on_progress(read, expected)` (see `expect`)."""
        self._progress = on_progress

    def expect(self, total_bytes: int) -> None:
        """The weights about to be read add up to `total_bytes` (the bar starts at 0 of them)."""
        self._bytes = [0, max(int(total_bytes), 1)]
        if self._progress is not None:
            self._progress(*self._bytes)

    def advance(self, nbytes: int) -> None:
        """`nbytes` more of the weights were read (a tensor of a single file, a folder's component)."""
        if self._progress is not None:
            self._bytes[0] = min(self._bytes[0] + int(nbytes), self._bytes[1])
            self._progress(*self._bytes)

    def end_progress(self) -> None:
        """The bar is full, and the report (cached by ComfyUI) keeps no reference to it."""
        if self._progress is not None:
            self._progress(self._bytes[1], self._bytes[1])
            self._progress = None

    def allow(self, subject: str, reason: str) -> None:
        self.decisions.append(Decision(subject, "allowed", reason))

    def refuse(self, subject: str, reason: str, code: str) -> None:
        self.decisions.append(Decision(subject, "refused", reason, code))

    def add_problem(self, item: Problem) -> None:
        if not any(p.code == item.code and p.detail == item.detail for p in self.problems):
            self.problems.append(item)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + (time.perf_counter() - started) * 1000, 3)

    def finish(self, *, end_progress: bool = True) -> None:
        """Total time and memory; the bar ends here unless `end_progress` is False (the host still
        reads the weights: `end_progress()` then ends it)."""
        if end_progress:
            self.end_progress()
        self.timings_ms["total"] = round((time.perf_counter() - self._started) * 1000, 3)
        after = _rss()
        self.memory["rss_after"] = after
        before = self.memory.get("rss_before")
        if after is not None and before is not None:
            self.memory["rss_delta"] = after - before
        self.memory["parameter_bytes"] = sum(c.get("parameter_bytes", 0) for c in self.components.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pipeline_class": self.pipeline_class,
            "files": [f.to_dict() for f in self.files],
            "decisions": [d.to_dict() for d in self.decisions],
            "components": self.components,
            "timings_ms": self.timings_ms,
            "memory": self.memory,
            "problems": [p.to_dict() for p in self.problems],
        }

    def text(self) -> str:
        lines = [f"Loaded {self.pipeline_class or 'pipeline'} from {self.source.get('model')} ({self.source.get('format')})"]
        for name, info in self.components.items():
            dtypes = ", ".join(f"{k}: {v}" for k, v in info.get("dtypes", {}).items())
            lines.append(f"- {name}: {info.get('class')} [{dtypes}]" + (f" storage {info['storage_dtype']}" if info.get("storage_dtype") else ""))
            if info.get("dtype_changes"):
                lines.append("  file -> loaded: " + ", ".join(f"{k} ({v})" for k, v in info["dtype_changes"].items()))
        for decision in self.decisions:
            lines.append(f"- {decision.decision}: {decision.subject} ({decision.reason})")
        total = self.timings_ms.get("total")
        if total is not None:
            lines.append(f"time: {total / 1000:.2f} s; parameters: {self.memory.get('parameter_bytes', 0) / 2**20:.1f} MiB")
        lines.extend(p.text() for p in self.problems)
        return "\n".join(lines)
