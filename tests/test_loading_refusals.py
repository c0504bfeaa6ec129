"""Every bad input to Wan Safe Load gets its typed error, no payload runs, and nothing is written."""
from __future__ import annotations

import collections
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import LoadError, ModelFileError, SecurityError, UsageError, WanCompatError  # noqa: E402
from wan_compat.compat.fixtures.single_files import export_single_files  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402
from wan_compat.compat.security.pinned import sha256_of  # noqa: E402
from wan_compat.compat.security.policy import SecurityPolicy, TrustedFolder  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402


class _System:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):  # noqa: ANN204 - pickling records os.system and the command; nothing runs
        return os.system, (self.cmd,)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "CANARY"
    yield path
    assert not path.exists(), "a payload ran"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _refused(exc_type: type, code: str, root: Path, **kwargs) -> WanCompatError:
    """Load, expect the typed error, and check that the model folders are exactly as before."""
    before = _tree(root)
    with pytest.raises(exc_type) as err:
        load_pipeline(roots=[str(root)], **kwargs)
    assert err.value.code == code, str(err.value)
    assert _tree(root) == before, "the failed load changed or left files behind"
    return err.value


def _crafted_zip(path: Path, cmd: str) -> Path:
    """A real torch.save archive whose data.pkl is replaced by a payload."""
    real = path.with_suffix(".real")
    torch.save(collections.OrderedDict(w=torch.ones(2)), real)
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, pickle.dumps(_System(cmd), protocol=2) if info.filename.endswith("data.pkl") else src.read(info))
    real.unlink()
    return path


# ---------------------------------------------------------------- pickles
def test_crafted_pickles_in_single_file_slots_never_run(files, tmp_path: Path, canary: Path) -> None:
    root = tmp_path / "models"
    cmd = f"touch {canary}"
    crafted = {
        "zip.pt": _crafted_zip(root / "evil.pt", cmd),
        "zip.bin": _crafted_zip(root / "evil.bin", cmd),
        "raw.ckpt": root / "evil.ckpt",
    }
    crafted["raw.ckpt"].write_bytes(pickle.dumps(_System(cmd), protocol=4))
    for name, path in crafted.items():
        policy = SecurityPolicy(allowed_pickle_sha256=[sha256_of(path.open("rb"))])  # even allowlisted
        for slot in ("model", "vae"):
            kwargs = {"model": files["transformer"], "vae": files["vae"], "text_encoder": files["text_encoder"], "policy": policy}
            kwargs[slot] = path
            err = _refused(SecurityError, "PICKLE_UNSAFE_GLOBALS", root, **kwargs)
            assert "posix.system" in str(err), name


def test_pickles_disguised_as_safetensors(t2v: Path, files, tmp_path: Path, canary: Path) -> None:
    root = tmp_path / "models"
    payload = pickle.dumps(_System(f"touch {canary}"), protocol=4)
    files["vae"].write_bytes(payload)
    err = _refused(SecurityError, "DISGUISED_PICKLE", root, model=files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"])
    assert "posix.system" in str(err)
    _crafted_zip(t2v / "vae" / "diffusion_pytorch_model.safetensors", f"touch {canary}")
    _refused(SecurityError, "DISGUISED_PICKLE", root, model=t2v)


def test_allowlisted_legitimate_pickle_loads_and_others_are_refused(t2v: Path, files, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    root = tmp_path / "models"
    vae_pt = root / "single" / "t2v_vae.pt"
    torch.save(load_file(files["vae"]), vae_pt)
    err = _refused(SecurityError, "PICKLE_NOT_ALLOWED", root, model=files["transformer"], vae=vae_pt, text_encoder=files["text_encoder"])
    digest = sha256_of(vae_pt.open("rb"))
    assert digest in str(err)
    policy = SecurityPolicy(allowed_pickle_sha256=[digest])
    loaded = load_pipeline(files["transformer"], vae=vae_pt, text_encoder=files["text_encoder"], policy=policy, roots=[str(root)], config_source=t2v)
    record = next(f for f in loaded.report.files if f.path == str(vae_pt))
    assert record.sha256 == digest and record.scan["safe"] and "collections.OrderedDict" in record.scan["imports"]
    expected = load_file(t2v / "vae" / "diffusion_pytorch_model.safetensors")
    state = loaded.pipeline.vae.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expected.items())


# ---------------------------------------------------------------- malformed files
def test_malformed_safetensors(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    weights = t2v / "transformer" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    _refused(ModelFileError, "SAFETENSORS_TRUNCATED", root, model=t2v)
    files["vae"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json!!!!!!}")
    _refused(ModelFileError, "SAFETENSORS_HEADER_INVALID", root, model=files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"])


def test_broken_model_index(t2v: Path, tmp_path: Path) -> None:
    (t2v / "model_index.json").write_text("{ nope")
    _refused(ModelFileError, "MODEL_INDEX_INVALID", tmp_path / "models", model=t2v)


# ---------------------------------------------------------------- code
def test_untrusted_py_file_in_the_folder(t2v: Path, tmp_path: Path, canary: Path) -> None:
    (t2v / "transformer" / "modeling_wan.py").write_text(f"import os\nos.system('touch {canary}')\n")
    err = _refused(SecurityError, "CUSTOM_CODE_FILES", tmp_path / "models", model=t2v)
    assert "modeling_wan.py" in str(err)


def test_trusted_code_still_never_runs_in_process(t2v: Path, tmp_path: Path, canary: Path) -> None:
    from wan_compat.compat.security.trust import review_code

    (t2v / "pipeline_custom.py").write_text(f"import os\nos.system('touch {canary}')\n")
    entry = review_code(t2v).trust_entry("reviewed")
    policy = SecurityPolicy(trusted_folders=[TrustedFolder(**entry.model_dump())])
    _refused(SecurityError, "CODE_NEEDS_SANDBOX", tmp_path / "models", model=t2v, policy=policy)


@pytest.mark.parametrize("class_name", ["EvilWanPipeline", "StableDiffusionPipeline"])
def test_unknown_pipeline_class(t2v: Path, tmp_path: Path, class_name: str) -> None:
    """Not a Wan pipeline diffusers ships, and one part is not a standard Wan part either: nothing
    tells which pipeline fits, so it is refused. (With standard parts it loads as the Wan pipeline
    that fits them: tests/test_sandboxed_pipeline.py.)"""
    index = json.loads((t2v / "model_index.json").read_text())
    (t2v / "model_index.json").write_text(json.dumps({**index, "_class_name": class_name, "tokenizer": ["transformers", "LlamaTokenizer"]}))
    err = _refused(LoadError, "MODEL_NOT_LOADABLE", tmp_path / "models", model=t2v)
    assert "UNKNOWN_PIPELINE_CLASS" in str(err) and class_name in str(err)


@pytest.mark.parametrize("entry", [["os", "system"], ["builtins", "exec"]])
def test_hostile_component_library(t2v: Path, tmp_path: Path, entry: list[str]) -> None:
    index = json.loads((t2v / "model_index.json").read_text())
    (t2v / "model_index.json").write_text(json.dumps({**index, "vae": entry}))
    _refused(SecurityError, "FOREIGN_COMPONENT_LIBRARY", tmp_path / "models", model=t2v)


def test_component_class_the_model_does_not_use(t2v: Path, tmp_path: Path) -> None:
    index = json.loads((t2v / "model_index.json").read_text())
    (t2v / "model_index.json").write_text(json.dumps({**index, "vae": ["diffusers", "AutoencoderKL"]}))
    err = _refused(LoadError, "COMPONENT_CLASS_UNEXPECTED", tmp_path / "models", model=t2v)
    assert "AutoencoderKLWan" in str(err)


# ---------------------------------------------------------------- paths
def test_path_escapes(t2v: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    outside = tmp_path / "outside"
    outside.mkdir()
    vae = t2v / "vae" / "diffusion_pytorch_model.safetensors"
    shutil.move(vae, outside / "vae.safetensors")
    vae.symlink_to(outside / "vae.safetensors")
    _refused(SecurityError, "PATH_OUTSIDE_ROOTS", root, model=t2v)
    vae.unlink()
    vae.symlink_to(root / "gone.safetensors")
    _refused(SecurityError, "PATH_DANGLING_LINK", root, model=t2v)
    _refused(SecurityError, "PATH_OUTSIDE_ROOTS", root, model=outside / "vae.safetensors")


def test_node_refuses_paths_outside_comfyui_model_folders(t2v: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "settings"))
    with pytest.raises(SecurityError) as err:
        WanSafeLoad().load(model_path=str(t2v))
    assert err.value.code == "PATH_OUTSIDE_ROOTS"
    # Outside the roots, a missing path gets the same refusal as an existing one (nothing revealed).
    assert WanSafeLoad.VALIDATE_INPUTS(model_path=str(tmp_path / "nope")).startswith("[PATH_OUTSIDE_ROOTS]")
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(t2v.parent))  # inside the roots, missing paths are named
    assert WanSafeLoad.VALIDATE_INPUTS(model_path=str(t2v), vae_path=str(t2v.parent / "nope")).startswith("The vae path does not exist")
    assert "config_path path does not exist" in WanSafeLoad.VALIDATE_INPUTS(model_path=str(t2v), config_path=str(t2v.parent / "nope"))


def test_directory_where_a_file_is_expected(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    fake = root / "single" / "dir.safetensors"
    fake.mkdir()
    _refused(SecurityError, "PATH_NOT_A_FILE", root, model=files["transformer"], vae=fake, text_encoder=files["text_encoder"])


# ---------------------------------------------------------------- weights
def _rewrite(path: Path, change) -> None:  # noqa: ANN001
    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def test_vae_with_a_missing_key(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _rewrite(files["vae"], lambda t: t.pop("decoder.head.2.bias"))  # original naming of decoder.conv_out.bias
    err = _refused(LoadError, "LOAD_MISSING_KEYS", root, model=files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=t2v)
    assert "decoder.conv_out.bias" in str(err) and "vae" in str(err)
    _rewrite(t2v / "vae" / "diffusion_pytorch_model.safetensors", lambda t: t.pop("decoder.conv_out.bias"))
    err = _refused(LoadError, "LOAD_MISSING_KEYS", root, model=t2v)
    assert "decoder.conv_out.bias" in str(err)


def test_mismatched_shapes(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    key = "blocks.0.attn1.norm_q.weight"
    _rewrite(t2v / "transformer" / "diffusion_pytorch_model.safetensors", lambda t: t.update({key: torch.ones(7)}))
    err = _refused(LoadError, "LOAD_MISMATCHED_SHAPES", root, model=t2v)
    assert key in str(err) and "[24]" in str(err) and "[7]" in str(err)
    _rewrite(files["transformer"], lambda t: t.update({"model.diffusion_model.blocks.1.self_attn.norm_k.weight": torch.ones(5)}))
    err = _refused(LoadError, "LOAD_MISMATCHED_SHAPES", root, model=files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=t2v)
    # named as the file names it, not by its diffusers translation
    assert "model.diffusion_model.blocks.1.self_attn.norm_k.weight" in str(err) and "attn1" not in str(err)


def test_unexpected_keys(t2v: Path, tmp_path: Path) -> None:
    _rewrite(t2v / "vae" / "diffusion_pytorch_model.safetensors", lambda t: t.update({"decoder.extra.weight": torch.ones(2)}))
    err = _refused(LoadError, "LOAD_UNEXPECTED_KEYS", tmp_path / "models", model=t2v)
    assert "decoder.extra.weight" in str(err)


def test_wrong_vae_and_mismatched_experts_are_caught_before_loading(tiny_pipelines, tmp_path: Path) -> None:
    root = tmp_path / "models"
    t2v = export_single_files(tiny_pipelines["wan2.1-t2v"], root / "t2v", name="t2v")
    ti2v = export_single_files(tiny_pipelines["wan2.2-ti2v-5b"], root / "ti2v", name="ti2v")
    moe = export_single_files(tiny_pipelines["wan2.2-i2v-a14b"], root / "moe", name="moe")
    err = _refused(LoadError, "MODEL_NOT_LOADABLE", root, model=t2v["transformer"], vae=ti2v["vae"], text_encoder=t2v["text_encoder"],
                   config_source=tiny_pipelines["wan2.1-t2v"])
    assert "WRONG_VAE" in str(err)
    err = _refused(LoadError, "MODEL_NOT_LOADABLE", root, model=moe["transformer"], transformer_2=t2v["transformer"], vae=moe["vae"],
                   text_encoder=moe["text_encoder"], config_source=tiny_pipelines["wan2.2-i2v-a14b"])
    assert "EXPERT_PAIR_MISMATCH" in str(err)


# ---------------------------------------------------------------- assembly
def test_missing_pipeline_argument_is_named(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    index = json.loads((t2v / "model_index.json").read_text())
    del index["tokenizer"]
    (t2v / "model_index.json").write_text(json.dumps(index))
    err = _refused(LoadError, "PIPELINE_ARGUMENT_MISSING", root, model=t2v)
    assert "tokenizer" in str(err) and "WanPipeline" in str(err)
    err = _refused(LoadError, "PIPELINE_ARGUMENT_MISSING", root, model=files["transformer"], vae=files["vae"])
    assert "text_encoder" in str(err)


def test_i2v_single_files_without_clip_vision(tiny_pipelines, tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = Path(shutil.copytree(tiny_pipelines["wan2.1-i2v"], root / "wan-i2v"))
    i2v = export_single_files(folder, root / "i2v", name="i2v")
    err = _refused(LoadError, "PIPELINE_ARGUMENT_MISSING", root, model=i2v["transformer"], vae=i2v["vae"], text_encoder=i2v["text_encoder"],
                   config_source=folder)
    assert "image_encoder" in str(err) and "WanImageToVideoPipeline" in str(err)


def test_a_config_source_or_tokenizer_with_a_folder_is_a_usage_error(t2v: Path, tmp_path: Path) -> None:
    err = _refused(UsageError, "USAGE", tmp_path / "models", model=t2v, config_source=t2v, tokenizer=t2v / "tokenizer")
    assert "set Wan Safe Load's config_source, tokenizer to none" in err.message()


def test_unknown_precision(t2v: Path, tmp_path: Path) -> None:
    from wan_compat.compat.core.errors import ResourceError

    _refused(ResourceError, "DTYPE_UNSUPPORTED", tmp_path / "models", model=t2v, options=LoadOptions(dtype="fp64"))
    _refused(ResourceError, "DTYPE_UNSUPPORTED", tmp_path / "models", model=t2v, options=LoadOptions(weight_storage="int4"))


def test_single_file_without_a_known_config(files, tmp_path: Path) -> None:
    err = _refused(LoadError, "SINGLE_FILE_CONFIG_UNKNOWN", tmp_path / "models", model=files["transformer"], vae=files["vae"],
                   text_encoder=files["text_encoder"])
    assert "config" in err.fix and "match no official" in str(err)


def test_no_tokenizer_anywhere(t2v: Path, files, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _rewrite(files["text_encoder"], lambda t: t.pop("spiece_model"))
    shutil.rmtree(t2v / "tokenizer")
    index = json.loads((t2v / "model_index.json").read_text())
    del index["tokenizer"]
    (t2v / "model_index.json").write_text(json.dumps(index))
    _refused(LoadError, "TOKENIZER_NOT_FOUND", root, model=files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=t2v)


def test_a_folder_with_single_file_parts_loads_them_instead_of_its_own(t2v: Path, files) -> None:
    """A shipped workflow switched to the diffusers folder in Detect while Safe Load still picks the
    Comfy-Org files: the files replace the folder's parts (tests/test_isolation.py for more)."""
    root = t2v.parent
    loaded = load_pipeline(t2v, vae=files["vae"], text_encoder=files["text_encoder"], roots=[str(root), str(Path(files["vae"]).parent)],
                           options=LoadOptions(dtype="fp32"))
    assert {r.role: r.path for r in loaded.report.files if r.role in ("vae", "text_encoder")} == {
        "vae": str(files["vae"]), "text_encoder": str(files["text_encoder"])}
    assert "replaced by Wan Safe Load's inputs: vae/ <- " in " ".join(loaded.model_info.evidence)


