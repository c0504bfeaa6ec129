"""A trusted custom pipeline, run in the sandbox: the `pipeline` of a sandboxed WAN_PIPELINE.

Each call starts a bubblewrap subprocess (no network, model folder read-only, no tokens in its
environment) that loads the folder with `trust_remote_code=True` and runs the pipeline once.
Arguments must be JSON values (prompt, sizes, steps, guidance, seed); progress comes back as JSON
lines on the worker's stdout while it runs (`sandbox_worker.py`), the frames as a `.npy` file read
with `allow_pickle=False` and checked like any untrusted data.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core.errors import SecurityError, UsageError
from .sandbox import PACK_ROOT, require_sandbox, run_python

WORKER = PACK_ROOT / "compat" / "security" / "sandbox_worker.py"
MAX_FRAMES_BYTES = 8 * 1024**3


@dataclass
class SandboxOutput:
    frames: Any  # numpy array, (batch, frames, height, width, channels) in [0, 1]


class SandboxedPipeline:
    def __init__(self, folder: Path, timeout_s: float = 600.0) -> None:
        require_sandbox()
        self.folder = Path(folder)
        self.timeout_s = timeout_s

    def __call__(self, *, on_progress: Callable[[int, int], None] | None = None,
                 check_interrupt: Callable[[], None] | None = None, **kwargs: Any) -> SandboxOutput:
        """Run the pipeline once in the sandbox with JSON `kwargs`. `on_progress(done, total)` after
        each step the worker reports, then `check_interrupt()`: what either raises ends the sandbox
        and is raised unchanged."""
        import numpy as np

        try:
            request = json.dumps({"model": str(self.folder), "kwargs": kwargs})
        except TypeError as exc:
            raise UsageError("USAGE", f"a sandboxed pipeline takes only JSON arguments (prompt, sizes, steps, seed): {exc}") from None

        def on_line(line: str) -> None:
            try:
                event = json.loads(line)
            except ValueError:
                return  # the custom code's own prints
            if isinstance(event, dict) and event.get("event") == "progress":
                done, total = event.get("done"), event.get("total")
                if on_progress is not None and isinstance(done, int) and isinstance(total, int):
                    on_progress(done, total)
                if check_interrupt is not None:
                    check_interrupt()

        with tempfile.TemporaryDirectory(prefix="wan-compat-sandbox-") as io_dir:
            io = Path(io_dir)
            (io / "request.json").write_text(request, encoding="utf-8")
            run_python([str(WORKER), io_dir], read_only=[self.folder], writable=[io], timeout_s=self.timeout_s, on_line=on_line)
            path = io / "frames.npy"
            if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_FRAMES_BYTES:
                raise SecurityError("SANDBOX_FAILED", "the sandboxed pipeline returned no usable frames.npy")
            try:
                frames = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise SecurityError("SANDBOX_FAILED", f"frames.npy is not a plain array ({exc})") from None
        if frames.dtype.kind not in "fu" or not np.isfinite(frames).all():
            raise SecurityError("SANDBOX_FAILED", f"frames of dtype {frames.dtype} with non-finite values")
        return SandboxOutput(frames=frames)

    def __repr__(self) -> str:
        return f"<SandboxedPipeline {self.folder}>"
