"""A small builder of ComfyUI UI-format workflows (what the frontend saves): nodes with their input
and output slots, positional widget values, links as `[id, origin, slot, target, slot, type]`,
modes, and subgraph definitions. Tests use it to rebuild public graphs and to write their own."""
from __future__ import annotations

from typing import Any


class UIGraph:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []
        self.subgraphs: list[dict[str, Any]] = []
        self._next_link = 1

    def node(self, node_id: int, node_type: str, widgets: list[Any] | None = None, inputs: list[tuple[str, str]] = (),
             outputs: list[str] = (), mode: int = 0) -> int:
        self.nodes.append({
            "id": node_id, "type": node_type, "mode": mode,
            "inputs": [{"name": name, "type": kind, "link": None} for name, kind in inputs],
            "outputs": [{"name": kind, "type": kind, "links": []} for kind in outputs],
            "properties": {}, "widgets_values": list(widgets or []),
        })
        return node_id

    def _find(self, node_id: int) -> dict[str, Any]:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin: int, slot: int, target: int, input_name: str) -> int:
        link_id = self._next_link
        self._next_link += 1
        src, dst = self._find(origin), self._find(target)
        kind = src["outputs"][slot]["type"]
        src["outputs"][slot]["links"].append(link_id)
        dst_slot = next(i for i, s in enumerate(dst["inputs"]) if s["name"] == input_name)
        dst["inputs"][dst_slot]["link"] = link_id
        self.links.append([link_id, origin, slot, target, dst_slot, kind])
        return link_id

    def set_mode(self, node_id: int, mode: int) -> None:
        self._find(node_id)["mode"] = mode

    def widgets(self, node_id: int) -> list[Any]:
        return self._find(node_id)["widgets_values"]

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nodes": self.nodes, "links": self.links, "version": 0.4}
        if self.subgraphs:
            out["definitions"] = {"subgraphs": self.subgraphs}
        return out


MODEL, CLIP, VAE, LATENT, COND = "MODEL", "CLIP", "VAE", "LATENT", "CONDITIONING"


def native_t2v(g: UIGraph, unet: str, vae: str = "wan_2.1_vae.safetensors",
               clip: str = "umt5_xxl_fp8_e4m3fn_scaled.safetensors") -> UIGraph:
    """UNETLoader (1) -> ModelSamplingSD3 (2) -> KSampler (7) <- CLIPTextEncode (5, 6) <- CLIPLoader (3);
    EmptyHunyuanLatentVideo (8) -> KSampler; VAEDecode (9) <- VAELoader (4); SaveVideo-like sink (10)."""
    g.node(1, "UNETLoader", [unet, "default"], outputs=[MODEL])
    g.node(2, "ModelSamplingSD3", [8.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.node(3, "CLIPLoader", [clip, "wan", "default"], outputs=[CLIP])
    g.node(4, "VAELoader", [vae], outputs=[VAE])
    g.node(5, "CLIPTextEncode", ["a cat"], inputs=[("clip", CLIP)], outputs=[COND])
    g.node(6, "CLIPTextEncode", [""], inputs=[("clip", CLIP)], outputs=[COND])
    g.node(7, "KSampler", [1, "fixed", 20, 5.0, "uni_pc", "simple", 1.0],
           inputs=[("model", MODEL), ("positive", COND), ("negative", COND), ("latent_image", LATENT)], outputs=[LATENT])
    g.node(8, "EmptyHunyuanLatentVideo", [832, 480, 33, 1], outputs=[LATENT])
    g.node(9, "VAEDecode", inputs=[("samples", LATENT), ("vae", VAE)], outputs=["IMAGE"])
    g.node(10, "PreviewImage", inputs=[("images", "IMAGE")])
    g.link(1, 0, 2, "model")
    g.link(2, 0, 7, "model")
    g.link(3, 0, 5, "clip")
    g.link(3, 0, 6, "clip")
    g.link(5, 0, 7, "positive")
    g.link(6, 0, 7, "negative")
    g.link(8, 0, 7, "latent_image")
    g.link(7, 0, 9, "samples")
    g.link(4, 0, 9, "vae")
    g.link(9, 0, 10, "images")
    return g
