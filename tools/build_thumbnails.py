"""Draw the template-card thumbnail of each example workflow: `workflows/<name>.jpg` beside `<name>.json`.

ComfyUI serves a pack's `workflows/` folder as templates and the frontend (1.27 and 1.58 alike)
asks for `/api/workflow_templates/<pack>/<name>.jpg` for each card; without the file the card is
blank and the console shows a 404. The picture is the workflow itself: its title, one line of what
it does, and its nodes and links as laid out, drawn from the JSON so it stays current. Run
`python tools/build_thumbnails.py` after `tools/build_workflows.py`; `--check` fails when stale.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
SIZE = (512, 384)
BACKGROUND, NODE, TITLE_BAR, LINK, TEXT, MUTED = "#1b1d23", "#353a45", "#4b5262", "#8ab4f8", "#f3f4f6", "#b6bcc8"
STAGE_COLORS = {"Detect": "#34d399", "Check": "#34d399", "Diagnose": "#fbbf24", "Encode": "#f472b6", "Sample": "#60a5fa"}


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled font: the same picture on every machine


def _short(node_type: str) -> str:
    return node_type.removeprefix("Wan").replace("Architecture", "").replace("Compatibility", "").replace("Process", "") or node_type


def draw(workflow: dict[str, Any]) -> bytes:
    """The JPEG bytes of one workflow's card."""
    from PIL import Image, ImageDraw

    meta = workflow["extra"]["wan_compat"]
    image = Image.new("RGB", SIZE, BACKGROUND)
    pen = ImageDraw.Draw(image)
    pen.text((18, 14), meta["title"], fill=TEXT, font=_font(26))
    for i, line in enumerate(textwrap.wrap(meta["description"], 58)[:3]):
        pen.text((18, 50 + 17 * i), line, fill=MUTED, font=_font(14))
    nodes = workflow["nodes"]
    boxes = [(g["bounding"], g["title"]) for g in workflow.get("groups", [])]
    left = min([n["pos"][0] for n in nodes] + [b[0] for b, _ in boxes])
    top_y = min([n["pos"][1] for n in nodes] + [b[1] for b, _ in boxes])
    right = max([n["pos"][0] + n["size"][0] for n in nodes] + [b[0] + b[2] for b, _ in boxes])
    bottom = max([n["pos"][1] + n["size"][1] for n in nodes] + [b[1] + b[3] for b, _ in boxes])
    top = 112
    scale = min((SIZE[0] - 36) / (right - left), (SIZE[1] - top - 10) / (bottom - top_y))

    def at(x: float, y: float) -> tuple[float, float]:
        return 18 + (x - left) * scale, top + (y - top_y) * scale

    for (gx, gy, gw, gh), title in boxes:  # the stages, as the workflow's groups frame them
        x, y = at(gx, gy)
        pen.rounded_rectangle([x, y, x + gw * scale, y + gh * scale], radius=5, outline=MUTED, width=1)
        pen.text((x + 4, y + 2), title, fill=MUTED, font=_font(11))
    by_id = {n["id"]: n for n in nodes}
    for link in workflow["links"]:
        src, dst = by_id[link[1]], by_id[link[3]]
        (x1, y1), (x2, y2) = at(src["pos"][0] + src["size"][0], src["pos"][1] + 20), at(dst["pos"][0], dst["pos"][1] + 20)
        pen.line([(x1, y1), (x2, y2)], fill=LINK, width=2)
    label = _font(max(9, int(30 * scale)))
    for node in nodes:
        x, y = at(node["pos"][0], node["pos"][1] - 30)
        w, h = node["size"][0] * scale, (node["size"][1] + 30) * scale
        name = _short(node["type"])
        accent = next((c for key, c in STAGE_COLORS.items() if key in name), TITLE_BAR)
        pen.rounded_rectangle([x, y, x + w, y + h], radius=5, fill=NODE, outline=accent, width=2)
        pen.rounded_rectangle([x, y, x + w, y + 30 * scale], radius=5, fill=accent)
        pen.text((x + 5, y + 32 * scale), name, fill=TEXT, font=label)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, optimize=True)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a thumbnail is missing or differs from what would be drawn")
    args = parser.parse_args()
    stale = []
    for path in sorted(WORKFLOWS.glob("*.json")):
        data = draw(json.loads(path.read_text()))
        target = path.with_suffix(".jpg")
        if args.check:
            if not target.exists() or target.read_bytes() != data:
                stale.append(target.name)
        else:
            target.write_bytes(data)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(stale) + "; run python tools/build_thumbnails.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
