"""Pipeline code from the Hub: which diffusers release ships a pipeline class (data read from diffusers'
own `__init__.py` at its release tags), and `wan-compat trust --fetch`, which downloads a repository's
code at a pinned commit for review; the code is refused until its sha256 is trusted, then runs only in
the sandbox. Against the loopback Hub (tools/local_hub.py), the command in its own process.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hub_fixtures import cli_env, home, sha256  # noqa: F401 - fixtures
from local_hub import LocalHub
from wan_compat.compat.core.errors import SecurityError
from wan_compat.compat.detect.detector import ArchitectureDetector
from wan_compat.compat.detect.pipeline_releases import explain, first_release

pytestmark = pytest.mark.slow
REPO = "someone/custom-wan"
PIPELINE = '''
import numpy as np
from diffusers import DiffusionPipeline


class ProbePipeline(DiffusionPipeline):
    """A repository's own pipeline: frames of a constant, so a run shows which code ran."""

    def __init__(self):
        super().__init__()

    def __call__(self, prompt="", num_frames=2, output_type="np", generator=None, value=0.25):
        class Output:
            pass

        out = Output()
        out.frames = np.full((1, num_frames, 2, 2, 3), value, dtype=np.float32)
        return out
'''
INDEX = json.dumps({"_class_name": ["probe_pipeline", "ProbePipeline"], "_diffusers_version": "0.42.1"}).encode()


def test_which_diffusers_release_ships_a_pipeline_class() -> None:
    assert first_release("WanPipeline") == "0.33.0" and first_release("WanVACEPipeline") == "0.34.0"
    assert first_release("WanAnimatePipeline") == "0.36.0" and first_release("MyWanPipeline") is None
    assert 'pip install -U "diffusers>=0.36.0"' in explain("WanAnimatePipeline", "0.35.1")
    assert "installed 0.42.1 has it" in explain("WanAnimatePipeline", "0.42.1")
    assert "trust --fetch" in explain("MyWanPipeline", "0.42.1")


def test_detection_says_it_for_a_folder(tiny_path: Callable[[str], Path], tmp_path: Path) -> None:
    """Standard Wan parts under a class the pack does not run: the folder falls back to the Wan
    pipeline that fits (issue 24) and the warning still says which release ships the declared class."""
    folder = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "wan"))
    index = json.loads((folder / "model_index.json").read_text())
    for class_name, said in (("SkyReelsV2Pipeline", "ships with diffusers 0.35.0"), ("MyWanPipeline", "trust --fetch")):
        (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": class_name}))
        found = [p for p in ArchitectureDetector().inspect(folder).problems if p.code == "PIPELINE_CLASS_FALLBACK"]
        assert found and said in found[0].detail and "trust --fetch" in found[0].fix


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    found = LocalHub(tmp_path_factory.mktemp("code_hub"))
    found.start()
    yield found
    found.stop()


def _run(env: dict[str, str], *args: str) -> tuple[int, dict, str]:
    done = subprocess.run([sys.executable, "-m", "wan_compat", *args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, json.loads(done.stdout), done.stderr


def test_trust_fetch_downloads_the_code_at_the_models_commit_for_review(hub: LocalHub, home: Path) -> None:
    first = hub.add_repo(REPO, {"model_index.json": INDEX, "probe_pipeline.py": PIPELINE.encode(), "native.so": b"\x7fELF", "README.md": b"hi"})
    env = cli_env(hub.url, home)
    rc, got, err = _run(env, "get", REPO, "--models", str(home / "models"))
    assert rc == 0, err
    folder = home / "models" / "diffusers" / "custom-wan"
    assert sorted(got["downloads"][0]["skipped"]) == ["README.md", "native.so", "probe_pipeline.py"]
    assert not (folder / "probe_pipeline.py").exists()  # `get` never fetches code
    hub.add_repo(REPO, {"model_index.json": INDEX, "probe_pipeline.py": PIPELINE.replace("0.25", "0.75").encode()})  # main moves on

    rc, got, err = _run(env, "trust", "--fetch", REPO, "--models", str(home / "models"))
    assert rc == 0, err
    assert got["fetched"]["commit"] == first and [f["path"] for f in got["fetched"]["files"]] == ["probe_pipeline.py"]
    [code] = got["review"]["files"]
    assert code["path"] == "probe_pipeline.py" and code["sha256"] == sha256(folder / "probe_pipeline.py")
    assert "0.25" in (folder / "probe_pipeline.py").read_text() and not (folder / "native.so").exists()
    entry = got["trusted_folders_entry"]
    assert entry["code_sha256"] == {"probe_pipeline.py": code["sha256"]} and entry["note"] == f"{REPO}@{first}"

    from wan_compat.compat.loading import load_pipeline
    from wan_compat.compat.security import sandbox
    from wan_compat.compat.security.policy import SecurityPolicy, TrustedFolder

    roots = [str(home / "models")]
    with pytest.raises(SecurityError) as refused:
        load_pipeline(folder, policy=SecurityPolicy(), roots=roots)
    assert refused.value.code == "CUSTOM_CODE_FILES"
    available, reason = sandbox.sandbox_status()
    if not available:
        pytest.skip(f"no sandbox here to run the trusted code: {reason} (CI installs Debian's bubblewrap)")
    policy = SecurityPolicy(trusted_folders=[TrustedFolder(**entry)], untrusted_code="sandbox")
    loaded = load_pipeline(folder, policy=policy, roots=roots)
    assert loaded.sandboxed and loaded.pipeline(num_frames=3).frames[0, 0, 0, 0, 0] == 0.25
    (folder / "probe_pipeline.py").write_text(PIPELINE.replace("0.25", "0.5"))  # a changed file is trusted no longer
    with pytest.raises(SecurityError) as changed:
        load_pipeline(folder, policy=policy, roots=roots)
    assert changed.value.code == "CODE_TRUST_MISMATCH"
