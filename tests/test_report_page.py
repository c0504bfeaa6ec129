"""The readable report page (nodes/comfy_report_route.py + compat/diagnostics/report_html.py) and
CPU-only as information: real reports written by write_report, served at each level, refusals."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wan_compat.compat.core.errors import problem
from wan_compat.compat.diagnostics import DiagnosticCollector
from wan_compat.compat.diagnostics import machine
from wan_compat.compat.diagnostics.report_file import write_report
from wan_compat.nodes.comfy_report_route import NOT_FOUND, respond

NO_GPU_MACHINE = {"summary": "CPU only, no NVIDIA GPU", "nvml": {"reason": "test: no NVIDIA driver"}, "torch": {"devices": []}}


def _cpu_only_system() -> dict[str, Any]:
    info = machine.collect()
    info["gpu"] = dict(NO_GPU_MACHINE)  # the real probe, with the GPU part of a machine without one
    return info


def _report(out: Path, *, plan_fits: bool | None = None, detail: str = "weights in <b>bf16</b> & fp8") -> Path:
    collector = DiagnosticCollector()
    collector.add_data("detect", {"family": "wan", "version": "2.1", "task": "t2v", "size": "1.3B", "path": "/m"}, summary="Wan 2.1 T2V 1.3B")
    collector.add_problem(problem("UNKNOWN_WAN_VARIANT", detail), stage="detect")
    if plan_fits is not None:
        collector.add_data("plan", {"fits": plan_fits, "precision": "bf16"}, summary="plan")
    collector.add_system(_cpu_only_system())
    return write_report(collector.build(), out, "wan_page")


def test_cpu_only_is_information_unless_the_work_does_not_fit(tmp_path: Path) -> None:
    def no_gpu(path: Path) -> dict[str, Any]:
        doc = json.loads(path.read_text())
        return next(p for p in doc["problems"] if p["code"] == "NO_GPU")

    assert no_gpu(_report(tmp_path / "a"))["severity"] == "info"
    assert no_gpu(_report(tmp_path / "b", plan_fits=True))["severity"] == "info"
    assert no_gpu(_report(tmp_path / "c", plan_fits=False))["severity"] == "warning"
    collector = DiagnosticCollector()
    collector.add_system(_cpu_only_system())
    report = collector.build()
    assert not [f for f in report.findings if f.problem.code == "NO_GPU" and f.problem.severity != "info"]
    assert "NO_GPU" not in report.basic()  # information is in the detailed report, not in the one-paragraph verdict


def test_page_at_each_level(tmp_path: Path) -> None:
    path = _report(tmp_path)
    pages = {}
    for level in ("basic", "detailed", "full"):
        status, kind, body, headers = respond({"filename": path.name, "level": level}, tmp_path)
        assert (status, kind) == (200, "text/html"), body
        assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in headers["Content-Security-Policy"]
        assert "<script" not in body.lower()
        pages[level] = body
    doc = json.loads(path.read_text())
    for body in pages.values():
        assert "download the JSON report" in body and f"filename={path.name}&amp;format=json" in body
        assert "UNKNOWN_WAN_VARIANT" in body
    assert "&lt;b&gt;bf16&lt;/b&gt; &amp; fp8" in pages["detailed"]  # a report's text is escaped, never markup
    assert "<b>bf16</b>" not in "".join(pages.values())
    assert "Stages" not in pages["basic"] and "What to do" not in pages["basic"]
    assert "Stages" in pages["detailed"] and "Machine and settings" in pages["detailed"] and "figures" not in pages["detailed"]
    assert "NO_GPU" in pages["detailed"]  # listed as information
    assert "figures" in pages["full"] and "test: no NVIDIA driver" in pages["full"]
    assert len(pages["basic"]) < len(pages["detailed"]) < len(pages["full"])
    status, kind, body, headers = respond({"filename": path.name, "format": "json"}, tmp_path)
    assert (status, kind) == (200, "application/json") and json.loads(body) == doc
    assert headers["Content-Disposition"] == f'attachment; filename="{path.name}"'


def test_bad_level_is_refused(tmp_path: Path) -> None:
    path = _report(tmp_path)
    status, _, body, _ = respond({"filename": path.name, "level": "everything"}, tmp_path)
    assert status == 400 and "basic, detailed, full" in body


def test_refused_names_reveal_nothing(tmp_path: Path) -> None:
    out = tmp_path / "output"
    path = _report(out)
    outside = _report(tmp_path / "elsewhere")
    (out / "sub").mkdir()
    (out / "sub" / path.name).write_bytes(path.read_bytes())
    (out / "link_00001_.json").symlink_to(outside)
    (out / "other.json").write_text(json.dumps({"not": "a report"}))
    (out / "broken_00001_.json").write_text("{ not json")
    names = ["../elsewhere/" + outside.name, str(outside), f"sub/{path.name}", "link_00001_.json", "other.json",
             "broken_00001_.json", "missing_00001_.json", "", "..json", "x.txt", "%2e%2e/x.json"]
    answers = {name: respond({"filename": name}, out) for name in names}
    for name, (status, kind, body, headers) in answers.items():
        assert (status, kind, body, headers) == (404, "text/plain", NOT_FOUND, {}), name
    assert respond({"filename": path.name}, out)[0] == 200


@pytest.mark.parametrize("level", ["basic", "detailed", "full"])
def test_page_of_a_report_without_system(tmp_path: Path, level: str) -> None:
    """A report written without the machine probe (include_system off) still renders."""
    collector = DiagnosticCollector()
    collector.add_problem(problem("UNKNOWN_WAN_VARIANT", "x"), stage="detect")
    path = write_report(collector.build(), tmp_path, "bare")
    status, _, body, _ = respond({"filename": path.name, "level": level}, tmp_path)
    assert status == 200 and "UNKNOWN_WAN_VARIANT" in body
