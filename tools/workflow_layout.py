"""Where the example workflows put their nodes: a few columns, one group per stage, readable at
100 % in a 1600x1000 window.

Each column is a stage ("1 Model", "2 Prepare", ...) drawn as a ComfyUI group around its nodes,
stacked top to bottom. Node heights follow the frontend's own layout (1.27 and 1.58 compute a
node's height from its slot rows and visible widgets: `LGraphNode.computeSize`), plus room for
the text panel the pack's web extension adds under a Wan node after a run, so nothing overlaps
after the first run either. Advanced inputs (the `advanced` option) count too: Nodes 2.0 and 1.27
fold them away, 1.58's classic canvas shows them. Four columns of WIDTH px fit the canvas of a 1600 px window at 100 % (about 1540 px wide).
"""
from __future__ import annotations

from typing import Any

WIDTH = 340
COLUMN_GAP = 16
NODE_GAP = 24
LEFT, TOP = 60, 90  # the first group's corner, clear of the frontends' side bar and top bars; the view starts at 0, 0
GROUP_PAD, GROUP_TITLE = 10, 60  # the title, then room for the badges drawn above a node's title bar
TITLE, SLOT, WIDGET, MULTILINE, PADDING = 30, 20, 24, 80, 14
PANEL = 110  # the Wan node's text panel (web/wan_compat.js) with a line or three
NO_PANEL = ("WanLoRA",)
STAGE_COLORS = ("#2a3d4f", "#3b3356", "#2f4a3a", "#4a3a2a")  # one calm colour per column


def _options(entry: list[Any]) -> dict[str, Any]:
    return entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}


def node_height(node_type: str, definition: dict[str, Any]) -> int:
    """The body height (without the title bar) a node needs once it has run."""
    sockets = widgets = multiline = 0
    for section in ("required", "optional"):
        for name in definition["input_order"].get(section, []):
            entry = definition["input"][section][name]
            kind, options = entry[0], _options(entry)
            is_widget = (isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN")) and not options.get("forceInput")
            if not is_widget:
                sockets += 1
            elif kind == "STRING" and options.get("multiline"):
                multiline += 1
            else:
                widgets += 1 + (kind == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed")))
                widgets += bool(options.get("image_upload"))
    rows = max(sockets, len(definition["output"]))
    panel = PANEL if node_type.startswith("Wan") and node_type not in NO_PANEL else 0
    return rows * SLOT + widgets * WIDGET + multiline * MULTILINE + PADDING + panel + (180 if node_type == "LoadImage" else 0)


def place(columns: list[tuple[str, list[str]]], heights: dict[str, int]) -> tuple[dict[str, tuple[list[int], list[int]]], list[dict[str, Any]]]:
    """Positions and sizes of each node key, and the groups: one per column, titled with its stage."""
    placed: dict[str, tuple[list[int], list[int]]] = {}
    groups: list[dict[str, Any]] = []
    for index, (title, keys) in enumerate(columns):
        x = LEFT + index * (WIDTH + 2 * GROUP_PAD + COLUMN_GAP)
        y = TOP + GROUP_TITLE
        for key in keys:
            placed[key] = ([x + GROUP_PAD, y + TITLE], [WIDTH, heights[key]])
            y += TITLE + heights[key] + NODE_GAP
        groups.append({"id": index + 1, "title": title, "bounding": [x, TOP, WIDTH + 2 * GROUP_PAD, y - TOP - NODE_GAP + GROUP_PAD],
                       "color": STAGE_COLORS[index % len(STAGE_COLORS)], "font_size": 22, "flags": {}})
    return placed, groups


def width(groups: list[dict[str, Any]]) -> int:
    """How wide the laid-out graph is, in canvas pixels (at 100 %, screen pixels)."""
    return max(g["bounding"][0] + g["bounding"][2] for g in groups) if groups else 0
