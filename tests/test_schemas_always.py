"""The config schemas run on every config that is read, not only when the quick reader already found
a problem: a VAE with a latents_std that is not positive or a scheduler with a negative flow_shift
(values of the right type, which the quick reader lets through) are refused by detect, by Safe Load
and as a config source, instead of turning the first step into NaN blamed on the transformer."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import LoadError, ModelFileError  # noqa: E402
from wan_compat.compat.detect import configs  # noqa: E402
from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402

BROKEN = {
    "vae": ("vae/config.json", lambda doc: doc["latents_std"].__setitem__(3, 0.0), "$.latents_std: every value must be > 0"),
    "scheduler": ("scheduler/scheduler_config.json", lambda doc: doc.__setitem__("flow_shift", -3.0), "$.flow_shift"),
}


def _break(folder: Path, which: str) -> str:
    rel, change, words = BROKEN[which]
    doc = json.loads((folder / rel).read_text())
    change(doc)
    (folder / rel).write_text(json.dumps(doc))
    return words


@pytest.mark.parametrize("which", sorted(BROKEN))
def test_a_valid_typed_but_wrong_value_is_refused(tiny_path, tmp_path: Path, which: str) -> None:
    folder = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "t2v"))
    words = _break(folder, which)
    rel = BROKEN[which][0]
    assert configs._quick_problems(which, json.loads((folder / rel).read_text())) == []  # what the quick reader alone let through
    info = ArchitectureDetector().inspect(folder)
    found = [p for p in info.problems if p.code == "CONFIG_INVALID"]
    assert found and words in found[0].detail and not info.ok
    with pytest.raises(LoadError) as err:
        load_pipeline(folder, options=LoadOptions(dtype="fp32"))
    # The VAE's config is the VAE's finding: a replacement VAE would settle it (FOLDER_PART_BROKEN).
    assert err.value.code == {"vae": "FOLDER_PART_BROKEN", "scheduler": "MODEL_NOT_LOADABLE"}[which] and words in err.value.detail


def test_a_config_source_is_validated(tiny_path, tmp_path: Path, files: dict[str, Path]) -> None:
    source = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "models" / "configs"))
    words = _break(source, "vae")
    with pytest.raises(ModelFileError) as err:
        load_pipeline(files["transformer"], vae=files["vae"], text_encoder=files["text_encoder"], config_source=source,
                      options=LoadOptions(dtype="fp32"))
    assert err.value.code == "CONFIG_INVALID" and words in err.value.detail
