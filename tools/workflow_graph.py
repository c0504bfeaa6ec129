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
# The same setting under the names different nodes give it: a value of one of these entered as an
# unlinked widget on two nodes of one workflow is entered twice (`entered_twice`). Other widget names
# are not compared (Wan Encode Video's and Wan Diagnose's filename_prefix name different files).
CONCEPTS = {
    **{name: name for name in ("width", "height", "num_frames", "videos", "fps", "steps", "cfg", "cfg_2", "shift",
                               "boundary_ratio", "prompt", "negative_prompt", "image")},
    "model": "model", "model_path": "model",
    "transformer_2": "transformer_2", "transformer_2_path": "transformer_2",
    "vae": "vae", "vae_path": "vae",
    "text_encoder": "text_encoder", "text_encoder_path": "text_encoder",
    "clip_vision": "clip_vision", "clip_vision_path": "clip_vision",
    "config_path": "config_source", "tokenizer_path": "tokenizer",
    "seed": "seed", "noise_seed": "seed",
    "dtype": "precision", "precision": "precision",  # Wan Safe Load's compute dtype, Wan Optimize's precision
}
# Values that enter nothing: no model, an empty path, "use the settings / the model's own".
UNSET = ("", "none", "settings", "default", "model default", -1)
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


def default_value(entry: list[Any]) -> Any:
    """The value the frontend gives a new widget of this input."""
    kind, options = entry[0], (entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {})
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else ""
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(kind)


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
        slots = {i["name"]: n for n, i in enumerate(node.get("inputs", []))}
        for name, (entry, required) in specs.items():
            if required and not _is_widget(entry) and name not in connected:
                problems.append(f"{where}: required input '{name}' is not connected")
        for item in node.get("inputs", []):
            entry = specs.get(item["name"], (None, False))[0]
            if entry is not None and _is_widget(entry) and (item.get("widget") or {}).get("name") != item["name"]:
                problems.append(f"{where}: input '{item['name']}' is a widget; its socket needs \"widget\": {{\"name\": \"{item['name']}\"}}")
        for name, link_id in connected.items():
            link = links.get(link_id)
            if link is None:
                problems.append(f"{where}: input '{name}' uses missing link {link_id}")
                continue
            source_id, slot, target_id, target_slot, link_type = link
            if target_slot != slots[name]:
                problems.append(f"{where}: link {link_id} ends at slot {target_slot} but '{name}' is input {slots[name]}")
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


def entered_twice(workflow: dict[str, Any], object_info: dict[str, dict[str, Any]]) -> list[str]:
    """Each setting (CONCEPTS) whose value is entered as an unlinked widget on more than one node:
    the user would have to keep them in step by hand. Linked widgets and UNSET values do not count."""
    found: dict[str, dict[Any, str]] = {}
    for node in workflow.get("nodes", []):
        definition = object_info.get(node.get("type", ""))
        if definition is None or node.get("mode", 0) in (2, 4):
            continue
        values, _ = widget_values(node, definition)
        linked = {i["name"] for i in node.get("inputs", []) if i.get("link") is not None}
        for name, value in values.items():
            concept = CONCEPTS.get(name)
            if concept is None or name in linked or (not isinstance(value, (list, dict)) and value in UNSET):
                continue
            found.setdefault(concept, {}).setdefault(node["id"], f"node {node['id']} ({node['type']}) {name}={value!r}")
    return [f"{concept} is entered on {len(where)} nodes: {'; '.join(where.values())}" for concept, where in found.items() if len(where) > 1]
