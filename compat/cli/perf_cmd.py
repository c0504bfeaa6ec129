"""`wan-compat perf [--json] [--model M] [--last N]`: recent runs and performance regressions."""
from __future__ import annotations

import argparse

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="only runs of this model id or registry variant id")
    parser.add_argument("--last", type=int, default=20, help="how many recent runs to show (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import SettingsError
    from ..sampling.perf_history import PerfHistory
    from ..settings.store import SettingsStore, settings_dir

    try:
        perf = SettingsStore().load().settings.performance
        threshold, min_runs = perf.regression_threshold, perf.min_comparable_runs
    except SettingsError:
        threshold, min_runs = 0.25, 3  # a broken settings file must not hide the history
    history = PerfHistory.in_directory(settings_dir())
    runs = history.runs(model=args.model, limit=args.last)
    regressions = list(history.regressions(model=args.model, threshold=threshold, min_runs=min_runs, last=args.last))
    if args.json:
        emit_json({"path": str(history.path), "threshold": threshold, "min_comparable_runs": min_runs,
                   "runs": [r.to_dict() for r in runs], "regressions": [r.to_dict() for r in regressions]})
        return 0
    if not runs:
        emit_text(f"no runs recorded yet in {history.path}")
        return 0
    lines = [f"{'id':>5}  {'model':28} {'size':>13} {'steps':>5} {'device':16} {'s/step':>8} {'peak GiB':>8} {'est GiB':>8}  "
             f"{'settings':12}  {'plan':44}  versions"]
    for r in runs:
        peak = f"{r.peak_memory_bytes / 2**30:.2f}" if r.peak_memory_bytes else "-"
        est = f"{r.estimate_bytes / 2**30:.2f}" if r.estimate_bytes else "-"
        versions = " ".join(f"{k.replace('comfyui-wan-compat', 'pack')} {v}" for k, v in r.versions.items() if v)
        lines.append(f"{r.id:>5}  {r.model[:28]:28} {f'{r.width}x{r.height}x{r.frames}':>13} {r.steps:>5} {r.device[:16]:16} "
                     f"{r.seconds_per_step:>8.3g} {peak:>8} {est:>8}  {(r.settings_hash or '-'):12}  {r.strategy()[:44]:44}  {versions}")
    for g in regressions:
        lines.append(g.to_problem().text())
    if not regressions:
        lines.append(f"no regressions (threshold +{threshold:.0%} over the median of >= {min_runs} comparable runs)")
    emit_text("\n".join(lines))
    return 0
