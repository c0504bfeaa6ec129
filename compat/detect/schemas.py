"""Pydantic schemas for `model_index.json` and the Wan component configs.

They report every problem at once, each with its JSON path (`$.transformer[1]`, `$.latents_std`).
They run on every config that is read (`configs.read`: detection, and so every load, VAE swap and
compatibility check; `component_configs.from_folder`: a config source), imported on the first
config read only, so inspecting a single file never imports pydantic.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from ..core import safe_json
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

ComponentSpec = tuple[Optional[str], Optional[str]]
Scalar = Union[bool, int, float, str, None]


class _Config(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)

    class_name: Optional[str] = Field(default=None, alias="_class_name")
    diffusers_version: Optional[str] = Field(default=None, alias="_diffusers_version")


def _component_or_scalar(value: Any) -> Any:
    """A model_index entry is [library, class], [null, null], or a plain scalar setting."""
    if isinstance(value, list):
        if len(value) == 2 and (all(isinstance(v, str) and v for v in value) or all(v is None for v in value)):
            return value
        raise ValueError(f"a component must be [library, class] (two strings) or [null, null], got {value!r}")
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    raise ValueError(f"expected [library, class] or a scalar, got {type(value).__name__}")


class ModelIndex(_Config):
    """model_index.json: the pipeline class, its components as [library, class], and scalars."""

    __pydantic_extra__: dict[str, Annotated[Any, BeforeValidator(_component_or_scalar)]]  # type: ignore[assignment]

    class_name: str = Field(alias="_class_name")  # type: ignore[assignment]
    boundary_ratio: Optional[float] = Field(default=None, gt=0.0, lt=1.0)
    expand_timesteps: Optional[bool] = None

    @field_validator("boundary_ratio", mode="before")
    @classmethod
    def _int_is_float(cls, value: Any) -> Any:
        return float(value) if type(value) is int else value

    def components(self) -> dict[str, ComponentSpec]:
        return {
            k: (v[0], v[1])
            for k, v in (self.model_extra or {}).items()
            if not k.startswith("_") and isinstance(v, list) and len(v) == 2
        }


class WanTransformerConfig(_Config):
    patch_size: list[int] = Field(min_length=3, max_length=3)
    num_attention_heads: int = Field(gt=0)
    attention_head_dim: int = Field(gt=0)
    in_channels: int = Field(gt=0)
    out_channels: int = Field(gt=0)
    text_dim: int = Field(gt=0)
    freq_dim: int = Field(default=256, gt=0)
    ffn_dim: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    cross_attn_norm: bool = True
    qk_norm: Optional[str] = "rms_norm_across_heads"
    eps: float = Field(default=1e-6, gt=0)
    image_dim: Optional[int] = Field(default=None, gt=0)
    added_kv_proj_dim: Optional[int] = Field(default=None, gt=0)
    rope_max_seq_len: int = Field(default=1024, gt=0)
    pos_embed_seq_len: Optional[int] = Field(default=None, gt=0)

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=False)

    @model_validator(mode="after")
    def _image_pair(self) -> "WanTransformerConfig":
        if (self.image_dim is None) != (self.added_kv_proj_dim is None):
            raise ValueError("$.image_dim and $.added_kv_proj_dim must both be set (I2V/FLF2V) or both be null")
        return self


class WanVaeConfig(_Config):
    base_dim: int = Field(default=96, gt=0)
    decoder_base_dim: Optional[int] = Field(default=None, gt=0)
    z_dim: int = Field(default=16, gt=0)
    dim_mult: list[int] = Field(default_factory=lambda: [1, 2, 4, 4], min_length=1)
    num_res_blocks: int = Field(default=2, gt=0)
    attn_scales: list[float] = Field(default_factory=list)
    temperal_downsample: list[bool] = Field(default_factory=lambda: [False, True, True])
    latents_mean: list[float]
    latents_std: list[float]
    is_residual: bool = False
    in_channels: int = Field(default=3, gt=0)
    out_channels: int = Field(default=3, gt=0)
    patch_size: Optional[int] = Field(default=None, gt=0)
    scale_factor_temporal: int = Field(default=4, gt=0)
    scale_factor_spatial: int = Field(default=8, gt=0)

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=False)

    @model_validator(mode="after")
    def _latent_stats(self) -> "WanVaeConfig":
        errors = []
        for name in ("latents_mean", "latents_std"):
            n = len(getattr(self, name))
            if n != self.z_dim:
                errors.append(f"$.{name}: has {n} values, expected z_dim = {self.z_dim}")
        if any(s <= 0 for s in self.latents_std):
            errors.append("$.latents_std: every value must be > 0")
        if len(self.temperal_downsample) != len(self.dim_mult) - 1:
            errors.append(f"$.temperal_downsample: has {len(self.temperal_downsample)} values, expected len(dim_mult) - 1 = {len(self.dim_mult) - 1}")
        if errors:
            raise ValueError("; ".join(errors))
        return self


class UMT5Config(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_type: Literal["umt5", "t5"]
    d_model: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    d_kv: int = Field(gt=0)
    d_ff: int = Field(gt=0)
    vocab_size: int = Field(gt=0)


class CLIPVisionConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    patch_size: int = Field(gt=0)
    image_size: int = Field(gt=0)


class SchedulerConfig(_Config):
    class_name: str = Field(alias="_class_name")  # type: ignore[assignment]
    num_train_timesteps: int = Field(default=1000, gt=0)
    flow_shift: Optional[float] = Field(default=None, gt=0)


SCHEMAS: dict[str, type[BaseModel]] = {
    "model_index": ModelIndex,
    "transformer": WanTransformerConfig,
    "vae": WanVaeConfig,
    "text_encoder": UMT5Config,
    "clip_vision": CLIPVisionConfig,
    "scheduler": SchedulerConfig,
}


def _path(loc: tuple[Any, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def explain(exc: ValidationError) -> list[str]:
    """One line per problem, each starting with its JSON path."""
    lines = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if msg.startswith("Value error, "):
            # Field-level validators get the field's path; model-level ones already name their paths.
            where = f"{_path(err['loc'])}: " if err["loc"] else ""
            lines.extend(where + part.strip() for part in msg[len("Value error, "):].split("; "))
            continue
        found = err.get("input")
        shown = "" if err["type"] == "missing" else f" (got {json.dumps(found, default=str)[:80]})"
        lines.append(f"{_path(err['loc'])}: {msg}{shown}")
    return lines


def validate(kind: str, doc: Any) -> list[str]:
    """Every problem of `doc` against the schema of `kind`; empty when it is valid."""
    if not isinstance(doc, dict):
        return [f"$: expected a JSON object, got {type(doc).__name__}"]
    try:
        SCHEMAS[kind].model_validate(doc)
    except ValidationError as exc:
        return explain(exc)
    return []


def load(kind: str, path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Read and validate one JSON file: (document or None, problems)."""
    try:
        doc = safe_json.load_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, [f"$: not valid JSON ({exc})"]
    return doc, validate(kind, doc)
