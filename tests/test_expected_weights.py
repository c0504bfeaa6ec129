"""compat/data/expected_weights.json: the names and shapes of every registry component's model, shipped
so that the native loader's checks import neither diffusers nor transformers.

The data must be what the installed libraries build on `meta` from the registry's configs (rebuilt
here and compared, order included), its compact form must expand to exactly that, and a native load
of a registry set must check every name without importing either library.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_data_is_what_the_installed_libraries_build_from_the_registry() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from gen_expected_weights import models

    from wan_compat.compat.loading.expected_weights import DATA

    shipped = json.loads(DATA.read_text(encoding="utf-8"))["models"]
    assert shipped == json.loads(json.dumps(models())), "run python tools/gen_expected_weights.py"


def test_packed_blocks_expand_to_the_models_own_names_shapes_and_order() -> None:
    from wan_compat.compat.detect import registry
    from wan_compat.compat.fixtures.sparse import diffusers_shapes
    from wan_compat.compat.loading.expected_weights import lookup, pack, unpack

    for variant_id in ("wan2.1-t2v-1.3b", "wan2.1-i2v-14b-480p", "wan2.2-ti2v-5b", "wan2.1-vae", "umt5-xxl"):
        shapes = dict(diffusers_shapes(variant_id))
        packed = pack(shapes)
        assert list(unpack(packed).items()) == list(shapes.items())
        variant = registry.by_id(variant_id)
        name = {"transformer": variant.get("transformer_class"), "vae": "AutoencoderKLWan", "text_encoder": "UMT5EncoderModel"}[variant.kind]
        config = {"_class_name": name, **variant["config"]} if variant.kind != "text_encoder" else dict(variant["config"])
        found = lookup(name, config)
        assert found is not None and list(found[0].items()) == list(shapes.items())
    assert len(pack(dict(diffusers_shapes("wan2.1-t2v-1.3b")))) < 30  # 30 blocks stored once
    assert lookup("WanTransformer3DModel", {"num_layers": 7}) is None  # another config: built on meta instead


def test_a_native_check_of_a_registry_set_imports_neither_diffusers_nor_transformers(tmp_path: Path) -> None:
    """Real-size Comfy-Org names (sparse files: headers only), every name and shape checked; the
    process must not have imported diffusers or transformers' modeling code (seconds on the first
    native load of a ComfyUI session)."""
    from wan_compat.compat.fixtures import sparse

    models = tmp_path / "models"
    model = sparse.write_single_file(models / "wan2.1_t2v_1.3B_bf16.safetensors", "wan2.1-t2v-1.3b", "bf16",
                                     rename=sparse.original_transformer_names, prefix="model.diffusion_model.")
    vae = sparse.write_single_file(models / "wan_2.1_vae.safetensors", "wan2.1-vae", rename=sparse.original_names("wan2.1-vae"))
    text = sparse.write_single_file(models / "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "umt5-xxl", "fp8_scaled")
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from wan_compat.compat.loading.verified_state import verified_state_dicts\n"
        f"with verified_state_dicts(Path({str(model)!r}), vae=Path({str(vae)!r}), text_encoder=Path({str(text)!r})) as checked:\n"
        "    counts = checked.checked\n"
        "print(json.dumps({'checked': counts, 'imported': sorted(m for m in ('diffusers', 'transformers.modeling_utils', 'accelerate') if m in sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == []
    assert result["checked"] == {"model": 825, "vae": 194, "text_encoder": 243}


@pytest.mark.parametrize("dropped", ["model.diffusion_model.blocks.29.ffn.2.bias", "model.diffusion_model.head.modulation"])
def test_the_shipped_shapes_still_refuse_a_missing_tensor_by_the_files_name(dropped: str) -> None:
    import torch

    from wan_compat.compat.core.errors import WanCompatError
    from wan_compat.compat.detect.model_info import ModelInfo
    from wan_compat.compat.fixtures.sparse import component_entries, original_transformer_names
    from wan_compat.compat.loading import component_configs
    from wan_compat.compat.loading.verified_state import check_part

    info = ModelInfo(path="x", format="single_file")
    info.variant = "wan2.1-t2v-1.3b"
    configs = component_configs.from_registry(info, False)
    tensors = {k: torch.empty(shape, device="meta") for k, (_, shape) in
               component_entries("wan2.1-t2v-1.3b", "bf16", original_transformer_names, "model.diffusion_model.").items()}
    assert check_part("model", tensors, configs) == 825
    tensors.pop(dropped)
    with pytest.raises(WanCompatError) as err:
        check_part("model", tensors, configs)
    assert err.value.code == "LOAD_MISSING_KEYS" and dropped in err.value.message()
