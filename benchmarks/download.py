"""Download throughput: the pack's `get` (pinned commit, sha256 of every byte against the Hub's LFS
id, header check, no-clobber publish, ledger) against huggingface_hub's plain `hf_hub_download` of
the same file (no checksum), both from the loopback Hub (tools/local_hub.py) through HF_ENDPOINT.

Run: python benchmarks/download.py [--mib 512] [--runs 5]
Runs alternate (baseline, pack, baseline, ...) in one process, each into a fresh folder; the table
gives the median MB/s of each and their ratio, with the load average (the machine is shared and noisy).
Loopback is far faster than any real connection, so this is the pack's own overhead at its most visible.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
sys.path.insert(0, str(HERE.parent / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="file size in MiB")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternated")
    args = parser.parse_args()

    from hub_fixtures import unknown_safetensors
    from local_hub import LocalHub

    with tempfile.TemporaryDirectory(prefix="wan-download-bench-") as tmp:
        root = Path(tmp)
        hub = LocalHub(root / "store")
        source_file = unknown_safetensors(root / "file.safetensors", args.mib * 1024 * 1024)
        commit = hub.add_repo("bench/repo", {"split_files/vae/file.safetensors": source_file})
        hub.start()
        os.environ.pop("HF_HUB_OFFLINE", None)
        os.environ.pop("TRANSFORMERS_OFFLINE", None)
        os.environ["HF_ENDPOINT"] = hub.url  # read by huggingface_hub when it is imported, as for a user
        os.environ["HF_HOME"] = str(root / "hf-home")
        os.environ["WAN_COMPAT_CONFIG_DIR"] = str(root / "settings")
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        from huggingface_hub import hf_hub_download

        from wan_compat.compat.hub.get import get
        from wan_compat.compat.hub.sources import from_spec

        size = source_file.stat().st_size

        def baseline(run: int) -> None:
            hf_hub_download("bench/repo", "split_files/vae/file.safetensors", revision=commit, cache_dir=root / f"cache{run}")

        def pack(run: int) -> None:
            outcome = get(from_spec("bench/repo/split_files/vae/file.safetensors"), lambda folder: root / f"models{run}" / folder)
            assert outcome.status == "downloaded" and outcome.files[0]["digest"]

        samples: dict[str, list[float]] = {"hf_hub_download (no checksum)": [], "wan-compat get (sha256 + header check)": []}
        load_before = os.getloadavg()
        for run in range(args.runs):
            for name, fn in zip(samples, (baseline, pack)):
                started = time.perf_counter()
                fn(run)
                samples[name].append(size / (time.perf_counter() - started) / 1e6)
                shutil.rmtree(root / f"cache{run}", ignore_errors=True)
                shutil.rmtree(root / f"models{run}", ignore_errors=True)
        load_after = os.getloadavg()
        hub.stop()

    rates = {name: statistics.median(v) for name, v in samples.items()}
    base, ours = rates.values()
    print(f"file: {size / 2**20:.0f} MiB from a loopback Hub, {args.runs} alternated runs each; "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'':42} {'median MB/s':>12} {'min':>8} {'max':>8}")
    for name, values in samples.items():
        print(f"{name:42} {statistics.median(values):12.0f} {min(values):8.0f} {max(values):8.0f}")
    best = max(samples["wan-compat get (sha256 + header check)"]) / max(samples["hf_hub_download (no checksum)"])
    print(f"{'ratio pack / hf_hub_download (medians)':42} {ours / base:12.2f}   (goal >= 0.95)")
    print(f"{'ratio of the fastest runs':42} {best:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
