"""Settings: location, validation with JSON paths, migration, env overrides, atomic and no-loss writes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wan_compat.compat.cli import main
from wan_compat.compat.core.errors import SettingsError
from wan_compat.compat.security.policy import SecurityPolicy
from wan_compat.compat.settings.store import CURRENT_VERSION, Settings, SettingsStore, settings_dir

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads or writes the real config folder or sees the caller's overrides."""
    for name in list(__import__("os").environ):
        if name.startswith("WAN_COMPAT__") or name in ("WAN_COMPAT_CONFIG_DIR", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------------- location
def test_location_override_xdg_comfyui_user_folder_and_default(tmp_path, monkeypatch):
    assert settings_dir() == tmp_path / "cfg"
    monkeypatch.delenv("WAN_COMPAT_CONFIG_DIR")
    assert settings_dir(user_dir=tmp_path / "ComfyUI" / "user") == tmp_path / "ComfyUI" / "user" / "wan-compat"
    assert settings_dir() == tmp_path / "home" / ".config" / "wan-compat"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings_dir() == tmp_path / "xdg" / "wan-compat"
    assert SettingsStore().path == tmp_path / "xdg" / "wan-compat" / "settings.json"


def test_missing_file_gives_defaults_and_writes_nothing(isolated):
    loaded = SettingsStore().load()
    assert not loaded.exists and loaded.settings == Settings()
    assert isinstance(loaded.settings.security, SecurityPolicy)
    assert loaded.settings.security.untrusted_code == "refuse"
    assert not isolated.exists()


# ---------------------------------------------------------------------------------- writing
def test_set_writes_only_explicit_values_atomically(isolated):
    store = SettingsStore()
    store.set("optimization.precision", "bf16")
    store.set("encoder.crf", 23)
    doc = json.loads(store.path.read_text())
    assert doc == {"version": CURRENT_VERSION, "optimization": {"precision": "bf16"}, "encoder": {"crf": 23}}
    assert files_in(isolated) == ["settings.json"]  # no temp file left behind
    assert store.load().settings.optimization.precision == "bf16"


def test_invalid_value_is_refused_with_its_json_path_and_nothing_is_written(isolated):
    store = SettingsStore()
    store.set("encoder.crf", 23)
    before = store.path.read_bytes()
    with pytest.raises(SettingsError) as info:
        store.set("optimization.precision", "fp64")
    assert info.value.code == "SETTINGS_INVALID"
    assert info.value.problem.context["json_path"] == "$.optimization.precision"
    assert "$.optimization.precision" in info.value.summary and "'fp64'" in info.value.detail
    assert store.path.read_bytes() == before
    assert files_in(isolated) == ["settings.json"]


def test_invalid_file_values_name_every_json_path(isolated):
    isolated.mkdir()
    (isolated / "settings.json").write_text(json.dumps({
        "version": 3,
        "encoder": {"crf": 99, "fps": -1},
        "advanced": {"pipeline_overrides": [{"match": "*5b*", "variant": "wan9-imaginary"}]},
        "security": {"allowed_pickle_sha256": ["not-a-digest"]},
        "surprise": True,
    }))
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    detail = info.value.detail
    for path in ("$.encoder.crf", "$.encoder.fps", "$.advanced.pipeline_overrides[0].variant",
                 "$.security.allowed_pickle_sha256", "$.surprise"):
        assert path in detail
    assert "not sha256 hex digests" in detail and "wan9-imaginary" in detail


def test_unknown_key_and_version_cannot_be_set(isolated):
    for key in ("optimization.turbo", "nothing", "version"):
        with pytest.raises(SettingsError) as info:
            SettingsStore().set(key, 1)
        assert info.value.code == "SETTINGS_KEY_UNKNOWN"
    assert not isolated.exists()


def test_corrupted_file_is_reported_kept_and_backed_up_before_a_new_one_is_written(isolated):
    isolated.mkdir()
    path = isolated / "settings.json"
    path.write_text('{"version": 3, "optimization": {"precision": "bf16"')  # cut short by a crash
    original = path.read_bytes()
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    assert info.value.code == "SETTINGS_FILE_CORRUPT" and str(path) in info.value.fix
    assert path.read_bytes() == original  # reading never touches it

    SettingsStore().set("encoder.crf", 20)
    assert (isolated / "settings.json.bak").read_bytes() == original
    assert json.loads(path.read_text()) == {"version": 3, "encoder": {"crf": 20}}

    path.write_text("not json either")  # broken again: the first backup is not overwritten
    SettingsStore().set("encoder.crf", 21)
    assert (isolated / "settings.json.bak").read_bytes() == original
    assert (isolated / "settings.json.bak.1").read_text() == "not json either"
    assert files_in(isolated) == ["settings.json", "settings.json.bak", "settings.json.bak.1"]


def test_a_non_object_file_is_corrupt(isolated):
    isolated.mkdir()
    (isolated / "settings.json").write_text("[1, 2]")
    with pytest.raises(SettingsError, match="not an object") as info:
        SettingsStore().load()
    assert info.value.code == "SETTINGS_FILE_CORRUPT"


def test_write_failure_is_typed_and_leaves_the_old_file(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the settings folder should be")
    monkeypatch.setenv("WAN_COMPAT_CONFIG_DIR", str(blocker / "wan-compat"))
    with pytest.raises(SettingsError) as info:
        SettingsStore().set("encoder.crf", 20)
    assert info.value.code == "SETTINGS_WRITE_FAILED"
    assert blocker.read_text() == "a file where the settings folder should be"


# ---------------------------------------------------------------------------------- versions
def test_v1_file_is_migrated_and_rewritten_as_v3(isolated, capsys):
    isolated.mkdir()
    shutil.copy(DATA / "settings_v1.json", isolated / "settings.json")
    loaded = SettingsStore().load()
    s = loaded.settings
    assert loaded.migrated_from == 1
    assert s.security.allowed_pickle_sha256 == ["ab7f2c1e9d3b4a5f6e7d8c9b0a1f2e3d4c5b6a79881726354453627180f9e8d7"]
    assert "trusted_repos" not in s.security.model_dump() and "allow_network" not in s.security.model_dump()
    assert (s.optimization.precision, s.optimization.offload, s.optimization.vae_tiling, s.optimization.max_vram_gb) == ("fp16", "model", "on", 12)
    assert (s.encoder.format, s.encoder.crf, s.encoder.preset, s.encoder.fps) == ("webm", 30, "fast", 16)
    override = s.pipeline_override_for("/models/diffusers/wan2.1-i2v-14b-480p")
    assert override is not None and override.pipeline_class == "WanImageToVideoPipeline"
    assert s.pipeline_override_for("/models/wan2.2-ti2v-5b") is None
    # Reading leaves the v1 file as it was; the next write stores the migrated layout, as validate says.
    assert json.loads((isolated / "settings.json").read_text())["version"] == 1
    from wan_compat.compat.cli import main

    assert main(["config", "validate"]) == 0
    assert "version 1 layout: `wan-compat config set` rewrites it as version 3" in capsys.readouterr().out
    SettingsStore().set("encoder.crf", 28)
    doc = json.loads((isolated / "settings.json").read_text())
    assert doc["version"] == 3 and doc["encoder"] == {"format": "webm", "crf": 28, "preset": "fast", "fps": 16}
    assert "trusted_repos" not in doc.get("security", {}) and "allow_network" not in doc.get("security", {})
    assert doc["optimization"]["vae_tiling"] == "on"
    assert SettingsStore().load().migrated_from is None


def test_v1_with_an_invalid_value_names_the_v2_path(isolated):
    isolated.mkdir()
    (isolated / "settings.json").write_text(json.dumps({"version": 1, "precision": "fp64"}))
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    assert info.value.problem.context["json_path"] == "$.optimization.precision"


@pytest.mark.parametrize("version", [4, 0, "2", None])
def test_unknown_or_missing_version_is_refused_and_the_file_kept(isolated, version):
    isolated.mkdir()
    doc = {"optimization": {"precision": "bf16"}}
    if version is not None:
        doc["version"] = version
    (isolated / "settings.json").write_text(json.dumps(doc))
    before = (isolated / "settings.json").read_bytes()
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    assert info.value.code == "SETTINGS_VERSION_UNSUPPORTED"
    with pytest.raises(SettingsError):
        SettingsStore().set("encoder.crf", 20)  # never overwrites a file it cannot read
    assert (isolated / "settings.json").read_bytes() == before


# ---------------------------------------------------------------------------------- environment
def test_environment_overrides_win_but_are_never_written(isolated, monkeypatch):
    store = SettingsStore()
    store.set("optimization.precision", "bf16")
    monkeypatch.setenv("WAN_COMPAT__OPTIMIZATION__PRECISION", "fp32")
    monkeypatch.setenv("WAN_COMPAT__ENCODER__CRF", "25")
    monkeypatch.setenv("WAN_COMPAT__SECURITY__ALLOWED_PICKLE_SHA256", json.dumps(["a" * 64]))
    loaded = store.load()
    assert loaded.settings.optimization.precision == "fp32"
    assert loaded.settings.encoder.crf == 25
    assert loaded.settings.security.allowed_pickle_sha256 == ["a" * 64]
    assert loaded.overrides["encoder.crf"] == "WAN_COMPAT__ENCODER__CRF"
    store.set("encoder.preset", "slow")
    assert json.loads(store.path.read_text()) == {"version": 3, "optimization": {"precision": "bf16"}, "encoder": {"preset": "slow"}}


@pytest.mark.parametrize("name,value", [
    ("WAN_COMPAT__ENCODER__CRF", "99"),
    ("WAN_COMPAT__OPTIMIZATION__OFFLOAD", "maybe"),
    ("WAN_COMPAT__OPTIMIZATION__TURBO", "1"),
    ("WAN_COMPAT__NOSUCH", "1"),
])
def test_invalid_environment_override_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    assert info.value.code == "SETTINGS_ENV_INVALID"
    assert name in info.value.summary and name in info.value.fix


def test_digest_changes_with_speed_settings_only():
    base = Settings()
    assert base.digest() == Settings().digest()
    assert Settings.model_validate({"optimization": {"offload": "group"}}).digest() != base.digest()
    assert Settings.model_validate({"security": {"hash_safetensors": True}}).digest() == base.digest()


# ---------------------------------------------------------------------------------- CLI
def test_config_cli_show_set_validate(isolated, capsys, monkeypatch):
    assert main(["config", "set", "optimization.offload", "group"]) == 0
    assert main(["config", "set", "optimization.max_vram_gb", "10.5"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("WAN_COMPAT__ENCODER__FPS", "24")
    assert main(["config", "show", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["optimization"]["offload"] == "group"
    assert doc["settings"]["optimization"]["max_vram_gb"] == 10.5
    assert doc["overrides"] == {"encoder.fps": "WAN_COMPAT__ENCODER__FPS"}
    assert main(["config", "show"]) == 0
    assert 'encoder.fps = 24.0   # from WAN_COMPAT__ENCODER__FPS' in capsys.readouterr().out
    assert main(["config", "validate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    assert main(["config", "set", "encoder.crf", "-3"]) == 1
    assert "[SETTINGS_INVALID]" in capsys.readouterr().err
    (isolated / "settings.json").write_text("{oops")
    assert main(["config", "validate", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["problems"][0]["code"] == "SETTINGS_FILE_CORRUPT"
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated / "settings.json")


def test_v2_file_loses_the_network_settings_no_load_ever_used(isolated):
    isolated.mkdir()
    (isolated / "settings.json").write_text(json.dumps({
        "version": 2,
        "security": {"allow_network": True, "trusted_repos": [{"repo_id": "org/name", "revision": "a" * 40}],
                     "extra_model_roots": ["/models/elsewhere"]},
        "encoder": {"crf": 21},
    }))
    loaded = SettingsStore().load()
    assert loaded.migrated_from == 2
    assert loaded.settings.security.extra_model_roots == ["/models/elsewhere"] and loaded.settings.encoder.crf == 21
    dumped = loaded.settings.security.model_dump()
    assert "allow_network" not in dumped and "trusted_repos" not in dumped


def test_v3_file_with_the_network_settings_is_refused_naming_them(isolated):
    isolated.mkdir()
    (isolated / "settings.json").write_text(json.dumps({"version": 3, "security": {"allow_network": True}}))
    with pytest.raises(SettingsError) as info:
        SettingsStore().load()
    assert "$.security.allow_network" in info.value.detail


def test_every_shipped_format_name_and_alias_is_a_valid_encoder_setting(isolated, capsys):
    from wan_compat.compat.settings.store import EncoderDefaults
    from wan_compat.encoders.defaults import choose
    from wan_compat.encoders.formats import all_formats

    for fmt in all_formats():
        for name in (fmt.name, *fmt.aliases):
            assert EncoderDefaults(format=name).format == name
        for preset in fmt.presets:
            assert EncoderDefaults(preset=preset).preset == preset
    for bad in ("H264 MP4", "../mp4", "-mp4", ""):
        with pytest.raises(ValueError):
            EncoderDefaults(format=bad)
    assert main(["config", "set", "encoder.format", "h265-mp4"]) == 0
    assert choose(None, None, None, 16.0).fmt.name == "h265-mp4"
