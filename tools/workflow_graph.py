"""UI-format ComfyUI workflows: check them against node definitions and turn them into API prompts.

The ComfyUI server only runs API-format prompts; the browser's `graphToPrompt` converts the saved
(UI) format. The same rules are written here so the shipped example workflows can be validated in
CI (every node type exists, widget values fit their inputs, links join matching types, required
inputs are connected) and queued on a real server in tests.

Node definitions are dicts shaped like the server's `/object_info` entries; `object_info_for()`
builds them from V1 node classes without a running ComfyUI.
"""
from __future__ import annotations

from typing import Any

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")
# Frontend rule: an INT input named like this (or marked control_after_generate) gets a second
# widget ("fixed"/"randomize"...) whose value is saved in widgets_values but never sent.
SEED_NAMES = ("seed", "noise_seed")


def object_info_for(classes: dict[str, type]) -> dict[str, dict[str, Any]]:
    """`/object_info`-shaped definitions for V1 node classes (what the server would answer)."""
    info = {}
    for name, cls in classes.items():
        spec = cls.INPUT_TYPES()
        info[name] = {
            "input": {k: v for k, v in spec.items() if k in ("required", "optional", "hidden")},
            "input_order": {k: list(v) for k, v in spec.items() if k in ("required", "optional", "hidden")},
            "output": list(cls.RETURN_TYPES),
            "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
            "name": name,
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
        }
    return info


def _is_widget(entry: list[Any]) -> bool:
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES or kind == "COMBO"


def _inputs(definition: dict[str, Any]) -> list[tuple[str, list[Any], bool]]:
    """(name, spec, required) in the order the frontend creates them."""
    out = []
    for section in ("required", "optional"):
        entries = definition["input"].get(section, {})
        for name in definition.get("input_order", {}).get(section, list(entries)):
            out.append((name, entries[name], section == "required"))
    return out


def _widget_slots(name: str, entry: list[Any]) -> int:
    """How many widgets_values one widget input takes (2 with a control or an upload widget)."""
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if entry[0] == "INT" and (options.get("control_after_generate") or name in SEED_NAMES):
        return 2
    if options.get("image_upload") or options.get("video_upload"):
        return 2
    return 1


def _check_value(name: str, entry: list[Any], value: Any) -> str | None:
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if isinstance(kind, list) or kind == "COMBO":
        choices = kind if isinstance(kind, list) else options.get("options", [])
        if options.get("wan_model_choice"):
            return None  # filled from the user's model folders; checked separately
        return None if value in choices else f"{name}={value!r} is not one of {choices[:8]}"
    if kind == "INT":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name}={value!r} is not an integer"
    elif kind == "FLOAT":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{name}={value!r} is not a number"
    elif kind == "STRING":
        return None if isinstance(value, str) else f"{name}={value!r} is not a string"
    elif kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{name}={value!r} is not true/false"
    lo, hi = options.get("min"), options.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        return f"{name}={value} is outside [{lo}, {hi}]"
    return None


def _links(workflow: dict[str, Any]) -> dict[int, tuple[int, int, int, int, str]]:
    return {link[0]: tuple(link[1:6]) for link in workflow.get("links", [])}  # type: ignore[misc]


def widget_values(node: dict[str, Any], definition: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Map a node's widgets_values to input names, with any problems found."""
    values = list(node.get("widgets_values") or [])
    mapped: dict[str, Any] = {}
    problems: list[str] = []
    position = 0
    for name, entry, _required in _inputs(definition):
        if not _is_widget(entry):
            continue
        if position >= len(values):
            problems.append(f"widget '{name}' has no value")
            continue
        mapped[name] = values[position]
        position += _widget_slots(name, entry)
    if position != len(values):
        problems.append(f"{len(values)} widget values for {position} widget slots")
    return mapped, problems


def validate(workflow: dict[str, Any], object_info: dict[str, dict[str, Any]]) -> list[str]:
    """Every problem of a UI-format workflow against the node definitions; empty when it is valid."""
    problems: list[str] = []
    links = _links(workflow)
    nodes = {node["id"]: node for node in workflow.get("nodes", [])}
    for node_id, node in nodes.items():
        where = f"node {node_id} ({node.get('type')})"
        definition = object_info.get(node.get("type", ""))
        if definition is None:
            problems.append(f"{where}: unknown node type")
            continue
        mapped, found = widget_values(node, definition)
        problems += [f"{where}: {p}" for p in found]
        specs = {name: (entry, required) for name, entry, required in _inputs(definition)}
        for name, value in mapped.items():
            message = _check_value(name, specs[name][0], value)
            if message:
                problems.append(f"{where}: {message}")
        connected = {i["name"]: i.get("link") for i in node.get("inputs", []) if i.get("link") is not None}
        for name, (entry, required) in specs.items():
            if required and not _is_widget(entry) and name not in connected:
                problems.append(f"{where}: required input '{name}' is not connected")
        for name, link_id in connected.items():
            link = links.get(link_id)
            if link is None:
                problems.append(f"{where}: input '{name}' uses missing link {link_id}")
                continue
            source_id, slot, target_id, _target_slot, link_type = link
            source = nodes.get(source_id)
            source_def = object_info.get(source.get("type", "")) if source else None
            if target_id != node_id or source_def is None or slot >= len(source_def["output"]):
                problems.append(f"{where}: input '{name}' is linked to a missing output")
                continue
            produced = source_def["output"][slot]
            wanted = specs[name][0][0] if name in specs else None
            if wanted is None:
                problems.append(f"{where}: input '{name}' does not exist")
            elif not (produced == wanted or "*" in (produced, wanted) or (isinstance(wanted, list) and produced == "COMBO")):
                problems.append(f"{where}: input '{name}' wants {wanted} but is linked to {produced} from node {source_id}")
            elif link_type not in (produced, "*"):
                problems.append(f"{where}: link {link_id} is typed {link_type} but carries {produced}")
    return problems


def to_api_prompt(workflow: dict[str, Any], object_info: dict[str, dict[str, Any]],
                  overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The API prompt the frontend would queue. `overrides` maps node type -> {input: value}
    (e.g. smaller sizes for a CPU test); muted/bypassed nodes are left out."""
    links = _links(workflow)
    prompt: dict[str, dict[str, Any]] = {}
    for node in workflow.get("nodes", []):
        if node.get("mode", 0) in (2, 4):
            continue
        definition = object_info[node["type"]]
        inputs, _ = widget_values(node, definition)
        for item in node.get("inputs", []):
            if item.get("link") is not None:
                source_id, slot, *_ = links[item["link"]]
                inputs[item["name"]] = [str(source_id), slot]
        inputs.update((overrides or {}).get(node["type"], {}))
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
