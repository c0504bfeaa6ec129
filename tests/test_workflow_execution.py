"""The workflow check follows the graph as ComfyUI runs it: bypass passes only inputs of the same
type and a bypassed loader leaves its consumers with nothing, mute drops a node and never reports
it, reroutes pass through, a switch runs the branch its boolean picks, a link cycle stops the run,
and nested subgraphs are followed to the inner node. Graphs are built here (tests/ui_graph.py)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ui_graph import CLIP, COND, LATENT, MODEL, VAE, UIGraph, native_t2v
from wan_compat.compat.fixtures.sparse import write_sparse
from wan_compat.compat.fixtures.template_files import lora_entries, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.report import check_workflow

T2V = "wan2.1_t2v_1.3B_fp16.safetensors"
LORA_14B = "lora_14B_rank64.safetensors"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> ModelFolders:
    root = tmp_path_factory.mktemp("exec") / "models"
    for folder, name in [("diffusion_models", T2V), ("vae", "wan_2.1_vae.safetensors"), ("vae", "wan2.2_vae.safetensors"),
                         ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]:
        write_template_file(root, folder, name)
    write_sparse(root / "loras" / LORA_14B, lora_entries("wan2.1-t2v-14b", 64))
    found = ModelFolders()
    found.add_models_root(root)
    return found


def codes(result: dict, severity: str = "error") -> list[str]:
    return [p["code"] for p in result["problems"] if p["severity"] == severity]


def with_lora(g: UIGraph, mode: int = 0) -> UIGraph:
    """A LoraLoaderModelOnly (11) between the UNETLoader (1) and ModelSamplingSD3 (2)."""
    g.node(11, "LoraLoaderModelOnly", [LORA_14B, 1.0], inputs=[("model", MODEL)], outputs=[MODEL], mode=mode)
    g.links = [l for l in g.links if not (l[1] == 1 and l[3] == 2)]
    g._find(2)["inputs"][0]["link"] = None
    g.link(1, 0, 11, "model")
    g.link(11, 0, 2, "model")
    return g


def test_the_plain_graph_passes(folders: ModelFolders) -> None:
    result = check_workflow(native_t2v(UIGraph(), T2V).doc(), folders)
    assert result["ok"] and codes(result, "warning") == []


def test_a_bypassed_lora_passes_its_model_on_and_is_not_checked(folders: ModelFolders) -> None:
    active = check_workflow(with_lora(native_t2v(UIGraph(), T2V)).doc(), folders)
    assert "WF_LORA_MODEL_MISMATCH" in codes(active)  # a 14B LoRA on the 1.3B model
    bypassed = check_workflow(with_lora(native_t2v(UIGraph(), T2V), mode=4).doc(), folders)
    assert bypassed["ok"] and not [f for f in bypassed["files"] if f["input"] == "lora_name"]


def test_a_muted_lora_leaves_the_sampler_without_a_model(folders: ModelFolders) -> None:
    """Mute drops the node and the links from it (ComfyUI_frontend graphToPrompt): its consumer
    gets nothing; the muted node's own file is never looked at."""
    result = check_workflow(with_lora(native_t2v(UIGraph(), T2V), mode=2).doc(), folders)
    found = [p for p in result["problems"] if p["code"] == "WF_INPUT_MISSING"]
    assert len(found) == 1 and found[0]["node_ids"] == ["2", "11"] and "muted" in found[0]["detail"]
    assert "WF_LORA_MODEL_MISMATCH" not in codes(result)


def test_a_bypassed_loader_behind_a_reroute_leaves_its_consumer_without_input(folders: ModelFolders) -> None:
    g = native_t2v(UIGraph(), "not_downloaded.safetensors")
    g.node(12, "Reroute", inputs=[("", "*")], outputs=[MODEL])
    g.links = [l for l in g.links if not (l[1] == 1 and l[3] == 2)]
    g._find(2)["inputs"][0]["link"] = None
    g.link(1, 0, 12, "")
    g.link(12, 0, 2, "model")
    g.set_mode(1, 4)
    result = check_workflow(g.doc(), folders)
    found = [p for p in result["problems"] if p["code"] == "WF_INPUT_MISSING"]
    assert len(found) == 1 and found[0]["node_ids"] == ["2", "1"] and "bypassed" in found[0]["detail"]
    assert "WF_FILE_MISSING" not in codes(result)  # a bypassed loader's pick is never loaded or validated


def test_a_muted_branch_is_never_reported(folders: ModelFolders) -> None:
    g = native_t2v(UIGraph(), "not_downloaded.safetensors", vae="wan2.2_vae.safetensors")
    for node in g.nodes:
        g.set_mode(node["id"], 2)
    result = check_workflow(g.doc(), folders)
    assert result["problems"] == [] and result["files"] == []


def test_bypass_picks_the_input_of_the_consumer_type(folders: ModelFolders) -> None:
    """A bypassed node with a CLIP input first and a MODEL input second hands its MODEL output the
    MODEL input (ExecutableNodeDTO._getBypassSlotIndex: same index only when the types fit)."""
    g = native_t2v(UIGraph(), T2V, vae="wan2.2_vae.safetensors")
    g.node(13, "LoraLoader", [LORA_14B, 1.0, 1.0], inputs=[("clip", CLIP), ("model", MODEL)], outputs=[CLIP, MODEL], mode=4)
    g.links = [l for l in g.links if not (l[1] == 1 and l[3] == 2)]
    g._find(2)["inputs"][0]["link"] = None
    g.link(3, 0, 13, "clip")
    g.link(1, 0, 13, "model")
    g._find(13)["outputs"] = [{"name": "MODEL", "type": MODEL, "links": []}, {"name": "CLIP", "type": CLIP, "links": []}]
    g.link(13, 0, 2, "model")
    result = check_workflow(g.doc(), folders)
    assert "WF_INPUT_MISSING" not in codes(result)
    found = [p for p in result["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert found and "1" in found[0]["node_ids"]  # the model reached the sampler through the bypassed node


def test_a_link_cycle_is_an_error(folders: ModelFolders) -> None:
    g = native_t2v(UIGraph(), T2V)
    g.node(14, "ModelSamplingSD3", [5.0], inputs=[("model", MODEL)], outputs=[MODEL])
    g.links = [l for l in g.links if not (l[1] == 1 and l[3] == 2)]
    g._find(2)["inputs"][0]["link"] = None
    g.link(14, 0, 2, "model")
    g._find(2)["outputs"][0]["links"] = []
    g.link(2, 0, 14, "model")
    g.link(2, 0, 7, "model")
    result = check_workflow(g.doc(), folders)
    found = [p for p in result["problems"] if p["code"] == "WF_LINK_CYCLE"]
    assert len(found) == 1 and set(found[0]["node_ids"]) == {"2", "14"} and not result["ok"]
    assert "ModelSamplingSD3 #2" in found[0]["detail"]


def _switched(value: bool | None, via_primitive: bool, negate: bool = False) -> dict:
    """Two VAEs behind a ComfySwitchNode: on_false the right 2.1 VAE, on_true the 2.2 one."""
    g = native_t2v(UIGraph(), T2V)
    g.node(20, "VAELoader", ["wan2.2_vae.safetensors"], outputs=[VAE])
    g.node(21, "ComfySwitchNode", [bool(value) if not via_primitive else False],
           inputs=[("switch", "BOOLEAN"), ("on_false", VAE), ("on_true", VAE)], outputs=[VAE])
    g.links = [l for l in g.links if not (l[1] == 4 and l[3] == 9)]
    g._find(9)["inputs"][1]["link"] = None
    g.link(4, 0, 21, "on_false")
    g.link(20, 0, 21, "on_true")
    g.link(21, 0, 9, "vae")
    if via_primitive:
        g.node(22, "PrimitiveBoolean", [value], inputs=[("value", "BOOLEAN")], outputs=["BOOLEAN"])
        source = 22
        if negate:
            g.node(23, "ComfyNotNode", inputs=[("value", "*")], outputs=["BOOLEAN"])
            g.link(22, 0, 23, "value")
            source = 23
        g.link(source, 0, 21, "switch")
    return g.doc()


@pytest.mark.parametrize("via_primitive", [False, True], ids=["widget", "PrimitiveBoolean"])
def test_the_switch_branch_that_runs_is_the_one_checked(via_primitive: bool, folders: ModelFolders) -> None:
    off = check_workflow(_switched(False, via_primitive), folders)
    assert off["ok"], off["problems"]
    skipped = next(f for f in off["files"] if f["node_id"] == "20")
    assert skipped.get("runs") is False and skipped["path"]  # validated (it exists), never loaded
    on = check_workflow(_switched(True, via_primitive), folders)
    found = [p for p in on["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert len(found) == 1 and "20" in found[0]["node_ids"] and "4" not in found[0]["node_ids"]


def test_a_negated_boolean_flips_the_branch(folders: ModelFolders) -> None:
    assert not check_workflow(_switched(False, True, negate=True), folders)["ok"]
    assert check_workflow(_switched(True, True, negate=True), folders)["ok"]


def test_the_switch_in_an_api_prompt(folders: ModelFolders) -> None:
    from test_workflow_inputs import api_prompt

    prompt = api_prompt(unet=T2V, vae="wan_2.1_vae.safetensors")
    prompt["6"] = {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 832, "height": 480, "length": 33, "batch_size": 1}}
    prompt["20"] = {"class_type": "VAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}}
    prompt["21"] = {"class_type": "ComfySwitchNode", "inputs": {"switch": True, "on_false": ["3", 0], "on_true": ["20", 0]}}
    prompt["9"]["inputs"]["vae"] = ["21", 0]
    assert not check_workflow(prompt, folders)["ok"]
    prompt["21"]["inputs"]["switch"] = False
    assert check_workflow(prompt, folders)["ok"]


def test_a_missing_file_on_the_branch_not_taken_still_fails_validation(folders: ModelFolders) -> None:
    """ComfyUI validates every linked input, lazy ones too (execution.py validate_inputs): a name
    that is not in the list fails even on the branch that never runs."""
    doc = copy.deepcopy(_switched(False, True))
    next(n for n in doc["nodes"] if n["id"] == 20)["widgets_values"][0] = "not_downloaded.safetensors"
    assert "WF_FILE_MISSING" in codes(check_workflow(doc, folders))


def _nested(vae: str) -> dict:
    """The VAELoader sits two subgraph levels deep: outer instance 30 holds instance 31 of an inner
    subgraph whose node 1 loads the VAE; the VAE comes out through both subgraph outputs."""
    g = native_t2v(UIGraph(), T2V)
    g.nodes = [n for n in g.nodes if n["id"] != 4]
    g.links = [l for l in g.links if l[1] != 4]
    inner = {"id": "inner-sg", "nodes": [{"id": 1, "type": "VAELoader", "mode": 0, "inputs": [],
                                          "outputs": [{"name": VAE, "type": VAE, "links": [1]}], "widgets_values": [vae]}],
             "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": VAE}],
             "inputs": [], "outputs": [{"name": "vae", "type": VAE, "linkIds": [1]}]}
    outer = {"id": "outer-sg", "nodes": [{"id": 31, "type": "inner-sg", "mode": 0, "inputs": [],
                                          "outputs": [{"name": "vae", "type": VAE, "links": [2]}], "widgets_values": []}],
             "links": [{"id": 2, "origin_id": 31, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": VAE}],
             "inputs": [], "outputs": [{"name": "vae", "type": VAE, "linkIds": [2]}]}
    g.subgraphs = [inner, outer]
    g.node(30, "outer-sg", outputs=[VAE])
    g.link(30, 0, 9, "vae")
    return g.doc()


def test_nested_subgraphs_are_followed_to_the_inner_loader(folders: ModelFolders) -> None:
    assert check_workflow(_nested("wan_2.1_vae.safetensors"), folders)["ok"]
    bad = check_workflow(_nested("wan2.2_vae.safetensors"), folders)
    found = [p for p in bad["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert len(found) == 1 and "30:31:1" in found[0]["node_ids"]
