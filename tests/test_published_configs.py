"""The registry the code reads (`data/registry.json`) against an independent table of the published
configs (`data/fixtures/published_configs.json`: written by hand from diffusers' Wan converter, the
Wan team's own generation configs and DiffSynth-Studio's model table, each entry citing its source).

A registry value that would make a real file fail to load (the 1.3B's ffn_dim 8960 typed as 8192,
a Fun model's input channels) fails here, and the sparse real-size fixtures the detection and
loading tests call real are built from the published table, not from the registry (sparse.py)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.detect import registry  # noqa: E402
from wan_compat.compat.fixtures import sparse  # noqa: E402

TABLE = sparse._published_doc()
CONFIGURED = [v.id for v in registry.variants("transformer") if v.get("config")]
COMPONENTS = [(kind, v.id) for kind in ("vae", "text_encoder", "clip_vision") for v in registry.variants(kind)]


def _shapes(kind: str, config: dict, transformer_class: str | None = None) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = sparse.build_meta(kind, config, transformer_class)
    return {k: tuple(t.shape) for k, t in model.state_dict().items()}


def test_every_source_is_cited() -> None:
    for section in ("transformers", "signatures", "vaes", "text_encoders", "clip_visions"):
        for variant_id, entry in TABLE[section].items():
            assert entry["sources"] and all(" @" in s and "/" in s for s in entry["sources"]), (section, variant_id)


@pytest.mark.parametrize("variant_id", CONFIGURED)
def test_registry_transformer_config_is_the_published_one(variant_id: str) -> None:
    variant, published = registry.by_id(variant_id), sparse.published(variant_id)
    assert variant["transformer_class"] == published["transformer_class"]
    mine = {k: v for k, v in variant["config"].items()}
    differs = {k: (mine.get(k), v) for k, v in published["config"].items() if mine.get(k, "absent") != v}
    assert not differs, differs
    # Keys only the registry names must leave the model as the published config builds it.
    assert _shapes("transformer", mine, variant["transformer_class"]) == _shapes("transformer", published["config"], published["transformer_class"])


@pytest.mark.parametrize("variant_id", CONFIGURED)
def test_registry_pipeline_facts_are_the_published_ones(variant_id: str) -> None:
    variant, facts = registry.by_id(variant_id), sparse.published(variant_id)["pipeline"]
    needs = variant.requires
    assert needs["pipeline_class"] == facts["_class_name"]
    assert bool(variant["moe"]) == facts["transformer_2"]
    assert needs.get("boundary_ratio") == facts["boundary_ratio"]
    assert bool(needs.get("expand_timesteps")) == facts["expand_timesteps"]
    assert needs["vae"] == facts["vae"]
    assert bool(needs.get("clip_vision")) == facts["image_encoder"]


@pytest.mark.parametrize("variant_id", CONFIGURED)
def test_registry_signature_is_the_published_layout(variant_id: str) -> None:
    variant, config = registry.by_id(variant_id), sparse.published(variant_id)["config"]
    signature = variant.signature
    assert signature["hidden"] == config["num_attention_heads"] * config["attention_head_dim"]
    assert (signature["in_channels"], signature["out_channels"], signature["blocks"]) == (config["in_channels"], config["out_channels"], config["num_layers"])
    assert signature["image_dim"] == config.get("image_dim")
    assert signature["has_image_embedder"] == bool(config.get("image_dim"))
    assert signature["flf_pos_embed"] == bool(config.get("pos_embed_seq_len"))
    assert signature["vace"] == bool(config.get("vace_layers"))


@pytest.mark.parametrize("variant_id", sorted(TABLE["transformers"]))
def test_the_converter_agrees_with_the_wan_team(variant_id: str) -> None:
    """Two sources of the table cross-checked: diffusers' converter and Wan's own configs."""
    entry = TABLE["transformers"][variant_id]
    config, official = entry["config"], entry["official"]
    assert config["num_attention_heads"] * config["attention_head_dim"] == official["dim"]
    assert (config["ffn_dim"], config["num_attention_heads"], config["num_layers"]) == (official["ffn_dim"], official["num_heads"], official["num_layers"])
    if "boundary" in official:
        assert entry["pipeline"]["boundary_ratio"] == official["boundary"]
    variant = registry.by_id(variant_id)
    if "sample_shift" in official and variant.get("config"):
        assert variant.requires["flow_shift"] == official["sample_shift"]
    for key in ("fps", "frames"):
        if key in official:
            assert variant.requires[key] == official[key]


@pytest.mark.parametrize("variant_id", sorted(TABLE["signatures"]))
def test_registry_signatures_of_releases_without_a_config(variant_id: str) -> None:
    """Where the registry states a fact of a Fun/S2V/Animate release, it is the published one."""
    published = {k: v for k, v in TABLE["signatures"][variant_id].items() if k != "sources"}
    signature = registry.by_id(variant_id).signature
    differs = {k: (signature[k], v) for k, v in published.items() if k in signature and signature[k] != v}
    assert not differs, differs


@pytest.mark.parametrize("kind, variant_id", COMPONENTS)
def test_registry_component_configs_are_the_published_ones(kind: str, variant_id: str) -> None:
    mine, published = registry.by_id(variant_id)["config"], sparse.published(variant_id)["config"]
    differs = {k: (mine.get(k), v) for k, v in published.items() if mine.get(k, "absent") != v}
    assert not differs, differs
    assert _shapes(kind, dict(mine)) == _shapes(kind, dict(published))


def test_real_size_fixtures_come_from_the_published_table() -> None:
    published = sparse.published("wan2.1-t2v-1.3b")
    assert dict(sparse.diffusers_shapes("wan2.1-t2v-1.3b")) == _shapes("transformer", published["config"], published["transformer_class"])
    assert dict(sparse.diffusers_shapes("wan2.1-t2v-1.3b"))["blocks.0.ffn.net.0.proj.weight"] == (8960, 1536)
