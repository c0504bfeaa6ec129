"""Generate compat/data/fixtures/comfy_wan_layouts.json from ComfyUI's own Wan model classes.

Run with ComfyUI's python:  $COMFYUI_DIR/venv/bin/python tools/gen_comfy_wan_layouts.py $COMFYUI_DIR
Each Wan file of the official templates that the registry has no config for (Fun, camera, S2V,
Animate) is built on the `meta` device with the class and the config ComfyUI's model detection
would give it; the JSON keeps only how its state dict differs from the plain text-to-video WanModel
of the same size (the base the sparse fixtures build from diffusers), so it stays small.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SIZES = {  # ComfyUI's detection reads these from the weights (dim, ffn, heads = dim/128, blocks, out)
    "1.3B": dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, out_dim=16),
    "5B": dict(dim=3072, ffn_dim=14336, num_heads=24, num_layers=30, out_dim=48),
    "14B": dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, out_dim=16),
}
# name -> (class, size, extra constructor arguments). in_dim = noise channels + what the template's
# conditioning node concatenates (comfy_extras/nodes_wan.py).
LAYOUTS = {
    "fun_control_2.1": ("WanModel", "1.3B", dict(model_type="i2v", in_dim=48)),
    "fun_inp_2.1": ("WanModel", "1.3B", dict(model_type="i2v", in_dim=36)),
    # Fun Camera v1.1 (1.3B and 14B) take 32 channels: DiffSynth-Studio diffsynth/configs/model_configs.py
    # (PAI/Wan2.1-Fun-V1.1-*-Control-Camera: in_dim 32) and ComfyUI's supported_models.WAN21_Camera (in_dim 32).
    "fun_camera_2.1_1.3B": ("CameraWanModel", "1.3B", dict(model_type="camera", in_dim=32)),
    "fun_camera_2.1_14B": ("CameraWanModel", "14B", dict(model_type="camera", in_dim=32)),
    "fun_camera_2.2_14B": ("CameraWanModel", "14B", dict(model_type="camera_2.2", in_dim=36)),
    "fun_control_2.2_14B": ("WanModel", "14B", dict(model_type="t2v", in_dim=52, in_dim_ref_conv=16)),
    "fun_inpaint_2.2_14B": ("WanModel", "14B", dict(model_type="t2v", in_dim=36)),
    "fun_control_2.2_5B": ("WanModel", "5B", dict(model_type="t2v", in_dim=148, in_dim_ref_conv=48)),
    "fun_inpaint_2.2_5B": ("WanModel", "5B", dict(model_type="t2v", in_dim=100)),
    "animate_2.2_14B": ("AnimateWanModel", "14B", dict(in_dim=36)),
    "s2v_2.2_14B": ("WanModel_S2V", "14B", dict(in_dim=16)),
}


def main(comfy_dir: str) -> None:
    sys.path.insert(0, comfy_dir)
    sys.argv = sys.argv[:1] + ["--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import torch
    import comfy.ops
    from comfy.ldm.wan import model as wan
    from comfy.ldm.wan import model_animate

    classes = {"WanModel": wan.WanModel, "CameraWanModel": wan.CameraWanModel,
               "WanModel_S2V": wan.WanModel_S2V, "AnimateWanModel": model_animate.AnimateWanModel}

    def shapes(cls, **kw):
        with torch.device("meta"):
            m = cls(operations=comfy.ops.disable_weight_init, device="meta", **kw)
        return {k: list(v.shape) for k, v in m.state_dict().items()}

    out = {"_comment": __doc__.strip().splitlines()[0], "layouts": {}}
    for name, (cls_name, size, extra) in LAYOUTS.items():
        base = shapes(wan.WanModel, model_type="t2v", in_dim=SIZES[size]["out_dim"], **SIZES[size])
        full = shapes(classes[cls_name], **SIZES[size], **extra)
        out["layouts"][name] = {
            "class": cls_name, "size": size, "config": extra,
            "added": {k: v for k, v in full.items() if k not in base},
            "changed": {k: v for k, v in full.items() if k in base and base[k] != v},
            "removed": sorted(k for k in base if k not in full),
        }
        print(name, len(full), "keys;", len(out["layouts"][name]["added"]), "added")
    target = Path(__file__).resolve().parents[1] / "compat" / "data" / "fixtures" / "comfy_wan_layouts.json"
    target.write_text(json.dumps(out, separators=(",", ":")), encoding="utf-8")
    print("wrote", target, target.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
