"""Build the example workflows in `workflows/` from compact graph specs and the live node definitions.

The saved files are UI-format workflows (what the ComfyUI frontend saves and loads by drag and
drop). Widget values come from each node's INPUT_TYPES defaults plus the variant's recommended
settings from the registry, so the workflows stay in step with the nodes: after changing a node,
run `python tools/build_workflows.py` and commit the result (tests/test_workflows.py checks both
that the files are valid and that they are what this script writes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "workflows"

# Core ComfyUI nodes the workflows use, as /object_info describes them (v0.3.64).
CORE_NODES: dict[str, dict[str, Any]] = {
    "LoadImage": {
        "input": {"required": {"image": [["example.png"], {"image_upload": True}]}},
        "input_order": {"required": ["image"]},
        "output": ["IMAGE", "MASK"],
        "output_name": ["IMAGE", "MASK"],
        "name": "LoadImage",
        "output_node": False,
    },
}


# Further core nodes (native sampling), saved from a live /object_info of the same version.
CORE_NODES.update({k: v for k, v in json.loads((ROOT / "tools" / "core_nodes.json").read_text(encoding="utf-8")).items() if not k.startswith("_")})


def object_info() -> dict[str, dict[str, Any]]:
    from wan_compat import NODE_CLASS_MAPPINGS
    from workflow_graph import object_info_for

    return {**CORE_NODES, **object_info_for(NODE_CLASS_MAPPINGS)}


def _default(entry: list[Any]) -> Any:
    from workflow_graph import default_value

    return default_value(entry)


def build(spec: dict[str, Any], info: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A UI-format workflow from {"nodes": [(key, type, {widget: value})], "links": [(from, output, to, input)]}.

    A link into a widget input (e.g. Wan Sample's fps into Wan Frame Process's fps) is saved as the
    frontend saves a widget converted to a socket: an `inputs` entry with `"widget": {"name": ...}`
    after the other sockets, while `widgets_values` keeps a value for the widget (unused while linked).
    """
    from workflow_layout import node_height, place

    from_key: dict[str, int] = {}
    nodes: list[dict[str, Any]] = []
    heights = {key: node_height(node_type, info[node_type]) for key, node_type, _ in spec["nodes"]}
    placed, groups = place(spec["columns"], heights)
    missing = {key for key, _, _ in spec["nodes"]} - set(placed)
    if missing:
        raise SystemExit(f"{spec['name']}: no column for {sorted(missing)}")
    linked_widgets = {(dst, name) for _src, _out, dst, name in spec["links"]}
    for index, (key, node_type, values) in enumerate(spec["nodes"], start=1):
        definition = info[node_type]
        from_key[key] = index
        widgets: list[Any] = []
        inputs: list[dict[str, Any]] = []
        widget_inputs: list[dict[str, Any]] = []  # widgets a link feeds, after the sockets (frontend 1.27 order)
        for section in ("required", "optional"):
            for name in definition["input_order"].get(section, []):
                entry = definition["input"][section][name]
                options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
                is_widget = (isinstance(entry[0], list) or entry[0] in ("INT", "FLOAT", "STRING", "BOOLEAN")) and not options.get("forceInput")
                if is_widget:
                    widgets.append(values.get(name, _default(entry)))
                    if entry[0] == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed")):
                        widgets.append("fixed")
                    if options.get("image_upload"):
                        widgets.append("image")
                    if (key, name) in linked_widgets:
                        kind = "COMBO" if isinstance(entry[0], list) else entry[0]
                        widget_inputs.append({"name": name, "type": kind, "widget": {"name": name}, "link": None})
                else:
                    inputs.append({"name": name, "type": entry[0], "link": None})
        inputs += widget_inputs
        unknown = set(values) - {n for s in definition["input_order"].values() for n in s}
        if unknown:
            raise SystemExit(f"{spec['name']}: {node_type} has no input(s) {sorted(unknown)}")
        outputs = [{"name": n, "type": t, "links": [], "slot_index": i}
                   for i, (n, t) in enumerate(zip(definition["output_name"], definition["output"]))]
        pos, size = placed[key]
        properties: dict[str, Any] = {"Node name for S&R": node_type}
        if key in spec.get("models", {}):  # files to download, in the official templates' format
            properties["models"] = spec["models"][key]
        nodes.append({
            "id": index, "type": node_type, "pos": pos, "size": size,
            "flags": {}, "order": index - 1, "mode": 0, "inputs": inputs, "outputs": outputs,
            "properties": properties, "widgets_values": widgets,
        })
    links = []
    for link_id, (src, output, dst, input_name) in enumerate(spec["links"], start=1):
        source, target = nodes[from_key[src] - 1], nodes[from_key[dst] - 1]
        slot = next(i for i, o in enumerate(source["outputs"]) if o["name"] == output)
        target_input = next(i for i in target["inputs"] if i["name"] == input_name)
        if target_input["link"] is not None:
            raise SystemExit(f"{spec['name']}: {dst}.{input_name} is linked twice")
        link_type = source["outputs"][slot]["type"]
        source["outputs"][slot]["links"].append(link_id)
        target_input["link"] = link_id
        links.append([link_id, source["id"], slot, target["id"], target["inputs"].index(target_input), link_type])
    workflow = {
        "id": spec["id"], "revision": 0, "last_node_id": len(nodes), "last_link_id": len(links),
        "nodes": nodes, "links": links, "groups": groups, "config": {},
        # Opened at 100 %: four columns fit a 1600 px window (tools/workflow_layout.py)
        "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}, "wan_compat": {"title": spec["title"], "description": spec["description"]}},
        "version": 0.4,
    }
    from workflow_graph import entered_twice

    twice = entered_twice(workflow, info)
    if twice:
        raise SystemExit(f"{spec['name']}: " + "; ".join(twice))
    return workflow


def graph_specs() -> list[dict[str, Any]]:
    from workflow_specs import SPECS  # noqa: E402 - sibling module

    return SPECS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed workflow differs from what would be written")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    info = object_info()
    stale = []
    for spec in graph_specs():
        text = json.dumps(build(spec, info), indent=2) + "\n"
        path = OUT / f"{spec['file']}.json"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            OUT.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(stale) + "; run python tools/build_workflows.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
