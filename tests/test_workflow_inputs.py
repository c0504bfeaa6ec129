"""check-workflow inputs: API-format prompts, extra_model_paths.yaml, names that try to leave the
model folders, bypassed nodes, documents that are not workflows."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.core.errors import UsageError
from wan_compat.compat.fixtures.sparse import write_sparse
from wan_compat.compat.fixtures.template_files import lora_entries, write_template_file
from wan_compat.compat.workflow.folders import ModelFolders
from wan_compat.compat.workflow.report import check_workflow
from workflow_specs import workflow_path

FILES = [("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"), ("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors"),
         ("vae", "wan2.2_vae.safetensors"), ("vae", "wan_2.1_vae.safetensors"),
         ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs") / "models"
    for folder, name in FILES:
        write_template_file(root, folder, name)
    write_sparse(root / "loras" / "lora_14B_rank64.safetensors", lora_entries("wan2.1-t2v-14b", 64))
    return root


def api_prompt(unet: str = "wan2.2_ti2v_5B_fp16.safetensors", vae: str = "wan2.2_vae.safetensors") -> dict:
    """The 5B TI2V graph as a script POSTs it to /prompt."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["2", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "6": {"class_type": "Wan22ImageToVideoLatent", "inputs": {"vae": ["3", 0], "width": 1280, "height": 704, "length": 121, "batch_size": 1}},
        "7": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8.0}},
        "8": {"class_type": "KSampler", "inputs": {"model": ["7", 0], "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0],
                                                   "seed": 1, "steps": 20, "cfg": 5.0, "sampler_name": "uni_pc", "scheduler": "simple", "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["3", 0]}},
    }


def folders_for(models: Path) -> ModelFolders:
    found = ModelFolders()
    found.add_models_root(models)
    return found


def test_api_prompt_passes_and_fails(models: Path) -> None:
    ok = check_workflow(api_prompt(), folders_for(models))
    assert ok["ok"] and ok["format"] == "api" and len(ok["files"]) == 3
    bad = check_workflow(api_prompt(vae="wan_2.1_vae.safetensors"), folders_for(models))
    found = [p for p in bad["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert found and {"3", "1"} <= set(found[0]["node_ids"])
    # the body POSTed to /prompt wraps the graph
    assert check_workflow({"prompt": api_prompt(vae="wan_2.1_vae.safetensors")}, folders_for(models))["ok"] is False


def test_lora_through_model_sampling_and_bypassed_nodes(models: Path) -> None:
    prompt = api_prompt(unet="wan2.1_t2v_1.3B_fp16.safetensors", vae="wan_2.1_vae.safetensors")
    prompt["6"] = {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 832, "height": 480, "length": 33, "batch_size": 1}}
    prompt["10"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "lora_14B_rank64.safetensors", "strength_model": 1.0}}
    prompt["7"]["inputs"]["model"] = ["10", 0]
    found = [p for p in check_workflow(prompt, folders_for(models))["problems"] if p["code"] == "WF_LORA_MODEL_MISMATCH"]
    assert len(found) == 1 and found[0]["node_ids"] == ["10", "1"]


def test_extra_model_paths_yaml(models: Path, tmp_path: Path) -> None:
    yaml_path = tmp_path / "extra_model_paths.yaml"
    yaml_path.write_text(
        "mine:\n"
        f"  base_path: {models}\n"
        "  diffusion_models: diffusion_models\n"
        "  vae: |\n    vae\n    nowhere\n"
        "  text_encoders: text_encoders\n", encoding="utf-8")
    found = ModelFolders()
    found.add_extra_paths(yaml_path)
    assert check_workflow(api_prompt(), found)["ok"]
    run = subprocess.run([sys.executable, "-m", "wan_compat", "check-workflow", "--extra-model-paths", str(yaml_path), "--json",
                          str(_write(tmp_path / "p.json", api_prompt()))], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["../vae/wan2.2_vae.safetensors", "/etc/passwd", "..", "a/../../x", "C:\\Windows\\win.ini", ""])
def test_names_never_leave_the_model_folders(models: Path, name: str) -> None:
    folders = folders_for(models)
    assert folders.resolve("diffusion_models", name) is None
    result = check_workflow(api_prompt(unet=name), folders)
    files = [f for f in result["files"] if f["node_id"] == "1"]
    assert all(f["path"] is None for f in files)
    assert "passwd" not in json.dumps([f["path"] for f in result["files"]])


@pytest.mark.parametrize("doc", [[], {"nodes": "x"}, {"1": {"inputs": {}}}, "text", {}])
def test_not_a_workflow_is_a_typed_error(doc: object, models: Path) -> None:
    with pytest.raises(UsageError) as err:
        check_workflow(doc, folders_for(models))
    assert err.value.code == "WORKFLOW_INVALID"


def test_cli_bad_inputs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "wan_compat", "check-workflow", str(broken)], capture_output=True, text=True)
    assert run.returncode == 1 and "WORKFLOW_INVALID" in run.stderr and "Traceback" not in run.stderr
    missing = subprocess.run([sys.executable, "-m", "wan_compat", "check-workflow", str(_write(tmp_path / "w.json", api_prompt())),
                              "--models", str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 1 and "MODELS_DIR_NOT_FOUND" in missing.stderr


def test_gguf_unet_is_checked_like_any_model(models: Path, tmp_path: Path) -> None:
    from wan_compat.compat.fixtures.sparse import original_transformer_names
    from wan_compat.compat.fixtures.sparse_gguf import write_sparse_gguf

    write_sparse_gguf(models / "diffusion_models" / "wan2.2_ti2v_5B_Q8_0.gguf", "wan2.2-ti2v-5b", rename=original_transformer_names)
    prompt = api_prompt(vae="wan_2.1_vae.safetensors")
    prompt["1"] = {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "wan2.2_ti2v_5B_Q8_0.gguf"}}
    result = check_workflow(prompt, folders_for(models))
    pick = next(f for f in result["files"] if f["node_id"] == "1")
    assert (pick["kind"], pick["family"], pick["size"]) == ("transformer", "wan", "5B")
    found = [p for p in result["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert found and {"1", "3"} <= set(found[0]["node_ids"])


def test_headers_are_read_once_per_file_identity(tmp_path: Path) -> None:
    from wan_compat.compat.workflow.picks import inspect_cached

    path = write_sparse(tmp_path / "lora.safetensors", lora_entries("wan2.1-t2v-1.3b", 8))
    first = inspect_cached(str(path))
    assert inspect_cached(str(path)) is first  # same identity: no second read
    write_sparse(path, lora_entries("wan2.1-t2v-14b", 8))  # replaced (new inode, size): read again
    again = inspect_cached(str(path))
    assert again is not first and again.size == "14B" and first.size == "1.3B"


def test_the_packs_own_workflows_and_wanvideowrapper_loaders(models: Path) -> None:
    from wan_compat.compat.fixtures.sparse import write_pipeline_folder

    root = Path(__file__).resolve().parents[1]
    write_pipeline_folder(models / "diffusers" / "Wan2.1-T2V-1.3B-Diffusers", "wan2.1-t2v-1.3b")
    folders = folders_for(models)
    shipped = json.loads(workflow_path("wan_check_my_models").read_text(encoding="utf-8"))
    result = check_workflow(shipped, folders)  # its default: the Comfy-Org 1.3B files
    assert result["ok"] and [(f["folder"], f["name"], f["kind"]) for f in result["files"]] == [
        ("diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors", "transformer"), ("vae", "wan_2.1_vae.safetensors", "vae"),
        ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoder")]
    detect = next(n for n in shipped["nodes"] if n["type"] == "WanDetectArchitecture")
    for pick in ("Wan2.1-T2V-1.3B-Diffusers", "diffusers/Wan2.1-T2V-1.3B-Diffusers"):  # the alternative: a diffusers folder (0.2: prefixed)
        detect["widgets_values"][0] = pick
        result = check_workflow(shipped, folders)
        assert result["ok"] and ("diffusers", "Wan2.1-T2V-1.3B-Diffusers", "pipeline") in [(f["folder"], f["name"], f["kind"]) for f in result["files"]]
    wrapper = {"1": {"class_type": "WanVideoModelLoader", "inputs": {"model": "lora_14B_rank64.safetensors", "base_precision": "bf16"}},
               "2": {"class_type": "WanVideoVAELoader", "inputs": {"model_name": "wan_2.1_vae.safetensors"}}}
    write_sparse(models / "diffusion_models" / "lora_14B_rank64.safetensors", lora_entries("wan2.1-t2v-14b", 64))  # a LoRA moved there
    found = check_workflow(wrapper, folders)["problems"]
    assert [(p["code"], p["node_ids"]) for p in found if p["severity"] == "error"] == [("WF_LORA_AS_MODEL", ["1"])]


def test_reroute_nodes_are_followed(models: Path) -> None:
    prompt = api_prompt(vae="wan_2.1_vae.safetensors")
    prompt["20"] = {"class_type": "Reroute", "inputs": {"": ["3", 0]}}
    prompt["9"]["inputs"]["vae"] = ["20", 0]
    prompt["6"]["inputs"]["vae"] = ["20", 0]
    found = [p for p in check_workflow(prompt, folders_for(models))["problems"] if p["code"] == "WF_VAE_LATENT_MISMATCH"]
    assert found and all("3" in p["node_ids"] for p in found) and {"9", "6"} <= {i for p in found for i in p["node_ids"]}


def test_a_deeply_nested_workflow_file_is_a_typed_error(tmp_path: Path) -> None:
    """Hostile input: JSON nested past the workflow limit gives WORKFLOW_INVALID with its JSON
    contract on stdout and exit 1, never a RecursionError."""

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    done = subprocess.run([sys.executable, "-m", "wan_compat", "check-workflow", str(path), "--json"],
                          capture_output=True, text=True)
    doc = json.loads(done.stdout)
    assert done.returncode != 0 and doc["problems"][0]["code"] == "WORKFLOW_INVALID", done.stdout + done.stderr
