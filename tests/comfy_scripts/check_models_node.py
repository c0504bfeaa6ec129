"""Runs in ComfyUI's own Python: Wan Check Models with objects loaded by ComfyUI's real code
(comfy.sd loaders over state dicts of ComfyUI's own Wan/VAE classes, a CLIP-L from transformers).

argv: COMFYUI_DIR PACK_PARENT. Prints one JSON line per case: {"case", "ok", "code", "message"}.
"""
import json
import sys

comfy_dir, pack_parent = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[:1] + ["--cpu"]
sys.path.insert(0, comfy_dir)
sys.path.insert(0, pack_parent)

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()
import torch  # noqa: E402

import comfy.sd  # noqa: E402
from comfy.ldm.wan.model import WanModel  # noqa: E402
from comfy.ldm.wan.vae import WanVAE  # noqa: E402

from wan_compat.compat.core.errors import WanCompatError  # noqa: E402
from wan_compat.nodes.check_models import WanCheckModels  # noqa: E402


def tiny_wan(out_dim: int, in_dim: int) -> dict:
    """A small Wan transformer in ComfyUI's class (dim 128: one head), as a state dict."""
    torch.manual_seed(0)
    model = WanModel(model_type="t2v", in_dim=in_dim, out_dim=out_dim, dim=128, ffn_dim=256, num_heads=1, num_layers=2,
                     text_dim=4096, operations=torch.nn)
    return {f"model.diffusion_model.{k}": v for k, v in model.state_dict().items()}


def case(name: str, **inputs) -> None:
    try:
        out = WanCheckModels().check(**inputs)
        same = all(a is b for a, b in zip(out, (inputs.get("model"), inputs.get("clip"), inputs.get("vae"), inputs.get("clip_vision"))))
        print(json.dumps({"case": name, "ok": True, "passthrough": same}), flush=True)
    except WanCompatError as err:
        print(json.dumps({"case": name, "ok": False, "code": err.code, "message": str(err)}), flush=True)


model16 = comfy.sd.load_diffusion_model_state_dict(tiny_wan(16, 16))
model48 = comfy.sd.load_diffusion_model_state_dict(tiny_wan(48, 48))
vae21 = comfy.sd.VAE(sd={k: v for k, v in WanVAE(dim=96, z_dim=16).state_dict().items()})
case("t2v_with_wan21_vae", model=model16, vae=vae21)
case("5b_with_wan21_vae", model=model48, vae=vae21)

import transformers  # noqa: E402

clip_l = transformers.CLIPTextModel(transformers.CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                                num_hidden_layers=12, vocab_size=49408, max_position_embeddings=77))
sd = {(k if k.startswith("text_model.") else f"text_model.{k}"): v for k, v in clip_l.state_dict().items()}
clip = comfy.sd.load_text_encoder_state_dicts([sd], clip_type=comfy.sd.CLIPType.WAN)
case("clip_l_as_wan_text_encoder", model=model16, clip=clip, vae=vae21)
