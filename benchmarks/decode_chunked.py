"""Chunked temporal decode against diffusers' full decode: peak memory, time and max abs diff.

"full" is what the pipelines do: `vae.decode(latents)` (one latent frame per decoder call, every
output concatenated into one growing tensor, then clamped) and `postprocess_video`, then the frames
as IMAGE (frames, H, W, 3). "chunked" is `compat.vae.decode_to_frames`: the same decoder calls with
the same causal cache, each chunk written into the preallocated IMAGE tensor. Real-size Wan 2.1
and Wan 2.2 VAEs with random (seeded) weights; each decode in a fresh process, so peaks do not mix.

The children run with glibc's mmap threshold fixed (MALLOC_MMAP_THRESHOLD_=65536): every tensor
then has its own mapping, returned when freed, so the RSS peak is the peak of live tensors. With
glibc's adaptive threshold the same decode varies by +-40 MiB from run to run, more than the
difference being measured.

Run: python benchmarks/decode_chunked.py [--size 64] [--frames 9 161] [--repeats 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 2**20
VAES = {
    "2.1": {},
    "2.2": {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "is_residual": True, "in_channels": 12, "out_channels": 12,
            "patch_size": 2, "scale_factor_spatial": 16, "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48},
}


def child(version: str, mode: str, size: int, frames: int, out: Path) -> dict:
    import time

    import numpy as np
    import torch

    torch.set_grad_enabled(False)
    from diffusers import AutoencoderKLWan
    from diffusers.video_processor import VideoProcessor

    from wan_compat.compat.sampling.memory import PeakMemory
    from wan_compat.compat.vae import DecodeOptions, decode_to_frames

    torch.manual_seed(0)
    vae = AutoencoderKLWan(**VAES[version]).eval()
    scale = vae.config.scale_factor_spatial
    latents = torch.randn(1, vae.config.z_dim, (frames - 1) // 4 + 1, size // scale, size // scale, generator=torch.Generator().manual_seed(1))
    with PeakMemory("cpu") as peak:
        started = time.perf_counter()
        if mode == "full":
            video = vae.decode(latents).sample
            pt = VideoProcessor(vae_scale_factor=scale).postprocess_video(video, output_type="pt")
            del video
            image = pt[0].permute(0, 2, 3, 1).contiguous()
            del pt
        else:
            image, _ = decode_to_frames(vae, latents, DecodeOptions(chunked=True, chunk_latent_frames=1))
        seconds = time.perf_counter() - started
    np.save(out, image.numpy())
    return {"version": version, "mode": mode, "increase": peak.bytes - peak.baseline, "seconds": seconds,
            "frames_bytes": image.numel() * 4, "shape": list(image.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="frame width and height (default 64)")
    parser.add_argument("--frames", type=int, nargs="+", default=[9, 161], help="frame counts, 4k+1 (default 9 161)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per figure; the median is shown (default 1)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        version, mode, frames, out = args.child
        print(json.dumps(child(version, mode, args.size, int(frames), Path(out))))
        return
    import statistics

    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory(prefix="wan-compat-decode-bench-") as tmp:
        for version in VAES:
            for frames in args.frames:
                results: dict[str, dict] = {}
                for mode in ("full", "chunked"):
                    out = Path(tmp) / f"{version}-{mode}.npy"
                    runs = []
                    for _ in range(args.repeats):
                        run = subprocess.run([sys.executable, __file__, "--size", str(args.size), "--child", version, mode, str(frames), str(out)],
                                             capture_output=True, text=True, check=True, env=dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536"))
                        runs.append(json.loads(run.stdout.strip().splitlines()[-1]))
                    results[mode] = {"increase": statistics.median(r["increase"] for r in runs),
                                     "seconds": statistics.median(r["seconds"] for r in runs),
                                     "frames_bytes": runs[0]["frames_bytes"], "frames": np.load(out)}
                full, chunked = results["full"]["frames"], results["chunked"]["frames"]
                rows.append((version, frames, results, float(np.abs(full - chunked).max()), bool(np.array_equal(full, chunked))))
    print(f"{args.size}x{args.size} frames; median over {args.repeats} fresh processes of the peak RSS increase during the decode (VmHWM)")
    print(f"{'VAE':5} {'frames':>6} {'IMAGE MiB':>9} {'full MiB':>9} {'chunked MiB':>12} {'saved MiB':>10} {'full s':>7} {'chunked s':>10} {'max abs diff':>13}  identical")
    for version, frames, r, diff, identical in rows:
        full, chunked = r["full"], r["chunked"]
        print(f"{version:5} {frames:>6} {full['frames_bytes'] / MIB:>9.1f} {full['increase'] / MIB:>9.0f} {chunked['increase'] / MIB:>12.0f} "
              f"{(full['increase'] - chunked['increase']) / MIB:>10.0f} {full['seconds']:>7.1f} {chunked['seconds']:>10.1f} {diff:>13.3g}  {identical}")


if __name__ == "__main__":
    main()
