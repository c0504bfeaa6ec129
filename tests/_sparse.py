"""Sparse safetensors files of real-size Wan parts, written from shapes only (header + truncate)."""
from __future__ import annotations

import os
from math import prod
from pathlib import Path

from wan_compat.compat.safetensors_header import encode_header

BYTES = {"BF16": 2, "F16": 2, "F32": 4}


def write_sparse(path: Path, shapes: dict[str, tuple[int, ...]], dtype: str = "BF16") -> Path:
    entries, offset = {}, 0
    for name, shape in shapes.items():
        size = prod(shape) * BYTES[dtype]
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header = encode_header(entries)
    with open(path, "wb") as fh:
        fh.write(header)
    os.truncate(path, len(header) + offset)
    return path


def ti2v_5b_transformer(path: Path) -> Path:
    """Wan 2.2 TI2V-5B in original naming: hidden 3072, 48 latent channels in and out, 30 blocks."""
    shapes = {
        "patch_embedding.weight": (3072, 48, 1, 2, 2),
        "head.head.weight": (48 * 4, 3072),
        "text_embedding.0.weight": (3072, 4096),
        "blocks.0.ffn.0.weight": (14336, 3072),
    }
    shapes.update({f"blocks.{i}.self_attn.q.weight": (3072, 3072) for i in range(30)})
    return write_sparse(path, shapes)


def wan21_vae(path: Path) -> Path:
    """The Wan 2.1 VAE in original naming: z_dim 16."""
    return write_sparse(path, {
        "encoder.conv1.weight": (96, 3, 3, 3, 3),
        "conv2.weight": (16, 16, 1, 1, 1),
        "decoder.middle.0.residual.0.gamma": (384, 1, 1, 1),
    })
