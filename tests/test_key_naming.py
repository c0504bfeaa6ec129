"""diffusers <-> original/ComfyUI key names, checked against diffusers' own single-file converters
and against the real-size layouts (built on the meta device), plus what `from_single_file` does
with files in the original naming (facts the loader stage relies on), and the single-file exports."""
from __future__ import annotations

from pathlib import Path

import pytest

from wan_compat.compat.loading import key_naming as kn
from wan_compat.compat.detect import registry
from wan_compat.compat.core.errors import ModelFileError, UsageError
from wan_compat.compat.fixtures.single_files import export_single_files
from wan_compat.compat.fixtures.tiny import TINY_VARIANTS

VARIANTS = list(TINY_VARIANTS)
COMFY = kn.COMFY_PREFIX
# diffusers' convert_wan_transformer_to_diffusers (0.42.1) has no rule for the FLF2V position embedding.
FLF2V_GAP = {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"}
# Fragments that exist only in the diffusers naming.
DIFFUSERS_ONLY = {
    "transformer": ("attn1.", "attn2.", ".to_q.", "condition_embedder", "scale_shift_table", "proj_out", "ffn.net"),
    "vae": ("mid_block", "up_blocks", "down_blocks", "resnets", "sampler.", "quant_conv", "conv_in", "norm_out"),
}


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}


def _keys(folder: Path) -> list[str]:
    return list(_weights(folder))


def _vae_version(variant: str) -> str:
    return "2.2" if TINY_VARIANTS[variant].z_dim == 48 else "2.1"


def _meta_model(cls_name: str, config: dict):
    import diffusers
    from accelerate import init_empty_weights

    with init_empty_weights():
        return getattr(diffusers, cls_name).from_config(config)


# ---------------------------------------------------------------------- transformer names
@pytest.mark.parametrize("variant", VARIANTS)
def test_transformer_original_names_convert_back_with_diffusers_own_converter(tiny_pipelines, variant):
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    keys = _keys(tiny_pipelines[variant] / "transformer")
    for prefix in ("", COMFY):
        original = kn.transformer_to_original(keys, prefix)
        assert all(k.startswith(prefix) for k in original)
        converted = convert_wan_transformer_to_diffusers({k: None for k in original})
        gap = FLF2V_GAP if TINY_VARIANTS[variant].first_last_frame else set()
        assert set(converted) ^ set(keys) == gap
        assert kn.transformer_to_diffusers(original) == keys  # the prefix is found and stripped
        assert kn.transformer_to_diffusers(original, prefix=prefix) == keys


def test_transformer_original_names_are_the_official_ones(tiny_pipelines):
    t2v = kn.transformer_to_original(_keys(tiny_pipelines["wan2.1-t2v"] / "transformer"))
    for key in ("patch_embedding.weight", "text_embedding.0.weight", "text_embedding.2.bias", "time_embedding.0.weight",
                "time_projection.1.weight", "blocks.1.self_attn.q.weight", "blocks.1.self_attn.norm_k.weight",
                "blocks.1.cross_attn.o.bias", "blocks.1.norm3.weight", "blocks.1.ffn.0.weight", "blocks.1.ffn.2.bias",
                "blocks.1.modulation", "head.head.weight", "head.modulation"):
        assert key in t2v
    assert not [k for k in t2v if any(f in k for f in DIFFUSERS_ONLY["transformer"])]
    flf = kn.transformer_to_original(_keys(tiny_pipelines["wan2.1-flf2v"] / "transformer"))
    for key in ("img_emb.proj.0.weight", "img_emb.proj.1.weight", "img_emb.proj.3.weight", "img_emb.proj.4.bias",
                "img_emb.emb_pos", "blocks.0.cross_attn.k_img.weight", "blocks.0.cross_attn.v_img.bias",
                "blocks.0.cross_attn.norm_k_img.weight"):
        assert key in flf


@pytest.mark.parametrize("row", [r for r in registry.variants("transformer") if r.get("config")], ids=lambda r: r.id)
def test_real_size_transformers_on_meta(row):
    """Every registry config, at full size: key counts as measured, diffusers' converter agrees."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    cls = "WanVACETransformer3DModel" if row["task"] == "vace" else "WanTransformer3DModel"
    keys = list(_meta_model(cls, row["config"]).state_dict())
    expected_count = {"1.3B": 825, "5B": 825, "14B": 1095, "A14B": 1095}[row["size"]]
    if row["signature"]["image_dim"]:
        expected_count = 1304 if row["signature"]["flf_pos_embed"] else 1303
    if row["task"] != "vace":
        assert len(keys) == expected_count
    original = kn.transformer_to_original(keys, COMFY)
    converted = convert_wan_transformer_to_diffusers(dict.fromkeys(original))
    assert set(converted) ^ set(keys) == (FLF2V_GAP if row["signature"]["flf_pos_embed"] else set())
    assert kn.transformer_to_diffusers(original) == keys
    if row["task"] == "vace":
        assert COMFY + "vace_blocks.0.before_proj.weight" in original and COMFY + "vace_blocks.0.after_proj.bias" in original


# ---------------------------------------------------------------------- VAE names
@pytest.mark.parametrize("variant", ["wan2.1-t2v", "wan2.2-ti2v-5b"])
def test_tiny_vae_names_round_trip(tiny_pipelines, variant):
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    keys = _keys(tiny_pipelines[variant] / "vae")
    version = _vae_version(variant)
    original = kn.vae_to_original(keys, version)
    assert kn.vae_to_diffusers(original, version) == keys
    assert not [k for k in original if any(f in k for f in DIFFUSERS_ONLY["vae"])]
    converted = set(convert_wan_vae_to_diffusers(dict.fromkeys(original)))
    if version == "2.1":
        assert converted == set(keys)
    else:  # diffusers' single-file converter only knows the 2.1 layout
        assert converted != set(keys)


@pytest.mark.parametrize("vae_id", ["wan2.1-vae", "wan2.2-vae"])
def test_real_size_vaes_on_meta(vae_id):
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    row = registry.by_id(vae_id)
    state = _meta_model("AutoencoderKLWan", row["config"]).state_dict()
    version, z = row["version"], row["z_dim"]
    original = kn.vae_to_original(state, version)
    shapes = {k: tuple(v.shape) for k, v in original.items()}
    assert len(original) == (194 if version == "2.1" else 196)
    assert "decoder.middle.0.residual.0.gamma" in original
    assert shapes["conv2.weight"] == (z, z, 1, 1, 1)
    assert list(kn.vae_to_diffusers(original, version)) == list(state)
    if version == "2.1":
        assert set(convert_wan_vae_to_diffusers(dict.fromkeys(original))) == set(state)
        assert shapes["encoder.conv1.weight"] == (96, 3, 3, 3, 3)
        assert "decoder.upsamples.4.shortcut.weight" in original and "decoder.upsamples.3.resample.1.weight" in original
    else:
        assert shapes["encoder.conv1.weight"] == (160, 12, 3, 3, 3)
        for key in ("decoder.upsamples.0.upsamples.0.residual.2.weight", "encoder.downsamples.0.downsamples.0.residual.0.gamma",
                    "encoder.downsamples.1.downsamples.2.time_conv.weight", "decoder.upsamples.0.upsamples.3.resample.1.weight",
                    "decoder.upsamples.0.upsamples.3.time_conv.weight"):
            assert key in original


def test_state_dicts_keep_their_tensors(tiny_pipelines):
    weights = _weights(tiny_pipelines["wan2.1-i2v"] / "transformer")
    original = kn.transformer_to_original(weights, COMFY)
    assert [id(v) for v in original.values()] == [id(v) for v in weights.values()]
    back = kn.transformer_to_diffusers(original)
    assert list(back) == list(weights) and all(back[k] is weights[k] for k in weights)
    vae = _weights(tiny_pipelines["wan2.2-ti2v-5b"] / "vae")
    assert all(a is b for a, b in zip(kn.vae_to_original(vae, "2.2").values(), vae.values()))


def test_unknown_names_are_refused_unless_asked():
    with pytest.raises(ModelFileError) as err:
        kn.transformer_to_original(["blocks.0.attn1.to_q.weight", "lora_A.weight"])
    assert err.value.code == "KEY_NAMING_UNKNOWN" and "lora_A.weight" in err.value.detail
    assert kn.transformer_to_original(["blocks.0.attn1.to_q.weight", "lora_A.weight"], strict=False) == [
        "blocks.0.self_attn.q.weight", "lora_A.weight"]
    with pytest.raises(ModelFileError) as err:
        kn.vae_to_diffusers(["decoder.middle.0.residual.0.gamma", "encoder.mystery.weight"])
    assert err.value.code == "KEY_NAMING_UNKNOWN"


def test_mixed_namings_collide():
    with pytest.raises(ModelFileError) as err:
        kn.transformer_to_diffusers(["head.head.weight", "proj_out.weight"], prefix="", strict=False)
    assert err.value.code == "KEY_NAMING_COLLISION" and "proj_out.weight" in err.value.detail


def test_unknown_vae_version():
    with pytest.raises(UsageError) as err:
        kn.vae_to_original(["quant_conv.weight"], version="2.5")
    assert err.value.code == "VAE_VERSION_INVALID"


# ---------------------------------------------------------------------- from_single_file facts
@pytest.fixture(scope="module")
def exports(tiny_pipelines, tmp_path_factory) -> dict[tuple[str, str], dict[str, Path]]:
    """Original-naming exports of every variant, with and without the ComfyUI prefix."""
    root = tmp_path_factory.mktemp("exports")
    return {
        (variant, prefix): export_single_files(folder, root / f"{variant}{'-comfy' if prefix else ''}", prefix=prefix, name=variant)
        for variant, folder in tiny_pipelines.items()
        for prefix in ("", COMFY)
    }


def _same_weights(model, folder: Path) -> None:
    expected = _weights(folder)
    state = model.state_dict()
    assert not [n for n, p in model.named_parameters() if p.is_meta]
    assert set(state) == set(expected)
    assert all(state[k].equal(v) for k, v in expected.items())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("prefix", ["", COMFY], ids=["bare", "comfy-prefix"])
def test_from_single_file_loads_original_transformers_bit_exact(tiny_pipelines, exports, variant, prefix):
    from diffusers import WanTransformer3DModel

    folder = tiny_pipelines[variant]
    path = str(exports[(variant, prefix)]["transformer"])
    if TINY_VARIANTS[variant].first_last_frame:
        # img_emb.emb_pos is left unconverted, so pos_embed stays on the meta device.
        with pytest.raises(NotImplementedError, match="meta tensor"):
            WanTransformer3DModel.from_single_file(path, config=str(folder), subfolder="transformer")
        return
    model = WanTransformer3DModel.from_single_file(path, config=str(folder), subfolder="transformer")
    _same_weights(model, folder / "transformer")


def test_from_single_file_flf2v_without_low_cpu_mem_usage_silently_keeps_default_pos_embed(tiny_pipelines, exports):
    from diffusers import WanTransformer3DModel

    folder = tiny_pipelines["wan2.1-flf2v"]
    model = WanTransformer3DModel.from_single_file(
        str(exports[("wan2.1-flf2v", "")]["transformer"]), config=str(folder), subfolder="transformer", low_cpu_mem_usage=False
    )
    pos_embed = model.condition_embedder.image_embedder.pos_embed
    assert not pos_embed.is_meta and not pos_embed.any()  # zeros, not the file's values
    assert _weights(folder / "transformer")["condition_embedder.image_embedder.pos_embed"].any()


def test_our_names_load_flf2v_bit_exact(tiny_pipelines, exports):
    from diffusers import WanTransformer3DModel
    from safetensors.torch import load_file

    folder = tiny_pipelines["wan2.1-flf2v"] / "transformer"
    model = WanTransformer3DModel.from_config(WanTransformer3DModel.load_config(folder))
    model.load_state_dict(kn.transformer_to_diffusers(load_file(exports[("wan2.1-flf2v", COMFY)]["transformer"])), strict=True)
    _same_weights(model, folder)


def test_from_single_file_loads_original_21_vae_bit_exact(tiny_pipelines, exports):
    from diffusers import AutoencoderKLWan

    folder = tiny_pipelines["wan2.1-t2v"]
    model = AutoencoderKLWan.from_single_file(str(exports[("wan2.1-t2v", "")]["vae"]), config=str(folder), subfolder="vae")
    _same_weights(model, folder / "vae")


def test_from_single_file_cannot_load_original_22_vae_but_our_names_can(tiny_pipelines, exports):
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file

    folder = tiny_pipelines["wan2.2-ti2v-5b"]
    path = exports[("wan2.2-ti2v-5b", "")]["vae"]
    with pytest.raises(ValueError, match="expected shape"):
        AutoencoderKLWan.from_single_file(str(path), config=str(folder), subfolder="vae")
    model = AutoencoderKLWan.from_config(AutoencoderKLWan.load_config(folder / "vae"))
    model.load_state_dict(kn.vae_to_diffusers(load_file(path), "2.2"), strict=True)
    _same_weights(model, folder / "vae")


# ---------------------------------------------------------------------- single-file exports
def test_exports_every_component_in_comfyui_form(tiny_pipelines, exports):
    from safetensors import safe_open

    from wan_compat.compat.detect.detector import ArchitectureDetector

    files = exports[("wan2.2-t2v-a14b", COMFY)]
    assert sorted(files) == ["text_encoder", "transformer", "transformer_2", "vae"]
    assert files["transformer"].name == "wan2.2-t2v-a14b_transformer.safetensors"
    files = exports[("wan2.1-i2v", COMFY)]
    assert sorted(files) == ["clip_vision", "text_encoder", "transformer", "vae"]
    kinds = {}
    for label, path in files.items():
        with safe_open(str(path), "pt") as f:
            assert f.metadata() == {"format": "pt"}
        info = ArchitectureDetector().inspect(path)
        kinds[label] = (info.kind, info.naming, info.key_prefix)
    assert kinds == {
        "transformer": ("transformer", "original", COMFY),
        "vae": ("vae", "original", ""),
        "text_encoder": ("text_encoder", "hf", ""),
        "clip_vision": ("clip_vision", "hf", ""),
    }
    with safe_open(str(files["text_encoder"]), "pt") as f:
        spiece = f.get_tensor("spiece_model")
    assert spiece.numpy().tobytes() == (tiny_pipelines["wan2.1-i2v"] / "tokenizer" / "spiece.model").read_bytes()
    with safe_open(str(files["clip_vision"]), "pt") as f:
        assert all(k.startswith(("vision_model.", "visual_projection.")) for k in f.keys())


def test_export_in_diffusers_naming_keeps_names(tiny_pipelines, tmp_path):
    from safetensors import safe_open

    folder = tiny_pipelines["wan2.1-t2v"]
    files = export_single_files(folder, tmp_path, naming="diffusers", name="t2v")
    assert sorted(files) == ["text_encoder", "transformer", "vae"]  # model_index's null transformer_2 is skipped
    with safe_open(str(files["transformer"]), "pt") as f:
        assert sorted(f.keys()) == sorted(_keys(folder / "transformer"))
    with safe_open(str(files["vae"]), "pt") as f:
        assert sorted(f.keys()) == sorted(_keys(folder / "vae"))


def test_export_never_overwrites(tiny_pipelines, tmp_path):
    mine = tmp_path / "t2v_vae.safetensors"
    mine.write_bytes(b"my own file")
    with pytest.raises(UsageError) as err:
        export_single_files(tiny_pipelines["wan2.1-t2v"], tmp_path, name="t2v")
    assert err.value.code == "EXPORT_TARGET_EXISTS" and "t2v_vae" in err.value.detail
    assert [p.name for p in tmp_path.iterdir()] == ["t2v_vae.safetensors"] and mine.read_bytes() == b"my own file"


def test_export_rejects_unknown_naming(tiny_pipelines, tmp_path):
    with pytest.raises(UsageError) as err:
        export_single_files(tiny_pipelines["wan2.1-t2v"], tmp_path / "out", naming="comfy")
    assert err.value.code == "EXPORT_UNKNOWN_NAMING"
    assert not (tmp_path / "out").exists()


def test_failed_export_removes_what_it_wrote(tiny_pipelines, tmp_path, monkeypatch):
    from wan_compat.compat.fixtures import single_files

    real = single_files._renamed

    def fail_on_vae(component, *args):
        if component == "vae":
            raise OSError("disk full")
        return real(component, *args)

    monkeypatch.setattr(single_files, "_renamed", fail_on_vae)
    with pytest.raises(OSError, match="disk full"):
        export_single_files(tiny_pipelines["wan2.1-t2v"], tmp_path, name="t2v")
    assert list(tmp_path.iterdir()) == []

