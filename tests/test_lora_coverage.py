"""'lora key not loaded', predicted before the run: which keys of a LoRA ComfyUI (comfy/lora.py)
or WanVideoWrapper (standardize_lora_key_format, then ComfyUI's loader) will map onto the picked
model, from the two headers. All skipped: an error (the LoRA does nothing); some: a warning naming
the parts. tests/test_check_models_node.py checks the prediction against ComfyUI's own loader."""
from __future__ import annotations

from pathlib import Path

import pytest

from ui_graph import MODEL, UIGraph, native_t2v
from wan_compat.compat.detect.lora_coverage import predict
from wan_compat.compat.fixtures.sparse import Entries, write_sparse
from wan_compat.compat.fixtures.template_files import _original_shapes, lora_entries, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.report import check_workflow

T2V = "wan2.1_t2v_1.3B_fp16.safetensors"
MODEL_KEYS = [k for k, _ in _original_shapes("wan2.1-t2v-1.3b")]


def _rename(entries: Entries, how) -> Entries:  # noqa: ANN001
    return {how(k): v for k, v in entries.items()}


def _diffusers(key: str) -> str:
    key = key.replace("diffusion_model.", "transformer.").replace("self_attn.", "attn1.to_").replace("cross_attn.", "attn2.to_")
    return key.replace("to_o.", "to_out.0.").replace("lora_down", "lora_A").replace("lora_up", "lora_B").replace("ffn.0", "ffn.net.0.proj").replace("ffn.2", "ffn.net.2")


def _kohya(key: str) -> str:
    module, part = key[len("diffusion_model."):].rsplit(".", 2)[0], ".".join(key.rsplit(".", 2)[1:])
    if key.endswith(".alpha"):
        module, part = key[len("diffusion_model."):-len(".alpha")], "alpha"
    return "lora_unet_" + module.replace(".", "_") + "." + part


def _with_image_keys(entries: Entries) -> Entries:
    """A 1.3B LoRA trained on an image-to-video model: k_img / v_img pairs in every block too."""
    out = dict(entries)
    for i in range(30):
        for m in ("k_img", "v_img"):
            base = f"diffusion_model.blocks.{i}.cross_attn.{m}"
            out.update({f"{base}.lora_down.weight": ("BF16", (16, 1536)), f"{base}.lora_up.weight": ("BF16", (1536, 16)), f"{base}.alpha": ("F32", ())})
    return out


LORAS: dict[str, Entries] = {
    "i2v_on_t2v.safetensors": _with_image_keys(lora_entries("wan2.1-t2v-1.3b", 16)),
    "fits.safetensors": lora_entries("wan2.1-t2v-1.3b", 16),
    "kohya.safetensors": _rename(lora_entries("wan2.1-t2v-1.3b", 16), _kohya),
    "fun.safetensors": _rename(lora_entries("wan2.1-t2v-1.3b", 16), lambda k: _kohya(k).replace("lora_unet_", "lora_unet__")),
    "diffusers.safetensors": {_diffusers(k): v for k, v in lora_entries("wan2.1-t2v-1.3b", 16).items() if not k.endswith(".alpha")},
    "standin.safetensors": {f"diffusion_model.blocks.{i}.self_attn.{m}_loras.{d}.weight": ("BF16", (128, 1536) if d == "down" else (1536, 128))
                            for i in range(30) for m in "qkv" for d in ("down", "up")},
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> ModelFolders:
    root = tmp_path_factory.mktemp("coverage") / "models"
    for folder, name in [("diffusion_models", T2V), ("vae", "wan_2.1_vae.safetensors"), ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]:
        write_template_file(root, folder, name)
    for name, entries in LORAS.items():
        write_sparse(root / "loras" / name, entries)
    found = ModelFolders()
    found.add_models_root(root)
    return found


def native(lora: str) -> dict:
    g = native_t2v(UIGraph(), T2V)
    g.node(11, "LoraLoaderModelOnly", [lora, 1.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.links = [l for l in g.links if not (l[1] == 1 and l[3] == 2)]
    g._find(2)["inputs"][0]["link"] = None
    g.link(1, 0, 11, "model")
    g.link(11, 0, 2, "model")
    return g.doc()


def wrapper(lora: str) -> dict:
    return {"1": {"class_type": "WanVideoLoraSelect", "inputs": {"lora": lora, "strength": 1.0}},
            "2": {"class_type": "WanVideoModelLoader", "inputs": {"model": T2V, "base_precision": "bf16", "lora": ["1", 0]}},
            "3": {"class_type": "WanVideoSampler", "inputs": {"model": ["2", 0]}}}


def found(result: dict, code: str) -> list[dict]:
    return [p for p in result["problems"] if p["code"] == code]


def test_an_i2v_lora_on_a_t2v_model_skips_the_image_keys(folders: ModelFolders) -> None:
    result = check_workflow(native("i2v_on_t2v.safetensors"), folders)
    items = found(result, "WF_LORA_KEYS_SKIPPED")
    assert result["ok"] and len(items) == 1 and items[0]["severity"] == "warning" and items[0]["node_ids"] == ["11", "1"]
    assert "180 of 1080 keys skipped" in items[0]["detail"] and "image cross-attention" in items[0]["detail"]


@pytest.mark.parametrize("lora", ["fits.safetensors", "kohya.safetensors", "fun.safetensors"])
def test_namings_comfyui_maps_load_whole(lora: str, folders: ModelFolders) -> None:
    result = check_workflow(native(lora), folders)
    assert result["ok"] and not found(result, "WF_LORA_KEYS_SKIPPED") and not found(result, "WF_LORA_NOT_APPLIED"), result["problems"]


@pytest.mark.parametrize("lora, part, in_wrapper", [("diffusers.safetensors", "diffusers/PEFT naming", "120 of 600"),
                                                    ("standin.safetensors", "a part or format", None)])
def test_a_lora_comfyui_cannot_map_does_nothing_there_but_loads_in_the_wrapper(lora: str, part: str, in_wrapper: str | None,
                                                                              folders: ModelFolders) -> None:
    """kijai/ComfyUI-WanVideoWrapper issues 869 / 1811: diffusers- and Stand-In-named LoRAs. ComfyUI's
    loader maps neither; the wrapper patches Stand-In LoRAs itself and rewrites the diffusers
    attention names (attn1/attn2, to_q ...), but not the FFN ones (ffn.net.0.proj), which it skips."""
    items = found(check_workflow(native(lora), folders), "WF_LORA_NOT_APPLIED")
    assert len(items) == 1 and items[0]["severity"] == "error" and part in items[0]["detail"]
    result = check_workflow(wrapper(lora), folders)
    skipped = found(result, "WF_LORA_KEYS_SKIPPED")
    assert result["ok"] and not found(result, "WF_LORA_NOT_APPLIED"), result["problems"]
    assert (in_wrapper in skipped[0]["detail"] and "(WanVideoWrapper)" in skipped[0]["summary"]) if in_wrapper else not skipped


def test_other_adapters_and_unknown_keys() -> None:
    """LoHa / LoKr / diff keys on mapped names load; a key in no known format does not."""
    base = "diffusion_model.blocks.0.self_attn.q"
    keys = [f"{base}.hada_w1_a", f"{base}.hada_w1_b", f"{base}.hada_w2_a", f"{base}.hada_w2_b",
            "lora_unet_blocks_0_ffn_0.lokr_w1", "lora_unet_blocks_0_ffn_0.lokr_w2", f"{base}.diff_b",
            "diffusion_model.blocks.0.modulation.diff", f"{base}.weird_suffix"]
    cover = predict(keys, MODEL_KEYS)
    assert cover.total == 9 and cover.loaded == 8 and list(cover.counts) == ["keys in a part or format ComfyUI does not read"]


def test_the_prediction_is_reused_while_the_files_are_unchanged(folders: ModelFolders) -> None:
    from wan_compat.compat.detect import lora_coverage

    check_workflow(native("i2v_on_t2v.safetensors"), folders)
    before = len(lora_coverage._CACHE)
    check_workflow(native("i2v_on_t2v.safetensors"), folders)
    assert len(lora_coverage._CACHE) == before
    path = Path(folders.folders["loras"][0]) / "i2v_on_t2v.safetensors"
    write_sparse(path.with_name("copy.safetensors"), LORAS["fits.safetensors"])
    path.with_name("copy.safetensors").replace(path)  # a new file under the same name: predicted again
    result = check_workflow(native("i2v_on_t2v.safetensors"), folders)
    assert not found(result, "WF_LORA_KEYS_SKIPPED") and len(lora_coverage._CACHE) == before + 1
