"""Following links upstream: which loader a MODEL/VAE/CLIP input really comes from (through LoRA
loaders, model patches, reroutes and bypassed nodes), which conditioning node feeds a sampler, and
which sampler produced a latent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph, Node
from .node_table import CONDITIONING, LOADERS, SAMPLERS

_NAMES = {"MODEL": ("model",), "CLIP": ("clip",), "VAE": ("vae",), "CLIP_VISION": ("clip_vision",),
          "LATENT": ("samples", "latent_image", "latent"), "CONDITIONING": ("positive", "conditioning", "conditioning_1"),
          "CLIP_VISION_OUTPUT": ("clip_vision_output",)}


@dataclass
class Origin:
    """Where a value comes from: the node that made it and the LoRA/patch nodes it went through."""

    node: Node | None
    slot: int = 0
    through: list[Node] = field(default_factory=list)

    @property
    def loras(self) -> list[Node]:
        return [n for n in self.through if LOADERS.get(n.type, [("", "", "")])[0][2] == "lora"]


def _same_type_input(node: Node, kind: str) -> str | None:
    """The input through which `node` passes a value of `kind` on (None: it makes it)."""
    if node.type == "Reroute":  # the classic reroute node: one untyped input
        return next((name for name, src in node.inputs.items() if src is not None), None)
    for name, declared in node.input_types.items():
        if declared == kind and node.inputs.get(name) is not None:
            return name
    for name in _NAMES.get(kind, ()):
        if node.inputs.get(name) is not None:
            return name
    return None


def origin(graph: Graph, node_id: str, input_name: str, kind: str, stop_at_samplers: bool = True) -> Origin:
    """The node that produced the value of `kind` arriving at `node_id.input_name`."""
    result = Origin(None)
    src = graph.source(node_id, input_name)
    seen: set[str] = set()
    while src is not None and src[0] not in seen:
        seen.add(src[0])
        node = graph.nodes.get(src[0])
        if node is None:
            return result
        result.node, result.slot = node, src[1]
        is_lora = node.type in LOADERS and LOADERS[node.type][0][2] == "lora"
        if node.active and node.type in LOADERS and not is_lora:
            return result  # the loader made it
        if node.active and (node.type in CONDITIONING or (stop_at_samplers and node.type in SAMPLERS)):
            return result
        nxt = _same_type_input(node, kind)
        if nxt is None:
            return result
        if node.active and is_lora:
            result.through.append(node)
        src = node.inputs[nxt]
    return result


def upstream_samplers(graph: Graph, node_id: str, input_name: str) -> list[Node]:
    """The sampler that made a latent, then the sampler before it (two-expert chains), in order."""
    chain: list[Node] = []
    current = origin(graph, node_id, input_name, "LATENT")
    while current.node is not None and current.node.type in SAMPLERS and current.node not in chain:
        chain.append(current.node)
        current = origin(graph, current.node.id, "latent_image", "LATENT")
    return chain
