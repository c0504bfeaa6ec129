"""Which keys of a LoRA will load into a model, predicted from the two headers before anything runs:
the "lora key not loaded" lines of ComfyUI, counted and grouped by what they patch.

How ComfyUI maps a LoRA (Comfy-Org/ComfyUI `comfy/lora.py`, `comfy/lora_convert.py`,
`comfy/weight_adapter/*.py`, `comfy/sd.py` load_lora_for_models):
- `model_lora_keys_unet` has no Wan branch: every model weight `diffusion_model.<name>.weight` is
  reachable as `lora_unet_<name with _>` and as `diffusion_model.<name>`; every other parameter
  (biases, modulation) as `diffusion_model.<name>`. Diffusers/PEFT names (`transformer.blocks.0.
  attn1.to_q`) are not in the map for Wan.
- `convert_lora` renames Wan Fun LoRAs (`lora_unet__blocks_0_cross_attn_k...` -> `lora_unet_...`).
- `load_lora` takes, for each mapped name x: `x.alpha`, `x.dora_scale`, the pair of one weight
  adapter (LoRA `lora_up/lora_down` (+`lora_mid`, `reshape_weight`), `_lora.up/down`,
  `lora_B/lora_A`, `lora.up/down`, `lora_linear_layer.up/down`, `lora_B.default/lora_A.default`;
  LoHa `hada_*`; LoKr `lokr_*`; GLoRA `a1/a2/b1/b2`; OFT/BOFT `oft_blocks`, `rescale`), and
  `diff`, `diff_b`, `set_weight`, `w_norm`, `b_norm`. Every other key logs "lora key not loaded".

WanVideoWrapper (`nodes_model_loading.py`): `standardize_lora_key_format` rewrites the keys first
(`transformer.` / `base_model.model.` / `pipe.dit.` -> `diffusion_model.`, bare `blocks.` prefixed,
`.default.` dropped, diffusers `attn1`/`attn2` -> `cross_attn`, `to_q` -> `q` ..., the Fun
`lora_unet__` names spelled out), then hands them to the same ComfyUI loader with its model's
`diffusion_model.` names; Stand-In LoRAs (`*_loras.down/up`) it patches itself.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

# Key endings ComfyUI's load_lora consumes for a mapped name x ("." joins, except `_lora.` pairs).
_DOT_PARTS = (
    "lora_up.weight", "lora_down.weight", "lora_mid.weight", "reshape_weight", "lora_B.weight", "lora_A.weight",
    "lora.up.weight", "lora.down.weight", "lora_B", "lora_A", "lora_linear_layer.up.weight", "lora_linear_layer.down.weight",
    "lora_B.default.weight", "lora_A.default.weight", "alpha", "dora_scale", "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b",
    "hada_t1", "hada_t2", "lokr_w1", "lokr_w2", "lokr_w1_a", "lokr_w1_b", "lokr_w2_a", "lokr_w2_b", "lokr_t2",
    "a1.weight", "a2.weight", "b1.weight", "b2.weight", "oft_blocks", "rescale", "diff", "diff_b", "set_weight", "w_norm", "b_norm",
)
_SUFFIXES = tuple(sorted({"." + p for p in _DOT_PARTS} | {"_lora.up.weight", "_lora.down.weight"}, key=len, reverse=True))
_IMAGE = ("k_img", "v_img", "norm_k_img", "img_emb")
_MODULES = (("vace", "VACE blocks"), ("audio", "audio modules"), ("face_", "a face adapter"), ("motion", "a motion encoder"),
            ("pose", "a pose embedding"), ("control_adapter", "a camera control adapter"), ("ref_conv", "a reference convolution"),
            ("patch_embedding", "an input embedding of another size"))
_MAX_KEYS = 200_000


@dataclass
class Coverage:
    """The prediction for one LoRA on one model."""

    total: int
    loaded: int
    skipped: dict[str, list[str]] = field(default_factory=dict)  # part -> the skipped keys (first few kept)
    counts: dict[str, int] = field(default_factory=dict)  # part -> how many keys

    @property
    def none_loaded(self) -> bool:
        return self.total > 0 and self.loaded == 0

    def describe(self) -> str:
        parts = "; ".join(f"{self.counts[p]} {p} (e.g. {self.skipped[p][0]})" for p in self.counts)
        return f"{self.total - self.loaded} of {self.total} keys skipped: {parts}"


def comfy_key_map(model_keys: list[str]) -> set[str]:
    """The names ComfyUI's model_lora_keys_unet accepts for a Wan model with these (unprefixed,
    original-naming) parameter names."""
    out: set[str] = set()
    for key in model_keys:
        if key.endswith(".weight"):
            base = key[: -len(".weight")]
            out.add("lora_unet_" + base.replace(".", "_"))
            out.add("diffusion_model." + base)
        else:
            out.add("diffusion_model." + key)
    return out


def _comfy_convert(keys: list[str]) -> list[str]:
    if "lora_unet__blocks_0_cross_attn_k.lora_down.weight" in keys:  # lora_convert.convert_lora_wan_fun
        return ["lora_unet_" + k[len("lora_unet__"):] if k.startswith("lora_unet__") else k for k in keys]
    return keys


_FUN = re.compile(r"^lora_unet__blocks_(\d+)_(self_attn|cross_attn|ffn)_([a-z0-9]+(?:_img)?)$")
_WRAPPER_PREFIXES = (("transformer.", "diffusion_model."), ("pipe.dit.", "diffusion_model."), ("blocks.", "diffusion_model.blocks."),
                     ("vace_blocks.", "diffusion_model.vace_blocks."), ("diffusion.model.", "diffusion_model."))
_WRAPPER_ATTN = ((".to_k.", ".k."), (".to_q.", ".q."), (".to_v.", ".v."), (".to_out.0.", ".o."))


def _wrapper_key(key: str) -> str:
    """One key as WanVideoWrapper's standardize_lora_key_format rewrites it (the rules that
    concern Wan transformers)."""
    if key.startswith("lycoris_blocks_"):
        key = key.replace("lycoris_blocks_", "blocks.").replace("_cross_attn_", ".cross_attn.").replace("_self_attn_", ".self_attn.")
        key = key.replace("_ffn_net_0_proj", ".ffn.0").replace("_ffn_net_2", ".ffn.2").replace("to_out_0", "o")
    for old, new in _WRAPPER_PREFIXES[:2]:
        if key.startswith(old):
            key = new + key[len(old):]
    for old, new in _WRAPPER_PREFIXES[2:4]:
        if key.startswith(old):
            key = new + key[len(old):]
    key = key.replace(".default.", ".").replace(".diff_m", ".modulation.diff").replace("base_model.model.", "diffusion_model.")
    main, dot, part = key.partition(".")
    fun = _FUN.match(main) if key.startswith("lora_unet__") else None
    if fun:
        block, module, component = fun.groups()
        part = {"lora_down.weight": "lora_A.weight", "lora_up.weight": "lora_B.weight"}.get(part, part)
        key = f"diffusion_model.blocks.{block}.{module}.{component}.{part}"
    if key.startswith("diffusion.model."):
        key = "diffusion_model." + key[len("diffusion.model."):]
    if ".attn1." in key or ".attn2." in key:
        key = key.replace(".attn1.", ".cross_attn.").replace(".attn2.", ".cross_attn.")
        for old, new in _WRAPPER_ATTN:
            key = key.replace(old, new)
    return key


def _split(key: str) -> tuple[str, str] | None:
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)], suffix
    return None


def _part(key: str, mapped: bool) -> str:
    """Why a key is skipped, in words."""
    if any(f".{m}." in key or f"_{m}" in key for m in _IMAGE):
        return "image cross-attention keys (k_img/v_img) of a model with CLIP vision, which this model lacks"
    if key.startswith(("lora_te", "text_encoder")):
        return "text-encoder keys (a Wan LoRA loader patches the diffusion model only)"
    if not mapped:
        return "keys in a part or format ComfyUI does not read"
    if ".attn1." in key or ".attn2." in key or ".to_q." in key or key.startswith(("transformer.", "base_model.")):
        return "keys in the diffusers/PEFT naming, which ComfyUI does not map for Wan"
    for word, label in _MODULES:
        if word in key:
            return f"keys of {label}, which this model does not have"
    return "keys naming layers this model does not have"


def predict(lora_keys: list[str], model_keys: list[str], loader: str = "comfy") -> Coverage:
    """Which LoRA keys load into the model (`loader`: "comfy" for ComfyUI's LoRA loaders,
    "wrapper" for WanVideoWrapper's)."""
    lora_keys = lora_keys[:_MAX_KEYS]
    accepted = comfy_key_map(model_keys)
    if loader == "wrapper":
        if any("_loras.down." in k or "_loras.up." in k for k in lora_keys):  # Stand-In: the wrapper adds the layers itself
            return Coverage(len(lora_keys), len(lora_keys))
        names = [_wrapper_key(k) for k in lora_keys]
    else:
        names = _comfy_convert(lora_keys)
    cover = Coverage(len(lora_keys), 0)
    for original, name in zip(lora_keys, names):
        split = _split(name)
        if split is not None and split[0] in accepted:
            cover.loaded += 1
            continue
        part = _part(name, split is not None)
        cover.counts[part] = cover.counts.get(part, 0) + 1
        examples = cover.skipped.setdefault(part, [])
        if len(examples) < 3:
            examples.append(original)
    return cover


def _model_keys(names: list[str]) -> list[str]:
    """A model file's parameter names as ComfyUI's WanModel names them: without the wrapper prefix."""
    from .facts import strip_prefix

    prefix, _ = strip_prefix(dict.fromkeys(names, ()))
    return [n[len(prefix):] for n in names if n.startswith(prefix)] if prefix else names


def header_keys(path: str | Path) -> list[str]:
    """The tensor names of a safetensors or GGUF file, from its header (cached by file identity)."""
    from .sniff import FileFormat, sniff
    from .safetensors_header import read_header

    if sniff(path) is FileFormat.GGUF:
        from .gguf_header import read_gguf_header

        return list(read_gguf_header(path).tensors)
    return list(read_header(Path(path)).tensors)


_CACHE: OrderedDict[tuple, Coverage] = OrderedDict()


def predict_files(lora: str, model: str, loader: str, identity: tuple) -> Coverage:
    """`predict` for two files, re-used while both files' identities (`identity`) are unchanged."""
    key = (identity, loader)
    found = _CACHE.get(key)
    if found is not None:
        _CACHE.move_to_end(key)
        return found
    cover = predict(header_keys(lora), _model_keys(header_keys(model)), loader)
    _CACHE[key] = cover
    while len(_CACHE) > 128:
        _CACHE.popitem(last=False)
    return cover
