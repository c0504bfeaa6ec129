"""The tiny Wan pipelines: each builds, loads with its diffusers class, generates on CPU, is
recognised by the detector, and two builds are byte-identical."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from wan_compat.compat.detect import registry
from wan_compat.compat.core.errors import UsageError
from wan_compat.compat.fixtures import tiny
from wan_compat.compat.fixtures.tiny import TINY_VARIANTS, build_tiny_pipeline, tiny_pipeline_path

VARIANTS = list(TINY_VARIANTS)
PROMPT = "a cat walks on the grass"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".partial" in p.name]


# ---------------------------------------------------------------------- the variants table
def test_variants_cover_every_wan_task_and_take_requirements_from_the_registry():
    assert VARIANTS == ["wan2.1-t2v", "wan2.1-i2v", "wan2.1-flf2v", "wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b"]
    assert [TINY_VARIANTS[v].moe for v in VARIANTS] == [False, False, False, True, True, False]
    assert [TINY_VARIANTS[v].z_dim for v in VARIANTS] == [16, 16, 16, 16, 16, 48]
    for variant in TINY_VARIANTS.values():
        real = registry.by_id(variant.mimics)
        z = variant.z_dim
        assert variant.in_channels in (z, 2 * z + 4) and variant.in_channels == real["signature"]["in_channels"]
        assert variant.clip_vision == bool(real.requires["clip_vision"])


# ---------------------------------------------------------------------- loading and generating
@pytest.mark.parametrize("variant", VARIANTS)
def test_folder_loads_with_its_pipeline_class(tiny_pipelines, variant):
    import diffusers
    from diffusers import DiffusionPipeline

    spec = TINY_VARIANTS[variant]
    requires = spec.requires
    pipeline_class = getattr(diffusers, requires["pipeline_class"])
    pipe = pipeline_class.from_pretrained(tiny_pipelines[variant])
    generic = DiffusionPipeline.from_pretrained(tiny_pipelines[variant])
    assert type(generic) is pipeline_class
    assert (pipe.transformer_2 is not None) == spec.moe
    assert pipe.config.boundary_ratio == requires["boundary_ratio"]
    assert bool(pipe.config.expand_timesteps) == requires["expand_timesteps"]
    assert pipe.scheduler.config.flow_shift == requires["flow_shift"]
    assert pipe.vae.config.z_dim == spec.z_dim
    assert pipe.transformer.config.in_channels == spec.in_channels
    if spec.clip_vision:
        assert pipe.image_encoder is not None and pipe.image_processor is not None
    elif pipeline_class.__name__ == "WanImageToVideoPipeline":
        assert pipe.image_encoder is None  # Wan 2.2 I2V uses no CLIP vision
    if spec.moe:
        first = dict(pipe.transformer.named_parameters())
        second = dict(pipe.transformer_2.named_parameters())
        assert not all(a.equal(second[k]) for k, a in first.items()), "the two experts must differ"


def _generate(folder: Path, variant: str, steps: int):
    import torch
    from diffusers import DiffusionPipeline
    from PIL import Image

    pipe = DiffusionPipeline.from_pretrained(folder)
    calls: list[tuple[str, float, int]] = []
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name, None)
        if model is not None:
            model.register_forward_pre_hook(
                lambda _m, _a, kw, name=name: calls.append((name, float(kw["timestep"].flatten()[0]), kw["timestep"].ndim)),
                with_kwargs=True,
            )
    size = 32 if TINY_VARIANTS[variant].z_dim == 48 else 16  # the 2.2 VAE compresses 16x, patch 2
    inputs = {
        "prompt": PROMPT, "negative_prompt": "blurry, low quality, static, watermark",
        "num_inference_steps": steps, "height": size, "width": size, "num_frames": 5,
        "max_sequence_length": 16, "output_type": "pt", "generator": torch.Generator().manual_seed(0),
    }
    if type(pipe).__name__ == "WanImageToVideoPipeline":
        inputs["image"] = Image.new("RGB", (size, size), (200, 40, 40))
        if TINY_VARIANTS[variant].first_last_frame:
            inputs["last_image"] = Image.new("RGB", (size, size), (40, 200, 40))
    return pipe, pipe(**inputs).frames, calls, size


@pytest.mark.parametrize("variant", VARIANTS)
def test_generates_frames_on_cpu(tiny_pipelines, variant):
    import torch

    spec = TINY_VARIANTS[variant]
    # Three steps put the last one below the MoE boundary (t < boundary_ratio * 1000).
    pipe, frames, calls, size = _generate(tiny_pipelines[variant], variant, steps=3 if spec.moe else 2)
    assert frames.shape == (1, 5, 3, size, size)
    assert torch.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
    assert frames.std() > 0
    ran = {name for name, _, _ in calls}
    if spec.moe:
        boundary = spec.requires["boundary_ratio"] * 1000
        assert ran == {"transformer", "transformer_2"}, "both experts must run"
        assert all(t >= boundary for name, t, _ in calls if name == "transformer")  # high-noise expert
        assert all(t < boundary for name, t, _ in calls if name == "transformer_2")  # low-noise expert
    else:
        assert ran == {"transformer"}
    # TI2V expands the timestep to one value per latent token.
    assert {ndim for _, _, ndim in calls} == ({2} if spec.requires["expand_timesteps"] else {1})


# ---------------------------------------------------------------------- the detector's view
@pytest.mark.parametrize("variant", VARIANTS)
def test_detector_reads_layout_and_parts(tiny_pipelines, variant):
    from wan_compat.compat.detect.detector import ArchitectureDetector

    spec = TINY_VARIANTS[variant]
    info = ArchitectureDetector().inspect(tiny_pipelines[variant])
    assert info.format == "diffusers" and info.kind == "pipeline" and info.family == "wan"
    assert info.pipeline_class == spec.requires["pipeline_class"]
    assert info.moe == spec.moe
    assert info.boundary_ratio == spec.requires["boundary_ratio"]
    assert info.vae["z_dim"] == spec.z_dim and info.vae["is_3d"]
    kinds = {name: c.get("kind") for name, c in info.components.items() if "kind" in c}
    expected = {"transformer": "transformer", "vae": "vae", "text_encoder": "text_encoder"}
    if spec.moe:
        expected["transformer_2"] = "transformer"
    if spec.clip_vision:
        expected["image_encoder"] = "clip_vision"
    assert kinds == expected
    assert [p.code for p in info.problems if p.severity == "error"] == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_detector_reads_version_and_task_from_the_layout(tiny_pipelines, variant):
    """Tiny sizes match no official variant, so the layout decides version and task; size stays unknown."""
    from wan_compat.compat.detect.detector import ArchitectureDetector

    real = registry.by_id(TINY_VARIANTS[variant].mimics)
    info = ArchitectureDetector().inspect(tiny_pipelines[variant])
    assert (info.version, info.task, info.moe) == (real["version"], real["task"], real["moe"])
    assert info.size is None and info.variant is None
    assert [p.code for p in info.problems if p.severity != "info"] == ["UNKNOWN_WAN_VARIANT"]
    assert info.ok


# ---------------------------------------------------------------------- the tokenizer
def test_tokenizer_reloads_offline_and_pads(tiny_pipelines):
    import sentencepiece
    from transformers import AutoTokenizer, T5TokenizerFast

    folder = tiny_pipelines["wan2.1-t2v"] / "tokenizer"
    sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    for loader in (AutoTokenizer, T5TokenizerFast):
        tok = loader.from_pretrained(folder)
        assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
        for text in tiny.TEST_PROMPTS:
            assert tok(text).input_ids == sp.encode(text) + [1]  # tokenizers and sentencepiece agree
        padded = tok(PROMPT, padding="max_length", max_length=32, truncation=True, return_attention_mask=True)
        n = len(sp.encode(PROMPT)) + 1
        assert padded.input_ids == sp.encode(PROMPT) + [1] + [0] * (32 - n)
        assert padded.attention_mask == [1] * n + [0] * (32 - n)


# ---------------------------------------------------------------------- building and caching
def test_builds_are_byte_identical(tiny_pipelines, tmp_path):
    for variant, folder in tiny_pipelines.items():
        again = build_tiny_pipeline(variant, tmp_path / variant)
        assert _tree_digest(again) == _tree_digest(folder), variant


def test_cache_is_reused_and_keyed_by_builder_hash(tiny_pipelines, tiny_cache):
    folder = tiny_pipelines["wan2.1-t2v"]
    assert folder == tiny_cache / tiny.builder_hash() / "wan2.1-t2v"
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    assert tiny_pipeline_path("wan2.1-t2v") == folder  # $WAN_COMPAT_CACHE points at the session cache
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp


def test_builder_hash_changes_with_the_builder(monkeypatch):
    before = tiny.builder_hash()
    monkeypatch.setattr(tiny, "BUILDER_VERSION", tiny.BUILDER_VERSION + 1)
    assert tiny.builder_hash() != before


def test_concurrent_builders_keep_one_folder(tmp_path, monkeypatch):
    """Both builders finish building before either renames: the loser discards its copy."""
    barrier = threading.Barrier(2, timeout=60)
    real = tiny.tiny_pipeline

    def slow_pipeline(name):
        pipe = real(name)
        barrier.wait()
        return pipe

    monkeypatch.setattr(tiny, "tiny_pipeline", slow_pipeline)
    results: list[Path | BaseException] = []

    def build():
        try:
            results.append(tiny_pipeline_path("wan2.2-ti2v-5b", tmp_path))
        except BaseException as err:  # surfaced by the assertion below
            results.append(err)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1], results
    root = tmp_path / tiny.builder_hash()
    assert [p.name for p in root.iterdir()] == ["wan2.2-ti2v-5b"]
    assert (results[0] / "model_index.json").is_file()


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken(name):
        raise OSError("disk full")

    monkeypatch.setattr(tiny, "tiny_pipeline", broken)
    with pytest.raises(OSError, match="disk full"):
        tiny_pipeline_path("wan2.1-t2v", tmp_path)
    assert list((tmp_path / tiny.builder_hash()).iterdir()) == []


def test_build_refuses_an_existing_folder(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError) as err:
        build_tiny_pipeline("wan2.1-t2v", target)
    assert err.value.code == "TINY_TARGET_EXISTS"
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and (target / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and _leftovers(tmp_path) == []


def test_unknown_variant_is_a_usage_error_and_builds_nothing(tmp_path):
    with pytest.raises(UsageError) as err:
        tiny_pipeline_path("wan3.0-t2v", tmp_path)
    assert err.value.code == "TINY_UNKNOWN_VARIANT"
    assert "wan2.1-t2v" in err.value.fix
    assert list(tmp_path.iterdir()) == []
