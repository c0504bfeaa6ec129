"""One flat graph from a ComfyUI workflow: UI format (nodes, links, subgraphs under `definitions`)
or API format (`{id: {class_type, inputs}}`).

Subgraphs are flattened: an inner node gets the id `<instance id>:<inner id>` (nested: more
colons), and every link is followed across the subgraph boundary to the real node that produces
the value, so the checks see the same data flow ComfyUI executes. Nodes are never executed and
nothing in the document is trusted beyond its JSON types: ids that are not strings or integers,
slots that are not integers and containers of the wrong kind are skipped, never used as keys.

The work is bounded by MAX_ITEMS: every node, input, widget value and link copied into a subgraph
instance counts, so a small document whose subgraphs fan out (3 instances a level, 12 levels:
531,441 nodes) is refused with WORKFLOW_TOO_LARGE after at most MAX_ITEMS copies instead of being
expanded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UsageError
from .node_table import widget_names

BYPASS, MUTE = 4, 2
MAX_ITEMS = 100_000  # nodes, inputs, widget values and links after flattening; a large real graph has a few thousand
Source = tuple[str, int]  # (node id, output slot)


def _key(value: Any) -> int | str | None:
    """A node or link id as JSON gives it (an integer or a string), or None for anything else."""
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _slot(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 16 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _Budget:
    """Items (nodes, inputs, widget values, links) made so far; WORKFLOW_TOO_LARGE past MAX_ITEMS."""

    def __init__(self, limit: int = MAX_ITEMS) -> None:
        self.limit, self.used = limit, 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise UsageError("WORKFLOW_TOO_LARGE", f"more than {self.limit} nodes, inputs, widget values and links once its "
                             "subgraphs are expanded", limit=self.limit)


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
            for entry in _list(node.properties.get("models")):
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    out.append(entry)
        return out


def declared_models(doc: Any) -> list[dict[str, Any]]:
    """The `properties.models` entries of a UI workflow's nodes and of its subgraph definitions, read
    once each without flattening (linear in the document: a download route needs only the links)."""
    if not isinstance(doc, dict):
        return []
    lists = [doc.get("nodes")]
    definitions = doc.get("definitions")
    if isinstance(definitions, dict):
        lists += [sub.get("nodes") for sub in _list(definitions.get("subgraphs")) if isinstance(sub, dict)]
    out = []
    for nodes in lists:
        for node in _list(nodes):
            props = node.get("properties") if isinstance(node, dict) else None
            for entry in _list(props.get("models") if isinstance(props, dict) else None):
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
    budget = _Budget()
    for node_id, raw in doc.items():
        node = Node(str(node_id), str(raw.get("class_type")))
        budget.spend(1 + len(_dict(raw.get("inputs"))))
        for name, value in _dict(raw.get("inputs")).items():
            if isinstance(value, list) and len(value) == 2 and _slot(value[1]) is not None and _key(value[0]) is not None:
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
        self.nodes = {_key(n.get("id")): n for n in raw_nodes if isinstance(n, dict) and _key(n.get("id")) is not None}
        self.links: dict[int | str, tuple[Any, int]] = {}
        for link in _list(raw_links):
            if isinstance(link, list) and len(link) >= 5:
                key, origin, slot = _key(link[0]), link[1], _slot(link[2])
            elif isinstance(link, dict):
                key, origin, slot = _key(link.get("id")), link.get("origin_id"), _slot(link.get("origin_slot", 0))
            else:
                continue
            if key is not None and slot is not None and (origin == -10 or _key(origin) is not None):
                self.links[key] = (origin, slot)
        self.children: dict[int | str, _Level] = {}


def _parse_ui(doc: dict[str, Any]) -> Graph:
    definitions = {sg["id"]: sg for sg in _list(_dict(doc.get("definitions")).get("subgraphs"))
                   if isinstance(sg, dict) and isinstance(sg.get("id"), str)}
    budget = _Budget()
    budget.spend(len(doc["nodes"]) + len(_list(doc.get("links"))))
    top = _Level("", doc["nodes"], doc.get("links"), None, None, None)
    out: dict[str, Node] = {}
    _collect(top, definitions, out, 0, budget)
    return Graph(out, "ui")


def _collect(level: _Level, definitions: dict[str, Any], out: dict[str, Node], depth: int, budget: _Budget) -> None:
    if depth > 16:
        raise UsageError("WORKFLOW_INVALID", "subgraphs nested more than 16 deep (or a subgraph contains itself)")
    for raw_id, raw in level.nodes.items():
        node_type = str(raw.get("type"))
        mode = raw.get("mode") if isinstance(raw.get("mode"), int) else 0
        if node_type in definitions:
            child = _child(level, raw, definitions, budget)
            if mode in (BYPASS, MUTE):  # the whole subgraph is off: so is every node in it
                for inner in child.nodes.values():
                    inner["mode"] = mode
            _collect(child, definitions, out, depth + 1, budget)
            continue
        budget.spend(len(_list(raw.get("inputs"))) + len(_list(raw.get("widgets_values"))) + len(_dict(raw.get("widgets_values"))))
        node = Node(level.prefix + str(raw_id), node_type, mode, properties=dict(_dict(raw.get("properties"))))
        for slot in _list(raw.get("inputs")):
            name = slot.get("name") if isinstance(slot, dict) else None
            if not isinstance(name, str):
                continue
            node.input_types[name] = str(slot.get("type"))
            link = _key(slot.get("link"))
            node.inputs[name] = _resolve(level, *level.links[link], definitions, budget) if link in level.links else None
        node.output_types = [str(o.get("type")) for o in _list(raw.get("outputs")) if isinstance(o, dict)]
        node.widgets = _widgets(node_type, raw.get("widgets_values"), node.inputs)
        out[node.id] = node


def _child(level: _Level, raw: dict[str, Any], definitions: dict[str, Any], budget: _Budget) -> _Level:
    key = _key(raw.get("id"))
    assert key is not None  # _Level keeps only nodes with a usable id
    if key not in level.children:
        definition = definitions[str(raw.get("type"))]
        inner = _list(definition.get("nodes"))
        budget.spend(len(inner) + len(_list(definition.get("links"))) + 1)  # the copies, and the instance itself
        level.children[key] = _Level(f"{level.prefix}{key}:", [dict(n) for n in inner if isinstance(n, dict)],
                                     definition.get("links"), level, raw, definition)
    return level.children[key]


def _resolve(level: _Level, origin: Any, slot: int, definitions: dict[str, Any], budget: _Budget, hops: int = 0) -> Source | None:
    """The real (node id, slot) behind a link, across subgraph inputs (-10) and outputs."""
    if hops > 64:
        return None
    if origin == -10 and level.instance is not None and level.parent is not None:
        declared = _list(_dict(level.definition).get("inputs"))
        name = declared[slot].get("name") if slot < len(declared) and isinstance(declared[slot], dict) else None
        match = next((i for i in _list(level.instance.get("inputs")) if isinstance(i, dict) and i.get("name") == name), None)
        link = _key(match.get("link")) if match else None
        if link not in level.parent.links:
            return None
        return _resolve(level.parent, *level.parent.links[link], definitions, budget, hops + 1)
    raw = level.nodes.get(_key(origin))
    if raw is None:
        return None
    if str(raw.get("type")) in definitions:
        child = _child(level, raw, definitions, budget)
        outputs = _list(definitions[str(raw.get("type"))].get("outputs"))
        ids = _list(outputs[slot].get("linkIds")) if slot < len(outputs) and isinstance(outputs[slot], dict) else []
        first = _key(ids[0]) if ids else None
        if first not in child.links:
            return None
        return _resolve(child, *child.links[first], definitions, budget, hops + 1)
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
