"""Peak memory of a block of work: the process's RSS peak on CPU, torch's allocator peak on CUDA.

On Linux the kernel keeps the RSS high-water mark (`VmHWM`) and resets it on request (`5` written
to /proc/self/clear_refs), which measures the true peak without sampling. Elsewhere, or where that
file is not writable, a thread samples psutil's RSS every 5 ms (short spikes can be missed: the
report says which method was used).
"""
from __future__ import annotations

import os
import threading
from typing import Any

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_bytes(field: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def current_rss() -> int:
    rss = _status_bytes("VmRSS")
    if rss is not None:
        return rss
    import psutil

    return int(psutil.Process().memory_info().rss)


def _reset_hwm() -> bool:
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.bytes`, `peak.method`, `peak.baseline`."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = str(device)
        self.bytes = 0
        self.baseline = 0
        self.method = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = int(torch.cuda.memory_allocated(self.device))
            self.method = "torch.cuda.max_memory_allocated"
        elif _reset_hwm():
            self.baseline = current_rss()
            self.method = "VmHWM (RSS high-water mark)"
        else:
            self.baseline = current_rss()
            self.bytes = self.baseline
            self.method = "psutil RSS sampled every 5 ms"
            self._thread = threading.Thread(target=self._sample, name="wan-compat-peak-rss", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.bytes = max(self.bytes, current_rss())

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.bytes = int(torch.cuda.max_memory_allocated(self.device))
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.bytes = max(self.bytes, current_rss())
        else:
            self.bytes = _status_bytes("VmHWM") or current_rss()

    def to_dict(self) -> dict[str, Any]:
        return {"peak_bytes": self.bytes, "baseline_bytes": self.baseline, "method": self.method, "device": self.device,
                "pid": os.getpid()}
