"""`load_component` on real-size Wan 2.1 T2V 1.3B files (sparse: real headers and sizes, zero data):
bf16, plain fp8 and ComfyUI fp8_scaled, in ComfyUI's naming. Every key checked, registry config,
the fp8 matrices held in fp8, and resident memory within 1.1x the file.

Each load runs in its own process (`wan-compat load --json` and a few facts of the model): up to
2.7 GB of weights would otherwise stay in this test process's allocator and distort later tests
that measure its RSS."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from wan_compat.compat.fixtures import sparse  # noqa: E402
from wan_compat.compat.loading import key_naming  # noqa: E402

VARIANT = "wan2.1-t2v-1.3b"
FACTS = r"""
import json, sys
from wan_compat.compat.loading import load_component
loaded = load_component(sys.argv[1])
q = loaded.model.blocks[0].attn1.to_q
doc = loaded.to_dict()
doc.update(q_weight=str(q.weight.dtype), q_bias=str(q.bias.dtype), q_scale=str(getattr(q, "scale_weight", None) is not None and q.scale_weight.dtype))
print(json.dumps(doc, default=str))
"""


@pytest.mark.parametrize("dtype", ["fp8_scaled", "fp8_e4m3fn", "bf16"])
def test_real_size_file_loads_at_its_own_size(tmp_path, dtype) -> None:
    path = sparse.write_single_file(tmp_path / f"wan2.1_t2v_1.3B_{dtype}.safetensors", VARIANT, dtype,
                                    rename=sparse.original_names(VARIANT), prefix=key_naming.COMFY_PREFIX)
    done = subprocess.run([sys.executable, "-c", FACTS, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["class"] == "WanTransformer3DModel" and doc["variant"] == VARIANT
    assert doc["resident_bytes"] <= 1.1 * doc["file_bytes"], (doc["resident_bytes"], doc["file_bytes"])
    assert doc["q_weight"] == ("torch.bfloat16" if dtype == "bf16" else "torch.float8_e4m3fn")
    assert doc["q_bias"] == "torch.bfloat16"  # stored bf16, never rounded to fp8
    if dtype == "fp8_scaled":
        assert doc["scaled_fp8"] == doc["fp8_linears"] > 0 and doc["q_scale"] == "torch.float32"


def test_cli_load_on_a_real_size_file(tmp_path) -> None:
    path = sparse.write_single_file(tmp_path / "wan2.1_t2v_1.3B_bf16.safetensors", VARIANT, "bf16",
                                    rename=sparse.original_names(VARIANT), prefix=key_naming.COMFY_PREFIX)
    done = subprocess.run([sys.executable, "-m", "wan_compat", "load", str(path), "--weight-storage", "fp8_e4m3fn", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["storage_dtype"] == "float8_e4m3fn" and doc["dtype_changes"]["bfloat16 -> float8_e4m3fn"] == doc["fp8_linears"] > 0
    assert doc["resident_bytes"] < 0.6 * doc["file_bytes"]  # the linear weights at one byte instead of two
