"""The pairs the links make, on the branch ComfyUI runs: the model a sampler runs against its
conditioning node (`conditioning.outcome`), its VAE (encode and decode), its LoRAs (hidden size,
then which keys will load: `detect.lora_coverage`), and the two experts of a Wan 2.2 A14B chain.
Native graphs and WanVideoWrapper graphs (WANVIDEOMODEL, WANVAE, WANVIDLORA) alike.
"""
from __future__ import annotations

import os

from ..detect.lora_coverage import predict_files
from . import conditioning
from .execution import Run
from .graph import Node
from .node_table import DECODERS, SAMPLERS, WRAPPER_ENCODERS
from .picks import Pick
from .trace import Origin, lora_chain, origin, upstream_samplers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .findings import Findings


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Pairs:
    def __init__(self, run: Run, picks: list[Pick], found: Findings) -> None:
        self.run, self.found = run, found
        self.by_node: dict[str, list[Pick]] = {}
        for pick in picks:
            self.by_node.setdefault(pick.node_id, []).append(pick)

    def check(self) -> None:
        running = [self.run.graph.nodes[i] for i in self.run.sources if self.run.runs(i)]
        samplers = [n for n in running if n.type in SAMPLERS]
        for sampler in samplers:
            self._sampler(sampler)
        for node in running:
            if node.type in DECODERS:
                self._decoder(node)
        for sampler in samplers:
            self._experts(sampler)

    # ------------------------------------------------------------------ helpers
    def _pick(self, node: Node | None, role: str) -> Pick | None:
        for pick in self.by_node.get(node.id, []) if node is not None else []:
            if pick.role in (role, "checkpoint") and pick.info is not None:
                return pick
        return None

    def _holder(self, sampler: Node) -> Node:
        """The node that holds the model and conditioning: the guider of SamplerCustomAdvanced."""
        guider = SAMPLERS[sampler.type].get("guider")
        source = self.run.source(sampler.id, guider) if guider else None
        return self.run.graph.nodes.get(source[0], sampler) if source is not None else sampler

    def _model(self, sampler: Node) -> tuple[Origin, Pick | None]:
        found = origin(self.run, self._holder(sampler).id, "model", "MODEL")
        pick = self._pick(found.node, "model")
        ok = pick is not None and pick.runs and pick.info.kind == "transformer" and pick.info.family == "wan"  # type: ignore[union-attr]
        return found, pick if ok else None

    @staticmethod
    def _label(pick: Pick) -> str:
        info = pick.info
        bits = [f"Wan {info.version}" if info.version else "Wan", (info.task or "").upper(), info.size or ""]  # type: ignore[union-attr]
        return f"{pick.name} ({' '.join(b for b in bits if b)})"

    # ------------------------------------------------------------------ sampler and conditioning
    def _sampler(self, sampler: Node) -> None:
        found, model = self._model(sampler)
        if model is None:
            return
        wrapper = found.node is not None and found.node.type == "WanVideoModelLoader"
        loras = lora_chain(self.run, found.node.id) if wrapper else found.loras  # type: ignore[union-attr]
        for lora_node in loras:
            for lora in self.by_node.get(lora_node.id, []):
                if lora.role == "lora" and lora.info is not None and lora.info.kind == "lora":
                    self._lora(lora_node, lora, model, "wrapper" if wrapper else "comfy")
        if wrapper:
            embeds = self.run.source(sampler.id, "image_embeds")
            encoder = self.run.graph.nodes.get(embeds[0]) if embeds else None
            if encoder is not None and encoder.type in WRAPPER_ENCODERS:
                self._vae_pair(self._pick(origin(self.run, encoder.id, WRAPPER_ENCODERS[encoder.type], "VAE").node, "vae"), model, encoder)
            return
        cond = origin(self.run, self._holder(sampler).id, "positive", "CONDITIONING").node
        if cond is None or cond.type not in conditioning.NODES:  # e.g. Wan22ImageToVideoLatent: only the latent
            cond = origin(self.run, sampler.id, SAMPLERS[sampler.type]["latent"], "LATENT").node
        if cond is None or cond.type not in conditioning.NODES:
            self._plain(sampler, model)
            return
        self._conditioned(cond, model)

    def _conditioned(self, cond: Node, model: Pick) -> None:
        facts = model.facts()
        vae = self._pick(origin(self.run, cond.id, "vae", "VAE").node, "vae")
        vae_z = (vae.info.vae or {}).get("z_dim") if vae is not None and vae.info.kind == "vae" else None  # type: ignore[union-attr]
        linked = {name for name, src in self.run.sources.get(cond.id, {}).items() if src is not None}
        row = conditioning.NODES[cond.type]
        for item in conditioning.outcome(cond.type, linked, facts, vae_z):
            self.found.add(item.code, [model.node_id, cond.id], f"{model.name}: {item.detail}", severity=item.severity,
                           model=self._label(model), node=cond.type, task=row.task)
        if row.latent != "vae":
            self._vae_pair(vae, model, cond)
        clip_linked = any(name.startswith("clip_vision") for name in linked)
        if facts.get("has_image_embedder") and not clip_linked and row.clip and row.clip_expected:
            self.found.add("WF_CLIP_VISION_MISSING", [cond.id, model.node_id],
                           f"{model.name} has an image embedder; {cond.type} #{cond.id} gets no CLIP vision output",
                           model=model.name, node=cond.type)
        elif clip_linked and not facts.get("has_image_embedder"):
            self.found.add("WF_CLIP_VISION_UNUSED", [cond.id, model.node_id], "", model=model.name)

    def _plain(self, sampler: Node, model: Pick) -> None:
        """A sampler without a Wan conditioning node: a text-to-video graph."""
        facts = model.facts()
        if facts.get("in_channels") and facts.get("out_channels") and facts["in_channels"] != facts["out_channels"] and not facts.get("markers"):
            self.found.add("WF_MODEL_TASK_MISMATCH", [model.node_id, sampler.id],
                           f"{model.name}: {facts['in_channels']} input channels, but no image conditioning node feeds {sampler.type} #{sampler.id}: "
                           "ComfyUI fills the extra channels with zeros",
                           severity="warning", model=self._label(model), node="an empty latent", task="text-to-video")

    # ------------------------------------------------------------------ VAE
    def _vae_pair(self, vae: Pick | None, model: Pick, at: Node) -> None:
        if vae is None or vae.info is None or vae.info.kind != "vae" or not vae.runs:
            return
        vae_z = (vae.info.vae or {}).get("z_dim")
        z = model.facts().get("out_channels")
        if vae_z and z and vae_z != z:
            self.found.add("WF_VAE_LATENT_MISMATCH", [vae.node_id, at.id, model.node_id],
                           f"{vae.name}: {vae_z} latent channels; {model.name}: {z}",
                           vae=vae.name, vae_z=vae_z, model=self._label(model), z=z,
                           right="wan2.2_vae.safetensors" if z == 48 else "wan_2.1_vae.safetensors")

    def _decoder(self, decoder: Node) -> None:
        spec = DECODERS[decoder.type]
        vae = self._pick(origin(self.run, decoder.id, spec["vae"], "VAE").node, "vae")
        for sampler in upstream_samplers(self.run, decoder.id, spec["latent"]):
            _, model = self._model(sampler)
            if model is not None:
                self._vae_pair(vae, model, decoder)

    # ------------------------------------------------------------------ LoRA
    def _lora(self, lora_node: Node, lora: Pick, model: Pick, loader: str) -> None:
        width, hidden = lora.facts().get("hidden"), model.facts().get("hidden")
        if width and hidden and width != hidden:
            self.found.add("WF_LORA_MODEL_MISMATCH", [lora_node.id, model.node_id],
                           f"{lora.name}: hidden size {width} ({lora.info.size or '?'}); {model.name}: {hidden} ({model.info.size or '?'})",  # type: ignore[union-attr]
                           lora=lora.name, lora_size=lora.info.size or f"hidden {width}", model=model.name,  # type: ignore[union-attr]
                           model_size=model.info.size or f"hidden {hidden}")  # type: ignore[union-attr]
            return
        if not lora.path or not model.path or model.info.naming == "diffusers":  # type: ignore[union-attr]
            return  # ComfyUI's LoRA map is built from its own (original) names
        cover = predict_files(lora.path, model.path, loader, (_identity(lora.path), _identity(model.path)))
        who = "WanVideoWrapper" if loader == "wrapper" else "ComfyUI"
        if cover.none_loaded:
            self.found.add("WF_LORA_NOT_APPLIED", [lora_node.id, model.node_id], f"{lora.name} on {model.name}: {cover.describe()}",
                           lora=lora.name, model=model.name, loader=who)
        elif cover.counts:
            self.found.add("WF_LORA_KEYS_SKIPPED", [lora_node.id, model.node_id], f"{lora.name} on {model.name}: {cover.describe()}",
                           lora=lora.name, model=model.name, skipped=cover.total - cover.loaded, total=cover.total, loader=who)

    # ------------------------------------------------------------------ experts
    def _experts(self, second: Node) -> None:
        before = origin(self.run, second.id, SAMPLERS[second.type]["latent"], "LATENT").node
        if before is None or before.type not in SAMPLERS or not self.run.runs(before.id):
            return
        _, first_model = self._model(before)
        _, second_model = self._model(second)
        if first_model is None or second_model is None:
            return
        ids = [first_model.node_id, second_model.node_id, before.id, second.id]
        info1, info2 = first_model.info, second_model.info
        if first_model.path and first_model.path == second_model.path and info1.moe:  # type: ignore[union-attr]
            self.found.add("WF_EXPERT_SAME_FILE", ids, first_model.name, name=first_model.name)
            return
        if info1.expert == "low_noise" or info2.expert == "high_noise":  # type: ignore[union-attr]
            self.found.add("WF_EXPERTS_SWAPPED", ids,
                           f"the first sampler ({before.type} #{before.id}) runs {first_model.name}; the second ({second.type} #{second.id}) runs {second_model.name}",
                           first=first_model.name, second=second_model.name)

