"""Remote and custom code: refused by default, shown before trust, trusted only as pinned bytes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.core.errors import SecurityError
from wan_compat.compat.security.policy import SecurityPolicy
from wan_compat.compat.security.trust import (
    decide_folder_code,
    refuse_foreign_libraries,
    require_shipped_classes,
    review_code,
)

WAN_INDEX = {
    "_class_name": "WanPipeline",
    "_diffusers_version": "0.42.1",
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "transformer_2": [None, None],
    "vae": ["diffusers", "AutoencoderKLWan"],
}

CUSTOM_CODE = '''
import os
import torch
from diffusers import DiffusionPipeline
from .helpers import thing

def run():
    os.system("echo hi")
    return __import__("socket")
'''


def _folder(tmp_path: Path, index: dict, files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_plain_folder_needs_no_code(tmp_path: Path) -> None:
    folder = _folder(tmp_path, WAN_INDEX)
    decision = decide_folder_code(folder, WAN_INDEX, SecurityPolicy())
    assert not decision.needs_code and not decision.review.files


def test_py_file_is_refused_then_reviewed_trusted_and_pinned(tmp_path: Path) -> None:
    folder = _folder(tmp_path, WAN_INDEX, {"transformer/custom_model.py": CUSTOM_CODE})
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, WAN_INDEX, SecurityPolicy())
    assert err.value.code == "CUSTOM_CODE_FILES" and "custom_model.py" in str(err.value)

    review = review_code(folder, WAN_INDEX)
    (item,) = review.files
    assert item.path == "transformer/custom_model.py" and len(item.sha256) == 64
    assert item.imports == [".helpers", "diffusers", "os", "socket", "torch"]
    assert any(call.startswith("os.system (line") for call in item.risky_calls)
    assert "custom_model.py" in review.text() and item.sha256 in review.text()

    trusted = SecurityPolicy(trusted_folders=[review.trust_entry("reviewed")])
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, WAN_INDEX, trusted)
    assert err.value.code == "CODE_NEEDS_SANDBOX"

    sandboxed = trusted.model_copy(update={"untrusted_code": "sandbox"})
    decision = decide_folder_code(folder, WAN_INDEX, sandboxed)
    assert decision.needs_code and decision.trusted

    (folder / "transformer" / "custom_model.py").write_text(CUSTOM_CODE + "\n# changed\n")
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, WAN_INDEX, sandboxed)
    assert err.value.code == "CODE_TRUST_MISMATCH" and "custom_model.py" in str(err.value)


def test_auto_map_in_a_config_is_custom_code(tmp_path: Path) -> None:
    config = {"model_type": "umt5", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}
    folder = _folder(tmp_path, WAN_INDEX, {"text_encoder/config.json": json.dumps(config)})
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, WAN_INDEX, SecurityPolicy())
    assert err.value.code == "CUSTOM_CODE_FILES" and "auto_map" in str(err.value)


def test_custom_library_backed_by_a_folder_file_is_custom_code(tmp_path: Path) -> None:
    index = {**WAN_INDEX, "transformer": ["my_transformer", "MyTransformer"]}
    folder = _folder(tmp_path, index, {"transformer/my_transformer.py": "class MyTransformer: pass\n"})
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, index, SecurityPolicy())
    assert err.value.code == "CUSTOM_CODE_FILES"


@pytest.mark.parametrize("entry", [["os", "system"], ["os", "getcwd"], ["builtins", "eval"], ["subprocess", "Popen"], ["os.path", "join"]])
def test_hostile_component_library_is_refused(tmp_path: Path, entry: list[str]) -> None:
    index = {**WAN_INDEX, "vae": entry}
    folder = _folder(tmp_path, index)
    with pytest.raises(SecurityError) as err:
        decide_folder_code(folder, index, SecurityPolicy(untrusted_code="sandbox"))
    assert err.value.code == "FOREIGN_COMPONENT_LIBRARY" and repr(entry[0]) in str(err.value)


def test_hostile_library_is_refused_before_diffusers_is_imported(tmp_path: Path) -> None:
    index = {**WAN_INDEX, "vae": ["os", "system"]}
    folder = _folder(tmp_path, index)
    script = (
        "import sys, json\n"
        "from wan_compat.compat.security.trust import refuse_foreign_libraries\n"
        "from wan_compat.compat.core.errors import SecurityError\n"
        f"index = json.load(open({str(folder / 'model_index.json')!r}))\n"
        "try:\n"
        f"    refuse_foreign_libraries({str(folder)!r}, index)\n"
        "except SecurityError as err:\n"
        "    print(err.code, 'diffusers' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["FOREIGN_COMPONENT_LIBRARY", "False", "False"], out.stderr


@pytest.mark.parametrize(
    "entry",
    [["diffusers", "NoSuchTransformer"], ["diffusers", "utils"], ["transformers", "pipeline"], ["diffusers", "__class__"]],
)
def test_class_not_shipped_by_the_library_is_refused(entry: list[str]) -> None:
    with pytest.raises(SecurityError) as err:
        require_shipped_classes({**WAN_INDEX, "transformer": entry})
    assert err.value.code == "UNKNOWN_COMPONENT_CLASS" and entry[1] in str(err.value)


def test_shipped_classes_resolve() -> None:
    classes = require_shipped_classes(WAN_INDEX)
    assert classes["transformer"].__name__ == "WanTransformer3DModel"
    assert classes["text_encoder"].__name__ == "UMT5EncoderModel"
    assert "transformer_2" not in classes


def test_foreign_library_check_ignores_plain_entries(tmp_path: Path) -> None:
    refuse_foreign_libraries(tmp_path, WAN_INDEX)  # no error


def test_trust_command_shows_the_code_and_the_entry(tmp_path: Path) -> None:
    folder = _folder(tmp_path, WAN_INDEX, {"transformer/custom_model.py": CUSTOM_CODE})
    run = subprocess.run([sys.executable, "-m", "wan_compat", "trust", str(folder), "--json", "--note", "me"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    entry = doc["trusted_folders_entry"]
    assert entry["note"] == "me" and list(entry["code_sha256"]) == ["transformer/custom_model.py"]
    assert doc["review"]["files"][0]["imports"] == [".helpers", "diffusers", "os", "socket", "torch"]
    # The printed entry is exactly what makes the policy trust the folder.
    policy = SecurityPolicy(trusted_folders=[entry], untrusted_code="sandbox")
    assert decide_folder_code(folder, WAN_INDEX, policy).trusted
    text = subprocess.run([sys.executable, "-m", "wan_compat", "trust", str(folder)], capture_output=True, text=True, timeout=60)
    assert "os.system (line" in text.stdout and "security.trusted_folders" in text.stdout
    plain = subprocess.run([sys.executable, "-m", "wan_compat", "trust", str(_folder(tmp_path / "b", WAN_INDEX))],
                           capture_output=True, text=True, timeout=60)
    assert "Nothing to trust" in plain.stdout
    missing = subprocess.run([sys.executable, "-m", "wan_compat", "trust", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "PATH_NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
