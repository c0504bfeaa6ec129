"""Graphs people share, rebuilt node for node (ids, node types, widget values, links) from public
repositories whose licence we do not take over, with sparse real-size files under the names they
pick: each passes with the right files and is caught with a wrong VAE, a LoRA of another size,
swapped experts, or a file its loader cannot read.

- WanVideoWrapper: kijai/ComfyUI-WanVideoWrapper `example_workflows/wanvideo_480p_I2V_example_01.json`
  (commit 721cd65e, March 2025): kijai's files, Windows paths (`WanVideo\\...`), the CLIP read from
  text_encoders by that version. The two-expert graph is built from the wrapper's node definitions
  (`nodes_model_loading.py`, `nodes_sampler.py`: WanVideoSampler chains through `samples`).
- GGUF: maxolgi/Comfy-scripts `video_wan2_2_14B_i2v-gguf.json`: city96's UMT5 GGUF in
  CLIPLoaderGGUF (type wan), QuantStack's `...-HighNoise-` / `...-LowNoise-` experts in
  UnetLoaderGGUF, Comfy-Org's lightx2v LoRAs.
- KJNodes: the Comfy-Org Wan 2.2 14B I2V template's graph with KJNodes' DiffusionModelLoaderKJ,
  VAELoaderKJ and DiTBlockLoraLoader as loaders (KJNodes `nodes/model_optimization_nodes.py`,
  `nodes/nodes.py`).
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ui_graph import CLIP, COND, LATENT, MODEL, VAE, UIGraph
from wan_compat.compat.fixtures.community_files import kj_scaled_entries, write_gguf_t5
from wan_compat.compat.fixtures.sparse import component_entries, original_names, original_transformer_names, write_sparse
from wan_compat.compat.fixtures.sparse_gguf import write_sparse_gguf
from wan_compat.compat.fixtures.template_files import _original_shapes, lora_entries, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.report import check_workflow

WRAPPER_MODEL = "WanVideo\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"
WRAPPER_VAE = "wanvideo\\Wan2_1_VAE_bf16.safetensors"
HIGH_GGUF, LOW_GGUF = "Wan2.2-I2V-A14B-HighNoise-Q3_K_M.gguf", "Wan2.2-I2V-A14B-LowNoise-Q3_K_M.gguf"
HIGH_KJ, LOW_KJ = "Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors", "Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors"
LORA_13B = "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> ModelFolders:
    root = tmp_path_factory.mktemp("community") / "models"
    write_sparse(root / "diffusion_models" / "WanVideo" / "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors",
                 component_entries("wan2.1-i2v-14b-480p", "fp8_e4m3fn", original_transformer_names))
    write_sparse(root / "vae" / "wanvideo" / "Wan2_1_VAE_bf16.safetensors", component_entries("wan2.1-vae", "bf16", original_names("wan2.1-vae")))
    for folder, name in [("text_encoders", "umt5-xxl-enc-bf16.safetensors"), ("text_encoders", "open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors"),
                         ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"), ("clip_vision", "clip_vision_h.safetensors"),
                         ("vae", "wan_2.1_vae.safetensors"), ("vae", "wan2.2_vae.safetensors"), ("loras", LORA_13B),
                         ("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"),
                         ("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors"),
                         ("diffusion_models", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
                         ("diffusion_models", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors")]:
        write_template_file(root, folder, name)
    write_gguf_t5(root / "text_encoders" / "umt5-xxl-encoder-Q3_K_M.gguf", "Q3_K")
    for name in (HIGH_GGUF, LOW_GGUF):
        write_sparse_gguf(root / "diffusion_models" / name, "wan2.2-i2v-a14b", "Q3_K", rename=original_transformer_names)
    for name in (HIGH_KJ, LOW_KJ):
        write_sparse(root / "diffusion_models" / name, kj_scaled_entries(list(_original_shapes("wan2.2-i2v-a14b"))))
    found = ModelFolders()
    found.add_models_root(root)
    return found


def errors(result: dict) -> list[tuple[str, list[str]]]:
    return [(p["code"], p["node_ids"]) for p in result["problems"] if p["severity"] == "error"]


def warnings(result: dict) -> list[str]:
    return [p["code"] for p in result["problems"] if p["severity"] == "warning"]


# ------------------------------------------------------------------ WanVideoWrapper
def wrapper_i2v() -> UIGraph:
    """wanvideo_480p_I2V_example_01.json, node for node."""
    g = UIGraph()
    g.node(32, "WanVideoBlockSwap", [10, False, False], outputs=["BLOCKSWAPARGS"])
    g.node(11, "LoadWanVideoT5TextEncoder", ["umt5-xxl-enc-bf16.safetensors", "bf16", "offload_device", "disabled"], outputs=["WANTEXTENCODER"])
    g.node(16, "WanVideoTextEncode", ["old man takes off his hat", "bad quality video", True], inputs=[("t5", "WANTEXTENCODER")],
           outputs=["WANVIDEOTEXTEMBEDS"])
    g.node(13, "LoadWanVideoClipTextEncoder", ["open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors", "fp16", "offload_device"],
           outputs=["WANCLIP"])
    g.node(35, "WanVideoTorchCompileSettings", ["inductor", False, "default", False, 64, True], outputs=["WANCOMPILEARGS"])
    g.node(37, "Note", ["If you have Triton installed, connect this for ~30% speed increase"])
    g.node(22, "WanVideoModelLoader", [WRAPPER_MODEL, "fp16", "fp8_e4m3fn", "offload_device", "sdpa"],
           inputs=[("compile_args", "WANCOMPILEARGS"), ("block_swap_args", "BLOCKSWAPARGS"), ("lora", "WANVIDLORA")], outputs=["WANVIDEOMODEL"])
    g.node(27, "WanVideoSampler", [10, 6, 5, 123, "fixed", True, "unipc", 0, 1, ""],
           inputs=[("model", "WANVIDEOMODEL"), ("text_embeds", "WANVIDEOTEXTEMBEDS"), ("image_embeds", "WANVIDIMAGE_EMBEDS"),
                   ("samples", LATENT), ("feta_args", "FETAARGS"), ("context_options", "WANVIDCONTEXT")], outputs=[LATENT])
    g.node(21, "WanVideoVAELoader", [WRAPPER_VAE, "bf16"], outputs=["WANVAE"])
    g.node(18, "LoadImage", ["oldman_upscaled.png", "image"], outputs=["IMAGE", "MASK"])
    g.node(28, "WanVideoDecode", [True, 272, 272, 144, 128], inputs=[("vae", "WANVAE"), ("samples", LATENT)], outputs=["IMAGE"])
    g.node(38, "GetImageSizeAndCount", inputs=[("image", "IMAGE")], outputs=["IMAGE", "INT", "INT", "INT"])
    g.node(30, "VHS_VideoCombine", {"frame_rate": 16, "format": "video/h264-mp4"}, inputs=[("images", "IMAGE")])
    g.node(17, "WanVideoImageClipEncode", [832, 480, 81, True, 0, 1, 1, True],
           inputs=[("clip", "WANCLIP"), ("image", "IMAGE"), ("vae", "WANVAE")], outputs=["WANVIDIMAGE_EMBEDS"])
    for origin, slot, target, name in [(11, 0, 16, "t5"), (13, 0, 17, "clip"), (18, 0, 17, "image"), (21, 0, 17, "vae"),
                                       (22, 0, 27, "model"), (16, 0, 27, "text_embeds"), (17, 0, 27, "image_embeds"),
                                       (27, 0, 28, "samples"), (21, 0, 28, "vae"), (28, 0, 38, "image"), (38, 0, 30, "images"),
                                       (32, 0, 22, "block_swap_args")]:
        g.link(origin, slot, target, name)
    g.nodes[-1]["widgets_values"] = [832, 480, 81, True, 0, 1, 1, True]
    return g


def test_wrapper_i2v_passes_with_kijais_files(folders: ModelFolders) -> None:
    result = check_workflow(wrapper_i2v().doc(), folders)
    assert result["ok"] and warnings(result) == [], result["problems"]
    kinds = {f["name"]: (f["kind"], f["family"]) for f in result["files"]}
    assert kinds == {"umt5-xxl-enc-bf16.safetensors": ("text_encoder", "umt5"),
                     "open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors": ("clip_vision", "clip_vision"),
                     WRAPPER_MODEL: ("transformer", "wan"), WRAPPER_VAE: ("vae", "wan")}


def test_wrapper_with_the_wrong_vae(folders: ModelFolders) -> None:
    g = wrapper_i2v()
    g.widgets(21)[0] = "wan2.2_vae.safetensors"
    found = [ids for code, ids in errors(check_workflow(g.doc(), folders)) if code == "WF_VAE_LATENT_MISMATCH"]
    assert {"28", "17"} <= {i for ids in found for i in ids} and all("21" in ids and "22" in ids for ids in found)


def test_wrapper_with_a_lora_of_another_size(folders: ModelFolders) -> None:
    g = wrapper_i2v()
    g.node(40, "WanVideoLoraSelect", [LORA_13B, 1.0], inputs=[("prev_lora", "WANVIDLORA")], outputs=["WANVIDLORA"])
    g.link(40, 0, 22, "lora")
    assert ("WF_LORA_MODEL_MISMATCH", ["40", "22"]) in errors(check_workflow(g.doc(), folders))


def test_wrapper_loaders_refuse_comfy_org_files_and_native_loaders_refuse_kijais(folders: ModelFolders) -> None:
    g = wrapper_i2v()
    g.widgets(11)[0] = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"  # scaled fp8: LoadWanVideoT5TextEncoder raises
    g.widgets(13)[0] = "clip_vision_h.safetensors"  # no log_scale: LoadWanVideoClipTextEncoder raises
    found = errors(check_workflow(g.doc(), folders))
    assert ("WF_LOADER_CANNOT_READ", ["11"]) in found and ("WF_LOADER_CANNOT_READ", ["13"]) in found
    native = {"1": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5-xxl-enc-bf16.safetensors", "type": "wan", "device": "default"}},
              "2": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors"}},
              "3": {"class_type": "WanImageToVideo", "inputs": {"clip_vision_output": ["2", 0]}}}
    folders.add("clip_vision", folders.folders["text_encoders"][0])
    found = [p for p in check_workflow(native, folders)["problems"] if p["code"] == "WF_LOADER_CANNOT_READ"]
    assert sorted(p["node_ids"][0] for p in found) == ["1", "2"]
    assert "original Wan T5" in found[0]["detail"] or "original Wan T5" in found[1]["detail"]


def wrapper_two_experts(first: str, second: str) -> UIGraph:
    g = UIGraph()
    g.node(1, "WanVideoModelLoader", [first, "bf16", "disabled", "offload_device", "sdpa"], inputs=[("lora", "WANVIDLORA")], outputs=["WANVIDEOMODEL"])
    g.node(2, "WanVideoModelLoader", [second, "bf16", "disabled", "offload_device", "sdpa"], inputs=[("lora", "WANVIDLORA")], outputs=["WANVIDEOMODEL"])
    g.node(3, "WanVideoVAELoader", ["wan_2.1_vae.safetensors", "bf16"], outputs=["WANVAE"])
    g.node(4, "WanVideoEmptyEmbeds", [832, 480, 81], outputs=["WANVIDIMAGE_EMBEDS"])
    for sampler in (5, 6):
        g.node(sampler, "WanVideoSampler", [], inputs=[("model", "WANVIDEOMODEL"), ("image_embeds", "WANVIDIMAGE_EMBEDS"), ("samples", LATENT)],
               outputs=[LATENT])
    g.node(7, "WanVideoDecode", [], inputs=[("vae", "WANVAE"), ("samples", LATENT)], outputs=["IMAGE"])
    for origin, slot, target, name in [(1, 0, 5, "model"), (2, 0, 6, "model"), (4, 0, 5, "image_embeds"), (4, 0, 6, "image_embeds"),
                                       (5, 0, 6, "samples"), (6, 0, 7, "samples"), (3, 0, 7, "vae")]:
        g.link(origin, slot, target, name)
    return g


def test_wrapper_two_experts_and_swapped(folders: ModelFolders) -> None:
    assert check_workflow(wrapper_two_experts(HIGH_KJ, LOW_KJ).doc(), folders)["ok"]
    found = errors(check_workflow(wrapper_two_experts(LOW_KJ, HIGH_KJ).doc(), folders))
    assert [code for code, _ in found] == ["WF_EXPERTS_SWAPPED"]


# ------------------------------------------------------------------ ComfyUI-GGUF
def gguf_i2v() -> UIGraph:
    """maxolgi/Comfy-scripts video_wan2_2_14B_i2v-gguf.json, node for node."""
    g = UIGraph()
    g.node(90, "VAELoader", ["wan_2.1_vae.safetensors"], outputs=[VAE])
    g.node(103, "ModelSamplingSD3", [5.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.node(93, "CLIPTextEncode", ["The white dragon warrior stands still"], inputs=[("clip", CLIP)], outputs=[COND])
    g.node(89, "CLIPTextEncode", [""], inputs=[("clip", CLIP)], outputs=[COND])
    g.node(101, "LoraLoaderModelOnly", ["wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors", 1.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.node(102, "LoraLoaderModelOnly", ["wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors", 1.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.node(104, "ModelSamplingSD3", [5.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.node(94, "CreateVideo", [16], inputs=[("images", "IMAGE"), ("audio", "AUDIO")], outputs=["VIDEO"])
    g.node(87, "VAEDecode", inputs=[("samples", LATENT), ("vae", VAE)], outputs=["IMAGE"])
    g.node(115, "Note", ["Using the Wan2.2 Lighting LoRA will result in the loss of video dynamics"])
    ksampler = [("model", MODEL), ("positive", COND), ("negative", COND), ("latent_image", LATENT)]
    g.node(86, "KSamplerAdvanced", ["enable", 506071262396425, "randomize", 4, 1, "euler", "simple", 0, 2, "enable"], inputs=ksampler, outputs=[LATENT])
    g.node(85, "KSamplerAdvanced", ["disable", 0, "fixed", 4, 1, "euler", "simple", 2, 4, "disable"], inputs=ksampler, outputs=[LATENT])
    g.node(97, "LoadImage", ["Capture.JPG", "image"], outputs=["IMAGE", "MASK"])
    g.node(117, "CLIPLoaderGGUF", ["umt5-xxl-encoder-Q3_K_M.gguf", "wan"], outputs=[CLIP])
    g.node(118, "UnetLoaderGGUF", [LOW_GGUF], outputs=[MODEL])
    g.node(116, "UnetLoaderGGUF", [HIGH_GGUF], outputs=[MODEL])
    g.node(98, "WanImageToVideo", [464, 688, 101, 1], inputs=[("positive", COND), ("negative", COND), ("vae", VAE),
                                                              ("clip_vision_output", "CLIP_VISION_OUTPUT"), ("start_image", "IMAGE")],
           outputs=[COND, COND, LATENT])
    g.node(108, "SaveVideo", ["video/ComfyUI", "auto", "auto"], inputs=[("video", "VIDEO")])
    for origin, slot, target, name in [(116, 0, 101, "model"), (101, 0, 104, "model"), (104, 0, 86, "model"), (118, 0, 102, "model"),
                                       (102, 0, 103, "model"), (103, 0, 85, "model"), (117, 0, 93, "clip"), (117, 0, 89, "clip"),
                                       (93, 0, 98, "positive"), (89, 0, 98, "negative"), (90, 0, 98, "vae"), (97, 0, 98, "start_image"),
                                       (98, 0, 86, "positive"), (98, 1, 86, "negative"), (98, 2, 86, "latent_image"), (98, 0, 85, "positive"),
                                       (98, 1, 85, "negative"), (86, 0, 85, "latent_image"), (85, 0, 87, "samples"), (90, 0, 87, "vae"),
                                       (87, 0, 94, "images"), (94, 0, 108, "video")]:
        g.link(origin, slot, target, name)
    return g


def test_gguf_graph_passes_with_city96_and_quantstack_files(folders: ModelFolders) -> None:
    result = check_workflow(gguf_i2v().doc(), folders)
    assert result["ok"] and warnings(result) == [], result["problems"]
    files = {f["name"]: f for f in result["files"]}
    assert files["umt5-xxl-encoder-Q3_K_M.gguf"]["family"] == "umt5" and files[HIGH_GGUF]["expert"] == "high_noise"
    assert files[LOW_GGUF]["expert"] == "low_noise"


def test_gguf_graph_with_swapped_experts_a_wrong_vae_and_a_13b_lora(folders: ModelFolders) -> None:
    g = gguf_i2v()
    g.widgets(116)[0], g.widgets(118)[0] = LOW_GGUF, HIGH_GGUF
    assert [code for code, _ in errors(check_workflow(g.doc(), folders))] == ["WF_EXPERTS_SWAPPED"]
    g = gguf_i2v()
    g.widgets(90)[0] = "wan2.2_vae.safetensors"
    assert {code for code, _ in errors(check_workflow(g.doc(), folders))} == {"WF_VAE_LATENT_MISMATCH"}
    g = gguf_i2v()
    g.widgets(101)[0] = LORA_13B
    assert ("WF_LORA_MODEL_MISMATCH", ["101", "116"]) in errors(check_workflow(g.doc(), folders))


def test_gguf_files_in_the_wrong_loaders(folders: ModelFolders) -> None:
    g = gguf_i2v()
    g.widgets(117)[1] = "sd3"  # UMT5 as SD3's T5: comfy/sd.py builds T5-XXL and the weights do not fit
    assert ("WF_CLIP_TYPE_NOT_WAN", ["117"]) in errors(check_workflow(g.doc(), folders))
    g = gguf_i2v()
    g.widgets(117)[0] = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"  # CLIPLoaderGGUF: "Mixing scaled FP8 with GGUF is not supported"
    assert ("WF_LOADER_CANNOT_READ", ["117"]) in errors(check_workflow(g.doc(), folders))
    doc = copy.deepcopy(gguf_i2v().doc())
    node = next(n for n in doc["nodes"] if n["id"] == 116)
    node["type"], node["widgets_values"] = "UNETLoader", [HIGH_GGUF, "default"]  # ComfyUI's own list holds no .gguf
    assert ("WF_LOADER_CANNOT_READ", ["116"]) in errors(check_workflow(doc, folders))


# ------------------------------------------------------------------ KJNodes loaders
def kj_i2v(high: str = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", low: str = "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
           vae: str = "wan_2.1_vae.safetensors", lora: str = "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors") -> UIGraph:
    g = gguf_i2v()
    for node_id, name in ((116, high), (118, low)):
        node = g._find(node_id)
        node["type"], node["widgets_values"] = "DiffusionModelLoaderKJ", [name, "default", "default", False, "disabled", False]
    vae_node = g._find(90)
    vae_node["type"], vae_node["widgets_values"] = "VAELoaderKJ", [vae, "main_device", "bf16"]
    lora_node = g._find(101)
    lora_node["type"], lora_node["widgets_values"] = "DiTBlockLoraLoader", [1.0, lora]
    text = g._find(117)
    text["type"], text["widgets_values"] = "CLIPLoader", ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan", "default"]
    return g


def test_kj_loader_graph_passes_and_is_caught(folders: ModelFolders) -> None:
    result = check_workflow(kj_i2v().doc(), folders)
    assert result["ok"] and warnings(result) == [], result["problems"]
    assert {c for c, _ in errors(check_workflow(kj_i2v(vae="wan2.2_vae.safetensors").doc(), folders))} == {"WF_VAE_LATENT_MISMATCH"}
    swapped = kj_i2v(high="wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors", low="wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    assert [c for c, _ in errors(check_workflow(swapped.doc(), folders))] == ["WF_EXPERTS_SWAPPED"]
    assert ("WF_LORA_MODEL_MISMATCH", ["101", "116"]) in errors(check_workflow(kj_i2v(lora=LORA_13B).doc(), folders))
