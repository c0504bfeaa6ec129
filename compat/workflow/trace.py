"""Following links upstream on the run ComfyUI would make (`execution.Run`: bypass, mute and
reroutes already resolved): which loader a MODEL/VAE/CLIP input really comes from (through LoRA
loaders, model patches and the branch a switch takes), which conditioning node feeds a sampler,
and which sampler produced a latent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .conditioning import NODES as CONDITIONING
from .execution import Run
from .graph import Node
from .node_table import KIND_ALIASES, LOADERS, SAMPLERS, node_roles

_NAMES = {"MODEL": ("model",), "CLIP": ("clip", "t5"), "VAE": ("vae",), "CLIP_VISION": ("clip_vision",),
          "LATENT": ("samples", "latent_image", "latent"), "CONDITIONING": ("positive", "conditioning", "conditioning_1"),
          "CLIP_VISION_OUTPUT": ("clip_vision_output",), "LORA": ("prev_lora", "lora")}
_LORA_ROLES = ("lora",)


@dataclass
class Origin:
    """Where a value comes from: the node that made it and the LoRA/patch nodes it went through."""

    node: Node | None
    slot: int = 0
    through: list[Node] = field(default_factory=list)

    @property
    def loras(self) -> list[Node]:
        return [n for n in self.through if is_lora(n)]


def is_lora(node: Node) -> bool:
    specs = LOADERS.get(node.type)
    return bool(specs) and specs[0][2] in _LORA_ROLES


def _same_type_input(node: Node, kind: str, run: Run) -> str | None:
    """The input through which `node` passes a value of `kind` on (None: it makes it)."""
    if node.type == "ComfySwitchNode":
        taken = run.branch(node.id)
        if taken:
            return taken if run.source(node.id, taken) is not None else None
        return next((n for n in ("on_false", "on_true") if run.source(node.id, n) is not None), None)
    kinds = KIND_ALIASES.get(kind, (kind,))
    for name, declared in node.input_types.items():
        if declared in kinds and run.source(node.id, name) is not None:
            return name
    for name in _NAMES.get(kind, ()):
        if run.source(node.id, name) is not None:
            return name
    return None


def origin(run: Run, node_id: str, input_name: str, kind: str, stop_at_samplers: bool = True) -> Origin:
    """The node that produced the value of `kind` arriving at `node_id.input_name`."""
    result = Origin(None)
    src = run.source(node_id, input_name)
    seen: set[str] = set()
    while src is not None and src[0] not in seen:
        seen.add(src[0])
        node = run.graph.nodes.get(src[0])
        if node is None:
            return result
        result.node, result.slot = node, src[1]
        if node.type in LOADERS and not is_lora(node):
            return result  # the loader made it
        passes_model = kind == "MODEL" and node_roles().get(node.type) == "model_output"
        if (node.type in CONDITIONING and not passes_model) or (stop_at_samplers and node.type in SAMPLERS):
            return result
        nxt = _same_type_input(node, kind, run)
        if nxt is None:
            return result
        if is_lora(node):
            result.through.append(node)
        src = run.source(node.id, nxt)
    return result


def lora_chain(run: Run, node_id: str, input_name: str = "lora") -> list[Node]:
    """WanVideoWrapper's LoRA list: the WanVideoLoraSelect nodes chained through `prev_lora`."""
    out: list[Node] = []
    src = run.source(node_id, input_name)
    while src is not None:
        node = run.graph.nodes.get(src[0])
        if node is None or node in out:
            break
        if is_lora(node):
            out.append(node)
        nxt = next((n for n in ("prev_lora", "lora") if run.source(node.id, n) is not None), None)
        src = run.source(node.id, nxt) if nxt else None
    return out


def upstream_samplers(run: Run, node_id: str, input_name: str) -> list[Node]:
    """The sampler that made a latent, then the sampler before it (two-expert chains), in order."""
    chain: list[Node] = []
    current = origin(run, node_id, input_name, "LATENT")
    while current.node is not None and current.node.type in SAMPLERS and current.node not in chain:
        chain.append(current.node)
        current = origin(run, current.node.id, SAMPLERS[current.node.type]["latent"], "LATENT")
    return chain
