"""Wan Diagnose: one report of everything connected to it, the machine, the settings and the history."""
from __future__ import annotations

from typing import Any

from . import comfy_env

CATEGORY = "Wan Compat/Diagnose"
LEVELS = ["basic", "detailed", "full"]
# Optional inputs: name -> (ComfyUI type, stage name in the report, tooltip). Names are a contract
# with saved workflows: never rename one.
STAGE_INPUTS: dict[str, tuple[str, str, str]] = {
    "model_info": ("WAN_MODEL_INFO", "detect", "The report of Wan Detect Architecture or Wan Check Compatibility."),
    "pipeline": ("WAN_PIPELINE", "load", "The pipeline from Wan Safe Load or a later stage: its load report, security decisions, and each module's dtypes, devices and hooks now."),
    "load_report": ("WAN_LOAD_REPORT", "load", "A load report on its own, if Wan Safe Load outputs one."),
    "plan": ("WAN_PLAN", "plan", "Wan Optimize's preview plan (the plan a run applied comes with sample_stats)."),
    "sample_stats": ("WAN_SAMPLE_STATS", "sample", "Run statistics from Wan Sample (time per step, peak memory)."),
    "encode_result": ("WAN_ENCODE_RESULT", "encode", "The result of Wan Encode Video (file, encoder, time)."),
    "any_report": ("*", "extra", "Any other stage report or error, from this pack or another."),
}
# Attributes of a composite object (e.g. a pipeline handle) that may hold stage reports. A `plan`
# on a report (the plan a sample run applied) is added by the collector itself.
NESTED_REPORTS = (("model_info", "detect"), ("report", None), ("vae_report", "vae"), ("stats", "sample"))


def _add_any(collector: Any, value: Any, stage: str) -> None:
    """Add whatever arrived: a stage report, an error, a handle carrying reports, or plain data."""
    from ..compat.diagnostics import StageReport

    if isinstance(value, BaseException):
        collector.add_error(value, stage=stage)
    elif isinstance(value, StageReport):
        collector.add(value, stage=stage)
        # A handle that is itself a report (WAN_PIPELINE) may carry later stages' reports too.
        for attr, name in NESTED_REPORTS:
            nested = getattr(value, attr, None)
            if name not in (None, stage) and nested is not value and isinstance(nested, StageReport):
                collector.add(nested, stage=name)
    elif isinstance(value, dict):
        collector.add_data(stage, value)
    else:
        nested = [(getattr(value, attr), name or stage) for attr, name in NESTED_REPORTS if isinstance(getattr(value, attr, None), StageReport)]
        for report, name in nested:
            collector.add(report, stage=name)
        if not nested:
            collector.add_data(stage, {"type": type(value).__name__, "note": "not a stage report (no problems / to_dict)"})


class WanDiagnose:
    DESCRIPTION = (
        "Says whether your Wan setup works and exactly what to do next. Connect any Wan stage outputs; it adds "
        "the machine (GPU, driver, VRAM, RAM, ffmpeg, versions), your settings and the speed history, shows one "
        "paragraph on the node and writes the full JSON report (no tokens, home folder shortened) to the output folder."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_REPORT", "STRING", "STRING")
    RETURN_NAMES = ("report", "text", "json_path")
    OUTPUT_TOOLTIPS = (
        "The report object, for other nodes.",
        "The report as text at the chosen level.",
        "Where the full JSON report was written.",
    )
    FUNCTION = "diagnose"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        optional: dict[str, Any] = {name: (kind, {"tooltip": tip}) for name, (kind, _, tip) in STAGE_INPUTS.items()}
        optional["filename_prefix"] = ("STRING", {"default": "wan_diagnose", "tooltip": "Name of the JSON report in the output folder (a counter is added; nothing is overwritten)."})
        optional["include_system"] = ("BOOLEAN", {"default": True, "tooltip": "Probe the GPU, RAM, ffmpeg and package versions."})
        return {
            "required": {
                "level": (LEVELS, {"default": "basic", "tooltip": "basic: one paragraph; detailed: every problem, stage and the machine; full: every figure."}),
            },
            "optional": optional,
        }

    @classmethod
    def VALIDATE_INPUTS(cls, input_types: dict[str, Any] | None = None, level: str = "basic",
                        filename_prefix: str = "wan_diagnose") -> bool | str:
        # Taking `input_types` tells ComfyUI that this node checks types itself, which is what lets
        # the `*` input accept any stage's output.
        from ..compat.diagnostics.report_file import _PREFIX

        if level not in LEVELS:
            return f"level must be one of {', '.join(LEVELS)}"
        if not _PREFIX.match(filename_prefix or "") or ".." in filename_prefix:
            return "filename_prefix must be a plain name (letters, digits, _ - .), with no folders."
        return True

    @classmethod
    def IS_CHANGED(cls, **_: Any) -> float:
        return float("nan")  # the machine and the history change between runs: always re-run

    def diagnose(self, level: str = "basic", filename_prefix: str = "wan_diagnose", include_system: bool = True,
                 **stage_inputs: Any) -> dict[str, Any]:
        from ..compat.diagnostics import DiagnosticCollector
        from ..compat.diagnostics.report_file import write_report
        from ..compat.sampling.perf_history import PerfHistory
        from ..compat.settings.store import settings_dir

        collector = DiagnosticCollector()
        given = [(name, value) for name, value in stage_inputs.items() if name in STAGE_INPUTS and value is not None]
        steps = len(given) + 3 + bool(include_system)  # each input, settings, history, (system), the report file
        progress = comfy_env.progress_reporter()
        for done, (name, value) in enumerate(given, 1):
            _add_any(collector, value, STAGE_INPUTS[name][1])
            progress(done, steps)
        user_dir = comfy_env.user_directory()
        collector.add_settings(user_dir=str(user_dir) if user_dir else None)
        progress(len(given) + 1, steps)
        model = stage_inputs.get("model_info")
        model_id = getattr(model, "variant", None) or None
        perf = (collector.settings or {}).get("values", {}).get("performance", {})
        collector.add_performance(PerfHistory.in_directory(settings_dir(user_dir)), model=model_id,
                                  threshold=perf.get("regression_threshold", 0.25), min_runs=perf.get("min_comparable_runs", 3))
        progress(len(given) + 2, steps)
        if include_system:
            collector.add_system()  # GPU, RAM, ffmpeg and versions: the slow part
            progress(len(given) + 3, steps)
        report = collector.build()
        path = write_report(report, comfy_env.output_directory(), filename_prefix)
        progress(steps, steps)
        basic = report.text("basic")
        ui = {"text": [basic], "wan_report": [{"verdict": report.verdict, "filename": path.name, "subfolder": "", "type": "output",
                                             "level": level}]}
        return {"ui": ui, "result": (report, report.text(level), str(path))}  # type: ignore[arg-type]


NODES = {"WanDiagnose": WanDiagnose}
DISPLAY_NAMES = {"WanDiagnose": "Wan Diagnose"}
