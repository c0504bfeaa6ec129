"""Each value entered once, each header parsed once: Wan Safe Load takes Detect's model_info and
re-uses its verdict while the files are unchanged (never a stale one), Wan Check Compatibility
inspects only the parts, and detection, preflight and loading share one parse of each header."""
from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

torch = pytest.importorskip("torch")

from wan_compat.compat.core.errors import UsageError  # noqa: E402
from wan_compat.compat.detect import fingerprint, safetensors_header  # noqa: E402
from wan_compat.compat.detect.detector import ArchitectureDetector  # noqa: E402
from wan_compat.compat.detect.model_info import ModelInfo  # noqa: E402
from wan_compat.compat.fixtures.single_files import export_single_files  # noqa: E402
from wan_compat.compat.loading import LoadOptions, load_pipeline  # noqa: E402
from wan_compat.nodes.detect import WanCheckCompatibility, WanDetectArchitecture  # noqa: E402
from wan_compat.nodes.safe_load import WanSafeLoad  # noqa: E402

FP32 = LoadOptions(dtype="fp32")


@pytest.fixture(autouse=True)
def _roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAN_COMPAT_MODEL_ROOTS", str(tmp_path / "models"))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "settings"))


def _parses() -> int:
    return safetensors_header.header_stats()["parses"]


@contextmanager
def inspected() -> Iterator[list[str]]:
    """Every path the detector reads (its `_inspect_path` calls), by profiling: nothing is replaced."""
    seen: list[str] = []
    code = ArchitectureDetector._inspect_path.__code__

    def profile(frame, event, _arg):  # noqa: ANN001
        if event == "call" and frame.f_code is code:
            seen.append(os.path.realpath(str(frame.f_locals["path"])))

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)


def _weights(folder: Path) -> int:
    return len(list(folder.rglob("*.safetensors")))


# --------------------------------------------------------------------------- headers parsed once
def test_a_folder_load_parses_each_header_once_and_a_second_load_none(t2v: Path) -> None:
    safetensors_header.clear_header_cache()
    before = _parses()
    load_pipeline(t2v, options=FP32)  # preflight, shapes, detection: one parse per file
    assert _parses() - before == _weights(t2v)
    load_pipeline(t2v, options=FP32)
    assert _parses() - before == _weights(t2v)


def test_detect_then_load_with_model_info_reuses_the_verdict_and_the_headers(t2v: Path) -> None:
    safetensors_header.clear_header_cache()
    before = _parses()
    info = ArchitectureDetector().inspect(t2v)
    snapshot = json.dumps(info.to_dict(), sort_keys=True)
    assert _parses() - before == _weights(t2v)
    with inspected() as paths:
        loaded = load_pipeline(model_info=info, options=FP32)
    assert paths == [] and _parses() - before == _weights(t2v)  # not detected, nothing parsed again
    assert loaded.report.source["detection"].startswith("re-used model_info")
    assert any("re-used" in d.reason for d in loaded.report.decisions)
    assert loaded.model_info is not info and loaded.model_info.variant == info.variant
    assert json.dumps(info.to_dict(), sort_keys=True) == snapshot  # the Detect node's output is never changed
    # Every security step still ran: path checks, code checks, preflight, the identity snapshot.
    reasons = " ".join(d.reason for d in loaded.report.decisions)
    for step in ("inside the allowed roots", "no custom code", "unchanged from check to load"):
        assert step in reasons
    assert {f.role for f in loaded.report.files} >= {"transformer", "vae", "text_encoder"}


def test_single_files_with_model_info_inspect_only_the_parts(t2v: Path, files: dict[str, Path]) -> None:
    info = ArchitectureDetector().inspect(files["transformer"])
    with inspected() as paths:
        loaded = load_pipeline(model_info=info, vae=files["vae"], text_encoder=files["text_encoder"], config_source=t2v, options=FP32)
    assert sorted(paths) == sorted(os.path.realpath(files[k]) for k in ("vae", "text_encoder"))
    assert loaded.model_info.components["vae"]["kind"] == "vae" and loaded.model_info.model_only() is info
    assert loaded.report.source["detection"].startswith("re-used")


def test_same_model_picked_and_in_model_info_is_fine(t2v: Path, tmp_path: Path) -> None:
    info = ArchitectureDetector().inspect(t2v)
    link = tmp_path / "models" / "link-to-t2v"
    link.symlink_to(t2v)
    with inspected() as paths:
        load_pipeline(link, model_info=info, options=FP32)
    assert paths == []


# --------------------------------------------------------------------------- stale or wrong model_info
def test_a_changed_file_means_detecting_again_and_saying_so(t2v: Path) -> None:
    info = ArchitectureDetector().inspect(t2v)
    config = t2v / "scheduler" / "scheduler_config.json"
    doc = json.loads(config.read_text())
    doc["flow_shift"] = 7.0
    config.write_text(json.dumps(doc))
    (t2v / "README.md").write_text("notes")
    with inspected() as paths:
        loaded = load_pipeline(model_info=info, options=FP32)
    assert paths == [os.path.realpath(t2v)]
    assert loaded.report.source["detection"] == "detected again (model_info was stale)"
    stale = next(p for p in loaded.report.problems if p.code == "MODEL_INFO_STALE")
    assert "scheduler/scheduler_config.json: modified" in stale.detail and "README.md: new" in stale.detail
    assert loaded.model_info.components["scheduler"]["flow_shift"] == 7.0  # the new verdict, not the old one
    assert "MODEL_INFO_STALE" in loaded.summary()


def test_a_replaced_single_file_is_judged_by_what_it_is_now(tiny_pipelines, files: dict[str, Path], tmp_path: Path) -> None:
    info = ArchitectureDetector().inspect(files["transformer"])
    assert info.variant is None and info.task == "t2v"
    other = export_single_files(tiny_pipelines["wan2.2-ti2v-5b"], tmp_path / "other", name="ti2v")
    shutil.copyfile(other["transformer"], files["transformer"])
    header = safetensors_header.read_header(files["transformer"])  # the cache never serves the old header
    assert header.tensors.keys() == safetensors_header.read_header(other["transformer"]).tensors.keys()
    fresh = ArchitectureDetector().reuse(info)
    assert fresh is not info and fresh.task == "ti2v" and fresh.version == "2.2"
    assert any(p.code == "MODEL_INFO_STALE" and "modified" in p.detail for p in fresh.problems)


def test_model_info_and_a_different_model_are_refused_before_reading(t2v: Path, files: dict[str, Path]) -> None:
    info = ArchitectureDetector().inspect(t2v)
    before = _parses()
    with pytest.raises(UsageError) as err:
        load_pipeline(files["transformer"], model_info=info, vae=files["vae"], text_encoder=files["text_encoder"])
    assert err.value.code == "MODEL_INFO_MISMATCH" and str(t2v) in str(err.value)
    assert _parses() == before
    with pytest.raises(UsageError) as err:
        load_pipeline()
    assert err.value.code == "MODEL_NOT_GIVEN"


def test_a_verdict_without_fingerprint_is_never_reused(t2v: Path) -> None:
    bare = ModelInfo(str(t2v), "diffusers")  # e.g. made by hand: its files cannot be compared
    with inspected() as paths:
        loaded = load_pipeline(model_info=bare, options=FP32)
    assert paths == [os.path.realpath(t2v)] and loaded.model_info.family == "wan"
    assert loaded.report.source["detection"].startswith("detected (model_info carries no fingerprint")


def test_a_pickle_model_is_detected_from_its_loaded_tensors(t2v: Path, files: dict[str, Path]) -> None:
    from safetensors.torch import load_file

    from wan_compat.compat.security.pinned import sha256_of
    from wan_compat.compat.security.policy import SecurityPolicy

    pt = files["transformer"].with_suffix(".pt")
    torch.save(load_file(files["transformer"]), pt)
    info = ArchitectureDetector().inspect(pt)
    assert info.format == "pickle" and info.kind == "unknown"  # a header-less verdict: nothing to re-use
    policy = SecurityPolicy(allowed_pickle_sha256=[sha256_of(pt.open("rb"))])
    loaded = load_pipeline(model_info=info, vae=files["vae"], text_encoder=files["text_encoder"], config_source=t2v, policy=policy, options=FP32)
    assert loaded.model_info.kind == "transformer" and "loaded tensors" in loaded.report.source["detection"]


# --------------------------------------------------------------------------- the nodes
def test_safe_load_node_takes_model_info_instead_of_a_second_pick(t2v: Path, files: dict[str, Path]) -> None:
    info, _ = WanDetectArchitecture().detect(model_path=str(t2v))["result"]
    linked = {"model_info": "WAN_MODEL_INFO"}
    assert WanSafeLoad.VALIDATE_INPUTS(model="none", input_types=linked) is True
    assert "model_info" in WanSafeLoad.VALIDATE_INPUTS(model="none")  # neither: said before the run
    assert WanSafeLoad.VALIDATE_INPUTS(model="none", input_types={"model_info": "IMAGE"}) == "model_info wants WAN_MODEL_INFO but is linked to IMAGE"
    assert WanSafeLoad.VALIDATE_INPUTS(model="none", input_types={"model_path": "STRING"}) is True
    with inspected() as paths:
        loaded, text = WanSafeLoad().load(model="none", dtype="fp32", model_info=info)["result"]
    assert paths == [] and "re-used" in text and loaded.model_info.variant == info.variant
    with pytest.raises(UsageError) as err:
        WanSafeLoad().load(model="none", model_path=str(files["transformer"]), dtype="fp32", model_info=info)
    assert err.value.code == "MODEL_INFO_MISMATCH"
    with pytest.raises(UsageError) as err:
        WanSafeLoad().load(model="none", dtype="fp32")
    assert err.value.code == "MODEL_NOT_GIVEN"


def test_check_compatibility_inspects_only_the_parts(t2v: Path, files: dict[str, Path]) -> None:
    info, _ = WanDetectArchitecture().detect(model_path=str(files["transformer"]))["result"]
    with inspected() as paths:
        checked, _ = WanCheckCompatibility().check(info, vae_path=str(files["vae"]), text_encoder_path=str(files["text_encoder"]))["result"]
    assert sorted(paths) == sorted(os.path.realpath(files[k]) for k in ("vae", "text_encoder"))
    assert checked.model_only() is info and checked.components["vae"]["kind"] == "vae" and "vae" not in info.components
    # Chained checks start from the model verdict; a part left at none is the one the incoming
    # verdict names (checked again, so the face says what fits), a part picked here wins.
    again, _ = WanCheckCompatibility().check(checked, text_encoder_path=str(files["vae"]))["result"]
    assert again.model_only() is info and again.components["vae"]["path"] == checked.components["vae"]["path"]
    assert again.components["text_encoder"]["kind"] == "vae"
    # A wrong part is a finding on the model verdict, as with a full inspection.
    wrong, _ = WanCheckCompatibility().check(info, vae_path=str(files["text_encoder"]))["result"]
    assert any(p.code == "COMPONENT_KIND_MISMATCH" for p in wrong.problems)
    assert [p.code for p in wrong.problems] == [p.code for p in ArchitectureDetector().inspect(files["transformer"], vae=files["text_encoder"]).problems]
    # Stale: the model is detected again, and the output says so.
    os.utime(files["transformer"], ns=(0, 0))
    with inspected() as paths:
        fresh, _ = WanCheckCompatibility().check(info, vae_path=str(files["vae"]))["result"]
    assert os.path.realpath(files["transformer"]) in paths
    assert any(p.code == "MODEL_INFO_STALE" for p in fresh.problems) and fresh.model_only() is not info


# --------------------------------------------------------------------------- the header cache
def _write(path: Path, dtype: str = "F32") -> Path:
    path.write_bytes(safetensors_header.encode_header({"w": {"dtype": dtype, "shape": [2], "data_offsets": [0, 8]}}) + bytes(8))
    return path


def test_header_cache_is_keyed_by_file_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    safetensors_header.clear_header_cache()
    path = _write(tmp_path / "a.safetensors")
    before = safetensors_header.header_stats()
    first = safetensors_header.read_header(path)
    link = tmp_path / "b.safetensors"
    link.symlink_to(path)
    second = safetensors_header.read_header(link)
    stats = safetensors_header.header_stats()
    assert stats["parses"] - before["parses"] == 1 and stats["hits"] - before["hits"] == 1
    assert second.path == link and second.tensors is first.tensors
    # A file this young is served only after its header bytes are compared again.
    assert stats["verified"] - before["verified"] == 1
    with pytest.raises(TypeError):
        first.tensors["x"] = None  # shared between callers: read-only
    # Rewritten (same size, another dtype): parsed again, never the old header.
    _write(path, "I32")
    assert safetensors_header.read_header(path).tensors["w"].dtype == "I32"
    # Old enough identities are served without reading the file again.
    monkeypatch.setattr(safetensors_header, "RACY_NS", 0)
    other = _write(tmp_path / "c.safetensors")
    safetensors_header.read_header(other)
    before = safetensors_header.header_stats()
    safetensors_header.read_header(other)
    after = safetensors_header.header_stats()
    assert (after["hits"] - before["hits"], after["verified"] - before["verified"], after["parses"] - before["parses"]) == (1, 0, 0)


def test_header_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    safetensors_header.clear_header_cache()
    for i in range(safetensors_header.CACHE_ENTRIES + 5):
        safetensors_header.read_header(_write(tmp_path / f"{i}.safetensors"))
    assert len(safetensors_header._CACHE) == safetensors_header.CACHE_ENTRIES
    monkeypatch.setattr(safetensors_header, "CACHE_TENSORS", 0)
    safetensors_header.clear_header_cache()
    safetensors_header.read_header(_write(tmp_path / "big.safetensors"))
    assert len(safetensors_header._CACHE) == 0


# --------------------------------------------------------------------------- fingerprints
def test_fingerprint_lists_the_files_and_catches_every_kind_of_change(t2v: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = ArchitectureDetector().inspect(t2v)
    json.dumps(info.to_dict())
    names = {entry[0] for entry in info.fingerprint}
    assert {"model_index.json", "transformer/", "transformer/config.json", "vae/diffusion_pytorch_model.safetensors"} <= names
    assert fingerprint.changes(t2v, info.fingerprint) == []
    # Files this young carry a digest of what detection reads: a rewrite that kept size and times shows.
    entry = next(e for e in info.fingerprint if e[0] == "transformer/config.json")
    assert entry[4] is not None
    tampered = [[*e[:4], "0" * 64] if e[0] == entry[0] else e for e in info.fingerprint]
    assert fingerprint.changes(t2v, tampered) == ["transformer/config.json: rewritten (same size and times)"]
    (t2v / "tokenizer" / "spiece.model").unlink()
    assert "tokenizer/spiece.model: gone" in fingerprint.changes(t2v, info.fingerprint)
    monkeypatch.setattr(fingerprint, "MAX_FILES", 3)
    assert fingerprint.take(t2v) is None  # too many to list: such a verdict is never re-used
