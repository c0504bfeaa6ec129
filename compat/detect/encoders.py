"""Text encoders and CLIP vision models in the layouts people actually have, read from names and
shapes alone.

Text encoder (UMT5-XXL / T5), three layouts of the same weights:
- Hugging Face (`encoder.block.N.layer.0.SelfAttention.q.weight`, `shared.weight`): ComfyUI's
  `umt5_xxl_*` files and diffusers folders.
- The original Wan T5 (`token_embedding.weight`, `blocks.N.attn.q.weight`, `blocks.N.ffn.gate.0.weight`,
  `blocks.N.pos_embedding.embedding.weight` in every block): kijai's `umt5-xxl-enc-bf16` /
  `-fp8_e4m3fn` for WanVideoWrapper. Facts from WanVideoWrapper `wanvideo/modules/t5.py`
  (`T5Encoder`, `T5SelfAttention`, `T5FeedForward`; `umt5_xxl` sets `shared_pos=False`, so each
  block owns its relative position embedding) and `nodes_model_loading.py` (LoadWanVideoT5TextEncoder
  maps the HF names onto these).
- llama.cpp GGUF (`enc.blk.N.attn_q.weight`, `token_embd.weight`): city96's `umt5-xxl-encoder-*.gguf`,
  renamed to the HF names by ComfyUI-GGUF `loader.py` (`T5_SD_MAP`, used by `gguf_clip_loader`);
  the same renaming is `GGUF_T5_NAMES` in registry.json and `from_gguf_t5` here.

CLIP vision (ViT-H/14), three layouts:
- Hugging Face (`vision_model.encoder.layers.N`): ComfyUI's `clip_vision_h.safetensors`.
- open_clip (`visual.transformer.resblocks.N`, `visual.conv1.weight`).
- The original Wan / open-clip XLM-RoBERTa model (`visual.patch_embedding.weight`,
  `visual.transformer.N.attn.to_qkv.weight`, `log_scale`): kijai's
  `open-clip-xlm-roberta-large-vit-huge-14_fp16.safetensors`. Facts from WanVideoWrapper
  `wanvideo/modules/clip.py` (`VisionTransformer`: `patch_embedding`, `transformer` as a plain
  Sequential of `AttentionBlock`s with `attn.to_qkv`; `XLMRobertaCLIP.log_scale`).
"""
from __future__ import annotations

from . import registry
from .fact_types import Facts, Shapes


def count_indices(container: str, keys: object) -> int:
    """Distinct N in keys of the form `<container>N.rest` (string ops: no regex on the hot path)."""
    n = len(container)
    found = {k[n:].split(".", 1)[0] for k in keys if k.startswith(container)}  # type: ignore[attr-defined]
    return sum(1 for index in found if index.isdigit())


def from_gguf_t5(shapes: Shapes) -> Shapes:
    """llama.cpp T5 tensor names (`enc.blk.0.attn_q.weight`) renamed to the Hugging Face ones, as
    ComfyUI-GGUF does before handing the state dict to ComfyUI; other names are kept."""
    table = registry.naming()["gguf_t5_names"]
    out: Shapes = {}
    for key, shape in shapes.items():
        for old, new in table:
            key = key.replace(old, new)
        out[key] = shape
    return out


def is_gguf_t5(shapes: Shapes) -> bool:
    return "token_embd.weight" in shapes and "enc.blk.0.attn_q.weight" in shapes


def text_encoder(shapes: Shapes) -> Facts | None:
    """UMT5 / T5 in the Hugging Face or the original Wan layout; None for anything else."""
    hf_q = "encoder.block.0.layer.0.SelfAttention.q.weight"
    wan_q = "blocks.0.attn.q.weight"
    if hf_q in shapes:
        naming, q_key, layers = "hf", hf_q, count_indices("encoder.block.", shapes)
        vocab_key = "shared.weight" if "shared.weight" in shapes else "encoder.embed_tokens.weight"
        per_layer = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" in shapes
    elif wan_q in shapes and "token_embedding.weight" in shapes and "blocks.0.ffn.gate.0.weight" in shapes:
        naming, q_key, layers = "wan_t5", wan_q, count_indices("blocks.", shapes)
        vocab_key = "token_embedding.weight"
        per_layer = "blocks.1.pos_embedding.embedding.weight" in shapes
    else:
        return None
    d_model = shapes[q_key][1]
    vocab = shapes[vocab_key][0] if vocab_key in shapes else None
    values = {"d_model": d_model, "layers": layers, "vocab": vocab, "per_layer_relative_bias": per_layer,
              "embedded_tokenizer": "spiece_model" in shapes, "scaled_fp8": "scaled_fp8" in shapes}
    evidence = [f"{q_key} {list(shapes[q_key])} -> width {d_model}; {layers} encoder blocks; vocabulary {vocab}"]
    if naming == "wan_t5":
        evidence.append("token_embedding / blocks.N.attn / blocks.N.ffn.gate -> the original Wan T5 layout (WanVideoWrapper's umt5-xxl-enc files)")
    facts = Facts("text_encoder", values, naming=naming, evidence=evidence)
    if not per_layer and layers > 1:
        facts.family = "t5"
        evidence.append("relative attention bias only in block 0 -> T5, not UMT5")
    elif per_layer:
        evidence.append("a relative attention bias in every block -> UMT5")
    if values["embedded_tokenizer"]:
        evidence.append("spiece_model tensor -> tokenizer embedded (ComfyUI format)")
    return facts


def clip_vision(shapes: Shapes) -> Facts | None:
    """A CLIP vision tower in the Hugging Face, open_clip or original Wan layout."""
    if "vision_model.embeddings.patch_embedding.weight" in shapes:
        patch, layers, naming = shapes["vision_model.embeddings.patch_embedding.weight"], count_indices("vision_model.encoder.layers.", shapes), "hf"
    elif "embeddings.patch_embedding.weight" in shapes and any(k.startswith("encoder.layers.") for k in shapes):
        # transformers 5 saves CLIPVisionModel without the `vision_model.` prefix
        patch, layers, naming = shapes["embeddings.patch_embedding.weight"], count_indices("encoder.layers.", shapes), "hf"
    elif "visual.conv1.weight" in shapes:
        patch, layers, naming = shapes["visual.conv1.weight"], count_indices("visual.transformer.resblocks.", shapes), "open_clip"
    elif "visual.patch_embedding.weight" in shapes and "visual.transformer.0.attn.to_qkv.weight" in shapes:
        patch, layers, naming = shapes["visual.patch_embedding.weight"], count_indices("visual.transformer.", shapes), "wan_clip"
    else:
        return None
    values = {"hidden": patch[0], "patch": patch[-1], "layers": layers}
    evidence = [f"patch embedding {list(patch)}, {layers} layers -> ViT width {patch[0]}, patch {patch[-1]}"]
    if naming == "wan_clip":
        values["log_scale"] = "log_scale" in shapes
        evidence.append("visual.patch_embedding / visual.transformer.N.attn.to_qkv -> the original Wan open-clip XLM-RoBERTa layout"
                        + (" with its log_scale" if values["log_scale"] else ", without log_scale"))
    return Facts("clip_vision", values, naming=naming, evidence=evidence)
