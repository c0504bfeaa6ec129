"""Safetensors headers built to hurt, parsed by this checkout and by another commit side by side.

Cases: a real-size Wan 2.1 T2V-14B transformer header (sparse file, the everyday case); a million
zero-size tensors written plainly; the same with every key spelled `"data\\u005foffsets"` (which
slipped past the old byte-level pre-count); a header nested 100 000 levels deep; a shape of
[10^200, 10^200]. Each parse runs in a fresh process, which reports the seconds of `read_header`,
its peak memory (ru_maxrss) and the outcome (the error code, or the exception type for a crash).

Run: python benchmarks/hostile_headers.py [--ref main]   (the other commit is taken with git archive)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from wan_compat.compat.detect.safetensors_header import read_header
from wan_compat.compat.core.errors import WanCompatError
start = time.perf_counter()
try:
    header = read_header(sys.argv[2]); outcome = f"ok ({len(header.tensors)} tensors)"
except WanCompatError as err:
    outcome = err.code
except BaseException as exc:
    outcome = f"CRASH {type(exc).__name__}"
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outcome": outcome}))
"""


def _file(path: Path, header: bytes) -> Path:
    import struct

    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def cases(folder: Path) -> dict[str, Path]:
    from wan_compat.compat.fixtures.sparse import write_single_file

    entry = '"t{i}": {{"dtype": "U8", "shape": [0], "{key}": [0, 0]}}'
    plain = "{" + ",".join(entry.format(i=i, key="data_offsets") for i in range(10**6)) + "}"
    escaped = "{" + ",".join(entry.format(i=i, key="data\\u005foffsets") for i in range(10**6)) + "}"
    huge = json.dumps({"w": {"dtype": "F32", "shape": [10**200, 10**200], "data_offsets": [0, 8]}})
    return {
        "real 14B transformer": write_single_file(folder / "wan2.1_t2v_14B_bf16.safetensors", "wan2.1-t2v-14b"),
        "10^6 tensors": _file(folder / "plain.safetensors", plain.encode()),
        "10^6 tensors, escaped keys": _file(folder / "escaped.safetensors", escaped.encode()),
        "nested 10^5 deep": _file(folder / "deep.safetensors", ('{"w": ' + "[" * 10**5 + "]" * 10**5 + "}").encode()),
        "shape [10^200, 10^200]": _file(folder / "huge.safetensors", huge.encode()),
    }


def measure(package_parent: Path, path: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", CHILD, str(package_parent), str(path)], capture_output=True, text=True, timeout=600)
    return json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else {"seconds": 0, "peak_mb": 0, "outcome": f"exit {run.returncode}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="the other commit (default: main)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wan-hostile-") as tmp:
        tmp_path = Path(tmp)
        old = tmp_path / "old"
        (old / "wan_compat").mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old / "wan_compat")], input=archive, check=True)
        new = tmp_path / "new"
        new.mkdir()
        (new / "wan_compat").symlink_to(ROOT, target_is_directory=True)
        files = tmp_path / "files"
        files.mkdir()
        print(f"{'case':<28} | {'this checkout':>34} | {args.ref + ' (' + subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', args.ref], capture_output=True, text=True).stdout.strip() + ')':>34}")
        print(f"{'':<28} | {'s':>7} {'peak MB':>8} {'outcome':>17} | {'s':>7} {'peak MB':>8} {'outcome':>17}")
        for name, path in cases(files).items():
            a, b = measure(new, path), measure(old, path)
            print(f"{name:<28} | {a['seconds']:>7.3f} {a['peak_mb']:>8.0f} {a['outcome'][:17]:>17} | {b['seconds']:>7.3f} {b['peak_mb']:>8.0f} {b['outcome'][:17]:>17}")


if __name__ == "__main__":
    main()
