"""s/step and peak VRAM of Wan 2.1 T2V 1.3B (random weights) at 832x480, 81 frames, on one GPU:
the pack's sample path (`compat.sampling.sample` on a WAN_PIPELINE, plan applied for the run),
diffusers' `WanPipeline` called directly on the same modules, and ComfyUI's native path
(`comfy.sd.load_diffusion_model_state_dict` + `comfy.sample.sample`, run in ComfyUI's own Python).

The transformer and the VAE have their real sizes (registry configs) and random weights; the text
encoder is a one-layer UMT5 of the real width (4096) over the tiny tokenizer, since the per-step
cost does not depend on it. All three paths run the same number of UniPC steps with CFG 5; s/step
is the median of the steps after the first (which pays for compilation and allocation), peak VRAM
is torch's `max_memory_allocated` over the denoising of each path.

Run: python benchmarks/gpu_step.py [--steps 6] [--comfyui-dir $COMFYUI_DIR]
On a machine without a CUDA GPU it says so and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANT = "wan2.1-t2v-1.3b"
WIDTH, HEIGHT, FRAMES = 832, 480, 81

COMFY_SCRIPT = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import torch
import comfy.sd, comfy.sample, comfy.model_management
from safetensors.torch import load_file
steps, frames, height, width = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
model = comfy.sd.load_diffusion_model_state_dict(load_file(sys.argv[2]))
latent = torch.zeros(1, 16, (frames - 1) // 4 + 1, height // 8, width // 8)
noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(0))
g = torch.Generator().manual_seed(1)
positive = [[torch.randn(1, 512, 4096, generator=g), {}]]
negative = [[torch.randn(1, 512, 4096, generator=g), {}]]
marks = []
comfy.model_management.load_models_gpu([model])
torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
marks.append(time.perf_counter())
def callback(step, x0, x, total):
    torch.cuda.synchronize(); marks.append(time.perf_counter())
comfy.sample.sample(model, noise, steps, 5.0, "uni_pc", "simple", positive, negative, latent, callback=callback, disable_pbar=True, seed=0)
steps_s = [b - a for a, b in zip(marks, marks[1:])]
print(json.dumps({"steps_s": steps_s, "peak": torch.cuda.max_memory_allocated()}))
"""


def _random_pipeline(device: str) -> Any:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from wan_compat.compat.detect import registry
    from wan_compat.compat.fixtures.tiny import tiny_tokenizer

    variant = registry.by_id(VARIANT)
    vae_row = registry.by_id(variant.requires["vae"])
    torch.manual_seed(0)
    with torch.device(device):
        transformer = WanTransformer3DModel(**variant["config"]).to(torch.bfloat16)
        vae = AutoencoderKLWan(**vae_row["config"]).to(torch.float32)
        tokenizer = tiny_tokenizer()
        text = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=4096, d_kv=64, d_ff=10240, num_layers=1, num_heads=64,
                                           feed_forward_proj="gated-gelu", dense_act_fn="gelu_new")).to(torch.bfloat16)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                                        flow_shift=variant.requires["flow_shift"])
    return WanPipeline(tokenizer=tokenizer, text_encoder=text, transformer=transformer, vae=vae, scheduler=scheduler)


def _per_step(marks: list[float]) -> float:
    steps = [b - a for a, b in zip(marks, marks[1:])]
    return statistics.median(steps[1:] or steps)


def diffusers_path(pipeline: Any, steps: int) -> tuple[float, int]:
    import torch

    marks: list[float] = []

    def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return kwargs

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    marks.append(time.perf_counter())
    pipeline(prompt="a cat walking in the snow", height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=steps,
             guidance_scale=5.0, output_type="latent", generator=torch.Generator(device="cuda").manual_seed(0), callback_on_step_end=callback)
    return _per_step(marks), torch.cuda.max_memory_allocated()


def pack_path(pipeline: Any, steps: int, transformer_file: Path) -> tuple[float, int]:
    import torch

    from wan_compat.compat.detect.detector import ArchitectureDetector
    from wan_compat.compat.loading import LoadReport, PipelineHandle
    from wan_compat.compat.sampling import SampleRequest, sample

    handle = PipelineHandle(pipeline, ArchitectureDetector().inspect(transformer_file), LoadReport(), dtype="bf16")
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        torch.cuda.synchronize()
        marks.append(time.perf_counter())

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    marks.append(time.perf_counter())
    sample(handle, SampleRequest(prompt="a cat walking in the snow", width=WIDTH, height=HEIGHT, num_frames=FRAMES, steps=steps, seed=0, cfg=5.0),
           on_progress=progress, record=False)
    return _per_step(marks[: steps + 1]), torch.cuda.max_memory_allocated()  # the marks after the steps are decoded chunks


def comfyui_path(comfyui_dir: Path, transformer_file: Path, steps: int) -> tuple[float, int] | str:
    python = comfyui_dir / "venv" / "bin" / "python"
    if not python.is_file():
        return f"no ComfyUI Python at {python}"
    done = subprocess.run([str(python), "-c", COMFY_SCRIPT, str(comfyui_dir), str(transformer_file), str(steps), str(FRAMES), str(HEIGHT), str(WIDTH)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return "failed: " + done.stderr.strip().splitlines()[-1][:200]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    steps_s = out["steps_s"]
    return statistics.median(steps_s[1:] or steps_s), int(out["peak"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--comfyui-dir", default=os.environ.get("COMFYUI_DIR", ""))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_step.py needs a CUDA GPU: this machine has none (torch.cuda.is_available() is False). "
              "Run it where one is lent; nothing was measured.")
        return 2
    from safetensors.torch import save_file

    from wan_compat.compat.loading import key_naming

    pipeline = _random_pipeline("cuda")
    rows = []
    with tempfile.TemporaryDirectory(prefix="wan-gpu-step-") as tmp:
        transformer_file = Path(tmp) / "wan2.1_t2v_1.3B_bf16.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in pipeline.transformer.state_dict().items()}
        save_file(key_naming.transformer_to_original(state, key_naming.COMFY_PREFIX), str(transformer_file), metadata={"format": "pt"})
        del state
        rows.append(("pack (Wan Sample path)", *pack_path(pipeline, args.steps, transformer_file)))
        rows.append(("diffusers WanPipeline", *diffusers_path(pipeline, args.steps)))
        pipeline.to("cpu")
        torch.cuda.empty_cache()
        comfy = comfyui_path(Path(args.comfyui_dir), transformer_file, args.steps) if args.comfyui_dir else "COMFYUI_DIR not set"
        rows.append(("ComfyUI native", *comfy) if isinstance(comfy, tuple) else ("ComfyUI native", comfy))
    print(f"Wan 2.1 T2V 1.3B, random weights, {WIDTH}x{HEIGHT}, {FRAMES} frames, {args.steps} UniPC steps, CFG 5, "
          f"{torch.cuda.get_device_name()}")
    print(f"{'path':26s} {'s/step':>8s} {'peak VRAM GiB':>14s}")
    for row in rows:
        if len(row) == 3:
            print(f"{row[0]:26s} {row[1]:8.3f} {row[2] / 2**30:14.2f}")
        else:
            print(f"{row[0]:26s} {row[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
