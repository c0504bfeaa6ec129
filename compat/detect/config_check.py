"""A component's config.json against the facts its weight headers show."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the `wan-compat inspect` path
    from typing import Any


def config_vs_weights(kind: str, config: dict[str, Any], facts: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, config value, weight value) for every config field the weights contradict."""
    if kind == "transformer":
        heads, head_dim = config.get("num_attention_heads"), config.get("attention_head_dim")
        pairs = [
            ("in_channels", config.get("in_channels"), facts.get("in_channels")),
            ("out_channels", config.get("out_channels"), facts.get("out_channels")),
            ("num_layers", config.get("num_layers"), facts.get("blocks")),
            ("num_attention_heads * attention_head_dim", heads * head_dim if heads and head_dim else None, facts.get("hidden")),
            ("text_dim", config.get("text_dim"), facts.get("text_dim")),
            ("ffn_dim", config.get("ffn_dim"), facts.get("ffn_dim")),
            ("image_dim", config.get("image_dim"), facts.get("image_dim")),
        ]
    elif kind == "vae":
        pairs = [
            ("z_dim", config.get("z_dim", 16), facts.get("z_dim")),
            ("base_dim", config.get("base_dim", 96), facts.get("base_dim")),
            ("in_channels", config.get("in_channels", 3), facts.get("in_channels")),
        ]
    elif kind == "text_encoder":
        pairs = [("d_model", config.get("d_model"), facts.get("d_model")), ("num_layers", config.get("num_layers"), facts.get("layers"))]
    elif kind == "clip_vision":
        pairs = [("hidden_size", config.get("hidden_size"), facts.get("hidden")), ("num_hidden_layers", config.get("num_hidden_layers"), facts.get("layers"))]
    else:
        pairs = []
    return [(name, cfg, found) for name, cfg, found in pairs if found is not None and cfg != found]
