"""The checks of one workflow: every picked file on its own, then the pairs the links make
(model and VAE, model and conditioning node, model and LoRA, the two experts of Wan 2.2 A14B).

Numbers come from the headers (the detect layer's facts), never from file names, except the
high/low-noise role of a Wan 2.2 expert, which only its name carries (the two experts have the
same layout).
"""
from __future__ import annotations

from typing import Any

from ..core.errors import problem
from ..detect.where_to_get import missing
from .graph import Graph, Node
from .node_table import CONDITIONING, DECODERS, SAMPLERS, expected_in_channels
from .picks import Pick
from .trace import Origin, origin, upstream_samplers


class Findings:
    """Problems with the nodes they concern; one entry per (code, nodes)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, code: str, node_ids: list[str], detail: str = "", severity: str | None = None, **context: Any) -> None:
        ids = list(dict.fromkeys(i for i in node_ids if i))
        key = (code, tuple(sorted(ids)))
        if key in self._seen:
            return
        self._seen.add(key)
        entry = problem(code, detail, severity=severity, **context).to_dict()  # type: ignore[arg-type]
        entry["node_ids"] = ids
        self.items.append(entry)


class Checker:
    def __init__(self, graph: Graph, picks: list[Pick], urls: dict[str, str]) -> None:
        self.graph, self.picks, self.urls = graph, picks, urls
        self.by_node: dict[str, list[Pick]] = {}
        for pick in picks:
            self.by_node.setdefault(pick.node_id, []).append(pick)
        self.found = Findings()
        self.wan = self._is_wan_graph()

    def run(self) -> list[dict[str, Any]]:
        for pick in self.picks:
            self._file(pick)
        samplers = [n for n in self.graph.nodes.values() if n.active and n.type in SAMPLERS]
        for sampler in samplers:
            self._sampler(sampler)
        for node in self.graph.nodes.values():
            if node.active and node.type in DECODERS:
                self._decoder(node)
        for sampler in samplers:
            self._experts(sampler)
        return self.found.items

    # ------------------------------------------------------------------ helpers
    def _is_wan_graph(self) -> bool:
        if any(n.active and (n.type in CONDITIONING or n.widgets.get("type") == "wan") for n in self.graph.nodes.values()):
            return True
        return any(p.info is not None and p.info.family == "wan" and p.role == "model" for p in self.picks)

    def _pick(self, node: Node | None, role: str | None = None) -> Pick | None:
        for pick in self.by_node.get(node.id, []) if node is not None else []:
            if role is None or pick.role == role or pick.role == "checkpoint":
                return pick
        return None

    def _model(self, sampler: Node) -> tuple[Origin, Pick | None]:
        holder = sampler
        if "model" not in sampler.inputs and sampler.inputs.get("guider") is not None:  # SamplerCustomAdvanced
            guider = self.graph.nodes.get(sampler.inputs["guider"][0])  # type: ignore[index]
            holder = guider or sampler
        found = origin(self.graph, holder.id, "model", "MODEL")
        pick = self._pick(found.node, "model")
        ok = pick is not None and pick.info is not None and pick.info.kind == "transformer" and pick.info.family == "wan"
        return found, pick if ok else None

    @staticmethod
    def _label(pick: Pick) -> str:
        info = pick.info
        bits = [f"Wan {info.version}" if info and info.version else "Wan", (info.task or "").upper() if info else "", info.size or "" if info else ""]
        return f"{pick.name} ({' '.join(b for b in bits if b)})"

    # ------------------------------------------------------------------ one file
    def _file(self, pick: Pick) -> None:
        nid = [pick.node_id]
        if pick.path is None:
            self.found.add("WF_FILE_MISSING", nid, f"{pick.node_type} #{pick.node_id} picks {pick.name}",
                           **missing(pick.folder, pick.name, self.urls.get(pick.name)))
            return
        info = pick.info
        assert info is not None
        for p in info.problems:
            if p.severity == "error":
                self.found.add(p.code, nid, f"{pick.name}: {p.detail}" if p.detail else pick.name)
        kind, family = info.kind, info.family
        if pick.role == "model":
            if kind == "lora":
                self.found.add("WF_LORA_AS_MODEL", nid, f"{pick.name}: {'; '.join(info.evidence[:2])}", name=pick.name, node=pick.node_type)
            elif kind in ("vae", "text_encoder", "clip_vision"):
                self.found.add("WF_WRONG_KIND", nid, pick.name, name=pick.name, found=kind.replace("_", " "), expected="diffusion model", node=pick.node_type)
            elif self.wan and family not in ("wan", "unknown"):
                self.found.add("WF_NOT_WAN_MODEL", nid, pick.name, name=pick.name, family=family)
        elif pick.role == "lora":
            if kind != "lora" and kind != "unknown":
                self.found.add("WF_NOT_A_LORA", nid, pick.name, name=pick.name, found=kind.replace("_", " "))
            elif kind == "lora" and self.wan and family not in ("wan", "unknown"):
                self.found.add("WF_NOT_WAN_MODEL", nid, pick.name, name=pick.name, family=f"{family} (LoRA)")
        elif pick.role == "text_encoder" and self.wan:
            if kind != "text_encoder" or family != "umt5":
                what = family if kind == "text_encoder" else kind.replace("_", " ")
                self.found.add("WF_TEXT_ENCODER_NOT_UMT5", nid, f"{pick.name} is {what}", name=pick.name, found=what)
            else:
                clip_type = self.graph.nodes[pick.node_id].widgets.get("type")
                if pick.node_type == "CLIPLoader" and isinstance(clip_type, str) and clip_type != "wan":
                    self.found.add("WF_CLIP_TYPE_NOT_WAN", nid, pick.name, node=pick.node_type, type=clip_type)
        elif pick.role in ("vae", "clip_vision"):
            if kind != pick.role:
                self.found.add("WF_WRONG_KIND", nid, pick.name, name=pick.name, found=kind.replace("_", " "),
                               expected=pick.role.replace("_", " "), node=pick.node_type)
            elif pick.role == "vae" and family not in ("wan", "unknown") and self.wan:
                self.found.add("WF_NOT_WAN_MODEL", nid, pick.name, name=pick.name, family=family)

    # ------------------------------------------------------------------ links
    def _sampler(self, sampler: Node) -> None:
        found, model = self._model(sampler)
        if model is None:
            return
        facts = model.facts()
        z, hidden = facts.get("out_channels"), facts.get("hidden")
        for lora_node in found.loras:
            lora = self._pick(lora_node, "lora")
            if lora and lora.info and lora.info.kind == "lora":
                width = lora.facts().get("hidden")
                if width and hidden and width != hidden:
                    self.found.add("WF_LORA_MODEL_MISMATCH", [lora_node.id, model.node_id],
                                   f"{lora.name}: hidden size {width} ({lora.info.size or '?'}); {model.name}: {hidden} ({model.info.size or '?'})",
                                   lora=lora.name, lora_size=lora.info.size or f"hidden {width}", model=model.name,
                                   model_size=model.info.size or f"hidden {hidden}")
        holder = sampler
        if "positive" not in sampler.inputs and sampler.inputs.get("guider") is not None:
            holder = self.graph.nodes.get(sampler.inputs["guider"][0]) or sampler  # type: ignore[index]
        cond = origin(self.graph, holder.id, "positive", "CONDITIONING").node
        if cond is None or cond.type not in CONDITIONING:  # e.g. Wan22ImageToVideoLatent: only the latent
            cond = origin(self.graph, sampler.id, "latent_image", "LATENT").node
        if cond is None or cond.type not in CONDITIONING:
            self._plain(sampler, model, facts)
            return
        rule = CONDITIONING[cond.type]
        if z:
            expected = expected_in_channels(rule["in"], z)
            lacks = (rule.get("vace") and not facts.get("vace")) or (rule.get("marker") and rule["marker"] not in (facts.get("markers") or []))
            if facts.get("in_channels") != expected or lacks:
                self.found.add("WF_MODEL_TASK_MISMATCH", [model.node_id, cond.id],
                               f"{model.name}: {facts.get('in_channels')} input channels; {cond.type} needs {expected}"
                               + (f" and {rule.get('marker') or 'VACE blocks'}" if lacks else ""),
                               model=self._label(model), node=cond.type, task=rule["task"])
        vae = self._pick(origin(self.graph, cond.id, "vae", "VAE").node, "vae")
        self._vae_pair(vae, model, cond)
        clip_linked = any(src is not None and (name.startswith("clip_vision") or cond.input_types.get(name) == "CLIP_VISION_OUTPUT")
                          for name, src in cond.inputs.items())
        if facts.get("has_image_embedder") and not clip_linked:
            self.found.add("WF_CLIP_VISION_MISSING", [cond.id, model.node_id], f"{model.name} has an image embedder; {cond.type} #{cond.id} gets no CLIP vision output",
                           model=model.name, node=cond.type)
        elif clip_linked and not facts.get("has_image_embedder"):
            self.found.add("WF_CLIP_VISION_UNUSED", [cond.id, model.node_id], "", model=model.name)

    def _plain(self, sampler: Node, model: Pick, facts: dict[str, Any]) -> None:
        """A sampler without a Wan conditioning node: a text-to-video graph."""
        if facts.get("in_channels") and facts.get("out_channels") and facts["in_channels"] != facts["out_channels"] and not facts.get("markers"):
            self.found.add("WF_MODEL_TASK_MISMATCH", [model.node_id, sampler.id],
                           f"{model.name}: {facts['in_channels']} input channels, but no image conditioning node feeds {sampler.type} #{sampler.id}",
                           severity="warning", model=self._label(model), node="an empty latent", task="text-to-video")

    def _vae_pair(self, vae: Pick | None, model: Pick, at: Node) -> None:
        if vae is None or vae.info is None or vae.info.kind != "vae":
            return
        vae_z = (vae.info.vae or {}).get("z_dim")
        z = model.facts().get("out_channels")
        if vae_z and z and vae_z != z:
            self.found.add("WF_VAE_LATENT_MISMATCH", [vae.node_id, at.id, model.node_id],
                           f"{vae.name}: {vae_z} latent channels; {model.name}: {z}",
                           vae=vae.name, vae_z=vae_z, model=self._label(model), z=z,
                           right="wan2.2_vae.safetensors" if z == 48 else "wan_2.1_vae.safetensors")

    def _decoder(self, decoder: Node) -> None:
        vae = self._pick(origin(self.graph, decoder.id, "vae", "VAE").node, "vae")
        for sampler in upstream_samplers(self.graph, decoder.id, "samples"):
            _, model = self._model(sampler)
            if model is not None:
                self._vae_pair(vae, model, decoder)

    def _experts(self, second: Node) -> None:
        before = origin(self.graph, second.id, "latent_image", "LATENT").node
        if before is None or before.type not in SAMPLERS or not before.active:
            return
        _, first_model = self._model(before)
        _, second_model = self._model(second)
        if first_model is None or second_model is None:
            return
        ids = [first_model.node_id, second_model.node_id, before.id, second.id]
        if first_model.path and second_model.path and first_model.path == second_model.path and first_model.info.moe:
            self.found.add("WF_EXPERT_SAME_FILE", ids, first_model.name, name=first_model.name)
            return
        roles = (first_model.info.expert, second_model.info.expert)
        if roles[0] == "low_noise" or roles[1] == "high_noise":
            self.found.add("WF_EXPERTS_SWAPPED", ids,
                           f"the first sampler ({before.type} #{before.id}) runs {first_model.name}; the second ({second.type} #{second.id}) runs {second_model.name}",
                           first=first_model.name, second=second_model.name)
