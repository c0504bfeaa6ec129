"""Key names of Wan weights in the diffusers naming and in the original (official Wan / ComfyUI) naming.

ComfyUI and the official Wan repositories ship single files in the original naming
(`blocks.0.self_attn.q.weight`, `head.modulation`, VAE `decoder.middle.0.residual.0.gamma`);
diffusers folders use their own (`blocks.0.attn1.to_q.weight`, `scale_shift_table`,
`decoder.mid_block.resnets.0.norm1.gamma`). These functions translate names both ways, for
transformers (T2V, I2V, FLF2V, VACE, TI2V) and for the Wan 2.1 and 2.2 VAEs.

They take key names or a state dict and give back the same kind: a list of names, or a new dict
holding the very same tensors under the new names (nothing is copied). Translation is a table
lookup on whole module paths, so a key outside the known layout is an error (or, with
`strict=False`, passes through unchanged) instead of a silently wrong name.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from ..core.errors import ModelFileError, UsageError
from ..detect.facts import strip_prefix

Names = Iterable[str] | Mapping[str, Any]
COMFY_PREFIX = "model.diffusion_model."

# ---------------------------------------------------------------------- transformer tables
# diffusers module path -> original module path; the reverse direction is the inverted table.
_TRANSFORMER_TOP = {
    "condition_embedder.time_embedder.linear_1": "time_embedding.0",
    "condition_embedder.time_embedder.linear_2": "time_embedding.2",
    "condition_embedder.text_embedder.linear_1": "text_embedding.0",
    "condition_embedder.text_embedder.linear_2": "text_embedding.2",
    "condition_embedder.time_proj": "time_projection.1",
    "condition_embedder.image_embedder.norm1": "img_emb.proj.0",
    "condition_embedder.image_embedder.ff.net.0.proj": "img_emb.proj.1",
    "condition_embedder.image_embedder.ff.net.2": "img_emb.proj.3",
    "condition_embedder.image_embedder.norm2": "img_emb.proj.4",
    "condition_embedder.image_embedder.pos_embed": "img_emb.emb_pos",  # FLF2V
    "proj_out": "head.head",
    "scale_shift_table": "head.modulation",
    "patch_embedding": "patch_embedding",
    "vace_patch_embedding": "vace_patch_embedding",
}
_TRANSFORMER_BLOCK = {
    "attn1.to_q": "self_attn.q",
    "attn1.to_k": "self_attn.k",
    "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o",
    "attn1.norm_q": "self_attn.norm_q",
    "attn1.norm_k": "self_attn.norm_k",
    "attn2.to_q": "cross_attn.q",
    "attn2.to_k": "cross_attn.k",
    "attn2.to_v": "cross_attn.v",
    "attn2.to_out.0": "cross_attn.o",
    "attn2.norm_q": "cross_attn.norm_q",
    "attn2.norm_k": "cross_attn.norm_k",
    "attn2.add_k_proj": "cross_attn.k_img",  # I2V / FLF2V image keys
    "attn2.add_v_proj": "cross_attn.v_img",
    "attn2.norm_added_k": "cross_attn.norm_k_img",
    # The original block applies norm1, norm3 (cross-attention, with weights), norm2; diffusers
    # numbers them in order of use, so the names of the last two are swapped.
    "norm2": "norm3",
    "norm3": "norm2",
    "ffn.net.0.proj": "ffn.0",
    "ffn.net.2": "ffn.2",
    "scale_shift_table": "modulation",
}
_VACE_BLOCK = {**_TRANSFORMER_BLOCK, "proj_in": "before_proj", "proj_out": "after_proj"}
_BLOCK_KEY = re.compile(r"^((vace_)?blocks\.\d+\.)(.+)$")

# ---------------------------------------------------------------------- VAE tables
_RESNET = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3", "conv2": "residual.6", "conv_shortcut": "shortcut"}
_VAE_TOP = {"quant_conv": "conv1", "post_quant_conv": "conv2"}
_CODER_TOP = {"conv_in": "conv1", "norm_out": "head.0", "conv_out": "head.2"}
_RESAMPLE_PARTS = ("resample.", "time_conv.")


def _invert(table: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _swap_head(path: str, table: Mapping[str, str]) -> str | None:
    """Replace the leading module path of `path` found in `table` (whole dotted segments only)."""
    for src, dst in table.items():
        if path == src or path.startswith(src + "."):
            return dst + path[len(src):]
    return None


# ---------------------------------------------------------------------- shared plumbing
def _keys(names: Names) -> list[str]:
    return list(names.keys()) if isinstance(names, Mapping) else list(names)


def _apply(names: Names, rename: Callable[[str], str | None], strict: bool, what: str) -> Any:
    keys = _keys(names)
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for key in keys:
        new = rename(key)
        if new is None:
            unknown.append(key)
            new = key
        mapping[key] = new
    if unknown and strict:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ModelFileError("KEY_NAMING_UNKNOWN", f"{len(unknown)} key(s): {shown}", what=what)
    seen: dict[str, str] = {}
    for old, new in mapping.items():
        if new in seen:
            raise ModelFileError("KEY_NAMING_COLLISION", f"{seen[new]!r} and {old!r} both become {new!r}", what=what)
        seen[new] = old
    return _rekeyed(names, [mapping[k] for k in keys])


def _rekeyed(names: Names, new_keys: list[str]) -> Any:
    """The same kind as `names` (list or dict of the same values) under `new_keys`, in order."""
    if isinstance(names, Mapping):
        return {new: names[old] for old, new in zip(_keys(names), new_keys)}
    return new_keys


def _without_prefix(names: Names, prefix: str | None) -> Any:
    """Drop a wrapper prefix: the given one, or (None) any the detector recognises."""
    keys = _keys(names)
    if prefix is None:
        prefix, _ = strip_prefix({k: () for k in keys})
    if not prefix:
        return names
    return _rekeyed(names, [k[len(prefix):] if k.startswith(prefix) else k for k in keys])


# ---------------------------------------------------------------------- transformer
def _transformer_rename(top: dict[str, str], block: dict[str, str], vace: dict[str, str]) -> Callable[[str], str | None]:
    def rename(key: str) -> str | None:
        m = _BLOCK_KEY.match(key)
        if m is None:
            return _swap_head(key, top)
        head, is_vace, rest = m.group(1), m.group(2), m.group(3)
        new = _swap_head(rest, vace if is_vace else block)
        return head + new if new is not None else None

    return rename


_TO_ORIGINAL = _transformer_rename(_TRANSFORMER_TOP, _TRANSFORMER_BLOCK, _VACE_BLOCK)
_TO_DIFFUSERS = _transformer_rename(_invert(_TRANSFORMER_TOP), _invert(_TRANSFORMER_BLOCK), _invert(_VACE_BLOCK))


def transformer_to_original(names: Names, prefix: str = "", *, strict: bool = True) -> Any:
    """diffusers -> original names; `prefix` (e.g. "model.diffusion_model.") is put before each."""
    renamed = _apply(names, _TO_ORIGINAL, strict, "Wan transformer (diffusers naming)")
    return _rekeyed(renamed, [prefix + k for k in _keys(renamed)]) if prefix else renamed


def transformer_to_diffusers(names: Names, prefix: str | None = None, *, strict: bool = True) -> Any:
    """original -> diffusers names. `prefix=None` strips a wrapper such as `model.diffusion_model.`."""
    return _apply(_without_prefix(names, prefix), _TO_DIFFUSERS, strict, "Wan transformer (original naming)")


# ---------------------------------------------------------------------- VAE
def _check_version(version: str) -> str:
    if version not in ("2.1", "2.2"):
        raise UsageError("VAE_VERSION_INVALID", f"got {version!r}")
    return version


def _max_index(keys: list[str], pattern: str) -> int | None:
    found = [int(m.group(1)) for k in keys if (m := re.match(pattern, k))]
    return max(found) if found else None


def vae_to_original(names: Names, version: str = "2.1", *, strict: bool = True) -> Any:
    """diffusers -> original names of a Wan VAE (`version` "2.1": z16, "2.2": z48 residual VAE)."""
    _check_version(version)
    keys = _keys(names)
    # Resnets per decoder stage (num_res_blocks + 1) and per 2.2 encoder stage (num_res_blocks).
    dec_resnets = (_max_index(keys, r"^decoder\.up_blocks\.\d+\.resnets\.(\d+)\.") or 0) + 1
    enc_resnets = (_max_index(keys, r"^encoder\.down_blocks\.\d+\.resnets\.(\d+)\.") or 0) + 1

    def coder(side: str, rest: str) -> str | None:
        new = _swap_head(rest, _CODER_TOP)
        if new is not None:
            return new
        if m := re.match(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$", rest):
            kind, k, inner = m.group(1), int(m.group(2)), m.group(3)
            if kind == "attentions":
                return f"middle.{2 * k + 1}.{inner}"
            new = _swap_head(inner, _RESNET)
            return f"middle.{2 * k}.{new}" if new else None
        if version == "2.1":
            if m := re.match(r"^down_blocks\.(\d+)\.(.+)$", rest):
                i, inner = m.group(1), m.group(2)
                new = inner if inner.startswith(_RESAMPLE_PARTS) else _swap_head(inner, _RESNET)
                return f"downsamples.{i}.{new}" if new else None
            if m := re.match(r"^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", rest):
                flat = int(m.group(1)) * (dec_resnets + 1) + int(m.group(2))
                new = _swap_head(m.group(3), _RESNET)
                return f"upsamples.{flat}.{new}" if new else None
            if m := re.match(r"^up_blocks\.(\d+)\.upsamplers\.0\.((?:resample|time_conv)\..+)$", rest):
                flat = int(m.group(1)) * (dec_resnets + 1) + dec_resnets
                return f"upsamples.{flat}.{m.group(2)}"
            return None
        stage = "down" if side == "encoder" else "up"
        sampler_index = enc_resnets if side == "encoder" else dec_resnets
        if m := re.match(rf"^{stage}_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", rest):
            new = _swap_head(m.group(3), _RESNET)
            return f"{stage}samples.{m.group(1)}.{stage}samples.{m.group(2)}.{new}" if new else None
        if m := re.match(rf"^{stage}_blocks\.(\d+)\.{stage}sampler\.((?:resample|time_conv)\..+)$", rest):
            return f"{stage}samples.{m.group(1)}.{stage}samples.{sampler_index}.{m.group(2)}"
        return None

    def rename(key: str) -> str | None:
        side, _, rest = key.partition(".")
        if side in ("encoder", "decoder"):
            new = coder(side, rest)
            return f"{side}.{new}" if new is not None else None
        return _swap_head(key, _VAE_TOP)

    return _apply(names, rename, strict, f"Wan {version} VAE (diffusers naming)")


def vae_to_diffusers(names: Names, version: str = "2.1", *, strict: bool = True) -> Any:
    """original -> diffusers names of a Wan VAE (`version` "2.1" or "2.2")."""
    _check_version(version)
    keys = _keys(names)
    # In the flat 2.1 decoder list each stage is its resnets then one upsampler: the index of the
    # first upsampler is the number of resnets per stage.
    first_sampler = min(
        (int(m.group(1)) for k in keys if (m := re.match(r"^decoder\.upsamples\.(\d+)\.(?:resample|time_conv)\.", k))),
        default=None,
    )
    resnet_back, coder_back = _invert(_RESNET), _invert(_CODER_TOP)

    def coder(side: str, rest: str) -> str | None:
        new = _swap_head(rest, coder_back)
        if new is not None:
            return new
        if m := re.match(r"^middle\.(\d+)\.(.+)$", rest):
            k, inner = int(m.group(1)), m.group(2)
            if k % 2:
                return f"mid_block.attentions.{k // 2}.{inner}"
            new = _swap_head(inner, resnet_back)
            return f"mid_block.resnets.{k // 2}.{new}" if new else None
        if version == "2.1":
            if m := re.match(r"^downsamples\.(\d+)\.(.+)$", rest):
                i, inner = m.group(1), m.group(2)
                new = inner if inner.startswith(_RESAMPLE_PARTS) else _swap_head(inner, resnet_back)
                return f"down_blocks.{i}.{new}" if new else None
            if (m := re.match(r"^upsamples\.(\d+)\.(.+)$", rest)) and first_sampler is not None:
                stage, pos = divmod(int(m.group(1)), first_sampler + 1)
                inner = m.group(2)
                if pos == first_sampler:
                    return f"up_blocks.{stage}.upsamplers.0.{inner}" if inner.startswith(_RESAMPLE_PARTS) else None
                new = _swap_head(inner, resnet_back)
                return f"up_blocks.{stage}.resnets.{pos}.{new}" if new else None
            return None
        stage = "down" if side == "encoder" else "up"
        if m := re.match(rf"^{stage}samples\.(\d+)\.{stage}samples\.(\d+)\.(.+)$", rest):
            i, j, inner = m.groups()
            if inner.startswith(_RESAMPLE_PARTS):
                return f"{stage}_blocks.{i}.{stage}sampler.{inner}"
            new = _swap_head(inner, resnet_back)
            return f"{stage}_blocks.{i}.resnets.{j}.{new}" if new else None
        return None

    def rename(key: str) -> str | None:
        side, _, rest = key.partition(".")
        if side in ("encoder", "decoder"):
            new = coder(side, rest)
            return f"{side}.{new}" if new is not None else None
        return _swap_head(key, _invert(_VAE_TOP))

    return _apply(names, rename, strict, f"Wan {version} VAE (original naming)")


# ---------------------------------------------------------------------- names in messages
def file_namer(origin: Mapping[str, str], to_file: Callable[[str], str] | None = None) -> Callable[[str], str]:
    """model key -> the name the file gives it (`origin`: converted name -> the file's name), or,
    for a key the file lacks, the name it would have there (`to_file`). Error messages use it, so a
    key is named as the user finds it in the file, never by a translation that exists nowhere."""

    def name(key: str) -> str:
        if key in origin:
            return origin[key]
        return to_file(key) if to_file is not None else key

    return name


def transformer_file_name(prefix: str = "") -> Callable[[str], str]:
    """diffusers name -> the original name (with the file's `prefix`) of a transformer key."""
    return lambda key: prefix + _apply([key], _TO_ORIGINAL, False, "")[0]

