"""The graph as ComfyUI runs it: which source each input really gets, which nodes never run, which
switch branch is taken, and what stops the run before a model is loaded.

Rules, from the code that applies them:
- Bypass and mute (ComfyUI_frontend `ExecutableNodeDTO.resolveOutput` / `_getBypassSlotIndex`,
  `graphToPrompt`): a muted node (mode 2) is left out of the prompt and the inputs it fed are
  deleted; a bypassed node (mode 4) hands each output the input of the same index when its type
  fits, else the first input of exactly the consumer's type, else the first compatible one, and
  nothing when no input fits (a bypassed loader has no inputs: its consumers get nothing). A
  frontend-only node (Reroute) passes its same-index input.
- A required input that gets nothing fails validation ("Required input is missing", ComfyUI
  `execution.py` validate_inputs).
- A link cycle stops execution ("Dependency cycle detected", `comfy_execution/graph.py`
  DependencyCycleError).
- `ComfySwitchNode` (comfy_extras/nodes_logic.py) evaluates only the branch its boolean picks
  (`on_true` / `on_false` are lazy); the boolean is its widget or the value of the node linked
  to it (PrimitiveBoolean, and through ComfyNotNode / InvertBooleanNode negated).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import BYPASS, MUTE, Graph, Node, Source
from .node_table import REQUIRED, node_roles


@dataclass
class Dropped:
    """An input whose link reaches nothing at run time, and the node that swallowed it."""

    node_id: str
    input: str
    culprit: str
    why: str


@dataclass
class Run:
    graph: Graph
    sources: dict[str, dict[str, Source | None]] = field(default_factory=dict)  # active nodes only
    dropped: list[Dropped] = field(default_factory=list)
    switches: dict[str, bool | None] = field(default_factory=dict)
    cycles: list[list[str]] = field(default_factory=list)
    off: set[str] = field(default_factory=set)  # active nodes that never run (untaken switch branch)

    def source(self, node_id: str, input_name: str) -> Source | None:
        return self.sources.get(node_id, {}).get(input_name)

    def runs(self, node_id: str) -> bool:
        node = self.graph.nodes.get(node_id)
        return node is not None and node.mode not in (BYPASS, MUTE) and node_id not in self.off

    def branch(self, switch_id: str) -> str | None:
        """The input a switch forwards: on_true / on_false, None when its boolean is not known."""
        value = self.switches.get(switch_id)
        return None if value is None else ("on_true" if value else "on_false")


def _fits(a: str | None, b: str | None) -> bool:
    """LiteGraph.isValidConnection: '*' / '' fit anything; else equal, comma lists pairwise."""
    if not a or not b or a == "*" or b == "*" or a == b:
        return True
    left, right = a.lower().split(","), b.lower().split(",")
    return any(x == y for x in left for y in right)


def _bypass_input(node: Node, slot: int, wanted: str) -> str | None:
    """The input a bypassed node hands its output `slot` to a consumer of type `wanted`."""
    names = list(node.inputs)
    out_type = node.output_types[slot] if slot < len(node.output_types) else None
    if not wanted or wanted == "*":
        return names[slot] if slot < len(names) else (names[0] if names else None)
    if slot < len(names):
        own = node.input_types.get(names[slot])
        if _fits(own, out_type) and _fits(own, wanted):
            return names[slot]
    for name in names:
        if node.input_types.get(name) == wanted:
            return name
    for name in names:
        if _fits(node.input_types.get(name), out_type) and _fits(node.input_types.get(name), wanted):
            return name
    return None


def _resolve(graph: Graph, src: Source | None, wanted: str) -> tuple[Source | None, str, str]:
    """(the real source, culprit, why) of a link, through bypassed and frontend-only nodes."""
    hops = 0
    while src is not None and hops < 256:
        hops += 1
        node = graph.nodes.get(src[0])
        if node is None:
            return None, src[0], "is not in the workflow"
        if node.mode == MUTE:
            return None, node.id, "is muted (mode never): ComfyUI leaves it out and deletes the links from it"
        if node.mode == BYPASS:
            name = _bypass_input(node, src[1], wanted)
            if name is None or node.inputs.get(name) is None:
                return None, node.id, f"is bypassed and has no {wanted or 'matching'} input to pass on"
            src = node.inputs[name]
            continue
        if node_roles().get(node.type) == "reroute":
            names = list(node.inputs)
            nxt = node.inputs.get(names[src[1]]) if src[1] < len(names) else None
            if nxt is None:
                return None, node.id, "is a reroute with nothing linked to it"
            src = nxt
            continue
        return src, "", ""
    return None, src[0] if src else "", "sits in a loop of bypassed or reroute nodes"


def _boolean(graph: Graph, run: Run, node: Node) -> bool | None:
    """The value a ComfySwitchNode's `switch` gets."""
    src = run.source(node.id, "switch")
    negate, hops = False, 0
    while src is not None and hops < 32:
        hops += 1
        origin = graph.nodes[src[0]]
        if origin.type in ("ComfyNotNode", "InvertBooleanNode"):
            negate = not negate
            nxt = run.source(origin.id, "value" if origin.type == "ComfyNotNode" else "boolean")
            if nxt is None:
                value = origin.widgets.get("boolean")
                return None if not isinstance(value, bool) else (not value if negate else value)
            src = nxt
            continue
        value = origin.widgets.get("value", origin.widgets.get("#0"))
        return None if not isinstance(value, bool) else (not value if negate else value)
    value = node.widgets.get("switch")
    return None if not isinstance(value, bool) else (not value if negate else value)


def _cycles(run: Run) -> list[list[str]]:
    """Each dependency cycle among the nodes that take part, once (iterative DFS)."""
    state: dict[str, int] = {}
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for start in run.sources:
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, [s[0] for s in run.sources[start].values() if s])]
        path = [start]
        state[start] = 1
        while stack:
            node_id, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node_id] = 2
                continue
            nxt = todo.pop()
            if nxt not in run.sources:
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                if frozenset(loop) not in seen_sets:
                    seen_sets.add(frozenset(loop))
                    found.append(loop)
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, [s[0] for s in run.sources[nxt].values() if s]))
    return found


def _reachable(run: Run) -> set[str]:
    """Nodes some sink needs, following only the branch each decided switch takes."""
    consumed = {s[0] for srcs in run.sources.values() for s in srcs.values() if s}
    todo = [nid for nid in run.sources if nid not in consumed]
    seen: set[str] = set()
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        inputs = run.sources.get(nid, {})
        taken = run.branch(nid) if nid in run.switches else None
        for name, src in inputs.items():
            if src is None or (taken and name in ("on_true", "on_false") and name != taken):
                continue
            todo.append(src[0])
    return seen


def execute(graph: Graph) -> Run:
    """The run ComfyUI would make of this graph (nothing is executed)."""
    run = Run(graph)
    for node in graph.nodes.values():
        if node.mode in (BYPASS, MUTE) or node_roles().get(node.type) == "reroute":
            continue
        resolved: dict[str, Source | None] = {}
        for name, raw in node.inputs.items():
            src, culprit, why = _resolve(graph, raw, node.input_types.get(name, ""))
            resolved[name] = src
            if raw is not None and src is None:
                run.dropped.append(Dropped(node.id, name, culprit, why))
        run.sources[node.id] = resolved
    for node in graph.nodes.values():
        if node.id in run.sources and node.type == "ComfySwitchNode":
            run.switches[node.id] = _boolean(graph, run, node)
    run.cycles = _cycles(run)
    if not run.cycles:
        run.off = set(run.sources) - _reachable(run)
    return run


def missing_inputs(run: Run) -> list[tuple[Node, str, Dropped | None]]:
    """Required inputs of running nodes that get nothing: (node, input, what swallowed the link)."""
    out = []
    by_input = {(d.node_id, d.input): d for d in run.dropped}
    for node_id, inputs in run.sources.items():
        node = run.graph.nodes[node_id]
        if node_id in run.off:
            continue
        for name in REQUIRED.get(node.type, ()):
            if name in node.inputs and inputs.get(name) is None:
                out.append((node, name, by_input.get((node_id, name))))
    return out
