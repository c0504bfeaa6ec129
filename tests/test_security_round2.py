"""Security, second round (issue 14): each finding fed to the pack, checked for its typed error and
for what was opened (an audit-hook witness: nothing outside the roots). Real crafted bytes; nothing
is ever unpickled (the canary file would appear)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_inputs import (BENIGN_PICKLE, deep_json, opened_files, opened_inside, safetensors_bytes, system_pickle,
                            torch_zip, two_directories, write)
from wan_compat.compat.core.errors import ModelFileError, SecurityError, WanCompatError
from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.detect.safetensors_header import read_header

TINY = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """models/ (the only root), outside/ with a secret, a canary that must never appear."""
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    write(outside / "secret.safetensors", safetensors_bytes(TINY, b"\0" * 8))
    write(outside / "config.json", json.dumps({"_class_name": "AutoencoderKLWan"}))
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(models))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "settings"))
    canary = tmp_path / "CANARY"
    yield models, outside, canary
    assert not canary.exists(), "a payload ran"


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "wan_compat", *args], capture_output=True, text=True, env=env, timeout=300)


def _load(folder: Path, models: Path):
    from wan_compat.compat.loading import load_pipeline

    return load_pipeline(folder, roots=[str(models)])


def _index(**slots: list) -> str:
    return json.dumps({"_class_name": "WanPipeline", "_diffusers_version": "0.35.0", **slots})


# ---------------------------------------------------------------- 1. component slots
def test_unknown_slot_with_decoy_and_pickle_is_refused_before_any_of_its_files_is_opened(place) -> None:
    models, outside, canary = place
    folder = models / "evil"
    write(folder / "model_index.json", _index(extra=["diffusers", "AutoencoderKLWan"]))
    write(folder / "extra" / "config.json", json.dumps({"_class_name": "AutoencoderKLWan"}))
    write(folder / "extra" / "decoy.safetensors", safetensors_bytes(TINY, b"\0" * 8))
    write(folder / "extra" / "diffusion_pytorch_model.bin", torch_zip({"archive/data.pkl": system_pickle(f"touch {canary}")}))
    with opened_files() as opened:
        with pytest.raises(SecurityError) as err:
            _load(folder, models)
    assert err.value.code == "COMPONENT_SLOT_UNKNOWN" and "extra" in err.value.detail
    assert opened_inside(opened, folder / "extra") == [] and opened_inside(opened, outside) == []


@pytest.mark.parametrize("slot", ["../../outside", "/OUTSIDE", "vae/../../../outside", "Transformer", "x" * 300])
def test_slot_names_are_identifiers_never_paths(place, slot: str) -> None:
    models, outside, _ = place
    slot = slot.replace("/OUTSIDE", str(outside))
    folder = models / "evil"
    write(folder / "model_index.json", json.dumps({"_class_name": "WanPipeline", slot: ["diffusers", "AutoencoderKLWan"]}))
    with opened_files() as opened:
        with pytest.raises(SecurityError) as err:
            _load(folder, models)
        info = ArchitectureDetector().inspect(folder)
    assert err.value.code == "COMPONENT_SLOT_INVALID"
    assert "COMPONENT_SLOT_INVALID" in {p.code for p in info.problems} and not info.ok
    assert opened_inside(opened, outside) == []


def test_weights_in_a_slot_that_holds_none_are_refused(place) -> None:
    models, _, canary = place
    folder = models / "evil"
    write(folder / "model_index.json", _index(tokenizer=["transformers", "T5TokenizerFast"]))
    write(folder / "tokenizer" / "pytorch_model.bin", system_pickle(f"touch {canary}"))
    with opened_files() as opened, pytest.raises(SecurityError) as err:
        _load(folder, models)
    assert err.value.code == "SLOT_UNEXPECTED_WEIGHTS" and opened_inside(opened, folder / "tokenizer") == []


# ---------------------------------------------------------------- 2. the pickle scanner sees what torch sees
def test_upper_case_pickle_beside_a_benign_one_is_seen_and_refused(place) -> None:
    from wan_compat.compat.security.pickle_scan import scan_file

    models, _, canary = place
    path = write(models / "case.pt", torch_zip({"archive/data.pkl": BENIGN_PICKLE, "archive/DATA.PKL": system_pickle(f"touch {canary}"),
                                                "archive/version": b"3\n"}))
    scan = scan_file(path)
    assert "os.system" in scan.imports() and not scan.safe
    with pytest.raises(SecurityError) as err:
        scan.raise_if_unsafe()
    assert err.value.code == "PICKLE_ARCHIVE_AMBIGUOUS" and "case" in err.value.detail
    # Only an upper-case name: torch still finds it as data.pkl, so does the scanner.
    alone = write(models / "upper.pt", torch_zip({"archive/DATA.PKL": system_pickle(f"touch {canary}")}))
    assert "os.system" in scan_file(alone).imports()


def test_two_central_directories_are_refused_even_when_allowlisted(place) -> None:
    import hashlib

    from wan_compat.compat.security.pickle_load import load_pickle_state_dict
    from wan_compat.compat.security.pickle_scan import scan_file
    from wan_compat.compat.security.policy import SecurityPolicy

    models, outside, canary = place
    data = two_directories({"archive/data.pkl": BENIGN_PICKLE}, {"archive/data.pkl": system_pickle(f"touch {canary}")})
    path = write(models / "twice.pt", data)
    scan = scan_file(path)
    assert not scan.safe and (scan.ambiguous or scan.blocked or scan.errors)
    policy = SecurityPolicy(allowed_pickle_sha256=[hashlib.sha256(data).hexdigest()])
    with opened_files() as opened, pytest.raises(SecurityError) as err:
        load_pickle_state_dict(path, policy)
    assert err.value.code == "PICKLE_ARCHIVE_AMBIGUOUS", (err.value.code, err.value.detail)
    assert opened_inside(opened, outside) == []


# ---------------------------------------------------------------- 3. nodes read only inside the roots
def test_nodes_refuse_paths_outside_the_roots_and_reveal_nothing(place) -> None:
    from wan_compat.nodes import input_paths
    from wan_compat.nodes.detect import WanCheckCompatibility, WanDetectArchitecture
    from wan_compat.nodes.safe_load import WanSafeLoad
    from wan_compat.nodes.vae_fix import WanVAEFix

    models, outside, _ = place
    there, missing = str(outside / "secret.safetensors"), str(outside / "no-such-file.safetensors")
    write(models / "dl" / "model_index.json", "{}")
    (models / "dl" / "transformer").symlink_to(outside, target_is_directory=True)  # a link inside a download, leading out
    through_link = str(models / "dl" / "transformer" / "secret.safetensors")
    climbing = str(models / ".." / "outside" / "secret.safetensors")
    with opened_files() as opened:
        messages = []
        for path in (there, missing, through_link, climbing):
            with pytest.raises(SecurityError) as err:
                WanDetectArchitecture().detect(model_path=path)
            assert err.value.code == "PATH_OUTSIDE_ROOTS"
            with pytest.raises(SecurityError):
                input_paths.admitted(path)
            with pytest.raises(SecurityError):
                WanCheckCompatibility().check(None, vae_path=path)
            with pytest.raises(SecurityError):
                WanSafeLoad().load(model_path=path)
            shown = [err.value.message(), WanVAEFix.VALIDATE_INPUTS(vae_path=path), WanSafeLoad.VALIDATE_INPUTS(model_path=path)]
            messages.append([m.replace(os.path.expanduser(path), "<path>") for m in shown])
            assert all(m.startswith("[PATH_OUTSIDE_ROOTS]") for m in shown)
    assert messages[0] == messages[1], "a refused path must read the same whether it exists or not"
    assert opened_inside(opened, outside) == []


# ---------------------------------------------------------------- 4. typed errors for hostile parser input
HOSTILE_HEADERS = {
    "huge_shape": {"w": {"dtype": "F32", "shape": [10**200, 10**200], "data_offsets": [0, 8]}},
    "dtype_list": {"w": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}},
    "dtype_dict": {"w": {"dtype": {"F32": 1}, "shape": [2], "data_offsets": [0, 8]}},
    "deep": '{"w": ' + deep_json(50_000) + "}",
    "deep_metadata": '{"__metadata__": {"a": ' + deep_json(5000) + '}}',
    "huge_offsets": {"w": {"dtype": "F32", "shape": [2], "data_offsets": [10**30, 10**30 + 8]}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HEADERS))
def test_hostile_headers_get_typed_errors(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / f"{name}.safetensors", safetensors_bytes(HOSTILE_HEADERS[name], b"\0" * 8))
    with opened_files() as opened, pytest.raises(ModelFileError) as err:
        read_header(path)
    assert err.value.code.startswith("SAFETENSORS_")
    assert set(opened_inside(opened, tmp_path)) == {str(path)}  # the file itself, nothing else


def test_hostile_json_configs_get_typed_errors(place) -> None:
    models, outside, _ = place
    deep = models / "deep"
    write(deep / "model_index.json", deep_json(100_000))
    long_library = models / "longlib"
    write(long_library / "model_index.json", _index(vae=["a" * 300, "AutoencoderKLWan"]))
    deep_config = models / "deepconfig"
    write(deep_config / "model_index.json", _index(vae=["diffusers", "AutoencoderKLWan"]))
    write(deep_config / "vae" / "config.json", '{"a": ' + deep_json(100_000) + "}")
    write(deep_config / "vae" / "diffusion_pytorch_model.safetensors", safetensors_bytes(TINY, b"\0" * 8))
    with opened_files() as opened:
        for folder, code in ((deep, "MODEL_INDEX_INVALID"), (long_library, "FOREIGN_COMPONENT_LIBRARY")):
            with pytest.raises(WanCompatError) as err:
                _load(folder, models)
            assert err.value.code == code
        from wan_compat.compat.detect import configs, schemas
        from wan_compat.compat.loading.component_configs import _json

        config = deep_config / "vae" / "config.json"
        assert "nests deeper" in configs.read("vae", config).problems[0]
        assert schemas.load("vae", config)[0] is None
        with pytest.raises(ModelFileError) as err:
            _json(config)
        assert err.value.code == "CONFIG_INVALID"
    assert opened_inside(opened, outside) == []


# ---------------------------------------------------------------- 5. header guards on parsed keys
def test_escaped_keys_cannot_pass_the_header_guards(tmp_path: Path) -> None:
    many = "{" + ",".join(f'"t{i}": {{"dtype": "U8", "shape": [0], "data\\u005foffsets": [0, 0]}}' for i in range(1001)) + "}"
    path = write(tmp_path / "many.safetensors", safetensors_bytes(many))
    with pytest.raises(ModelFileError) as err:
        read_header(path, max_tensors=1000)
    assert err.value.code == "SAFETENSORS_TOO_MANY_TENSORS"
    entry = '{"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}'
    for text in (f'{{"a": {entry}, "\\u0061": {entry}}}',
                 f'{{"__metadata__": {{}}, "__metad\\u0061ta__": {{"x": "y"}}, "a": {entry}}}',
                 f'{{"__metadata__": {{"k": "1", "\\u006b": "2"}}, "a": {entry}}}'):
        path = write(tmp_path / "dup.safetensors", safetensors_bytes(text))
        with pytest.raises(ModelFileError) as err:
            read_header(path)
        assert err.value.code == "SAFETENSORS_DUPLICATE_KEY"


# ---------------------------------------------------------------- 6. inspect and scan run the refusal checks
def test_inspect_and_scan_report_what_the_loader_would_refuse(place, capsys) -> None:
    models, outside, canary = place
    # A link inside a model folder that leads out: reported, never followed. (A link placed in a model
    # category folder, such as models/files/x.safetensors, is followed as ComfyUI follows it.)
    write(models / "leaky" / "model_index.json", _index(vae=["diffusers", "AutoencoderKLWan"]))
    (models / "leaky" / "vae").mkdir()
    (models / "leaky" / "vae" / "diffusion_pytorch_model.safetensors").symlink_to(outside / "secret.safetensors")
    payload = system_pickle(f"touch {canary}")
    write(models / "files" / "model.pt", torch_zip({"archive/data.pkl": payload}))
    write(models / "files" / "model.sft", payload)
    write(models / "files" / "hostile.safetensors", safetensors_bytes(HOSTILE_HEADERS["huge_shape"], b"\0" * 8))
    write(models / "files" / "deep.safetensors", safetensors_bytes(HOSTILE_HEADERS["deep"], b"\0" * 8))
    write(models / "os_system" / "model_index.json", _index(vae=["os", "system"]))
    write(models / "code" / "model_index.json", _index(vae=["diffusers", "AutoencoderKLWan"]))
    write(models / "code" / "helpers.py", "import os\n")
    write(models / "automap" / "model_index.json", _index(vae=["diffusers", "AutoencoderKLWan"]))
    write(models / "automap" / "vae" / "config.json", json.dumps({"auto_map": {"AutoModel": "x.Y"}}))
    write(models / "broken" / "model_index.json", _index(vae=["diffusers", "AutoencoderKLWan"]))
    (models / "broken" / "vae").mkdir()
    (models / "broken" / "vae" / "diffusion_pytorch_model.safetensors").symlink_to(models / "broken" / "vae" / "gone.safetensors")
    run = cli("inspect", str(models / "files" / "model.pt"), "--json")
    doc = json.loads(run.stdout)
    assert run.returncode == 1 and "os.system" in json.dumps(doc["problems"])
    assert "PICKLE_UNSAFE_GLOBALS" in {p["code"] for p in doc["problems"]}
    from wan_compat.compat.cli import main

    capsys.readouterr()
    with opened_files() as opened:
        code = main(["scan", str(models), "--json"])  # in this process, so the witness sees every open
    out = capsys.readouterr()
    assert code == 1 and "unexpected error" not in out.err
    assert opened_inside(opened, outside) == [] and not any("gone.safetensors" in p for p in opened)
    found = {Path(r["path"]).name: {p["code"] for p in r["problems"] if p["severity"] == "error"} for r in json.loads(out.out)}
    assert "PICKLE_UNSAFE_GLOBALS" in found["model.pt"]
    assert "DISGUISED_PICKLE" in found["model.sft"]
    assert "SAFETENSORS_HEADER_INVALID" in found["hostile.safetensors"] and "SAFETENSORS_HEADER_INVALID" in found["deep.safetensors"]
    assert "FOREIGN_COMPONENT_LIBRARY" in found["os_system"]
    assert "CUSTOM_CODE_FILES" in found["code"] and "CUSTOM_CODE_FILES" in found["automap"]
    assert "PATH_DANGLING_LINK" in found["broken"] and "PATH_OUTSIDE_ROOTS" in found["leaky"]


def test_encode_output_prefix_is_refused_before_the_run_and_says_nothing_of_the_target(tmp_path: Path, monkeypatch) -> None:
    from wan_compat.nodes.encode_video import WanEncodeVideo

    output, outside = tmp_path / "output", tmp_path / "outside"
    output.mkdir()
    (outside / "deep").mkdir(parents=True)
    (output / "link").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("WAN_COMPAT_OUTPUT_DIR", str(output))
    with opened_files() as opened:
        for prefix in ("/etc/x", "../x", "link/deep/x", "link/missing/x"):
            message = WanEncodeVideo.VALIDATE_INPUTS(filename_prefix=prefix)
            assert isinstance(message, str) and message.startswith("[ENCODE_PATH_OUTSIDE_OUTPUT]") and str(outside) not in message
    assert opened_inside(opened, outside) == []
    assert WanEncodeVideo.VALIDATE_INPUTS(filename_prefix="video/Wan") is True
