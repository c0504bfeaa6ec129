"""Write a report JSON into a folder without ever overwriting a file: `<prefix>_00001_.json`, the next
free counter, created with O_EXCL so two writers never collide (the name pattern ComfyUI uses)."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..core.errors import UsageError
from .report import DiagnosticReport, Level

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def write_report(report: DiagnosticReport, directory: str | os.PathLike[str], prefix: str = "wan_diagnose",
                 level: Level = "full") -> Path:
    if not _PREFIX.match(prefix) or ".." in prefix:
        raise UsageError("REPORT_PREFIX_INVALID", f"prefix {prefix!r}", prefix=prefix)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data = (report.to_json(level) + "\n").encode("utf-8")
    pattern = re.compile(re.escape(prefix) + r"_(\d{5})_\.json$")
    taken = [int(m.group(1)) for name in os.listdir(folder) if (m := pattern.match(name))]
    counter = max(taken, default=0) + 1
    while True:
        path = folder / f"{prefix}_{counter:05d}_.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            counter += 1
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except BaseException:
            path.unlink(missing_ok=True)  # never leave half a report
            raise
        logging.getLogger("wan_compat.diagnose").info("diagnosis %s: %s", report.verdict.upper(), path)
        return path
