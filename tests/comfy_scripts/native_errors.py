"""Runs in ComfyUI's own Python: the raw errors Wan users meet, raised by ComfyUI's own modules
(small but real models, CPU). Prints one JSON line per case: {"case", "type", "message"}.

argv: COMFYUI_DIR
"""
import json
import sys

comfy_dir = sys.argv[1]
sys.argv = sys.argv[:1] + ["--cpu"]
sys.path.insert(0, comfy_dir)
import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()
import torch  # noqa: E402

import comfy.ldm.wan.vae as vae21  # noqa: E402
import comfy.ldm.wan.vae2_2 as vae22  # noqa: E402
from comfy.ldm.wan.model import WanModel  # noqa: E402


def report(case: str, call) -> None:  # noqa: ANN001
    try:
        call()
    except Exception as exc:  # the raw error is the point
        print(json.dumps({"case": case, "type": type(exc).__name__, "message": str(exc)}), flush=True)
        return
    print(json.dumps({"case": case, "type": None, "message": ""}), flush=True)


torch.manual_seed(0)
with torch.no_grad():
    # The Wan 2.2 VAE (z 48) decoding a 14B model's 16-channel latent (small widths, real class).
    vae = vae22.WanVAE(dim=16, dec_dim=16, z_dim=48, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    report("vae22_decodes_16ch", lambda: vae.decode(torch.zeros(1, 16, 2, 4, 4)))
    # The Wan 2.1 VAE (z 16) decoding the 5B's 48-channel latent.
    old = vae21.WanVAE(dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    report("vae21_decodes_48ch", lambda: old.decode(torch.zeros(1, 48, 2, 4, 4)))
    # A 36-channel (I2V) model given a 16-channel input: the patch embedding refuses it.
    i2v = WanModel(model_type="i2v", in_dim=36, out_dim=16, dim=128, ffn_dim=256, num_heads=1, num_layers=1, operations=torch.nn)
    context = torch.zeros(1, 8, 4096)
    report("i2v_model_16ch_input", lambda: i2v(torch.zeros(1, 16, 1, 8, 8), torch.zeros(1), context))
    # CLIP-L features (768 wide) where the model's text embedding takes UMT5's 4096.
    t2v = WanModel(model_type="t2v", in_dim=16, out_dim=16, dim=128, ffn_dim=256, num_heads=1, num_layers=1, operations=torch.nn)
    report("clip_l_context", lambda: t2v(torch.zeros(1, 16, 1, 8, 8), torch.zeros(1), torch.zeros(1, 77, 768)))
    # Out of memory on the CPU allocator (what a 14B model in fp32 on a small machine meets).
    report("cpu_oom", lambda: torch.empty(2**62, dtype=torch.uint8))
