"""Runs inside the sandbox (see sandbox.py): load a trusted custom pipeline and call it once.

Standalone on purpose: it is run by file path with `python -I`, imports nothing from the pack, and
talks to its caller only through files in the one writable folder: `request.json` in, `frames.npy`
(written with allow_pickle=False) and `result.json` out.
"""
import json
import sys
from pathlib import Path


def main(io_dir: str) -> int:
    import numpy as np
    import torch
    from diffusers import DiffusionPipeline

    folder = Path(io_dir)
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    pipe = DiffusionPipeline.from_pretrained(request["model"], trust_remote_code=True, local_files_only=True)
    kwargs = dict(request.get("kwargs") or {})
    seed = kwargs.pop("seed", None)
    if seed is not None:
        kwargs["generator"] = torch.Generator().manual_seed(int(seed))
    output = pipe(**kwargs, output_type="np")
    frames = np.asarray(output.frames if hasattr(output, "frames") else output[0])
    np.save(folder / "frames.npy", frames, allow_pickle=False)
    (folder / "result.json").write_text(json.dumps({"shape": list(frames.shape), "dtype": str(frames.dtype)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
