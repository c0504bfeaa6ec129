"""The configs shipped in the registry fit the real releases: for every known variant, the model the
registry config builds (on `meta`) has exactly the names and shapes of a real-size single file in
the original/ComfyUI naming, after key conversion; those files are built from the published configs
(`data/fixtures/published_configs.json`, independent of the registry: sparse.py). This is the single-file route of Wan Safe Load
up to the point where tensor data is read (real-size files are sparse: their data is not real)."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from wan_compat.compat.loading import key_naming
from wan_compat.compat.detect import registry  # noqa: E402
from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.detect.facts import classify  # noqa: E402
from wan_compat.compat.loading import checks, component_configs, components  # noqa: E402
from wan_compat.compat.detect.safetensors_header import read_header  # noqa: E402

TRANSFORMERS = [v.id for v in registry.variants("transformer") if v.get("config") and v.get("transformer_class")]


def _to_original(rename):  # noqa: ANN001, ANN202
    return lambda names: dict(zip(names, rename(names)))


def _header_shapes(path) -> dict[str, tuple[int, ...]]:  # noqa: ANN001
    return {k: v.shape for k, v in read_header(path).tensors.items()}


@pytest.mark.parametrize("variant_id", TRANSFORMERS)
def test_registry_transformer_config_fits_the_original_file(sparse_file, variant_id: str) -> None:
    import diffusers

    variant = registry.by_id(variant_id)
    path = sparse_file(variant_id, "bf16", prefix=key_naming.COMFY_PREFIX, naming="original",
                       rename=_to_original(key_naming.transformer_to_original))
    info = ArchitectureDetector().inspect(path)
    configs = component_configs.from_registry(info, moe=bool(variant["moe"]))
    assert configs.pipeline_class == variant.requires["pipeline_class"]
    assert configs.scheduler["flow_shift"] == variant.requires["flow_shift"]
    assert (configs.transformer_2 is not None) == bool(variant["moe"])
    assert (configs.image_encoder is not None) == bool(variant.requires.get("clip_vision"))
    model = components.meta_model(getattr(diffusers, configs.transformer_class), configs.transformer)
    shapes = _header_shapes(path)
    facts = classify(shapes)
    converted = key_naming.transformer_to_diffusers(shapes, facts.prefix or None, strict=False)
    diff = checks.compare_keys(checks.expected_shapes(model), converted)
    assert diff.ok, (diff.missing[:3], diff.unexpected[:3], diff.mismatched[:3])


@pytest.mark.parametrize("vae_id, version", [("wan2.1-vae", "2.1"), ("wan2.2-vae", "2.2")])
def test_registry_vae_config_fits_the_original_file(sparse_file, vae_id: str, version: str) -> None:
    import diffusers

    path = sparse_file(vae_id, "bf16", naming="original", rename=_to_original(lambda n: key_naming.vae_to_original(n, version)))
    model = components.meta_model(diffusers.AutoencoderKLWan, registry.by_id(vae_id)["config"])
    converted = key_naming.vae_to_diffusers(_header_shapes(path), version, strict=False)
    assert checks.compare_keys(checks.expected_shapes(model), converted).ok


def test_registry_text_encoder_and_clip_configs_fit_comfyui_files(sparse_file) -> None:
    import transformers

    for variant_id, cls in (("umt5-xxl", transformers.UMT5EncoderModel), ("clip-vit-h-14", transformers.CLIPVisionModelWithProjection)):
        model = components.meta_model(cls, registry.by_id(variant_id)["config"])
        diff = checks.compare_keys(checks.expected_shapes(model), _header_shapes(sparse_file(variant_id)), tied=checks.tied_keys(model),
                                   ignorable=components.IGNORABLE)
        assert diff.ok, (variant_id, diff.missing[:3], diff.unexpected[:3], diff.mismatched[:3])


def test_weight_identical_variants_are_told_apart_by_the_expert_layout(sparse_file) -> None:
    path = sparse_file("wan2.1-t2v-14b", "bf16", name="neutral_name.safetensors")
    info = ArchitectureDetector().inspect(path)
    assert len(info.candidates) == 2  # 2.1 T2V-14B or one expert of 2.2 T2V-A14B
    assert component_configs.from_registry(info, moe=False).scalars["boundary_ratio"] is None
    assert component_configs.from_registry(info, moe=True).scalars["boundary_ratio"] == 0.875
