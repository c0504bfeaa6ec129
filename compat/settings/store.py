"""The pack's settings: one validated, versioned JSON file, overridable from the environment.

Where: `settings_dir()` is `$WAN_COMPAT_CONFIG_DIR` if set; else `<ComfyUI user folder>/wan-compat`
when the caller passes ComfyUI's user directory (nodes do, through `nodes/comfy_env`) or the CLI is
pointed at or run from a ComfyUI folder (`location.py`); else
`$XDG_CONFIG_HOME/wan-compat` or `~/.config/wan-compat`. The file is `settings.json`.

How it is read: JSON -> migrated to the current layout (`CURRENT_VERSION`) -> environment overrides
(`WAN_COMPAT__SECTION__FIELD=value`, the value read as JSON when it parses, else as a string) ->
validated by pydantic. Every failure is a SettingsError whose detail names the JSON path.

How it is written: only the file's own values (never the environment overrides), to a temporary file
in the same folder that is then renamed over `settings.json`, so a crash never leaves half a file.
A file that cannot be parsed is kept as `settings.json.bak` (or `.bak.N`) before a new one is written.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core import safe_json
from ..core.errors import SettingsError, WanCompatError
from ..core.regular_file import open_regular
from .location import CONFIG_DIR_ENV, ENV_PREFIX, FILE_NAME, SUB_FOLDER, settings_dir  # noqa: F401 - part of this module's API
from ..security.policy import SecurityPolicy

CURRENT_VERSION = 3
SETTINGS_MAX_BYTES = 1024 * 1024  # a settings file is a few kilobytes


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OptimizationPreferences(_Section):
    """What the user wants Wan Optimize to do; `auto` lets the planner decide from the machine."""

    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    offload: Literal["auto", "none", "model", "sequential", "group"] = "auto"
    vae_tiling: Literal["auto", "on", "off"] = "auto"
    vae_slicing: Literal["auto", "on", "off"] = "auto"
    max_vram_gb: float | None = Field(default=None, gt=0, description="use at most this much GPU memory")
    max_ram_gb: float | None = Field(default=None, gt=0, description="use at most this much system memory")
    keep_fp8_storage: bool = Field(default=True, description="keep fp8 weights as storage and compute in precision")


class EncoderDefaults(_Section):
    """Defaults of Wan Encode Video and `wan-compat encode`."""

    # Format names are like `h264-mp4`; aliases like `mp4` or `webm` are accepted too.
    format: str = Field(default="mp4", pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="a format name or alias of the encoders stage")
    crf: int = Field(default=19, ge=0, le=63)
    preset: str = Field(default="medium", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    fps: float | None = Field(default=None, gt=0, le=240, description="None: the model's own frame rate")
    png_fallback: bool = True


class PipelineOverride(_Section):
    """Force the pipeline class and/or registry variant for models whose path matches `match`
    (a glob against the model's path or folder name). For models the detector gets wrong."""

    match: str = Field(min_length=1)
    pipeline_class: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    variant: str | None = None

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from ..detect import registry

        known = {v.id for kind in ("transformer", "vae", "text_encoder", "clip_vision") for v in registry.variants(kind)}
        if value not in known:
            raise ValueError(f"unknown variant id {value!r}; known: {', '.join(sorted(known))}")
        return value


class AdvancedSettings(_Section):
    pipeline_overrides: list[PipelineOverride] = Field(default_factory=list)


class PerformanceSettings(_Section):
    record_history: bool = True
    regression_threshold: float = Field(default=0.25, gt=0, le=10, description="slower than the median by this fraction")
    min_comparable_runs: int = Field(default=3, ge=1, le=1000)


class Settings(_Section):
    version: Literal[3] = CURRENT_VERSION
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)
    optimization: OptimizationPreferences = Field(default_factory=OptimizationPreferences)
    encoder: EncoderDefaults = Field(default_factory=EncoderDefaults)
    advanced: AdvancedSettings = Field(default_factory=AdvancedSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)

    def digest(self) -> str:
        """A short hash of the settings that change speed or output (for the performance history)."""
        doc = self.model_dump(mode="json", include={"optimization", "encoder", "advanced"})
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]

    def pipeline_override_for(self, model_path: str | os.PathLike[str]) -> PipelineOverride | None:
        """The first override whose glob matches the model's path or its name (what detection and
        loading apply: detect/overrides.py)."""
        from ..detect.overrides import override_for

        found = override_for(self.advanced.pipeline_overrides, str(model_path))
        return found[1] if found else None


# ---------------------------------------------------------------------------------- migration
def _migrate_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """v1 (0.1 pre-releases) was flat:
    {"version": 1, "allowed_pickle_hashes": [...], "trusted_repos": {"org/name": "<commit>"},
     "allow_network": bool, "precision": ..., "offload": ..., "vae_tiling": bool, "max_vram_gb": ...,
     "video_format": ..., "crf": ..., "preset": ..., "fps": ..., "pipeline_class_overrides": {"glob": "Class"}}
    Unknown v1 keys are kept where validation will name them rather than dropped silently."""
    rest = dict(doc)
    rest.pop("version", None)
    out: dict[str, Any] = {"version": 2}
    security: dict[str, Any] = {}
    if "allowed_pickle_hashes" in rest:
        security["allowed_pickle_sha256"] = rest.pop("allowed_pickle_hashes")
    if "trusted_repos" in rest:
        repos = rest.pop("trusted_repos")
        security["trusted_repos"] = (
            [{"repo_id": k, "revision": v} for k, v in repos.items()] if isinstance(repos, dict) else repos
        )
    if "allow_network" in rest:
        security["allow_network"] = rest.pop("allow_network")
    optimization: dict[str, Any] = {}
    for key in ("precision", "offload", "max_vram_gb"):
        if key in rest:
            optimization[key] = rest.pop(key)
    if "vae_tiling" in rest:
        tiling = rest.pop("vae_tiling")
        optimization["vae_tiling"] = {True: "on", False: "off", None: "auto"}.get(tiling, tiling) if isinstance(tiling, (bool, type(None))) else tiling
    encoder: dict[str, Any] = {}
    for old, new in (("video_format", "format"), ("crf", "crf"), ("preset", "preset"), ("fps", "fps")):
        if old in rest:
            encoder[new] = rest.pop(old)
    advanced: dict[str, Any] = {}
    if "pipeline_class_overrides" in rest:
        overrides = rest.pop("pipeline_class_overrides")
        advanced["pipeline_overrides"] = (
            [{"match": k, "pipeline_class": v} for k, v in overrides.items()] if isinstance(overrides, dict) else overrides
        )
    for name, section in (("security", security), ("optimization", optimization), ("encoder", encoder), ("advanced", advanced)):
        if section:
            out[name] = section
    out.update(rest)  # leftovers: validation reports them as unknown keys
    return out


def _migrate_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v2 had `security.allow_network` and `security.trusted_repos` for fetching pipeline code from
    the Hub. No load ever fetched anything, so v3 drops both: the pack reads local folders only, and
    custom code is trusted per folder (`security.trusted_folders`)."""
    out = copy.deepcopy(doc)
    out["version"] = 3
    security = out.get("security")
    if isinstance(security, dict):
        security.pop("allow_network", None)
        security.pop("trusted_repos", None)
    return out


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2}


def migrate(doc: dict[str, Any], *, path: str = "settings") -> tuple[dict[str, Any], int]:
    """Bring a settings document to CURRENT_VERSION; returns (document, version it had)."""
    version = doc.get("version")
    if type(version) is not int or version < 1 or version > CURRENT_VERSION:
        raise SettingsError("SETTINGS_VERSION_UNSUPPORTED", f"$.version is {version!r}; this pack reads 1 to {CURRENT_VERSION}",
                            found=version, path=path)
    original = version
    while version < CURRENT_VERSION:
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    return doc, original


# ---------------------------------------------------------------------------------- validation
def json_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a JSON path: ('advanced', 'pipeline_overrides', 0, 'match') ->
    $.advanced.pipeline_overrides[0].match"""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate(doc: Mapping[str, Any], *, path: str = "settings", env_keys: Mapping[str, str] | None = None) -> Settings:
    """Validate a current-layout document. `env_keys` maps dotted keys to the variables that set them,
    so an invalid override is blamed on its variable instead of the file."""
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors()
        lines = [f"{json_path(e['loc'])}: {e['msg']}" + (f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], (dict, list)) else "")
                 for e in errors]
        first = json_path(errors[0]["loc"])
        dotted = ".".join(str(p) for p in errors[0]["loc"])
        variable = next((var for key, var in (env_keys or {}).items() if dotted == key or dotted.startswith(key + ".")), None)
        if variable:
            raise SettingsError("SETTINGS_ENV_INVALID", "; ".join(lines), variable=variable, json_path=first) from None
        raise SettingsError("SETTINGS_INVALID", "; ".join(lines), json_path=first, path=path) from None


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _known_key(dotted: str) -> bool:
    model: Any = Settings
    for part in dotted.split("."):
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        annotation = fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return True


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """dotted key -> (variable name, value) for every WAN_COMPAT__SECTION__FIELD variable."""
    env = os.environ if environ is None else environ
    out: dict[str, tuple[str, Any]] = {}
    for name, raw in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        dotted = ".".join(p.lower() for p in name[len(ENV_PREFIX):].split("__"))
        if not _known_key(dotted) or dotted == "version":
            raise SettingsError("SETTINGS_ENV_INVALID", f"{name} names no setting ({dotted})", variable=name)
        out[dotted] = (name, _parse_value(raw))
    return out


def set_dotted(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


# ---------------------------------------------------------------------------------- store
@dataclass
class LoadedSettings:
    settings: Settings
    path: Path
    exists: bool
    migrated_from: int | None = None  # the file's version when it was older than CURRENT_VERSION
    overrides: dict[str, str] = field(default_factory=dict)  # dotted key -> variable name


class SettingsStore:
    """Reads and writes one settings file."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, user_dir: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else settings_dir(user_dir)
        self.path = self.directory / FILE_NAME

    # -- reading
    def read_document(self) -> tuple[dict[str, Any], int | None]:
        """The file's own values in the current layout (no environment), and the version it had.
        A missing file is an empty document. Raises SettingsError for unreadable or unknown files."""
        try:
            with open_regular(self.path) as fh:  # a FIFO in its place is refused, not waited on
                raw = fh.read(SETTINGS_MAX_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError):
            return {"version": CURRENT_VERSION}, None
        except OSError as exc:
            raise SettingsError("SETTINGS_FILE_CORRUPT", f"{self.path}: {exc.strerror or exc}", path=str(self.path)) from None
        except WanCompatError as exc:
            raise SettingsError("SETTINGS_FILE_CORRUPT", f"{self.path}: {exc.detail}", path=str(self.path)) from None
        try:
            doc = safe_json.loads(raw, max_bytes=SETTINGS_MAX_BYTES, what=str(self.path))  # bounded depth: no RecursionError
        except ValueError as exc:
            raise SettingsError("SETTINGS_FILE_CORRUPT", f"{self.path}: {exc}", path=str(self.path)) from None
        if not isinstance(doc, dict):
            raise SettingsError("SETTINGS_FILE_CORRUPT", f"{self.path}: the top level is a {type(doc).__name__}, not an object",
                                path=str(self.path))
        return migrate(doc, path=str(self.path))

    def load(self, environ: Mapping[str, str] | None = None) -> LoadedSettings:
        """Effective settings: file, migrated, with environment overrides, validated."""
        doc, version = self.read_document()
        overrides = env_overrides(environ)
        doc = copy.deepcopy(doc)
        for dotted, (_, value) in overrides.items():
            set_dotted(doc, dotted, value)
        settings = validate(doc, path=str(self.path), env_keys={k: v[0] for k, v in overrides.items()})
        return LoadedSettings(
            settings=settings,
            path=self.path,
            exists=version is not None,
            migrated_from=version if version is not None and version < CURRENT_VERSION else None,
            overrides={k: v[0] for k, v in overrides.items()},
        )

    # -- writing
    def set(self, dotted: str, value: Any) -> Settings:
        """Set one key in the file (validated first; on error nothing is written). A corrupt file is
        kept as a .bak; an older layout is written back migrated."""
        if not _known_key(dotted) or dotted == "version":
            raise SettingsError("SETTINGS_KEY_UNKNOWN", dotted, key=dotted)
        try:
            doc, _ = self.read_document()
        except SettingsError as err:
            if err.code != "SETTINGS_FILE_CORRUPT":
                raise
            doc = {"version": CURRENT_VERSION}
            corrupt = True
        else:
            corrupt = False
        doc = copy.deepcopy(doc)
        set_dotted(doc, dotted, value)
        settings = validate(doc, path=str(self.path))
        if corrupt:
            self.backup()
        self.save(settings, only_set=True)
        return settings

    def save(self, settings: Settings, *, only_set: bool = False) -> Path:
        """Write atomically. With `only_set`, only the values given explicitly are written (defaults
        stay defaults, so a later release can improve them)."""
        data = settings.model_dump(mode="json", exclude_unset=only_set)
        data["version"] = CURRENT_VERSION
        text = json.dumps(data, indent=2, sort_keys=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SettingsError("SETTINGS_WRITE_FAILED", f"{self.path}: {exc.strerror or exc}", directory=str(self.directory)) from None
        return self.path

    def backup(self) -> Path:
        """Keep the current file as settings.json.bak (.bak.1, .bak.2 ... if taken); never overwrites."""
        n = 0
        while True:
            target = self.path.with_name(FILE_NAME + (".bak" if n == 0 else f".bak.{n}"))
            n += 1
            try:
                os.link(self.path, target)
                return target
            except FileExistsError:
                continue
            except OSError as exc:
                if target.exists():
                    continue
                try:  # file systems without hard links
                    self.path.rename(target)
                    return target
                except OSError:
                    raise SettingsError("SETTINGS_WRITE_FAILED", f"cannot keep {self.path} as {target.name}: {exc.strerror or exc}",
                                        directory=str(self.directory)) from None


def load_settings(user_dir: str | os.PathLike[str] | None = None) -> Settings:
    """The effective settings for code that only reads them (raises SettingsError when invalid)."""
    return SettingsStore(user_dir=user_dir).load().settings
