"""Runs in ComfyUI's own Python: a real-size Wan 2.1 T2V 1.3B diffusion model (random weights, the
Comfy-Org original naming) in every form its fp8 marker comes in, each loaded by ComfyUI's own
UNETLoader code and by the pack's Wan Safe Load (native). Prints one JSON line per load:
{"form", "loader": "comfy" | "pack", "digest" (sha256 over every tensor's bytes, dtype and shape of
the built model's state dict) or null, "error"}.

One model is in memory at a time (each is reduced to its digest and dropped); the files are written
once as scaled fp8 and plain fp8 and renamed (header only, same bytes) into the other forms.

argv: COMFYUI_DIR WORKDIR
"""
import gc
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import comfy_inside  # noqa: E402

PREFIX = "model.diffusion_model."
MARKER = "scaled_fp8"
VARIANT = "wan2.1-t2v-1.3b"


def prefixed(name: str) -> str:
    return PREFIX + name


# form -> (base file, rename of its keys); base files hold bare keys with a bare marker (scaled) or no marker (fp8)
FORMS = {
    "comfy_org_prefixed_marker": ("scaled", prefixed),
    "bare_keys_bare_marker": ("scaled", lambda k: k),
    "prefixed_keys_bare_marker": ("scaled", lambda k: k if k == MARKER else PREFIX + k),
    "bare_keys_prefixed_marker": ("scaled", lambda k: PREFIX + k if k == MARKER else k),
    "scales_without_marker": ("scaled", lambda k: None if k == MARKER else k),
    "kijai_fp8_no_marker": ("fp8", lambda k: k),
    "kijai_fp8_no_marker_prefixed": ("fp8", prefixed),
}


def digest(model_patcher) -> str:  # noqa: ANN001 - ComfyUI's ModelPatcher
    parts = comfy_inside.digests(model_patcher.model.diffusion_model)
    return hashlib.sha256(json.dumps(sorted(parts.items())).encode()).hexdigest()


def report(form: str, loader: str, load) -> None:  # noqa: ANN001
    try:
        built = load()
        found, error = digest(built), None
        del built
    except Exception as exc:  # ComfyUI's raw errors and the pack's typed ones are both the result
        found, error = None, f"{type(exc).__name__}: {str(exc)[:300]}"
    gc.collect()
    print(json.dumps({"form": form, "loader": loader, "digest": found, "error": error}), flush=True)


def main() -> None:
    comfy_dir, work = sys.argv[1], Path(sys.argv[2])
    models = work / "models"
    pack = comfy_inside.start(comfy_dir, models)
    from wan_compat.compat.fixtures import filled, sparse  # the pack, imported as ComfyUI imports it
    from wan_compat.nodes.native_load import WanSafeLoadNative

    folder = models / "diffusion_models"
    bases = {}
    for kind, dtype in (("scaled", "fp8_scaled"), ("fp8", "fp8_e4m3fn")):
        bases[kind] = filled.write_filled(work / f"base_{kind}.safetensors",
                                          sparse.component_entries(VARIANT, dtype, sparse.original_transformer_names), seed=1)
    node = WanSafeLoadNative()
    for form, (base, rename) in FORMS.items():
        path = filled.renamed_copy(bases[base], folder / f"wan2.1_t2v_1.3B_{form}.safetensors", rename)
        report(form, "comfy", lambda: comfy_inside.comfy_unet(path))
        report(form, "pack", lambda: node.load(model=f"diffusion_models/{path.name}", vae="none", text_encoder="none")["result"][0])
        path.unlink()
    del pack


if __name__ == "__main__":
    main()
