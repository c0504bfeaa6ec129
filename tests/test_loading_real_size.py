"""`load_component` on real-size Wan 2.1 T2V 1.3B files (sparse: real headers and sizes, zero data):
bf16, plain fp8 and ComfyUI fp8_scaled, in ComfyUI's naming. Every key checked, registry config,
the fp8 matrices held in fp8, and resident memory within 1.1x the file."""
from __future__ import annotations

import gc

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.fixtures import sparse  # noqa: E402
from wan_compat.compat.loading import key_naming, load_component  # noqa: E402

VARIANT = "wan2.1-t2v-1.3b"


@pytest.mark.parametrize("dtype", ["fp8_scaled", "fp8_e4m3fn", "bf16"])
def test_real_size_file_loads_at_its_own_size(tmp_path, dtype) -> None:
    path = sparse.write_single_file(tmp_path / f"wan2.1_t2v_1.3B_{dtype}.safetensors", VARIANT, dtype,
                                    rename=sparse.original_names(VARIANT), prefix=key_naming.COMFY_PREFIX)
    loaded = load_component(path)
    doc = loaded.to_dict()
    assert doc["class"] == "WanTransformer3DModel" and doc["variant"] == VARIANT
    assert doc["resident_bytes"] <= 1.1 * doc["file_bytes"], (doc["resident_bytes"], doc["file_bytes"])
    q = loaded.model.blocks[0].attn1.to_q
    assert q.weight.dtype == (torch.bfloat16 if dtype == "bf16" else torch.float8_e4m3fn)
    assert q.bias.dtype == torch.bfloat16  # stored bf16, never rounded to fp8
    if dtype == "fp8_scaled":
        assert doc["scaled_fp8"] == doc["fp8_linears"] > 0 and q.scale_weight.dtype == torch.float32
    del loaded, q
    gc.collect()
