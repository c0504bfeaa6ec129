"""What running the config schemas on every config read costs: `inspect` (whole processes, a real-size
A14B diffusers folder and a single file) and Safe Load (in process, the tiny T2V folder), each
measured with the schemas (now) and with the quick reader alone (before: the schemas ran only when it
found a problem), runs alternated in one go, beside the bare header read (the floor).

Run: python benchmarks/schemas.py [--runs 9]
Everything is built in a temp folder (sparse real-size files, a tiny pipeline); nothing is downloaded.
The machine is shared and noisy: read the ratios, not the milliseconds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The reader as it was before: the schemas only when the quick reader found a problem.
QUICK_ONLY = """
from wan_compat.compat.detect import configs
from wan_compat.compat.core import safe_json

def read(kind, path):
    try:
        doc = safe_json.load_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return configs.ConfigDoc(path, {}, [f"$: not valid JSON ({exc})"])
    problems = configs._quick_problems(kind, doc)
    if problems:
        from wan_compat.compat.detect import schemas
        problems = schemas.validate(kind, doc) or problems
    return configs.ConfigDoc(path, doc if isinstance(doc, dict) else {}, problems)

configs.read = read
"""


def _inspect_cmd(target: Path, before: bool) -> list[str]:
    code = (QUICK_ONLY if before else "") + f"\nimport sys\nfrom wan_compat.compat.cli import main\nsys.exit(main(['inspect', {str(target)!r}, '--json']))"
    return [sys.executable, "-c", code]


def process_times(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(v) for name, v in samples.items()}


def safe_load_times(folder: Path, runs: int) -> tuple[float, float]:
    """Median in-process Safe Load of the tiny folder, with the schemas and with the quick reader only."""
    from wan_compat.compat.detect import configs
    from wan_compat.compat.loading import LoadOptions, load_pipeline

    now = configs.read
    namespace: dict = {}
    exec(QUICK_ONLY.replace("configs.read = read", ""), namespace)  # noqa: S102 - the old reader, defined above
    before = namespace["read"]
    load_pipeline(folder, options=LoadOptions(dtype="fp32"))  # warm: imports, file cache
    samples: dict[str, list[float]] = {"now": [], "before": []}
    try:
        for _ in range(runs):
            for name, reader in (("now", now), ("before", before)):
                configs.read = reader
                start = time.perf_counter()
                load_pipeline(folder, options=LoadOptions(dtype="fp32"))
                samples[name].append((time.perf_counter() - start) * 1000)
    finally:
        configs.read = now
    return statistics.median(samples["now"]), statistics.median(samples["before"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from wan_compat.compat.fixtures import sparse
    from wan_compat.compat.fixtures.tiny import tiny_pipeline_path

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["WAN_COMPAT_CONFIG_DIR"] = str(root / "settings")  # default settings, whatever this machine holds
        single = sparse.write_single_file(root / "wan2.1_t2v_14B_bf16.safetensors", "wan2.1-t2v-14b", "bf16",
                                          rename=sparse.original_transformer_names)
        folder = sparse.write_pipeline_folder(root / "Wan2.2-T2V-A14B-Diffusers", "wan2.2-t2v-a14b")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        for label, target in (("A14B diffusers folder (6 configs)", folder), ("single file (no config)", single)):
            times = process_times({
                "bare header read (floor)": [sys.executable, str(HERE / "bare_header_read.py"), str(target)],
                "inspect, quick reader only (before)": _inspect_cmd(target, before=True),
                "inspect, schemas on every config (now)": _inspect_cmd(target, before=False),
            }, args.runs)
            floor, before = times["bare header read (floor)"], times["inspect, quick reader only (before)"]
            print(f"\n## whole processes, {label}, median of {args.runs}")
            print(f"| {'command':<40} | {'ms':>8} | {'x floor':>8} | {'x before':>8} |")
            print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
            for name, ms in times.items():
                print(f"| {name:<40} | {ms:8.1f} | {ms / floor:8.2f} | {ms / before:8.2f} |")
        tiny = tiny_pipeline_path("wan2.1-t2v", root / "tiny")
        now, before = safe_load_times(tiny, args.runs)
        print(f"\n## Safe Load in process (tiny T2V folder, fp32), median of {args.runs}")
        print(f"| {'reader':<40} | {'ms':>8} | {'x before':>8} |")
        print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|")
        print(f"| {'quick reader only (before)':<40} | {before:8.1f} | {1.0:8.2f} |")
        print(f"| {'schemas on every config (now)':<40} | {now:8.1f} | {now / before:8.2f} |")
        print(f"\nload average after: {os.getloadavg()[0]:.2f} (2 cores, shared: the figures are noisy)")


if __name__ == "__main__":
    main()
