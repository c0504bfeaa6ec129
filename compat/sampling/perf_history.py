"""Performance history: each run's figures in a small SQLite database, and regression checks.

A run is compared only with comparable earlier runs: same model, resolution, frame count, steps and
device. It is a regression when its seconds per step exceed the median of those runs by more than a
threshold (25 % by default, settings `performance.regression_threshold`), given at least
`min_runs` of them. The database lives beside the settings (`perf_history.sqlite3`), uses WAL so
that ComfyUI and the CLI can write at the same time, and carries its schema version in
`PRAGMA user_version`.
"""
from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..core.errors import Problem, WanCompatError, problem

SCHEMA_VERSION = 1
FILE_NAME = "perf_history.sqlite3"
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    variant TEXT,
    device TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    seconds_per_step REAL NOT NULL,
    total_seconds REAL,
    peak_memory_bytes INTEGER,
    estimate_bytes INTEGER,
    encode_seconds REAL,
    settings_hash TEXT,
    versions TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_comparable ON runs (model, width, height, frames, steps, device, created);
"""


@dataclass
class PerfRun:
    """One generation's figures. `model` is a stable id (registry variant id or model folder name)."""

    model: str
    device: str
    width: int
    height: int
    frames: int
    steps: int
    seconds_per_step: float
    variant: str | None = None
    total_seconds: float | None = None
    peak_memory_bytes: int | None = None
    estimate_bytes: int | None = None
    encode_seconds: float | None = None
    settings_hash: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Regression:
    run: PerfRun
    median_seconds_per_step: float
    ratio: float
    compared_with: int
    threshold: float

    def to_problem(self) -> Problem:
        return problem(
            "PERF_REGRESSION",
            f"{self.run.seconds_per_step:.3g} s/step against a median of {self.median_seconds_per_step:.3g} s/step "
            f"over {self.compared_with} comparable runs ({self.run.width}x{self.run.height}, {self.run.frames} frames, "
            f"{self.run.steps} steps, {self.run.device}); threshold +{self.threshold:.0%}",
            severity="warning",
            ratio=f"{self.ratio:.2f}",
            model=self.run.model,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run.id, "model": self.run.model, "seconds_per_step": self.run.seconds_per_step,
                "median_seconds_per_step": self.median_seconds_per_step, "ratio": round(self.ratio, 3),
                "compared_with": self.compared_with, "threshold": self.threshold}


def current_versions() -> dict[str, str | None]:
    """Versions that explain speed changes, read from metadata (no imports)."""
    from ..core.system import package_version

    return {name: package_version(name) for name in ("comfyui-wan-compat", "torch", "diffusers", "transformers")}


class PerfHistory:
    """The history database at `path`. Each call opens its own connection, so one instance may be
    shared between threads and several processes may write at once."""

    COLUMNS = tuple(f for f in PerfRun.__dataclass_fields__ if f != "id")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def in_directory(cls, directory: str | os.PathLike[str]) -> "PerfHistory":
        return cls(Path(directory) / FILE_NAME)

    def _fail(self, detail: str) -> WanCompatError:
        return WanCompatError("PERF_HISTORY_UNREADABLE", f"{self.path}: {detail}", path=str(self.path))

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if not create and not self.path.exists():
            raise FileNotFoundError(self.path)
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._fail(str(exc)) from None
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._fail(f"schema version {version}; this pack knows up to {SCHEMA_VERSION}")
            if version < SCHEMA_VERSION and create:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                # Re-read inside the write lock: another process may have created it meanwhile.
                if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._fail(str(exc)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def record(self, run: PerfRun) -> int:
        """Store a run; returns its id (also set on `run.id`)."""
        values = []
        for name in self.COLUMNS:
            value = getattr(run, name)
            values.append(json.dumps(value, sort_keys=True, default=str) if name in ("versions", "extra") else value)
        try:
            with closing(self._connect(create=True)) as conn:
                cursor = conn.execute(
                    f"INSERT INTO runs ({', '.join(self.COLUMNS)}) VALUES ({', '.join('?' * len(self.COLUMNS))})", values
                )
                run.id = int(cursor.lastrowid)
        except sqlite3.DatabaseError as exc:
            raise self._fail(str(exc)) from None
        return run.id

    def _select(self, where: str = "", params: tuple[Any, ...] = (), limit: int | None = None) -> list[PerfRun]:
        sql = f"SELECT id, {', '.join(self.COLUMNS)} FROM runs {where} ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            with closing(self._connect(create=False)) as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    return []
                rows = conn.execute(sql, params).fetchall()
        except FileNotFoundError:
            return []
        except sqlite3.DatabaseError as exc:
            raise self._fail(str(exc)) from None
        return [self._row(row) for row in rows]

    def _row(self, row: tuple[Any, ...]) -> PerfRun:
        data = dict(zip(("id",) + self.COLUMNS, row))
        data["versions"] = json.loads(data["versions"] or "{}")
        data["extra"] = json.loads(data["extra"] or "{}")
        return PerfRun(**data)

    def runs(self, *, model: str | None = None, limit: int | None = 50) -> list[PerfRun]:
        """Newest first; `model` matches the model id or the variant id."""
        if model is None:
            return self._select(limit=limit)
        return self._select("WHERE model = ? OR variant = ?", (model, model), limit=limit)

    def comparable(self, run: PerfRun, *, limit: int = 20) -> list[PerfRun]:
        """Earlier runs with the same model, resolution, frames, steps and device (newest first)."""
        where = "WHERE model = ? AND width = ? AND height = ? AND frames = ? AND steps = ? AND device = ?"
        params: tuple[Any, ...] = (run.model, run.width, run.height, run.frames, run.steps, run.device)
        if run.id is not None:
            where += " AND id < ?"
            params += (run.id,)
        else:
            where += " AND created <= ?"
            params += (run.created,)
        return self._select(where, params, limit=limit)

    def check(self, run: PerfRun, *, threshold: float = 0.25, min_runs: int = 3) -> Regression | None:
        """A Regression when `run` is slower than the median of comparable earlier runs by more than `threshold`."""
        earlier = self.comparable(run)
        if len(earlier) < min_runs:
            return None
        median = statistics.median(r.seconds_per_step for r in earlier)
        if median <= 0:
            return None
        ratio = run.seconds_per_step / median
        if ratio <= 1 + threshold:
            return None
        return Regression(run, median, ratio, len(earlier), threshold)

    def regressions(self, *, model: str | None = None, threshold: float = 0.25, min_runs: int = 3, last: int = 10) -> Iterator[Regression]:
        """Regressions among the `last` runs (of `model`, if given)."""
        for run in self.runs(model=model, limit=last):
            found = self.check(run, threshold=threshold, min_runs=min_runs)
            if found is not None:
                yield found


def record_run(run: PerfRun, *, user_dir: str | os.PathLike[str] | None = None, settings: Any = None) -> Regression | None:
    """What a stage calls after a generation: store `run` in the user's history (unless the settings
    say `performance.record_history: false`) and return a Regression if it is one.

    Fills `settings_hash` and `versions` when the caller left them empty. A broken settings file
    falls back to the defaults here: the run's figures matter more than the preferences."""
    from ..core.errors import SettingsError
    from ..settings.store import Settings, SettingsStore, settings_dir

    if settings is None:
        try:
            settings = SettingsStore(user_dir=user_dir).load().settings
        except SettingsError:
            settings = Settings()
    if not settings.performance.record_history:
        return None
    run.settings_hash = run.settings_hash or settings.digest()
    run.versions = run.versions or current_versions()
    history = PerfHistory.in_directory(settings_dir(user_dir))
    history.record(run)
    return history.check(run, threshold=settings.performance.regression_threshold,
                         min_runs=settings.performance.min_comparable_runs)
