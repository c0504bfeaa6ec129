"""Memory estimate against the measured peak RSS on CPU, each size in a fresh process.

The model has real widths where memory is decided: a Wan 2.1 1.3B-wide transformer (hidden 1536,
ffn 8960, 12 heads) cut to 2 blocks (activations do not depend on depth, and 2 blocks keep a run
to seconds), the real-size Wan 2.1 VAE (base width 96, 127 M parameters) and the tiny UMT5 (the
real one is 23 GB in fp32). Weights are random (seeded): memory does not depend on their values.

Two tables:
- whole runs (`sample()`: text encoding, 2 denoising steps, chunked decode): the estimate's peak
  against the process's peak RSS above the runtime's own (torch and libraries, measured before the
  model is built);
- denoising only (the pipeline stopped at latents): the estimate's denoise phase against the same,
  at larger token counts, where the transformer's activations dominate.

Run: python benchmarks/estimate_vs_rss.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

RUNS = [(128, 128, 9), (192, 192, 9), (256, 256, 9)]
DENOISE = [(256, 256, 17), (480, 480, 17), (832, 480, 33)]
MIB = 2**20


def child(mode: str, width: int, height: int, frames: int) -> dict:
    import torch

    from wan_compat.compat.sampling.memory import PeakMemory, current_rss

    torch.set_grad_enabled(False)
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    from wan_compat.compat.fixtures.tiny import TEXT_DIM, tiny_text_encoder, tiny_tokenizer
    from wan_compat.compat.detect.model_info import ModelInfo
    from wan_compat.compat.loading import LoadReport, PipelineHandle
    from wan_compat.compat.optimize import OptimizationManager, Sizes
    from wan_compat.compat.sampling import SampleRequest, sample

    runtime = current_rss()
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    pipe = WanPipeline(
        tokenizer=tokenizer, text_encoder=tiny_text_encoder(len(tokenizer)), vae=AutoencoderKLWan().eval(),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0),
        transformer=WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                                          out_channels=16, text_dim=TEXT_DIM, freq_dim=256, ffn_dim=8960, num_layers=2,
                                          cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=1024).eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    handle = PipelineHandle(pipe, ModelInfo("benchmark", "diffusers"), LoadReport(), dtype="fp32")
    plan = OptimizationManager().plan(handle, Sizes(width, height, frames))
    built = current_rss()
    if mode == "run":
        result = sample(handle, SampleRequest(prompt="a red fox runs through the snow at dusk", width=width, height=height,
                                              num_frames=frames, steps=2, seed=0), record=False)
        peak, estimate = result.stats.peak_memory_bytes, plan.estimate.device_peak
    else:
        with PeakMemory("cpu") as measured:
            pipe(prompt="a red fox runs through the snow at dusk", width=width, height=height, num_frames=frames,
                 num_inference_steps=1, guidance_scale=5.0, output_type="latent", generator=torch.Generator().manual_seed(0))
        peak, estimate = measured.bytes, plan.estimate.phases["denoise"]
    tokens = ((frames - 1) // 4 + 1) * (height // 16) * (width // 16)
    return {"mode": mode, "size": f"{width}x{height}x{frames}", "tokens": tokens, "runtime": runtime, "built": built,
            "peak": peak, "estimate": estimate, "parts": plan.estimate.parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("MODE", "W", "H", "F"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *numbers = args.child
        print(json.dumps(child(mode, *map(int, numbers))))
        return
    env = dict(os.environ, WAN_COMPAT_CONFIG_DIR=tempfile.mkdtemp(prefix="wan-compat-bench-settings-"))
    rows = []
    for mode, sizes in (("run", RUNS), ("denoise", DENOISE)):
        for w, h, f in sizes:
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(w), str(h), str(f)], capture_output=True,
                                 text=True, env=env, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("peak RSS measured with the kernel's high-water mark (VmHWM), one fresh process per row; MiB")
    print(f"{'what':8} {'size':>12} {'tokens':>7} {'runtime':>8} {'peak RSS':>9} {'model peak':>11} {'estimate':>9} {'model/estimate':>15}")
    for r in rows:
        model = r["peak"] - r["runtime"]
        print(f"{r['mode']:8} {r['size']:>12} {r['tokens']:>7} {r['runtime'] / MIB:>8.0f} {r['peak'] / MIB:>9.0f} "
              f"{model / MIB:>11.0f} {r['estimate'] / MIB:>9.0f} {model / r['estimate']:>15.2f}")
    print("model peak = peak RSS - the runtime's RSS before the model was built (torch, diffusers, transformers)")


if __name__ == "__main__":
    main()
