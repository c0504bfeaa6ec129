"""`wan-compat doctor [--json]`: versions, ffmpeg and encoders, GPU/NVML, memory, and what is missing."""
from __future__ import annotations

import argparse

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..diagnostics import doctor
    from ..diagnostics import machine
    from ..diagnostics.redact import Scrubber

    info = machine.collect()
    checks = doctor.run_checks(info)
    missing = doctor.required_missing(checks)
    scrub = Scrubber()
    if args.json:
        emit_json(scrub({"ok": not missing, "checks": [c.to_dict() for c in checks], "system": info}))
        return 1 if missing else 0
    lines = ["wan-compat doctor"]
    for check in checks:
        lines.append(f"  {check.status.upper():8} {check.name}: {check.found}")
        if check.problem is not None:
            lines.append(f"           {check.problem.summary}. Fix: {check.problem.fix}")
    lines.append("")
    if missing:
        lines.append(f"{len(missing)} required thing(s) missing: {', '.join(c.name for c in missing)}. Apply the fixes above.")
    else:
        lines.append("Everything required is present.")
    emit_text(scrub.text("\n".join(lines)))
    return 1 if missing else 0
