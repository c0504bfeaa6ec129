"""Performance history in real SQLite files: recording, comparable runs, regressions, concurrency."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from wan_compat.compat.cli import main
from wan_compat.compat.core.errors import WanCompatError
from wan_compat.compat.sampling.perf_history import SCHEMA_VERSION, PerfHistory, PerfRun, current_versions


def run(seconds_per_step: float, **changes) -> PerfRun:
    fields = dict(model="wan2.1-t2v-1.3b", device="NVIDIA RTX 4090", width=832, height=480, frames=81, steps=30,
                  seconds_per_step=seconds_per_step, peak_memory_bytes=9 * 2**30, estimate_bytes=10 * 2**30,
                  encode_seconds=2.5, settings_hash="abc123", versions={"torch": "2.13.0"})
    fields.update(changes)
    return PerfRun(**fields)


@pytest.fixture
def history(tmp_path) -> PerfHistory:
    return PerfHistory.in_directory(tmp_path / "cfg")


def test_record_and_read_back_every_field(history):
    first = run(2.0, extra={"expert_switch_step": 12}, created=1000.0)
    assert history.record(first) == 1 and first.id == 1
    history.record(run(2.1, created=1001.0))
    runs = history.runs()
    assert [r.id for r in runs] == [2, 1]  # newest first
    assert runs[1].to_dict() == first.to_dict()
    assert history.runs(model="other") == []


def test_database_is_wal_and_schema_versioned(history):
    history.record(run(1.0))
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reading_a_missing_database_creates_nothing(history):
    assert history.runs() == []
    assert not history.path.exists()


def test_regression_against_the_median_of_comparable_runs(history):
    ids = [history.record(run(sps, created=1000.0 + i)) for i, sps in enumerate([2.0, 2.2, 1.9, 2.1, 9.0])]
    # Runs that are not comparable never count: other resolution, steps, device or model.
    history.record(run(0.5, width=480, height=272, created=1010.0))
    history.record(run(0.5, steps=4, created=1011.0))
    history.record(run(0.5, device="cpu", created=1012.0))
    history.record(run(0.5, model="wan2.2-ti2v-5b", created=1013.0))

    slow = run(2.8, created=2000.0)
    history.record(slow)
    found = history.check(slow, threshold=0.25, min_runs=3)
    assert found is not None
    assert found.median_seconds_per_step == pytest.approx(2.1)  # the median ignores the 9.0 outlier
    assert found.compared_with == 5
    assert found.ratio == pytest.approx(2.8 / 2.1)
    problem = found.to_problem()
    assert problem.code == "PERF_REGRESSION" and problem.severity == "warning"
    assert "1.33x slower" in problem.summary and "--model wan2.1-t2v-1.3b" in problem.fix

    within = run(2.5, created=2001.0)  # +19 %: under the threshold
    history.record(within)
    assert history.check(within, threshold=0.25) is None
    # Newest first: the slow run, then the outlier (9.0 against a median of 2.05 over four runs).
    assert [g.run.id for g in history.regressions(model="wan2.1-t2v-1.3b")] == [slow.id, ids[-1]]


def test_no_regression_without_enough_history(history):
    history.record(run(1.0, created=1.0))
    history.record(run(1.0, created=2.0))
    slow = run(5.0, created=3.0)
    history.record(slow)
    assert history.check(slow, min_runs=3) is None
    assert history.check(slow, min_runs=2) is not None


def test_a_run_not_yet_recorded_is_compared_with_everything_before_it(history):
    for i in range(3):
        history.record(run(1.0, created=float(i)))
    assert history.check(run(2.0, created=10.0)) is not None


WRITER = """
import sys
from wan_compat.compat.sampling.perf_history import PerfHistory, PerfRun
history = PerfHistory(sys.argv[1])
for i in range(25):
    history.record(PerfRun(model="m", device="cpu", width=64, height=64, frames=5, steps=2,
                           seconds_per_step=1.0 + i / 100, extra={"worker": sys.argv[2]}))
"""


def write_concurrently(path, workers: int) -> None:
    """Separate Python processes inserting at the same time, as ComfyUI and the CLI would."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)], stderr=subprocess.PIPE) for w in range(workers)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors


def test_concurrent_writers_in_separate_processes(history):
    history.record(run(1.0))  # the schema exists; the writers race on inserts only
    write_concurrently(history.path, 4)
    runs = history.runs(limit=None)
    assert len(runs) == 101 and len({r.id for r in runs}) == 101
    assert sorted({r.extra.get("worker") for r in runs if r.extra}) == ["0", "1", "2", "3"]


def test_concurrent_first_use_creates_the_schema_once(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    write_concurrently(path, 3)
    assert len(PerfHistory(path).runs(limit=None)) == 75


def test_newer_schema_is_refused_and_the_file_kept(history):
    history.path.parent.mkdir(parents=True)
    with sqlite3.connect(history.path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    before = history.path.read_bytes()
    for call in (lambda: history.record(run(1.0)), lambda: history.runs()):
        with pytest.raises(WanCompatError) as info:
            call()
        assert info.value.code == "PERF_HISTORY_UNREADABLE" and "schema version" in info.value.detail
    assert history.path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_and_kept(history):
    history.path.parent.mkdir(parents=True)
    history.path.write_bytes(b"these are not the bytes of an sqlite database" * 20)
    before = history.path.read_bytes()
    with pytest.raises(WanCompatError) as info:
        history.record(run(1.0))
    assert info.value.code == "PERF_HISTORY_UNREADABLE"
    with pytest.raises(WanCompatError):
        history.runs()
    assert history.path.read_bytes() == before


def test_current_versions_reads_metadata():
    versions = current_versions()
    assert versions["torch"] and versions["diffusers"]


def test_perf_cli_lists_runs_and_regressions(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    assert main(["perf"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    history = PerfHistory.in_directory(tmp_path / "cfg")
    for i in range(3):
        history.record(run(1.0, created=float(i)))
    history.record(run(3.0, created=10.0))
    history.record(run(0.2, model="wan2.2-ti2v-5b", created=11.0))
    assert main(["perf", "--json", "--model", "wan2.1-t2v-1.3b"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["runs"]) == 4 and doc["threshold"] == 0.25
    assert [g["seconds_per_step"] for g in doc["regressions"]] == [3.0]
    monkeypatch.setenv("WAN_COMPAT__PERFORMANCE__REGRESSION_THRESHOLD", "3.0")
    assert main(["perf"]) == 0
    out = capsys.readouterr().out
    assert "wan2.2-ti2v-5b" in out and "no regressions (threshold +300%" in out


def test_record_run_uses_the_settings_folder_threshold_and_switch(tmp_path, monkeypatch):
    from wan_compat.compat.sampling.perf_history import record_run
    from wan_compat.compat.settings.store import SettingsStore

    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    for i in range(3):
        assert record_run(run(1.0, created=float(i), settings_hash=None, versions={})) is None
    stored = PerfHistory.in_directory(tmp_path / "cfg").runs()
    assert len(stored) == 3 and stored[0].settings_hash and stored[0].versions["torch"]
    assert record_run(run(1.5, created=10.0, settings_hash=None)) is not None  # +50 % > 25 %, the same strategy
    SettingsStore().set("performance.regression_threshold", 1.0)
    assert record_run(run(1.5, created=11.0, settings_hash=None)) is None
    SettingsStore().set("performance.record_history", False)
    assert record_run(run(9.0, created=12.0)) is None
    assert len(PerfHistory.in_directory(tmp_path / "cfg").runs()) == 5
    (tmp_path / "cfg" / "settings.json").write_text("{broken")  # defaults apply; the file is kept
    assert record_run(run(1.0, created=13.0)) is None
    assert (tmp_path / "cfg" / "settings.json").read_text() == "{broken"
    assert len(PerfHistory.in_directory(tmp_path / "cfg").runs()) == 6


# ------------------------------------------------------------------ strategies (issue 24)
def test_a_version_1_history_is_migrated_and_kept(history):
    """A file written before runs recorded their plan: read as before (no plan), then written to."""
    history.path.parent.mkdir(parents=True)
    conn = sqlite3.connect(history.path)
    conn.executescript("""CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, model TEXT NOT NULL,
        variant TEXT, device TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, frames INTEGER NOT NULL,
        steps INTEGER NOT NULL, seconds_per_step REAL NOT NULL, total_seconds REAL, peak_memory_bytes INTEGER,
        estimate_bytes INTEGER, encode_seconds REAL, settings_hash TEXT, versions TEXT NOT NULL DEFAULT '{}',
        extra TEXT NOT NULL DEFAULT '{}');
        INSERT INTO runs (created, model, device, width, height, frames, steps, seconds_per_step)
        VALUES (1.0, 'wan2.1-t2v-1.3b', 'cpu', 832, 480, 81, 30, 3.5);
        PRAGMA user_version=1;""")
    conn.close()
    old = history.runs()
    assert len(old) == 1 and old[0].plan == {} and old[0].strategy() == "-"
    history.record(run(2.0, plan={"precision": "bf16", "offload": "group", "decode_mode": "chunked"}))
    assert [r.plan.get("offload") for r in history.runs()] == ["group", None]
    assert sqlite3.connect(history.path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_runs_of_two_strategies_are_told_apart(tiny_loaded, tmp_path, monkeypatch, capsys):
    """The same request with no offload and with group offload: two plans, two settings hashes, each
    compared only with its own kind, both in `wan-compat perf`, and Optimize's plan says what each
    measured at that size."""
    import dataclasses

    from wan_compat.compat.optimize.manager import OptimizationManager
    from wan_compat.compat.optimize.memory import Sizes
    from wan_compat.compat.sampling import SampleRequest, sample
    from wan_compat.compat.sampling.perf_history import with_history
    from wan_compat.compat.settings.store import OptimizationPreferences

    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    handle = tiny_loaded("wan2.1-t2v")
    request = SampleRequest(prompt="a lantern", width=32, height=32, num_frames=5, steps=2, seed=0)
    for offload in ("none", "group", "none"):
        prefs = OptimizationPreferences(precision="fp32", offload=offload)
        sample(dataclasses.replace(handle, preferences=prefs), request)
    runs = PerfHistory.in_directory(tmp_path / "cfg").runs()
    assert [r.plan["offload"] for r in runs] == ["none", "group", "none"]
    assert runs[0].plan == {"precision": "fp32", "offload": "none", "tiling": False, "slicing": False, "chunked": True,
                            "decode_mode": "chunked", "weight_storage": "default", "loras": []}
    assert runs[0].settings_hash == runs[2].settings_hash != runs[1].settings_hash
    history = PerfHistory.in_directory(tmp_path / "cfg")
    assert [r.id for r in history.comparable(runs[0])] == [runs[2].id]  # the group run is another strategy

    assert main(["perf"]) == 0
    out = capsys.readouterr().out
    assert "plan" in out.splitlines()[0] and "fp32, offload group, chunked decode" in out and runs[1].settings_hash in out

    plan = OptimizationManager(preferences=OptimizationPreferences(precision="fp32")).plan(handle, Sizes(32, 32, 5))
    shown = with_history(plan, handle.model_info)
    assert [(row["plan"]["offload"], row["runs"]) for row in sorted(shown.history, key=lambda r: r["plan"]["offload"])] == [("group", 1), ("none", 2)]
    assert "history at 32x32, 5 frames (3 runs):" in shown.summary() and shown.to_dict()["history"] == shown.history
    assert with_history(OptimizationManager(preferences=OptimizationPreferences()).plan(handle, Sizes(64, 64, 5)), handle.model_info).history == []

