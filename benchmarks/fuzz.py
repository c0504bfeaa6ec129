"""Fuzz the hostile-input parsers at length: safetensors header, model_index/config, pickle scanner,
workflow documents, explain messages, LoRA files, GGUF tensor tables, settings files.

Each target gets N seeded mutated inputs (default 10^5); the table shows how many were refused with
a typed error, how many crashed (any other exception) and the rate. A crash is printed with its seed
and index; `wan_compat.compat.fixtures.fuzz.crash_input(target, seed, index)` gives its bytes.

Run: python benchmarks/fuzz.py [--count 100000] [--seed 0] [--target "pickle scanner"]
Another commit (same inputs, its parsers): mkdir -p /tmp/old/wan_compat && git archive COMMIT | tar -x -C
/tmp/old/wan_compat, copy compat/fixtures/fuzz.py and compat/detect/slots.py into it, then
PYTHONPATH=/tmp/old python benchmarks/fuzz.py --count 10000 (run from outside the checkout).
"""
from __future__ import annotations

import argparse
import time

from wan_compat.compat.fixtures import fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=sorted(fuzz.TARGETS), action="append")
    args = parser.parse_args()
    rows = []
    for target in args.target or list(fuzz.TARGETS):
        started = time.perf_counter()
        result = fuzz.run(target, seed=args.seed, count=args.count)
        elapsed = time.perf_counter() - started
        rows.append((target, result.inputs, result.typed, len(result.crashes), elapsed))
        for crash in result.crashes[:10]:
            print(f"CRASH {target} seed {args.seed} index {crash}")
    print(f"\n{'target':<22} {'inputs':>8} {'typed errors':>13} {'crashes':>8} {'seconds':>8} {'inputs/s':>9}")
    for target, count, typed, crashes, elapsed in rows:
        print(f"{target:<22} {count:>8} {typed:>13} {crashes:>8} {elapsed:>8.1f} {count / elapsed:>9.0f}")
    import os

    print(f"load average {os.getloadavg()[0]:.1f} (a shared machine: seconds are indicative)")


if __name__ == "__main__":
    main()
