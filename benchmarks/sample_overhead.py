"""Wan Sample's overhead against a raw diffusers call on the same tiny model, inputs and seed.

The wrapper adds: request and VAE checks, the memory estimate, a per-run pipeline object, a step
callback (timing, NaN/Inf check, progress), expert hooks, peak-memory tracking and its own chunked
decode. Frames must be bit-identical to diffusers' (`output_type="pt"`); the script asserts it.

Run: python benchmarks/sample_overhead.py [--runs 7]
Builds the tiny pipelines once into the default cache (~/.cache/wan-compat/tiny or $WAN_COMPAT_CACHE).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

CASES = [  # variant, width, height, frames, steps, needs an image
    ("wan2.1-t2v", 32, 32, 5, 4, False),
    ("wan2.1-t2v", 64, 64, 17, 4, False),
    ("wan2.2-t2v-a14b", 64, 64, 17, 4, False),
    ("wan2.2-ti2v-5b", 64, 64, 17, 4, False),
    ("wan2.1-i2v", 64, 64, 17, 4, True),
]
PROMPT, NEGATIVE = "a red fox runs through the snow at dusk", "blurry, low quality, static, watermark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("WAN_COMPAT_CONFIG_DIR", tempfile.mkdtemp(prefix="wan-compat-bench-settings-"))

    import torch
    from PIL import Image

    from wan_compat.compat.fixtures.tiny import tiny_pipeline_path
    from wan_compat.compat.loading import LoadOptions, load_pipeline
    from wan_compat.compat.sampling import SampleRequest, sample

    print(f"torch threads: {torch.get_num_threads()}; median of {args.runs} interleaved runs each")
    print(f"{'variant':17} {'size':>12} {'steps':>5} {'diffusers ms':>13} {'wan-compat ms':>14} {'ratio':>6}  frames")
    for variant, width, height, frames, steps, needs_image in CASES:
        handle = load_pipeline(tiny_pipeline_path(variant), options=LoadOptions(dtype="fp32"))
        image = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(5)) if needs_image else None
        pil = {"image": Image.fromarray((image[0].numpy() * 255).round().astype("uint8"))} if needs_image else {}
        request = SampleRequest(prompt=PROMPT, negative_prompt=NEGATIVE, width=width, height=height, num_frames=frames,
                                steps=steps, seed=42, image=image)
        handle.pipeline.set_progress_bar_config(disable=True)

        def raw() -> torch.Tensor:
            out = handle.pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, width=width, height=height, num_frames=frames,
                                  num_inference_steps=steps, generator=torch.Generator().manual_seed(42), output_type="pt", **pil)
            return out.frames[0].permute(0, 2, 3, 1)

        def ours() -> torch.Tensor:
            return sample(handle, request, record=False).frames

        raw(), ours()  # warm-up
        times: dict[str, list[float]] = {"raw": [], "ours": []}
        results = {}
        for _ in range(args.runs):
            for name, fn in (("raw", raw), ("ours", ours)):
                started = time.perf_counter()
                results[name] = fn()
                times[name].append(time.perf_counter() - started)
        identical = torch.equal(results["raw"], results["ours"])
        assert identical, f"{variant}: frames differ (max abs diff {float((results['raw'] - results['ours']).abs().max())})"
        r, o = statistics.median(times["raw"]) * 1000, statistics.median(times["ours"]) * 1000
        print(f"{variant:17} {f'{width}x{height}x{frames}':>12} {steps:>5} {r:>13.1f} {o:>14.1f} {o / r:>6.2f}  bit-identical")


if __name__ == "__main__":
    main()
