"""Detection of real-size single files (sparse): every variant, dtype and prefix, plus bad input."""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from wan_compat.compat.detect.detector import ArchitectureDetector

DETECT = ArchitectureDetector()

# variant id -> (version, task, size, moe)  as a user would name them
TRANSFORMERS = {
    "wan2.1-t2v-1.3b": ("2.1", "t2v", "1.3B", False),
    "wan2.1-i2v-14b-480p": ("2.1", "i2v", "14B", False),
    "wan2.1-flf2v-14b-720p": ("2.1", "flf2v", "14B", False),
    "wan2.1-vace-14b": ("2.1", "vace", "14B", False),
    "wan2.2-ti2v-5b": ("2.2", "ti2v", "5B", False),
    "wan2.2-i2v-a14b": ("2.2", "i2v", "A14B", True),
}
# Identical weights: only the official file names tell them apart.
BY_NAME = {
    "wan2.1_t2v_14B_{dtype}.safetensors": ("wan2.1-t2v-14b", "2.1", "A14B" if False else "14B", False, None),
    "wan2.2_t2v_high_noise_14B_{dtype}.safetensors": ("wan2.2-t2v-a14b", "2.2", "A14B", True, "high_noise"),
    "wan2.2_t2v_low_noise_14B_{dtype}.safetensors": ("wan2.2-t2v-a14b", "2.2", "A14B", True, "low_noise"),
    "Wan2_1-T2V-14B_{dtype}.safetensors": ("wan2.1-t2v-14b", "2.1", "14B", False, None),
}
DTYPES = {"bf16": "bf16", "fp16": "fp16", "fp8_e4m3fn": "fp8_e4m3fn", "fp8_scaled": "fp8_e4m3fn"}
PREFIXES = ["", "model.diffusion_model."]


def _rename(naming: str):
    from wan_compat.compat.fixtures.sparse import original_transformer_names

    return original_transformer_names if naming == "original" else None


@pytest.mark.parametrize("naming", ["diffusers", "original"])
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("variant", list(TRANSFORMERS))
def test_transformer_variants(sparse_file, variant: str, dtype: str, prefix: str, naming: str) -> None:
    path = sparse_file(variant, dtype, prefix=prefix, name=f"model-{dtype}.safetensors", rename=_rename(naming), naming=naming)
    info = DETECT.inspect(path)
    version, task, size, moe = TRANSFORMERS[variant]
    assert (info.kind, info.family, info.version, info.task, info.size, info.moe) == ("transformer", "wan", version, task, size, moe)
    assert info.naming == naming
    assert info.variant == variant or (variant == "wan2.1-i2v-14b-480p" and info.variant is None)
    assert info.dtype == DTYPES[dtype]
    assert info.key_prefix == prefix
    assert info.quantization == {"fp8_scaled": "fp8_scaled", "fp8_e4m3fn": "fp8"}.get(dtype)
    assert info.ok, [p.text() for p in info.problems]
    assert info.evidence and any("patch_embedding.weight" in e for e in info.evidence)


@pytest.mark.parametrize("naming", ["diffusers", "original"])
@pytest.mark.parametrize("dtype", ["bf16", "fp8_scaled"])
@pytest.mark.parametrize("name", list(BY_NAME))
def test_identical_weights_decided_by_official_name(sparse_file, name: str, dtype: str, naming: str) -> None:
    variant, version, size, moe, expert = BY_NAME[name]
    info = DETECT.inspect(sparse_file(variant, dtype, name=name.format(dtype=dtype), rename=_rename(naming), naming=naming))
    assert (info.version, info.task, info.size, info.moe, info.variant, info.expert) == (version, "t2v", size, moe, variant, expert)
    assert "VERSION_FROM_HINT" in [p.code for p in info.problems]
    assert any("name hint" in e for e in info.evidence)
    assert info.ok


def test_identical_weights_without_a_hint_are_not_guessed(sparse_file) -> None:
    info = DETECT.inspect(sparse_file("wan2.1-t2v-14b", name="diffusion_model.safetensors"))
    assert info.version is None and info.size is None and info.variant is None
    assert set(info.candidates) == {"wan2.1-t2v-14b", "wan2.2-t2v-a14b"}
    assert info.task == "t2v" and info.family == "wan"
    codes = {p.code: p.severity for p in info.problems}
    assert codes == {"AMBIGUOUS_VERSION": "warning"}
    # What both candidates need is still known: the 2.1 VAE and UMT5, no CLIP vision.
    assert info.requirements["vae"] == "wan2.1-vae" and info.requirements["clip_vision"] is None


def test_480p_and_720p_share_weights(sparse_file) -> None:
    neutral = DETECT.inspect(sparse_file("wan2.1-i2v-14b-480p", name="i2v.safetensors"))
    assert neutral.variant is None and neutral.version == "2.1" and neutral.task == "i2v"
    assert not [p for p in neutral.problems if p.severity != "info"]
    named = DETECT.inspect(sparse_file("wan2.1-i2v-14b-720p", name="wan2.1_i2v_720p_14B_fp16.safetensors"))
    assert named.variant == "wan2.1-i2v-14b-720p" and named.requirements["resolution"] == [1280, 720]


@pytest.mark.parametrize("naming", ["diffusers", "original"])
@pytest.mark.parametrize(
    ("variant", "z_dim", "version"), [("wan2.1-vae", 16, "2.1"), ("wan2.2-vae", 48, "2.2")]
)
def test_vaes(sparse_file, variant: str, z_dim: int, version: str, naming: str) -> None:
    from wan_compat.compat.fixtures.sparse import original_names

    info = DETECT.inspect(sparse_file(variant, rename=original_names(variant) if naming == "original" else None, naming=naming))
    assert (info.kind, info.family, info.version, info.variant, info.naming) == ("vae", "wan", version, variant, naming)
    assert info.vae["z_dim"] == z_dim and info.vae["is_3d"] is True


def test_text_encoder_and_clip_vision(sparse_file) -> None:
    te = DETECT.inspect(sparse_file("umt5-xxl"))
    assert (te.kind, te.family, te.variant) == ("text_encoder", "umt5", "umt5-xxl")
    assert te.components["text_encoder"]["d_model"] == 4096
    clip = DETECT.inspect(sparse_file("clip-vit-h-14"))
    assert (clip.kind, clip.variant) == ("clip_vision", "clip-vit-h-14")
    assert clip.components["clip_vision"]["hidden"] == 1280


def test_2d_image_vae_is_named_as_such(tmp_path: Path) -> None:
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL(latent_channels=16, block_out_channels=(128, 256, 512, 512),
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    from wan_compat.compat.fixtures.sparse import write_sparse

    path = write_sparse(tmp_path / "flux_ae.safetensors", {k: ("BF16", tuple(v.shape)) for k, v in vae.state_dict().items()})
    info = DETECT.inspect(path)
    assert info.kind == "vae" and info.vae == {"z_dim": 16, "is_3d": False}
    assert info.family == "image_vae"
    assert [p.code for p in info.problems] == ["NOT_WAN"]


def test_not_wan_but_known(tmp_path: Path) -> None:
    path = tmp_path / "flux.safetensors"
    save_file({"double_blocks.0.img_attn.qkv.weight": torch.zeros(6, 2), "img_in.weight": torch.zeros(2, 2)}, str(path))
    info = DETECT.inspect(path)
    assert info.family == "flux" and [p.code for p in info.problems] == ["NOT_WAN"]


def test_unknown_architecture(tmp_path: Path) -> None:
    path = tmp_path / "odd.safetensors"
    save_file({"something.weight": torch.zeros(3)}, str(path))
    info = DETECT.inspect(path)
    assert info.family == "unknown" and [p.code for p in info.problems] == ["UNKNOWN_ARCHITECTURE"]


def test_pruned_wan_names_its_closest_relative(sparse_file, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures import sparse

    entries = sparse.component_entries("wan2.1-t2v-1.3b")
    pruned = {k: v for k, v in entries.items() if not k.startswith(("blocks.29.", "blocks.28."))}
    info = DETECT.inspect(sparse.write_sparse(tmp_path / "pruned.safetensors", pruned))
    assert [p.code for p in info.problems] == ["UNKNOWN_WAN_VARIANT"]
    assert "Wan 2.1 T2V 1.3B" in info.problems[0].detail and "expected 30, found 28" in info.problems[0].detail
    assert info.size == "1.3B"


def test_animate_markers_are_not_plain_i2v(sparse_file, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures import sparse

    entries = sparse.component_entries("wan2.1-i2v-14b-480p")
    entries["motion_encoder.dec.direction.weight"] = ("BF16", (512, 20))
    entries["face_adapter.fuser_blocks.0.linear1_kv.weight"] = ("BF16", (10240, 5120))
    info = DETECT.inspect(sparse.write_sparse(tmp_path / "animate.safetensors", entries))
    assert (info.task, info.version, info.variant) == ("animate", "2.2", "wan2.2-animate-14b")


# --------------------------------------------------------------------------- bad input
def test_missing_path(tmp_path: Path) -> None:
    info = DETECT.inspect(tmp_path / "nope.safetensors")
    assert [p.code for p in info.problems] == ["PATH_NOT_FOUND"] and not info.ok


def test_pickle_disguised_as_safetensors_is_never_unpickled(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"

    class Payload:
        def __reduce__(self):
            return (open, (str(canary), "w"))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Payload()))  # pickling does not run the payload
    zipped = tmp_path / "zipped.safetensors"
    torch.save({"w": torch.zeros(1)}, zipped)
    for p in (path, zipped):
        info = DETECT.inspect(p)
        assert [x.code for x in info.problems] == ["DISGUISED_PICKLE"] and info.format == "pickle"
    assert not canary.exists()


def test_plain_pickle_checkpoint_is_reported_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "Wan2.1_VAE.pth"
    torch.save({"w": torch.zeros(1)}, path)
    info = DETECT.inspect(path)
    assert [(p.code, p.severity) for p in info.problems] == [("PICKLE_NOT_INSPECTED", "warning")] and info.ok


@pytest.mark.parametrize(("variant", "quant", "expected"), [
    ("wan2.1-t2v-1.3b", "Q4_K", ("2.1", "t2v", "1.3B")),
    ("wan2.2-ti2v-5b", "Q8_0", ("2.2", "ti2v", "5B")),
    ("wan2.1-i2v-14b-480p", "Q5_K", ("2.1", "i2v", "14B")),
])
def test_gguf_quantizations_are_detected(tmp_path: Path, variant: str, quant: str, expected: tuple) -> None:
    from wan_compat.compat.fixtures.sparse import original_transformer_names
    from wan_compat.compat.fixtures.sparse_gguf import write_sparse_gguf

    # ComfyUI-GGUF files use the original naming
    info = DETECT.inspect(write_sparse_gguf(tmp_path / f"model-{quant}.gguf", variant, quant, rename=original_transformer_names))
    assert (info.format, info.kind, info.quantization, info.dtype) == ("gguf", "transformer", "gguf", quant.lower())
    assert (info.version, info.task, info.size) == expected
    # orig_shape metadata restored the 5-D patch embedding that GGUF stores flattened
    assert info.components["transformer"]["patch_size"] == [1, 2, 2]
    assert [(p.code, p.severity) for p in info.problems] == [("GGUF_LOAD_ELSEWHERE", "info")]


def test_truncated_gguf(tmp_path: Path) -> None:
    from wan_compat.compat.fixtures.sparse_gguf import write_sparse_gguf

    path = write_sparse_gguf(tmp_path / "cut.gguf", "wan2.1-t2v-1.3b", "Q8_0")
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 3)
    info = DETECT.inspect(path)
    assert [p.code for p in info.problems] == ["GGUF_INVALID"] and "truncated" in info.problems[0].detail


@pytest.mark.parametrize("content", [
    b"GGUF" + struct.pack("<I", 99) + b"\0" * 16,                     # unknown version
    b"GGUF" + struct.pack("<IQQ", 3, 10**9, 0),                     # absurd tensor count
    b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40),  # absurd string length
    b"GGUF" + struct.pack("<IQQ", 3, 1, 0),                         # ends inside the tensor table
])
def test_broken_gguf_headers(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    info = DETECT.inspect(path)
    assert [p.code for p in info.problems] == ["GGUF_INVALID"] and not info.ok


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "FILE_EMPTY"),
        (b"\x05\x00\x00", "SAFETENSORS_TRUNCATED"),
        (struct.pack("<Q", 2**40) + b"{}", "SAFETENSORS_HEADER_TOO_LARGE"),
        (struct.pack("<Q", 2) + b"{}", "NO_WEIGHTS"),
        (b"hello, I am a text file", "SAFETENSORS_HEADER_INVALID"),
    ],
)
def test_broken_safetensors(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    info = DETECT.inspect(path)
    assert code in [p.code for p in info.problems] and not info.ok


def test_truncated_real_size_download(sparse_file, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures.sparse import copy_sparse_tree

    src = sparse_file("wan2.1-t2v-1.3b", name="wan2.1_t2v_1.3B_fp16.safetensors")
    copy = copy_sparse_tree(src.parent, tmp_path / "copy") / src.name
    with open(copy, "r+b") as fh:
        fh.truncate(copy.stat().st_size // 2)
    info = DETECT.inspect(copy)
    assert [p.code for p in info.problems] == ["SAFETENSORS_TRUNCATED"]
    assert "How to fix" not in info.problems[0].detail and "download" in info.problems[0].fix.lower()


def test_clip_vision_saved_without_the_vision_model_prefix(sparse_file, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures import sparse

    entries = {k.removeprefix("vision_model."): v for k, v in sparse.component_entries("clip-vit-h-14").items()
               if k.startswith("vision_model.")}
    info = DETECT.inspect(sparse.write_sparse(tmp_path / "clip_vision_model.safetensors", entries))
    assert (info.kind, info.variant) == ("clip_vision", "clip-vit-h-14")


def test_tiny_components_are_recognised_by_layout(tiny_pipelines) -> None:
    vae = DETECT.inspect(tiny_pipelines["wan2.2-ti2v-5b"] / "vae")
    assert (vae.kind, vae.family, vae.version, vae.variant) == ("vae", "wan", "2.2", None)
    assert vae.vae["z_dim"] == 48
    assert [p.code for p in vae.problems] == ["UNOFFICIAL_COMPONENT"] and "wan2.2_vae.safetensors" in vae.problems[0].fix
    te = DETECT.inspect(tiny_pipelines["wan2.1-t2v"] / "text_encoder")
    assert (te.kind, te.family, te.variant) == ("text_encoder", "umt5", None)
