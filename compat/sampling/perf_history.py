"""Performance history: each run's figures in a small SQLite database, and regression checks.

Each run records the plan it applied (precision, offload, VAE tiling and slicing, decode mode, weight
storage, LoRAs: `plan`), and its `settings_hash` covers that plan as well as the settings, so runs of
different strategies are told apart. A run is compared only with comparable earlier runs: same model,
resolution, frame count, steps, device and strategy (settings hash). It is a regression when its
seconds per step exceed the median of those runs by more than a threshold (25 % by default, settings
`performance.regression_threshold`), given at least `min_runs` of them. `measured()` sums the history
of one model and size by strategy, for Wan Optimize. The database lives beside the settings
(`perf_history.sqlite3`), uses WAL so that ComfyUI and the CLI can write at the same time, and carries
its schema version in `PRAGMA user_version` (version 2 added `plan`; version 1 files are migrated).
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

SCHEMA_VERSION = 2
FILE_NAME = "perf_history.sqlite3"
BUSY_TIMEOUT_MS = 10_000
JSON_COLUMNS = ("versions", "extra", "plan")

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
    extra TEXT NOT NULL DEFAULT '{}',
    plan TEXT NOT NULL DEFAULT '{}'
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
    plan: dict[str, Any] = field(default_factory=dict)  # the strategy applied: precision, offload, decode, storage, LoRAs
    created: float = field(default_factory=time.time)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def strategy(self) -> str:
        """The plan in a few words: `fp32, offload none, chunked decode`."""
        p = self.plan
        if not p:
            return "-"
        bits = [str(p.get("precision", "?")), f"offload {p.get('offload', '?')}", f"{p.get('decode_mode', '?')} decode"]
        if p.get("tiling"):
            bits.append("tiling")
        if p.get("weight_storage") not in (None, "default"):
            bits.append(f"storage {p['weight_storage']}")
        if p.get("loras"):
            bits.append(f"{len(p['loras'])} LoRA(s)")
        return ", ".join(bits)


def strategy_hash(settings_digest: str, plan: dict[str, Any]) -> str:
    """A short hash of the settings and the applied plan together: equal only for one strategy."""
    import hashlib

    return hashlib.sha256(json.dumps([settings_digest, plan], sort_keys=True, default=str).encode()).hexdigest()[:12]


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
            if version < SCHEMA_VERSION and (create or version >= 1):  # an older file is migrated even when only read
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                # Re-read inside the write lock: another process may have created it meanwhile.
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current == 1:  # version 1: no plan column yet
                    conn.execute("ALTER TABLE runs ADD COLUMN plan TEXT NOT NULL DEFAULT '{}'")
                elif current < 1:
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                if current < SCHEMA_VERSION:
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
            values.append(json.dumps(value, sort_keys=True, default=str) if name in JSON_COLUMNS else value)
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
        for name in JSON_COLUMNS:
            data[name] = json.loads(data[name] or "{}")
        return PerfRun(**data)

    def runs(self, *, model: str | None = None, limit: int | None = 50) -> list[PerfRun]:
        """Newest first; `model` matches the model id or the variant id."""
        if model is None:
            return self._select(limit=limit)
        return self._select("WHERE model = ? OR variant = ?", (model, model), limit=limit)

    def comparable(self, run: PerfRun, *, limit: int = 20) -> list[PerfRun]:
        """Earlier runs with the same model, resolution, frames, steps, device and strategy (the
        settings hash, which covers the applied plan), newest first."""
        where = "WHERE model = ? AND width = ? AND height = ? AND frames = ? AND steps = ? AND device = ? AND settings_hash IS ?"
        params: tuple[Any, ...] = (run.model, run.width, run.height, run.frames, run.steps, run.device, run.settings_hash)
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


def measured(history: PerfHistory, model: str, width: int, height: int, frames: int, device: str | None = None,
             limit: int = 200) -> list[dict[str, Any]]:
    """What the history measured for one model and size: per strategy (the applied plan), the runs,
    the median seconds per step and the highest peak memory; fastest first."""
    groups: dict[str, list[PerfRun]] = {}
    for run in history.runs(model=model, limit=limit):
        if (run.width, run.height, run.frames) == (width, height, frames) and (device is None or run.device == device) and run.plan:
            groups.setdefault(json.dumps(run.plan, sort_keys=True, default=str), []).append(run)
    rows = [{"strategy": runs[0].strategy(), "plan": runs[0].plan, "runs": len(runs),
             "seconds_per_step": statistics.median(r.seconds_per_step for r in runs),
             "peak_memory_bytes": max((r.peak_memory_bytes or 0) for r in runs) or None, "device": runs[0].device}
            for runs in groups.values()]
    return sorted(rows, key=lambda row: row["seconds_per_step"])


def with_history(plan: Any, model_info: Any, user_dir: str | os.PathLike[str] | None = None) -> Any:
    """`plan` with what the history measured for its model and size (`plan.history`), when there is any."""
    from dataclasses import replace
    from pathlib import Path as _Path

    from ..settings.store import settings_dir

    if not hasattr(plan, "sizes"):  # a sandboxed pipeline: no plan to compare
        return plan
    model = getattr(model_info, "variant", None) or _Path(str(getattr(model_info, "path", ""))).name
    try:
        rows = measured(PerfHistory.in_directory(settings_dir(user_dir)), model, plan.sizes.width, plan.sizes.height,
                        plan.sizes.num_frames)
    except WanCompatError:  # an unreadable history never stops a plan
        return plan
    return replace(plan, history=rows) if rows else plan


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
    run.settings_hash = run.settings_hash or strategy_hash(settings.digest(), run.plan)
    run.versions = run.versions or current_versions()
    history = PerfHistory.in_directory(settings_dir(user_dir))
    history.record(run)
    return history.check(run, threshold=settings.performance.regression_threshold,
                         min_runs=settings.performance.min_comparable_runs)
