"""One flat graph from a ComfyUI workflow: UI format (nodes, links, subgraphs under `definitions`)
or API format (`{id: {class_type, inputs}}`).

Subgraphs are flattened: an inner node gets the id `<instance id>:<inner id>` (nested: more
colons), and every link is followed across the subgraph boundary to the real node that produces
the value, so the checks see the same data flow ComfyUI executes. Nodes are never executed and
nothing in the document is trusted beyond its JSON types.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UsageError
from .node_table import widget_names

BYPASS, MUTE = 4, 2
Source = tuple[str, int]  # (node id, output slot)


@dataclass
class Node:
    id: str
    type: str
    mode: int = 0
    widgets: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Source | None] = field(default_factory=dict)
    input_types: dict[str, str] = field(default_factory=dict)
    output_types: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.mode not in (BYPASS, MUTE)


class Graph:
    """Nodes by id, with the edges read both ways."""

    def __init__(self, nodes: dict[str, Node], fmt: str) -> None:
        self.nodes, self.format = nodes, fmt
        self.consumers: dict[Source, list[tuple[str, str]]] = {}
        for node in nodes.values():
            for name, src in node.inputs.items():
                if src is not None:
                    self.consumers.setdefault(src, []).append((node.id, name))

    def source(self, node_id: str, input_name: str) -> Source | None:
        node = self.nodes.get(node_id)
        return node.inputs.get(input_name) if node else None

    def users(self, node_id: str) -> list[tuple[str, str]]:
        """(consumer id, input name) of every output of `node_id`."""
        return [u for (src, _), found in self.consumers.items() if src == node_id for u in found]

    def models(self) -> list[dict[str, Any]]:
        """The `properties.models` entries (name, url, directory) of every node, in order."""
        out = []
        for node in self.nodes.values():
            for entry in node.properties.get("models") or []:
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    out.append(entry)
        return out


def parse(doc: Any) -> Graph:
    """A Graph from a parsed workflow document; WORKFLOW_INVALID when it is neither format."""
    if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
        return _parse_ui(doc)
    if isinstance(doc, dict) and isinstance(doc.get("prompt"), dict):  # the body POSTed to /prompt
        return parse(doc["prompt"])
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) and "class_type" in v for v in doc.values()):
        return _parse_api(doc)
    raise UsageError("WORKFLOW_INVALID", "neither a UI workflow (a `nodes` list) nor an API prompt ({id: {class_type, inputs}})")


# ------------------------------------------------------------------ API format
def _parse_api(doc: dict[str, Any]) -> Graph:
    nodes: dict[str, Node] = {}
    for node_id, raw in doc.items():
        node = Node(str(node_id), str(raw.get("class_type")))
        for name, value in (raw.get("inputs") or {}).items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and isinstance(value[0], (str, int)):
                node.inputs[name] = (str(value[0]), value[1])
            else:
                node.widgets[name] = value
        meta = raw.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get("models"), list):
            node.properties["models"] = meta["models"]
        nodes[node.id] = node
    return Graph(nodes, "api")


# ------------------------------------------------------------------ UI format
class _Level:
    """One graph level: the top workflow or one subgraph instance."""

    def __init__(self, prefix: str, raw_nodes: list[Any], raw_links: list[Any], parent: _Level | None,
                 instance: dict[str, Any] | None, definition: dict[str, Any] | None) -> None:
        self.prefix, self.parent, self.instance, self.definition = prefix, parent, instance, definition
        self.nodes = {n["id"]: n for n in raw_nodes if isinstance(n, dict) and "id" in n}
        self.links: dict[int, tuple[Any, int]] = {}
        for link in raw_links or []:
            if isinstance(link, list) and len(link) >= 5:
                self.links[link[0]] = (link[1], link[2])
            elif isinstance(link, dict) and "id" in link:
                self.links[link["id"]] = (link.get("origin_id"), link.get("origin_slot", 0))
        self.children: dict[Any, _Level] = {}


def _parse_ui(doc: dict[str, Any]) -> Graph:
    definitions = {sg.get("id"): sg for sg in (doc.get("definitions") or {}).get("subgraphs") or [] if isinstance(sg, dict)}
    top = _Level("", doc["nodes"], doc.get("links") or [], None, None, None)
    out: dict[str, Node] = {}
    _collect(top, definitions, out, depth=0)
    return Graph(out, "ui")


def _collect(level: _Level, definitions: dict[str, Any], out: dict[str, Node], depth: int) -> None:
    if depth > 16:
        raise UsageError("WORKFLOW_INVALID", "subgraphs nested more than 16 deep (or a subgraph contains itself)")
    for raw_id, raw in level.nodes.items():
        node_type = str(raw.get("type"))
        mode = raw.get("mode") if isinstance(raw.get("mode"), int) else 0
        if node_type in definitions:
            child = _child(level, raw, definitions)
            if mode in (BYPASS, MUTE):  # the whole subgraph is off: so is every node in it
                for inner in child.nodes.values():
                    inner["mode"] = mode
            _collect(child, definitions, out, depth + 1)
            continue
        node = Node(level.prefix + str(raw_id), node_type, mode, properties=dict(raw.get("properties") or {}))
        for slot in raw.get("inputs") or []:
            if not isinstance(slot, dict) or "name" not in slot:
                continue
            node.input_types[slot["name"]] = str(slot.get("type"))
            link = slot.get("link")
            node.inputs[slot["name"]] = _resolve(level, *level.links[link], definitions) if link in level.links else None
        node.output_types = [str(o.get("type")) for o in raw.get("outputs") or [] if isinstance(o, dict)]
        node.widgets = _widgets(node_type, raw.get("widgets_values"), node.inputs)
        out[node.id] = node


def _child(level: _Level, raw: dict[str, Any], definitions: dict[str, Any]) -> _Level:
    if raw["id"] not in level.children:
        definition = definitions[raw["type"]]
        level.children[raw["id"]] = _Level(
            f"{level.prefix}{raw['id']}:", [dict(n) for n in definition.get("nodes") or []], definition.get("links") or [],
            level, raw, definition,
        )
    return level.children[raw["id"]]


def _resolve(level: _Level, origin: Any, slot: int, definitions: dict[str, Any], hops: int = 0) -> Source | None:
    """The real (node id, slot) behind a link, across subgraph inputs (-10) and outputs."""
    if hops > 64:
        return None
    if origin == -10 and level.instance is not None and level.parent is not None:
        declared = (level.definition or {}).get("inputs") or []
        name = declared[slot].get("name") if slot < len(declared) and isinstance(declared[slot], dict) else None
        match = next((i for i in level.instance.get("inputs") or [] if isinstance(i, dict) and i.get("name") == name), None)
        link = match.get("link") if match else None
        if link not in level.parent.links:
            return None
        return _resolve(level.parent, *level.parent.links[link], definitions, hops + 1)
    raw = level.nodes.get(origin)
    if raw is None:
        return None
    if str(raw.get("type")) in definitions:
        child = _child(level, raw, definitions)
        outputs = definitions[raw["type"]].get("outputs") or []
        ids = outputs[slot].get("linkIds") if slot < len(outputs) else None
        if not ids or ids[0] not in child.links:
            return None
        return _resolve(child, *child.links[ids[0]], definitions, hops + 1)
    return (level.prefix + str(origin), slot)


def _widgets(node_type: str, values: Any, linked: dict[str, Source | None]) -> dict[str, Any]:
    """Widget values by name: UI files store them by position, in the node's widget order."""
    if isinstance(values, dict):
        return dict(values)
    if not isinstance(values, list):
        return {}
    names = widget_names(node_type)
    if names is None:
        return {f"#{i}": v for i, v in enumerate(values)}
    return {name: values[i] for i, name in enumerate(names) if i < len(values)}
