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

# ---- LoRAs: the pack's key prediction against ComfyUI's own comfy.lora.load_lora on the loaded model
import logging  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import comfy.lora  # noqa: E402
import folder_paths  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from wan_compat.compat.detect.lora_coverage import predict  # noqa: E402


def lora_for(model_sd: dict, naming: str, extra_image: bool) -> dict:
    """rank-4 LoRA pairs for every 2-D block weight of the tiny model (plus k_img/v_img pairs the
    T2V model lacks), in ComfyUI's `diffusion_model.` naming or diffusers/PEFT naming."""
    out = {}
    names = [k for k, v in model_sd.items() if k.startswith("blocks.") and k.endswith(".weight") and v.ndim == 2]
    if extra_image:
        names += [f"blocks.{i}.cross_attn.{m}.weight" for i in range(2) for m in ("k_img", "v_img")]
    for name in names:
        base = name[: -len(".weight")]
        if naming == "comfy":
            out[f"diffusion_model.{base}.lora_down.weight"] = torch.zeros(4, 128)
            out[f"diffusion_model.{base}.lora_up.weight"] = torch.zeros(128, 4)
            out[f"diffusion_model.{base}.alpha"] = torch.tensor(4.0)
        else:
            peft = base.replace("self_attn.", "attn1.to_").replace("cross_attn.", "attn2.to_")
            out[f"transformer.{peft}.lora_A.weight"] = torch.zeros(4, 128)
            out[f"transformer.{peft}.lora_B.weight"] = torch.zeros(128, 4)
    return out


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.keys = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("lora key not loaded: "):
            self.keys.append(message[len("lora key not loaded: "):])


loras_dir = Path(tempfile.mkdtemp())
folder_paths.add_model_folder_path("loras", str(loras_dir))
model_sd = model16.model.diffusion_model.state_dict()
key_map = comfy.lora.model_lora_keys_unet(model16.model, {})
for label, naming, extra in (("lora_i2v_on_t2v", "comfy", True), ("lora_diffusers_naming", "peft", False), ("lora_fits", "comfy", False)):
    lora_sd = lora_for(model_sd, naming, extra)
    save_file(lora_sd, str(loras_dir / f"{label}.safetensors"))
    capture = Capture()
    logging.getLogger().addHandler(capture)
    comfy.lora.load_lora(lora_sd, key_map)
    logging.getLogger().removeHandler(capture)
    cover = predict(list(lora_sd), list(model_sd), "comfy")
    predicted = sorted(k for keys in cover.skipped.values() for k in keys)
    print(json.dumps({"case": f"predict_{label}", "comfy_skipped": len(capture.keys), "predicted_skipped": cover.total - cover.loaded,
                      "total": cover.total, "examples_in_comfy": all(k in capture.keys for k in predicted)}), flush=True)
    prompt = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "tiny.safetensors", "weight_dtype": "default"}},
              "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": f"{label}.safetensors", "strength_model": 1.0}},
              "3": {"class_type": "WanCheckModels", "inputs": {"model": ["2", 0]}}}
    case(f"node_{label}", model=model16, prompt=prompt, unique_id="3")
