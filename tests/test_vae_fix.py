"""Wan VAE Fix on the tiny pipelines: every check, the swap from the model folder and from single
files, refusals naming the right file, broken weights, and chunked decode against full decode."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import CompatibilityError, LoadError, UsageError  # noqa: E402
from wan_compat.compat.fixtures.tiny import TINY_VARIANTS  # noqa: E402
from wan_compat.compat.vae import DecodeOptions, decode_chunks, decode_to_frames, fix_vae, vae_problems  # noqa: E402
from wan_compat.compat.vae.swap import rebuild  # noqa: E402
from tolerances import assert_frames_close  # noqa: E402

VARIANTS = list(TINY_VARIANTS)


def _with(handle, **pipeline_parts):
    """A handle around the same pipeline rebuilt with other parts (how scripts assemble wrong pipelines)."""
    return dataclasses.replace(handle, pipeline=rebuild(handle.pipeline, **pipeline_parts))


def _outside_folder(handle):
    """The same handle as if it had been loaded from single files: no model folder to take a VAE from."""
    info = copy.copy(handle.model_info)
    info.path = "/nonexistent/wan_transformer.safetensors"
    return dataclasses.replace(handle, model_info=info)


@pytest.fixture(scope="module")
def vaes(tiny_path) -> dict[str, object]:
    """The tiny Wan 2.1 (z16) and Wan 2.2 (z48) VAEs, as their pipelines load them."""
    from diffusers import AutoencoderKLWan

    return {"2.1": AutoencoderKLWan.from_pretrained(tiny_path("wan2.1-t2v"), subfolder="vae"),
            "2.2": AutoencoderKLWan.from_pretrained(tiny_path("wan2.2-ti2v-5b"), subfolder="vae")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_tiny_variant_passes_and_gets_decode_settings(tiny_loaded, variant: str) -> None:
    handle = tiny_loaded(variant)
    fixed = fix_vae(handle, chunk_latent_frames=2)
    assert fixed is not handle and fixed.pipeline is handle.pipeline  # nothing replaced, the input handle untouched
    assert handle.vae_report is None and handle.decode is None
    report = fixed.vae_report
    assert report.swapped is None and not report.rebuilt and report.problems == []
    assert report.found["z_dim"] == TINY_VARIANTS[variant].z_dim
    assert fixed.decode == DecodeOptions(chunked=True, chunk_latent_frames=2, tiling=False, slicing=False)
    assert report.to_dict()["decode"]["chunk_latent_frames"] == 2 and "fits the model" in report.summary()


def test_decode_choices_are_recorded_not_set_on_the_vae(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    fixed = fix_vae(handle, tiling="on", slicing="on")
    assert fixed.decode.tiling and fixed.decode.slicing and fixed.vae_report.choices == {"tiling": "on", "slicing": "on"}
    assert not handle.pipeline.vae.use_tiling and not handle.pipeline.vae.use_slicing  # Wan Sample sets them for its run


@pytest.mark.parametrize(("variant", "wrong", "right_file"), [
    ("wan2.2-ti2v-5b", "2.1", "wan2.2_vae.safetensors"),
    ("wan2.1-t2v", "2.2", "wan_2.1_vae.safetensors"),
    ("wan2.2-t2v-a14b", "2.2", "wan_2.1_vae.safetensors"),
    ("wan2.1-i2v", "2.2", "wan_2.1_vae.safetensors"),
])
def test_wrong_vae_is_replaced_from_the_model_folder(tiny_loaded, vaes, variant: str, wrong: str, right_file: str) -> None:
    handle = _with(tiny_loaded(variant), vae=vaes[wrong])
    found = vae_problems(handle.pipeline, handle.model_info)
    assert [p.code for p in found] == ["WRONG_VAE"] and right_file in found[0].fix
    fixed = fix_vae(handle)
    assert fixed.pipeline is not handle.pipeline and handle.pipeline.vae is vaes[wrong]
    assert fixed.pipeline.vae.config.z_dim == TINY_VARIANTS[variant].z_dim
    assert fixed.pipeline.vae_scale_factor_spatial == fixed.pipeline.vae.config.scale_factor_spatial
    assert vae_problems(fixed.pipeline, fixed.model_info) == []
    assert fixed.vae_report.swapped["path"].endswith(f"{variant}/vae")
    assert [p.code for p in fixed.vae_report.problems] == ["WRONG_VAE"] and "fixed: replaced by" in fixed.vae_report.problems[0].detail


def test_wrong_vae_without_a_replacement_names_the_file_and_changes_nothing(tiny_loaded, vaes) -> None:
    handle = _outside_folder(_with(tiny_loaded("wan2.2-ti2v-5b"), vae=vaes["2.1"]))
    pipeline = handle.pipeline
    with pytest.raises(CompatibilityError) as err:
        fix_vae(handle)
    assert err.value.code == "VAE_NOT_AVAILABLE"
    assert "wan2.2_vae.safetensors" in str(err.value) and "48" in err.value.detail
    assert handle.pipeline is pipeline and pipeline.vae is vaes["2.1"] and handle.vae_report is None


def test_a_chosen_vae_that_does_not_fit_is_refused(tiny_loaded, tiny_path) -> None:
    handle = tiny_loaded("wan2.2-ti2v-5b")
    with pytest.raises(CompatibilityError) as err:
        fix_vae(handle, vae=tiny_path("wan2.1-t2v") / "vae")
    assert err.value.code == "VAE_CHOICE_WRONG" and "z_dim 16, the transformer needs 48" in err.value.detail
    assert "wan2.2_vae.safetensors" in err.value.fix


def test_search_paths_supply_a_replacement(tiny_loaded, vaes, tiny_path) -> None:
    handle = _outside_folder(_with(tiny_loaded("wan2.1-t2v"), vae=vaes["2.2"]))
    fixed = fix_vae(handle, search=[tiny_path("wan2.2-ti2v-5b") / "vae", tiny_path("wan2.1-flf2v") / "vae"])
    verdicts = [(Path(c["path"]).parent.name, c["fits"]) for c in fixed.vae_report.candidates]
    assert verdicts == [("wan2.2-ti2v-5b", False), ("wan2.1-flf2v", True)]
    assert fixed.pipeline.vae.config.z_dim == 16


def test_single_file_vae_in_original_naming_swaps_in_with_a_config_source(tiny_loaded, tiny_path, tmp_path, vaes) -> None:
    from wan_compat.compat.fixtures.single_files import export_single_files

    files = export_single_files(tiny_path("wan2.2-ti2v-5b"), tmp_path / "files", name="tiny22")
    handle = _outside_folder(_with(tiny_loaded("wan2.2-ti2v-5b"), vae=vaes["2.1"]))
    with pytest.raises(LoadError) as err:  # an unofficial size: the shipped 2.2 config does not describe it
        fix_vae(handle, vae=files["vae"])
    assert err.value.code == "VAE_SWAP_CONFIG_UNKNOWN" and "wan2.2_vae.safetensors" in err.value.fix
    fixed = fix_vae(handle, vae=files["vae"], config_source=tiny_path("wan2.2-ti2v-5b"))
    reference = vaes["2.2"].state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in fixed.pipeline.vae.state_dict().items())


def test_image_vae_given_to_a_3d_model_is_named(tiny_loaded) -> None:
    from diffusers import AutoencoderKL

    image_vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8,), norm_num_groups=4,
                              down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",))
    handle = _outside_folder(tiny_loaded("wan2.1-t2v"))
    handle.pipeline.vae = image_vae  # as a script would, after construction
    found = vae_problems(handle.pipeline, handle.model_info)
    assert [p.code for p in found] == ["VAE_NOT_3D"] and "wan_2.1_vae.safetensors" in found[0].fix
    with pytest.raises(CompatibilityError) as err:
        fix_vae(handle)
    assert err.value.code == "VAE_NOT_AVAILABLE" and "VAE_NOT_3D" in err.value.detail


def test_latent_stats_of_the_wrong_length(tiny_loaded, tiny_path) -> None:
    from diffusers import AutoencoderKLWan

    config = dict(AutoencoderKLWan.load_config(tiny_path("wan2.1-t2v") / "vae"))
    config["latents_mean"] = config["latents_mean"][:12]
    bad = AutoencoderKLWan.from_config(config)
    handle = _with(tiny_loaded("wan2.1-t2v"), vae=bad)
    assert [p.code for p in vae_problems(handle.pipeline, handle.model_info)] == ["VAE_LATENT_STATS_INVALID"]
    fixed = fix_vae(handle)  # the model folder's own VAE has the right stats
    assert len(fixed.pipeline.vae.config.latents_mean) == 16


def test_config_scale_that_its_layers_do_not_give(tiny_loaded, tiny_path) -> None:
    from diffusers import AutoencoderKLWan

    config = dict(AutoencoderKLWan.load_config(tiny_path("wan2.2-ti2v-5b") / "vae"))
    config["scale_factor_spatial"] = 8  # the layers compress 2^3 x patch 2 = 16
    handle = _outside_folder(_with(tiny_loaded("wan2.2-ti2v-5b"), vae=AutoencoderKLWan.from_config(config)))
    codes = [p.code for p in vae_problems(handle.pipeline, handle.model_info)]
    assert "VAE_SCALE_INVALID" in codes
    with pytest.raises(CompatibilityError):
        fix_vae(handle)


def test_vae_replaced_after_construction_gets_the_pipeline_rebuilt(tiny_loaded, vaes) -> None:
    handle = _with(tiny_loaded("wan2.2-ti2v-5b"), vae=vaes["2.1"])  # built around the wrong VAE (scale 8)
    handle.pipeline.vae = copy.deepcopy(vaes["2.2"])  # then the right one set, as scripts do: the scale stays 8
    assert handle.pipeline.vae_scale_factor_spatial == 8
    assert [p.code for p in vae_problems(handle.pipeline, handle.model_info)] == ["VAE_PIPELINE_STALE"]
    fixed = fix_vae(handle)
    assert fixed.vae_report.rebuilt and fixed.vae_report.swapped is None
    assert fixed.pipeline.vae_scale_factor_spatial == 16 and fixed.pipeline.vae is handle.pipeline.vae


@pytest.mark.parametrize(("corrupt", "code"), [
    ("meta", "WEIGHTS_META"),
    ("nan", "WEIGHTS_NONFINITE"),
    ("huge", "WEIGHTS_IMPLAUSIBLE"),
])
def test_broken_vae_weights_are_refused_or_reloaded(tiny_loaded, corrupt: str, code: str) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    conv = handle.pipeline.vae.decoder.conv_out
    if corrupt == "meta":
        conv.weight = torch.nn.Parameter(torch.empty(conv.weight.shape, device="meta"))
    else:
        with torch.no_grad():
            conv.bias[0] = float("nan") if corrupt == "nan" else 3e30  # what uninitialised memory holds
    with pytest.raises(LoadError) as err:
        fix_vae(_outside_folder(handle))
    assert err.value.code == code and "vae" in err.value.summary
    fixed = fix_vae(handle)  # with its folder: the VAE is loaded again from the checked file
    assert fixed.vae_report.swapped is not None and [p.code for p in fixed.vae_report.problems] == [code]
    assert fixed.pipeline.vae.decoder.conv_out.weight.device.type == "cpu"
    assert bool(torch.isfinite(fixed.pipeline.vae.decoder.conv_out.bias).all())


def test_meta_weights_elsewhere_are_refused(tiny_loaded) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    linear = handle.pipeline.transformer.proj_out
    linear.weight = torch.nn.Parameter(torch.empty(linear.weight.shape, device="meta"))
    with pytest.raises(LoadError) as err:
        fix_vae(handle)
    assert err.value.code == "WEIGHTS_META" and "transformer" in err.value.summary


@pytest.mark.parametrize("bad", [{"tiling": "yes"}, {"chunked": "maybe"}, {"chunk_latent_frames": 0}, {"chunk_latent_frames": 1.5}])
def test_bad_decode_options(tiny_loaded, bad) -> None:
    handle = tiny_loaded("wan2.1-t2v")
    with pytest.raises(UsageError) as err:
        fix_vae(handle, **bad)
    assert err.value.code == "DECODE_OPTION_INVALID" and handle.decode is None


def test_not_a_pipeline_handle() -> None:
    with pytest.raises(UsageError) as err:
        fix_vae(object())
    assert err.value.code == "PIPELINE_HANDLE_INVALID"


# ------------------------------------------------------------------------------------------ decode
def _diffusers_frames(vae, latents, slicing: bool):
    """`vae.decode` and diffusers' post-processing, as the pipelines do, as IMAGE frames. On `vae`
    itself, not a copy: the same weights in the same memory, so the same kernels as chunked decode."""
    from diffusers.video_processor import VideoProcessor

    was = vae.use_slicing
    (vae.enable_slicing if slicing else vae.disable_slicing)()
    try:
        with torch.no_grad():
            video = vae.decode(latents).sample
    finally:
        vae.use_slicing = was
    frames = VideoProcessor(vae_scale_factor=vae.config.scale_factor_spatial).postprocess_video(video, output_type="pt")
    return frames.permute(0, 1, 3, 4, 2).reshape(-1, *frames.shape[3:], 3)


@pytest.mark.parametrize("version", ["2.1", "2.2"])
@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_chunked_decode_is_bit_identical_to_diffusers(vaes, version: str, chunk: int) -> None:
    """One video: chunked decode equals `vae.decode` + diffusers' post-processing exactly, for any chunk length."""
    vae = vaes[version]
    scale = vae.config.scale_factor_spatial
    latents = torch.randn(1, vae.config.z_dim, 4, 48 // scale, 64 // scale, generator=torch.Generator().manual_seed(3))
    expected = _diffusers_frames(vae, latents, slicing=False)
    frames, mode = decode_to_frames(vae, latents, DecodeOptions(chunked=True, chunk_latent_frames=chunk))
    assert mode == "chunked" and frames.shape == (13, 48, 64, 3) and frames.dtype == torch.float32
    assert torch.equal(frames, expected)
    full, mode = decode_to_frames(vae, latents, DecodeOptions(chunked=False))
    assert mode == "full" and torch.equal(full, expected)


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_chunked_decode_of_several_videos(vaes, version: str) -> None:
    """Several videos are decoded one at a time: bit-identical to diffusers' sliced decode, and
    within 1e-4 of its batched decode (a batch of 2 runs other convolution kernels)."""
    vae = vaes[version]
    scale = vae.config.scale_factor_spatial
    latents = torch.randn(2, vae.config.z_dim, 3, 32 // scale, 32 // scale, generator=torch.Generator().manual_seed(4))
    frames, _ = decode_to_frames(vae, latents, DecodeOptions(chunk_latent_frames=2))
    assert frames.shape == (18, 32, 32, 3)
    assert torch.equal(frames, _diffusers_frames(vae, latents, slicing=True))
    assert_frames_close(frames, _diffusers_frames(vae, latents, slicing=False), dtype=torch.float32, path="batched_decode")


def test_decode_chunks_stream_in_order_and_clear_the_cache(vaes) -> None:
    vae = vaes["2.1"]
    latents = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    chunks = decode_chunks(vae, latents, 1)
    assert next(chunks).shape[0] == 1  # the first latent frame gives one video frame
    chunks.close()  # the consumer stops early: the causal cache is still cleared
    assert all(c is None for c in vae._feat_map)
    sizes = [c.shape[0] for c in decode_chunks(vae, latents, 1)]
    assert sizes == [1, 4, 4]


def test_tiling_takes_diffusers_tiled_path_past_one_tile(vaes) -> None:
    vae = copy.deepcopy(vaes["2.1"])
    latents = torch.randn(1, 16, 1, 34, 33, generator=torch.Generator().manual_seed(0))  # 272x264 px: more than one 256 px tile
    frames, mode = decode_to_frames(vae, latents, DecodeOptions(tiling=True))
    assert mode == "tiled" and frames.shape == (1, 272, 264, 3)
    assert not vae.use_tiling and not vae.use_slicing  # set for the decode only: the VAE is shared by every run
    small, mode = decode_to_frames(vae, latents[..., :8, :8], DecodeOptions(tiling=True))
    assert mode == "chunked"  # below one tile, tiling changes nothing
    vae.enable_tiling()
    full, mode = decode_to_frames(vae, latents[..., :8, :8], DecodeOptions(tiling=False, chunked=False))
    assert mode == "full" and vae.use_tiling  # the options win for the decode; the VAE's own flag is kept
