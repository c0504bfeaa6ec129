"""The checks of one workflow, on the run ComfyUI would make of it (`execution.Run`): what stops
the run before a model loads (link cycles, required inputs a muted or bypassed node swallows),
every picked file on its own (`file_checks`), then the pairs the links make (`pairs`: model and
VAE, model and conditioning node, model and LoRA, the two experts of Wan 2.2 A14B), for native
graphs and WanVideoWrapper graphs alike.

Numbers come from the headers (the detect layer's facts), never from file names, except the
high/low-noise role of a Wan 2.2 expert, which only its name carries (the two experts have the
same layout).
"""
from __future__ import annotations

from typing import Any

from .conditioning import NODES as CONDITIONING
from .execution import Run, missing_inputs
from .file_checks import check_file
from .findings import Findings
from .graph import Graph
from .pairs import Pairs
from .picks import Pick


class Checker:
    def __init__(self, graph: Graph, run: Run, picks: list[Pick], urls: dict[str, str]) -> None:
        self.graph, self.run, self.picks, self.urls = graph, run, picks, urls
        self.found = Findings()
        self.wan = self._is_wan_graph()

    def run_all(self) -> list[dict[str, Any]]:
        for loop in self.run.cycles:
            names = " -> ".join(f"{self.graph.nodes[i].type} #{i}" for i in loop + loop[:1])
            self.found.add("WF_LINK_CYCLE", loop, names)
        for node, name, dropped in missing_inputs(self.run):
            why = (f"its link comes from {self.graph.nodes[dropped.culprit].type} #{dropped.culprit}, which {dropped.why}"
                   if dropped and dropped.culprit in self.graph.nodes else "nothing is linked to it")
            self.found.add("WF_INPUT_MISSING", [node.id] + ([dropped.culprit] if dropped else []), why,
                           node=f"{node.type} #{node.id}", input=name)
        for pick in self.picks:
            for code, severity, detail, context in check_file(pick, self.graph.nodes[pick.node_id].widgets, self.wan, self.urls):
                entry = self.found.add(code, [pick.node_id], detail, severity=severity, **context)
                if entry is not None and code == "WF_FILE_MISSING":  # as data, for a download (compat/hub, `get --workflow`, the dialog)
                    entry["missing"] = {"name": pick.name, "folder": pick.folder, "url": self.urls.get(pick.name)}
        if not self.run.cycles:
            Pairs(self.run, self.picks, self.found).check()
        return self.found.items

    def _is_wan_graph(self) -> bool:
        for node_id in self.run.sources:
            node = self.graph.nodes[node_id]
            if node.type in CONDITIONING or node.type.startswith("WanVideo") or node.widgets.get("type") == "wan":
                return True
        return any(p.info is not None and p.info.family == "wan" and p.role == "model" for p in self.picks)
