"""The diagnose report: stage reports in, three levels out, no secrets, and the Wan Diagnose node."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wan_compat.encoders import ffmpeg_probe
from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.diagnostics import DiagnosticCollector, StageReport
from wan_compat.compat.diagnostics.report_file import write_report
from wan_compat.compat.core.errors import Problem, SecurityError, UsageError, catalogue, problem
from wan_compat.compat.fixtures import sparse
from wan_compat.compat.sampling.perf_history import PerfHistory, PerfRun

FAKE_TOKEN = "hf_PlantedFakeTokenAbCdEfGhIjKlMnOpQr"
OTHER_SECRET = "s3cr3t-value-of-a-custom-api-key"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("WAN_COMPAT__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("WAN_COMPAT_OUTPUT_DIR", str(tmp_path / "output"))
    (tmp_path / "home").mkdir()
    return tmp_path


@pytest.fixture
def wrong_vae_info(isolated):
    """A real detector verdict: the Wan 2.2 TI2V-5B transformer with the Wan 2.1 VAE (sparse real-size files)."""
    models = isolated / "home" / "ComfyUI" / "models"
    models.mkdir(parents=True)
    transformer = sparse.write_single_file(models / "wan2.2_ti2v_5B_fp16.safetensors", "wan2.2-ti2v-5b", "fp16")
    vae = sparse.write_single_file(models / "wan_2.1_vae.safetensors", "wan2.1-vae", "bf16")
    info = ArchitectureDetector().inspect(transformer, vae=vae)
    assert [p.code for p in info.problems] == ["WRONG_VAE"]
    return info


# Stage reports as the other stages will hand them over: any object with `problems` and `to_dict()`.
@dataclass
class LoadReport:
    stage = "load"
    seconds: float = 3.2
    files: dict[str, str] = field(default_factory=lambda: {"transformer": "sha256:ab12"})
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "files": self.files}

    def summary(self) -> str:
        return f"loaded in {self.seconds} s"


@dataclass
class SampleStats:
    seconds_per_step: float = 41.5
    peak_memory_bytes: int = 21 * 2**30
    expert_switch_step: int = 12
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"problems": [p.to_dict() for p in self.problems]}


def test_stage_reports_fit_the_protocol(wrong_vae_info):
    assert isinstance(wrong_vae_info, StageReport)
    assert isinstance(LoadReport(), StageReport) and isinstance(SampleStats(), StageReport)
    assert not isinstance(object(), StageReport)
    with pytest.raises(TypeError, match="not a stage report"):
        DiagnosticCollector().add(object())  # type: ignore[arg-type]


def test_broken_setup_gives_one_paragraph_naming_each_problem_and_its_fix(wrong_vae_info, tiny_pipelines, tmp_path):
    """Done-when: wrong VAE, missing ffmpeg encoder, untrusted remote code -> basic report."""
    import shutil

    from wan_compat.compat.loading import load_pipeline

    collector = DiagnosticCollector()
    collector.add(wrong_vae_info)
    missing_encoder = ffmpeg_probe.encoder_problem("libh264_from_the_future")  # asks the real ffmpeg
    assert missing_encoder is not None and missing_encoder.code == "FFMPEG_ENCODER_MISSING"
    collector.add_problem(missing_encoder, stage="encode")
    # A model folder that ships its own pipeline code: the real loader refuses it.
    folder = shutil.copytree(tiny_pipelines["wan2.1-t2v"], tmp_path / "FancyWan")
    (folder / "pipeline.py").write_text("import os\nclass FancyWanPipeline: ...\n")
    with pytest.raises(SecurityError) as refused:
        load_pipeline(folder)
    assert refused.value.code == "CUSTOM_CODE_FILES"
    collector.add_error(refused.value, stage="security")
    report = collector.build()
    basic = report.text("basic")

    assert "\n" not in basic.strip()
    assert basic.startswith("Not working yet (Wan 2.2 TI2V 5B): 3 problems must be fixed.")
    assert report.verdict == "error" and not report.ok
    for code, fix_hint in (("WRONG_VAE", "wan2.2_vae.safetensors"),
                           ("FFMPEG_ENCODER_MISSING", "pip install -U imageio-ffmpeg"),
                           ("CUSTOM_CODE_FILES", "wan-compat trust")):
        finding = next(f for f in report.findings if f.problem.code == code)
        assert finding.problem.summary in basic and finding.problem.fix in basic
        assert fix_hint in basic
    assert "transformer output channels 48 vs VAE z_dim 16" in basic
    assert "'libh264_from_the_future'" in basic
    assert basic.rstrip().endswith("Fix these in this order, then run Wan Diagnose again.")


def test_working_setup_says_so(wrong_vae_info, isolated):
    models = isolated / "home" / "ComfyUI" / "models"
    good = ArchitectureDetector().inspect(models / "wan2.2_ti2v_5B_fp16.safetensors")
    collector = DiagnosticCollector()
    collector.add(good)
    report = collector.build()
    assert report.verdict == "ok"
    assert report.text("basic") == "Your setup works (Wan 2.2 TI2V 5B). Nothing needs fixing."


def test_warnings_only_still_work_and_name_the_first_fix():
    collector = DiagnosticCollector()
    collector.add_problem(problem("LOW_MEMORY", "1.0 GiB free", available="1.0 GiB", total="16.0 GiB"), stage="system")
    report = collector.build()
    assert report.verdict == "warning" and report.ok
    assert report.text("basic").startswith("Your setup works. Worth fixing: Little memory is free: 1.0 GiB of 16.0 GiB.")


def test_full_report_carries_every_stage_figure_detailed_only_summaries(wrong_vae_info, isolated):
    collector = DiagnosticCollector()
    collector.add(wrong_vae_info)
    collector.add(LoadReport())
    collector.add(SampleStats(), stage="sample")
    collector.add(SampleStats(seconds_per_step=40.0), stage="sample")  # a second report of one stage keeps both
    collector.add_data("plan", {"offload": "group", "estimate_bytes": 17 * 2**30})
    collector.add_settings()
    collector.add_system()
    report = collector.build()

    full = report.to_dict("full")
    # (a "system" stage appears when doctor's checks found something, e.g. no GPU)
    assert set(full["stages"]) - {"system"} == {"detect", "load", "sample", "sample_2", "plan"}
    assert full["stages"]["detect"]["data"]["components"]["transformer"]["in_channels"] == 48
    assert full["stages"]["load"]["data"] == {"seconds": 3.2, "files": {"transformer": "sha256:ab12"}}
    assert full["stages"]["sample"]["data"]["expert_switch_step"] == 12
    assert full["stages"]["sample_2"]["data"]["seconds_per_step"] == 40.0
    assert full["stages"]["plan"]["data"]["estimate_bytes"] == 17 * 2**30
    assert full["system"]["packages"]["diffusers"] and full["system"]["ffmpeg"]["found"] is True
    assert full["settings"]["values"]["optimization"]["precision"] == "auto"
    json.dumps(full)  # JSON-able as it is

    text = report.text("full")
    for figure in ('"expert_switch_step": 12', '"seconds": 3.2', '"estimate_bytes": 18253611008', "libx264"):
        assert figure in text

    detailed = report.to_dict("detailed")
    assert "data" not in detailed["stages"]["load"] and detailed["stages"]["load"]["summary"] == "loaded in 3.2 s"
    detailed_text = report.text("detailed")
    assert "Problems:" in detailed_text and "[error] WRONG_VAE (detect)" in detailed_text
    assert "fix: Use the Wan 2.2 VAE" in detailed_text and "RAM:" in detailed_text
    basic = report.to_dict("basic")
    assert set(basic) == {"report_version", "created", "level", "verdict", "ok", "basic", "problems", "recommendations"}
    assert basic["recommendations"][0].startswith("Use the Wan 2.2 VAE")


def test_no_secrets_no_environment_dump_and_home_shortened(wrong_vae_info, isolated, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("MY_SERVICE_API_KEY", OTHER_SECRET)
    monkeypatch.setenv("WAN_TEST_HARMLESS_MARKER", "marker-value-that-must-not-appear")
    home = str(isolated / "home")
    token_dir = isolated / "home" / "models" / FAKE_TOKEN
    token_dir.mkdir(parents=True)
    collector = DiagnosticCollector()
    collector.add(wrong_vae_info)
    collector.add(ArchitectureDetector().inspect(token_dir / "missing.safetensors"))  # the path is in the report
    collector.add_error(OSError(f"cannot read {token_dir}/x.safetensors with key {OTHER_SECRET} "
                                f"from https://user:{OTHER_SECRET}@hub.example/models"))
    collector.add_data("extra", {"auth_header": f"Bearer {FAKE_TOKEN}", "token_file": Path(home) / ".cache" / "token"})
    collector.add_settings()
    collector.add_system()
    report = collector.build()

    outputs = [report.text(level) for level in ("basic", "detailed", "full")]
    outputs += [report.to_json(level) for level in ("basic", "detailed", "full")]
    outputs.append(write_report(report, isolated / "output").read_text())
    for out in outputs:
        assert FAKE_TOKEN not in out and OTHER_SECRET not in out
        assert "marker-value-that-must-not-appear" not in out
        assert os.environ["PATH"] not in out
        assert home not in out
    full = report.text("full")
    assert "~/models/[redacted]/missing.safetensors" in full
    assert "https://[redacted]@hub.example" in full
    assert "~/ComfyUI/models/wan_2.1_vae.safetensors" in full


def test_raw_exceptions_are_translated_in_the_report():
    import torch

    collector = DiagnosticCollector()
    try:
        torch.nn.Conv3d(16, 4, 1)(torch.zeros(1, 48, 1, 2, 2))
    except RuntimeError as exc:
        error = collector.add_error(exc, stage="decode")
    assert error.code == "LATENT_CHANNEL_MISMATCH"
    full = collector.build().to_dict("full")
    assert full["problems"][0]["code"] == "LATENT_CHANNEL_MISMATCH" and full["problems"][0]["stage"] == "decode"
    assert full["stages"]["decode"]["data"]["raw"].startswith("RuntimeError: Given groups=1")
    collector.add_error(KeyError("mystery"))
    assert collector.build().to_dict("basic")["problems"][-1]["code"] == "UNEXPECTED_ERROR"


def test_settings_problems_reach_the_report_without_touching_the_file(isolated):
    cfg = isolated / "cfg"
    cfg.mkdir()
    (cfg / "settings.json").write_text("{broken")
    collector = DiagnosticCollector()
    collector.add_settings()
    report = collector.build()
    assert [f.problem.code for f in report.findings] == ["SETTINGS_FILE_CORRUPT"]
    assert (cfg / "settings.json").read_text() == "{broken"
    assert sorted(p.name for p in cfg.iterdir()) == ["settings.json"]


def _run(sps: float, created: float) -> PerfRun:
    return PerfRun(model="wan2.2-ti2v-5b", device="cpu", width=64, height=64, frames=5, steps=2,
                   seconds_per_step=sps, created=created)


def test_performance_regressions_are_shown(isolated):
    history = PerfHistory.in_directory(isolated / "cfg")
    for i in range(3):
        history.record(_run(1.0, float(i)))
    history.record(_run(2.0, 10.0))
    collector = DiagnosticCollector()
    collector.add_performance(history, model="wan2.2-ti2v-5b")
    report = collector.build()
    assert [f.problem.code for f in report.findings] == ["PERF_REGRESSION"]
    assert "2.00x slower per step" in report.text("basic")
    assert "regression: run #4 2.0x the median (1 s/step)" in report.text("detailed")
    assert report.to_dict("full")["performance"]["regressions"][0]["ratio"] == 2.0

    (isolated / "cfg" / "perf_history.sqlite3").write_bytes(b"garbage" * 100)
    broken = DiagnosticCollector()
    broken.add_performance(PerfHistory.in_directory(isolated / "cfg"))
    assert [f.problem.code for f in broken.build().findings] == ["PERF_HISTORY_UNREADABLE"]


def test_report_files_never_overwrite_and_refuse_bad_prefixes(isolated):
    report = DiagnosticCollector().build()
    out = isolated / "output"
    first = write_report(report, out, "wan_diagnose")
    (out / "wan_diagnose_00002_.json").write_text("someone else's file")
    second = write_report(report, out, "wan_diagnose")
    assert (first.name, second.name) == ("wan_diagnose_00001_.json", "wan_diagnose_00003_.json")
    assert (out / "wan_diagnose_00002_.json").read_text() == "someone else's file"
    assert json.loads(second.read_text())["verdict"] == "ok"
    for bad in ("../escape", "/abs/path", "a/b", "..", ""):
        with pytest.raises(UsageError) as info:
            write_report(report, out, bad)
        assert info.value.code == "REPORT_PREFIX_INVALID"
    assert sorted(p.name for p in out.iterdir()) == ["wan_diagnose_00001_.json", "wan_diagnose_00002_.json", "wan_diagnose_00003_.json"]
    assert not (isolated / "escape_00001_.json").exists()


# ---------------------------------------------------------------------------------- the node
def test_diagnose_node(wrong_vae_info, isolated):
    from wan_compat import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from wan_compat.nodes.diagnose import WanDiagnose

    assert NODE_CLASS_MAPPINGS["WanDiagnose"] is WanDiagnose
    assert NODE_DISPLAY_NAME_MAPPINGS["WanDiagnose"] == "Wan Diagnose"
    spec = WanDiagnose.INPUT_TYPES()
    inputs = {**spec["required"], **spec["optional"]}
    assert all(opts.get("tooltip") for _, opts in inputs.values())
    assert spec["optional"]["model_info"][0] == "WAN_MODEL_INFO" and spec["optional"]["any_report"][0] == "*"
    stable_names = {"pipeline": "WAN_PIPELINE", "load_report": "WAN_LOAD_REPORT", "plan": "WAN_PLAN",
                    "sample_stats": "WAN_SAMPLE_STATS", "encode_result": "WAN_ENCODE_RESULT"}
    assert {name: spec["optional"][name][0] for name in stable_names} == stable_names
    assert WanDiagnose.OUTPUT_NODE and len(WanDiagnose.OUTPUT_TOOLTIPS) == len(WanDiagnose.RETURN_TYPES)
    assert WanDiagnose.VALIDATE_INPUTS(input_types={}, level="basic") is True
    assert "plain name" in WanDiagnose.VALIDATE_INPUTS(input_types={}, filename_prefix="../x")

    from wan_compat.compat.loading.handle import PipelineHandle
    from wan_compat.compat.loading.report import LoadReport as RealLoadReport

    # What Wan Safe Load hands over, the real class (its pipeline needs no weights for a report).
    load = RealLoadReport(source={"model": wrong_vae_info.path, "format": "single_files"}, pipeline_class="WanPipeline")
    load.timings_ms["total"] = 3200.0
    handle = PipelineHandle(pipeline=object(), model_info=wrong_vae_info, report=load)

    node = WanDiagnose()
    out = node.diagnose(level="detailed", pipeline=handle, sample_stats=SampleStats(),
                        any_report=RuntimeError("Cannot copy out of meta tensor; no data!"), include_system=False)
    report, text, json_path = out["result"]
    assert out["ui"]["text"] == [report.text("basic")]
    assert out["ui"]["wan_report"][0]["verdict"] == "error"
    assert set(report.stages) >= {"detect", "load", "sample", "extra"}
    assert {f.problem.code for f in report.findings} == {"WRONG_VAE", "META_TENSOR_USED"}
    assert text.startswith("Wan Compat diagnosis: ERROR (2 error(s), 0 warning(s))")
    path = Path(json_path)
    assert path.parent == isolated / "output" and path.name == "wan_diagnose_00001_.json"
    assert json.loads(path.read_text())["stages"]["load"]["data"]["report"]["timings_ms"]["total"] == 3200.0

    again = node.diagnose(level="basic", model_info=wrong_vae_info, include_system=False, filename_prefix="mine")
    assert Path(again["result"][2]).name == "mine_00001_.json"
    assert again["result"][1] == again["ui"]["text"][0]
    with pytest.raises(UsageError):
        node.diagnose(filename_prefix="../up", include_system=False)

    plain = node.diagnose(any_report=[1, 2, 3], include_system=False)
    assert plain["result"][0].stages["extra"].data["type"] == "list"
    assert WanDiagnose.IS_CHANGED() != WanDiagnose.IS_CHANGED()  # always re-runs (NaN)


def test_every_catalogue_code_renders_in_a_report():
    collector = DiagnosticCollector()
    for code in catalogue():
        collector.add_problem(problem(code, "detail"), stage="all")
    report = collector.build()
    assert len(report.findings) == len(catalogue())
    assert report.text("full")
