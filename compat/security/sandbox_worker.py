"""Runs inside the sandbox (see sandbox.py): load a trusted custom pipeline and call it once.

Standalone on purpose: it is run by file path with `python -I`, imports nothing from the pack, and
talks to its caller only through the one writable folder and its stdout:
- in: `request.json` ({"model": folder, "kwargs": JSON arguments});
- out, while it runs: one JSON line per denoising step on stdout, `{"event": "progress", "done": n,
  "total": steps}` (when the pipeline takes diffusers' `callback_on_step_end`);
- out, at the end: `frames.npy` (written with allow_pickle=False) and `result.json`.
"""
import inspect
import json
import sys
from pathlib import Path


def _say(**event) -> None:
    print(json.dumps(event), flush=True)


def main(io_dir: str) -> int:
    import numpy as np
    import torch
    from diffusers import DiffusionPipeline

    folder = Path(io_dir)
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    pipe = DiffusionPipeline.from_pretrained(request["model"], trust_remote_code=True, local_files_only=True)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)  # stdout carries the protocol, not tqdm
    kwargs = dict(request.get("kwargs") or {})
    seed = kwargs.pop("seed", None)
    if seed is not None:
        kwargs["generator"] = torch.Generator().manual_seed(int(seed))
    total = int(kwargs.get("num_inference_steps") or 0)
    if "callback_on_step_end" in inspect.signature(pipe.__call__).parameters:
        def step_done(_pipe, step, _timestep, _tensors):
            _say(event="progress", done=step + 1, total=total)
            return {}
        kwargs["callback_on_step_end"] = step_done
    output = pipe(**kwargs, output_type="np")
    frames = np.asarray(output.frames if hasattr(output, "frames") else output[0])
    np.save(folder / "frames.npy", frames, allow_pickle=False)
    (folder / "result.json").write_text(json.dumps({"shape": list(frames.shape), "dtype": str(frames.dtype)}), encoding="utf-8")
    _say(event="done", shape=list(frames.shape))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
