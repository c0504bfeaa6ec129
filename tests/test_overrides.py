"""`advanced.pipeline_overrides` is applied where detection and loading decide: `inspect`, the Detect
node and Wan Safe Load use the forced class or variant, say so in the verdict, and refuse a forced
choice the weights cannot take. Real tiny folders through the real loader and sampler; real-size
sparse files for the variant choice between weight-identical releases."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.cli import main  # noqa: E402
from wan_compat.compat.core.errors import LoadError  # noqa: E402
from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.settings.store import PipelineOverride, SettingsStore  # noqa: E402
from wan_compat.nodes.detect import WanDetectArchitecture  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402


@pytest.fixture(autouse=True)
def _roots(monkeypatch: pytest.MonkeyPatch, tiny_cache: Path, tmp_path: Path, private_settings: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", f"{tiny_cache}:{tmp_path}")


def _edit_index(folder: Path, **changes) -> None:
    path = folder / "model_index.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _force(**override) -> None:
    SettingsStore().set("advanced.pipeline_overrides", [override])


def _inspect_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["inspect", str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def misnamed_i2v(tiny_path, tmp_path: Path) -> Path:
    """A Wan 2.1 I2V folder whose model_index.json names the T2V class (a mis-labelled fine-tune)."""
    folder = Path(shutil.copytree(tiny_path("wan2.1-i2v"), tmp_path / "wan-i2v-finetune"))
    _edit_index(folder, _class_name="WanPipeline")
    return folder


def test_a_forced_class_is_detected_reported_and_loaded(misnamed_i2v: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, before = _inspect_json(misnamed_i2v, capsys)
    assert code == 1 and "PIPELINE_CLASS_MISMATCH" in {p["code"] for p in before["problems"]}
    with pytest.raises(LoadError):
        WanSafeLoad().load(model_path=str(misnamed_i2v), dtype="fp32")

    _force(match="wan-i2v-finetune", pipeline_class="WanImageToVideoPipeline")
    code, after = _inspect_json(misnamed_i2v, capsys)
    assert code == 0 and after["pipeline_class"] == "WanImageToVideoPipeline" and after["task"] == "i2v"
    assert any(e.startswith("pipeline class forced by settings: WanImageToVideoPipeline") for e in after["evidence"])
    assert {p["code"] for p in after["problems"]} == {"PIPELINE_CLASS_FORCED", "UNKNOWN_WAN_VARIANT"}  # a tiny size: no official variant
    assert after["forced"]["by"] == "advanced.pipeline_overrides[0] (match 'wan-i2v-finetune')"

    detected = WanDetectArchitecture().detect(model_path=str(misnamed_i2v))["result"][0]
    assert detected.pipeline_class == "WanImageToVideoPipeline"
    loaded = WanSafeLoad().load(model_path=str(misnamed_i2v), dtype="fp32", model_info=detected)["result"][0]
    assert type(loaded.pipeline).__name__ == "WanImageToVideoPipeline" and loaded.pipeline_class == "WanImageToVideoPipeline"
    assert "by advanced.pipeline_overrides[0]" in loaded.report.source["forced"]
    # and it runs as an I2V pipeline: the image is taken
    from wan_compat.compat.sampling import SampleRequest, sample

    image = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    result = sample(loaded, SampleRequest(prompt="a cat", width=32, height=32, num_frames=5, steps=2, seed=0, image=image), record=False)
    assert result.stats.mode == "i2v" and tuple(result.frames.shape) == (5, 32, 32, 3)


def test_a_forced_class_the_parts_cannot_take_is_refused(tiny_path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path(shutil.copytree(tiny_path("wan2.1-t2v"), tmp_path / "wan-t2v"))
    _force(match="*/wan-t2v", pipeline_class="WanImageToVideoPipeline")
    code, doc = _inspect_json(folder, capsys)
    unfit = next(p for p in doc["problems"] if p["code"] == "PIPELINE_OVERRIDE_UNFIT")
    assert code == 1 and doc["pipeline_class"] == "WanPipeline"
    assert "WanImageToVideoPipeline" in unfit["detail"] and "16 input channels" in unfit["detail"] and "advanced.pipeline_overrides[0]" in unfit["detail"]
    with pytest.raises(LoadError) as err:
        WanSafeLoad().load(model_path=str(folder), dtype="fp32")
    assert "PIPELINE_OVERRIDE_UNFIT" in err.value.detail
    _force(match="wan-t2v", pipeline_class="StableDiffusionPipeline")  # not a Wan pipeline at all
    assert "not a Wan pipeline" in next(p.detail for p in ArchitectureDetector(SettingsStore().load().settings.advanced.pipeline_overrides)
                                         .inspect(folder).problems if p.code == "PIPELINE_OVERRIDE_UNFIT")


def test_an_override_for_another_model_changes_nothing(tiny_path) -> None:
    overrides = [PipelineOverride(match="some-other-model*", pipeline_class="WanImageToVideoPipeline")]
    plain, with_other = ArchitectureDetector().inspect(tiny_path("wan2.1-t2v")), ArchitectureDetector(overrides).inspect(tiny_path("wan2.1-t2v"))
    assert with_other.to_dict() | {"elapsed_ms": 0} == plain.to_dict() | {"elapsed_ms": 0} and with_other.forced is None


def test_a_forced_variant_decides_between_weight_identical_releases(sparse_file) -> None:
    path = sparse_file("wan2.1-t2v-14b", "bf16", name="my_finetune.safetensors")  # a neutral name: 2.1 T2V-14B or a 2.2 expert
    assert "AMBIGUOUS_VERSION" in {p.code for p in ArchitectureDetector().inspect(path).problems}
    forced = ArchitectureDetector([PipelineOverride(match="my_finetune*", variant="wan2.2-t2v-a14b")]).inspect(path)
    assert (forced.version, forced.variant, forced.moe, forced.boundary_ratio) == ("2.2", "wan2.2-t2v-a14b", True, 0.875)
    assert {p.code for p in forced.problems} == {"PIPELINE_CLASS_FORCED"} and forced.ok
    wrong = ArchitectureDetector([PipelineOverride(match="my_finetune*", variant="wan2.1-t2v-1.3b")]).inspect(path)
    unfit = next(p for p in wrong.problems if p.code == "PIPELINE_OVERRIDE_UNFIT")
    assert "hidden size: Wan 2.1 T2V 1.3B has 1536, the weights 5120" in unfit.detail and wrong.variant is None


def _inspect_process(path: Path) -> tuple[dict, bool]:
    """`wan-compat inspect PATH --json` in a fresh process: (its JSON, whether it imported pydantic)."""
    import os
    import subprocess
    import sys

    code = ("import sys; from wan_compat.compat.cli import main; main(['inspect', sys.argv[1], '--json']); "
            "print('pydantic' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("WAN_COMPAT__")}
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout), done.stderr.strip().splitlines()[-1] == "True"


def test_inspect_reads_the_settings_only_when_some_are_set(sparse_file, private_settings: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A safetensors file needs no settings while they are the defaults (no file, no WAN_COMPAT__
    variable): `inspect` then imports no pydantic. Once a settings file forces a variant, the same
    command applies it."""
    from wan_compat.compat.settings.location import settings_are_default

    path = sparse_file("wan2.1-t2v-14b", "bf16", name="my_finetune.safetensors")
    assert settings_are_default()
    doc, pydantic_imported = _inspect_process(path)
    assert "AMBIGUOUS_VERSION" in {p["code"] for p in doc["problems"]} and not pydantic_imported

    _force(match="my_finetune*", variant="wan2.2-t2v-a14b")
    assert not settings_are_default()
    doc, pydantic_imported = _inspect_process(path)
    assert doc["variant"] == "wan2.2-t2v-a14b" and "PIPELINE_CLASS_FORCED" in {p["code"] for p in doc["problems"]} and pydantic_imported

    shutil.rmtree(private_settings)
    monkeypatch.setenv("WAN_COMPAT__SECURITY__HASH_SAFETENSORS", "true")  # a variable alone makes the settings non-default
    assert not settings_are_default()
