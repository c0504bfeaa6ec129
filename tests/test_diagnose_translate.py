"""Raw exceptions users meet, reproduced with real code, translated into catalogue errors.

Where a CPU cannot produce the failure (CUDA out of memory, fp8 on an old GPU) the test uses the exact
text torch emits, quoted with its source location; those cases say so in their names.
"""
from __future__ import annotations

import json
import subprocess

import pytest
import torch

from wan_compat.compat.core.translate import translate, translate_or_wrap
from wan_compat.compat.core.errors import (
    CompatibilityError,
    EncodeError,
    LoadError,
    ResourceError,
    UsageError,
    WanCompatError,
)


def raised(fn) -> BaseException:
    with pytest.raises(BaseException) as info:
        fn()
    return info.value


def test_conv_channel_mismatch_from_a_real_convolution():
    # A 2.1 VAE decoder (16 latent channels) fed 48-channel Wan 2.2 latents.
    conv = torch.nn.Conv3d(16, 8, kernel_size=1)
    exc = raised(lambda: conv(torch.zeros(1, 48, 1, 2, 2)))
    err = translate(exc)
    assert isinstance(err, CompatibilityError) and err.code == "LATENT_CHANNEL_MISMATCH"
    assert err.problem.context == {"expected": "16", "found": "48"}
    assert "48 channels where 16 were expected" in err.summary
    assert "wan2.2_vae.safetensors" in err.fix
    assert err.__cause__ is exc


def test_latent_broadcast_mismatch_from_real_tensors():
    # What diffusers' Wan pipeline does at decode: latents (48 ch) * latents_std of the 2.1 VAE (16 entries).
    latents, std = torch.zeros(1, 48, 2, 4, 4), torch.ones(1, 16, 1, 1, 1)
    exc = raised(lambda: latents * std)
    assert "The size of tensor a (48) must match the size of tensor b (16)" in str(exc)
    err = translate(exc)
    assert err.code == "LATENT_CHANNEL_MISMATCH" and err.problem.context == {"expected": "16", "found": "48"}


def test_shape_mismatches_without_latent_channel_counts_are_not_called_a_channel_problem():
    assert translate(raised(lambda: torch.zeros(3, 5) + torch.zeros(3, 4))) is None
    assert translate(raised(lambda: torch.nn.Conv2d(3, 8, 1)(torch.zeros(1, 4, 2, 2)))) is None


@pytest.fixture(scope="module")
def diffusers_wan():
    diffusers = pytest.importorskip("diffusers")
    return diffusers


def _tiny_vae(diffusers, z_dim=16):
    return diffusers.AutoencoderKLWan(base_dim=3, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                      temperal_downsample=[False, True, True])


def test_cannot_load_expected_shape_from_a_real_diffusers_load(diffusers_wan, tmp_path):
    # A z16 VAE's weights under a config that says z_dim 48 (a 2.1 VAE file with a 2.2 config).
    _tiny_vae(diffusers_wan).save_pretrained(tmp_path / "vae")
    config_path = tmp_path / "vae" / "config.json"
    config = json.loads(config_path.read_text())
    config["z_dim"] = 48
    config_path.write_text(json.dumps(config))
    exc = raised(lambda: diffusers_wan.AutoencoderKLWan.from_pretrained(tmp_path / "vae"))
    assert "expected shape" in str(exc)
    err = translate(exc)
    assert isinstance(err, LoadError) and err.code == "WEIGHT_SHAPE_MISMATCH"
    assert err.problem.context["param"] == "decoder.conv_in.weight"
    assert err.problem.context["expected"] == "torch.Size([3, 48, 3, 3, 3])"
    assert err.problem.context["found"] == "torch.Size([3, 16, 3, 3, 3])"
    assert "ignore_mismatched_sizes" in err.fix


def test_pipeline_expected_but_only_set_were_passed_from_a_real_pipeline(diffusers_wan, tmp_path):
    # A model_index.json that lists no components: diffusers assembles WanPipeline with nothing.
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", "_diffusers_version": "0.42.1"}))
    exc = raised(lambda: diffusers_wan.WanPipeline.from_pretrained(tmp_path))
    assert "but only set() were passed" in str(exc)
    err = translate(exc)
    assert err.code == "PIPELINE_COMPONENTS_MISSING"
    missing = err.problem.context["missing"].split(", ")
    assert {"scheduler", "text_encoder", "tokenizer", "vae"} <= set(missing)
    assert err.problem.context["pipeline"] == "WanPipeline"
    assert "scheduler" in err.summary


def test_pipeline_expected_with_some_passed():
    text = ("Pipeline <class 'diffusers.pipelines.wan.pipeline_wan.WanPipeline'> expected ['scheduler', 'text_encoder', "
            "'tokenizer', 'transformer', 'vae'], but only {'scheduler', 'transformer'} were passed.")
    err = translate(ValueError(text))
    assert err.problem.context["missing"] == "text_encoder, tokenizer, vae"


def test_missing_clip_vision_for_21_i2v_from_a_real_pipeline(diffusers_wan):
    from PIL import Image

    transformer = diffusers_wan.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=4,  # an image embedder: Wan 2.1 I2V takes CLIP vision features
    )
    pipe = diffusers_wan.WanImageToVideoPipeline(
        tokenizer=None, text_encoder=None, vae=_tiny_vae(diffusers_wan),
        scheduler=diffusers_wan.FlowMatchEulerDiscreteScheduler(shift=3.0), transformer=transformer,
        image_encoder=None, image_processor=None,
    )
    embeds = torch.zeros(1, 8, 32)
    exc = raised(lambda: pipe(image=Image.new("RGB", (16, 16)), prompt_embeds=embeds, negative_prompt_embeds=embeds,
                              height=16, width=16, num_frames=5, num_inference_steps=1, output_type="np"))
    err = translate(exc)
    assert isinstance(err, CompatibilityError) and err.code == "CLIP_VISION_MISSING"
    assert "clip_vision_h.safetensors" in err.fix


def test_a_nonetype_error_elsewhere_is_not_missing_clip():
    not_callable = None
    exc = raised(lambda: not_callable())  # type: ignore[misc]
    assert translate(exc) is None


def test_fp8_op_not_implemented_from_a_real_cpu_op():
    # The CPU build raises the same AT_DISPATCH message that users see as "addmm_cuda"/"baddbmm_cuda".
    t = torch.ones(1, 4, 4).to(torch.float8_e4m3fn)
    exc = raised(lambda: torch.baddbmm(t, t, t))
    assert "not implemented for 'Float8_e4m3fn'" in str(exc)
    err = translate(exc)
    assert isinstance(err, ResourceError) and err.code == "FP8_COMPUTE_UNSUPPORTED"
    assert "optimization.precision bf16" in err.fix


@pytest.mark.parametrize("text", [
    # torch aten/src/ATen/native/cuda/Blas.cpp, _scaled_mm_out_cuda (TORCH_CHECK on _scaled_mm_allowed_device()):
    # needs a GPU of compute capability < 8.9, which this machine does not have; exact text quoted.
    "torch._scaled_mm is only supported on CUDA devices with compute capability >= 9.0 or 8.9, or ROCm MI300+",
    # torch aten/src/ATen/Dispatch.h (AT_DISPATCH_SWITCH) on a CUDA device; exact text quoted.
    "\"addmm_cuda\" not implemented for 'Float8_e4m3fn'",
])
def test_fp8_on_an_unsupported_gpu_quoted_text(text):
    err = translate(RuntimeError(text))
    assert err.code == "FP8_COMPUTE_UNSUPPORTED"


def test_cpu_out_of_memory_from_a_real_allocation():
    exc = raised(lambda: torch.empty(2**50, dtype=torch.uint8))  # 1 PiB
    assert "DefaultCPUAllocator: can't allocate memory" in str(exc)
    err = translate(exc)
    assert err.code == "RAM_OUT_OF_MEMORY" and err.problem.context["bytes"] == str(2**50)


# c10/cuda/CUDACachingAllocator.cpp raises torch.OutOfMemoryError with this text (no GPU here; quoted).
CUDA_OOM = ("CUDA out of memory. Tried to allocate 7.03 GiB. GPU 0 has a total capacity of 23.64 GiB of which "
            "1.12 GiB is free. Of the allocated memory 20.10 GiB is allocated by PyTorch, and 1.90 GiB is reserved "
            "by PyTorch but unallocated.")


def test_cuda_out_of_memory_quoted_text():
    err = translate(torch.OutOfMemoryError(CUDA_OOM))
    assert isinstance(err, ResourceError) and err.code == "GPU_OUT_OF_MEMORY"
    assert "offload" in err.fix


def test_out_of_memory_at_decode_points_at_vae_tiling():
    for exc in (torch.OutOfMemoryError(CUDA_OOM), raised(lambda: torch.empty(2**50, dtype=torch.uint8))):
        err = translate(exc, stage="decode")
        assert err.code == "VAE_DECODE_OUT_OF_MEMORY"
        assert "vae_tiling on" in err.fix


def test_meta_tensor_copy_from_real_meta_tensors():
    copy_out = raised(lambda: torch.empty(2, device="meta").to("cpu"))
    assert "Cannot copy out of meta tensor" in str(copy_out)
    mixed = raised(lambda: torch.ones(2) + torch.empty(2, device="meta"))
    assert "Tensor on device meta is not on the expected device" in str(mixed)
    for exc in (copy_out, mixed):
        err = translate(exc)
        assert isinstance(err, LoadError) and err.code == "META_TENSOR_USED"


def _ffmpeg_failure(tmp_path, *args: str) -> subprocess.CalledProcessError:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    with pytest.raises(subprocess.CalledProcessError) as info:
        subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    return info.value


def test_ffmpeg_encoder_not_found_from_real_ffmpeg(tmp_path):
    exc = _ffmpeg_failure(tmp_path, "-f", "lavfi", "-i", "color=c=black:s=64x64:d=0.1", "-c:v", "libnonexistent264",
                          str(tmp_path / "out.mp4"))
    assert b"Encoder not found" in exc.stderr
    err = translate(exc)
    assert isinstance(err, EncodeError) and err.code == "FFMPEG_ENCODER_MISSING"
    assert err.summary == "This ffmpeg has no 'libnonexistent264' encoder"


def test_ffmpeg_height_not_divisible_by_2_from_real_libx264(tmp_path):
    exc = _ffmpeg_failure(tmp_path, "-f", "lavfi", "-i", "color=c=black:s=64x63:d=0.1", "-c:v", "libx264",
                          "-pix_fmt", "yuv420p", str(tmp_path / "odd.mp4"))
    assert b"height not divisible by 2" in exc.stderr
    err = translate(exc)
    assert err.code == "FFMPEG_ODD_DIMENSION"
    assert err.summary.startswith("The video height is odd")
    assert err.problem.context["size"] == "64x63"


def test_typed_errors_pass_through_and_unknown_errors_are_wrapped():
    ours = UsageError("USAGE", "bad flag")
    assert translate(ours) is ours
    assert translate(KeyError("something else")) is None
    wrapped = translate_or_wrap(KeyError("something else"))
    assert isinstance(wrapped, WanCompatError) and wrapped.code == "UNEXPECTED_ERROR"
    assert wrapped.summary == "An unexpected error: KeyError"
