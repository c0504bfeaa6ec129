"""Verified state dicts of single files, for hosts that build the models themselves (ComfyUI).

ComfyUI's own constructors load a Wan file non-strictly: a missing tensor stays random. This module
gives them only what passed the pack's checks: each file is path-checked, format-sniffed and read
under the security policy, the model set is detected (the verdict), and every key and shape of
every file is compared with the model its config describes (built on `meta`, no memory), in the
diffusers naming the configs use. Missing, unexpected and mismatched weights are refused by name,
exactly as Wan Safe Load refuses them. The tensors come back as they are in the file (original
naming, scaled fp8 kept): the host converts them with its own code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import logging
from typing import Any, Callable, Mapping

from ..core.errors import LoadError
from ..detect.facts import classify
from ..detect.model_info import ModelInfo
from ..detect.safetensors_header import read_header
from ..detect.sniff import sniff_bytes
from ..security import paths
from ..security.pinned import snapshot, verify_snapshot
from ..security.policy import SecurityPolicy
from . import checks, component_configs, components, key_naming, sources
from .detect_tensors import TensorAwareDetector
from .report import LoadReport
from .verdict import model_verdict, refuse_on_errors
from ..core.regular_file import open_regular

PARTS = ("model", "vae", "text_encoder", "clip_vision")


@dataclass
class VerifiedSet:
    """What passed: part -> tensors (as in the file), the verdict on the set, and the report."""

    tensors: dict[str, dict[str, Any]]
    info: ModelInfo
    report: LoadReport
    checked: dict[str, int] = field(default_factory=dict)  # part -> number of keys compared

    def summary(self) -> str:
        lines = [f"verdict: {self.info.variant or 'unknown'} ({self.info.pipeline_class or 'no pipeline class'})"]
        lines += [f"{part}: {n} tensors, every name and shape checked" for part, n in self.checked.items()]
        return "\n".join(lines + [self.report.text()])


def _renamer(part: str, shapes: dict[str, tuple[int, ...]], configs: component_configs.PipelineConfigs) -> tuple[Callable[[list[str]], list[str]], Callable[[list[str]], list[str]]]:
    """(file names -> model names, model names -> file names) for one file's naming."""
    facts = classify(shapes)
    same = (lambda keys: list(keys), lambda keys: list(keys))
    if part == "model":
        prefix = facts.prefix or ""
        if facts.naming == "original":
            return (lambda keys: list(key_naming.transformer_to_diffusers(keys, prefix or None, strict=False)),
                    lambda keys: list(key_naming.transformer_to_original(keys, prefix, strict=False)))
        if prefix:
            return (lambda keys: [k[len(prefix):] if k.startswith(prefix) else k for k in keys], lambda keys: [prefix + k for k in keys])
    elif part == "vae" and facts.naming == "original":
        version = "2.2" if configs.vae.get("is_residual") else "2.1"
        return (lambda keys: list(key_naming.vae_to_diffusers(keys, version, strict=False)),
                lambda keys: list(key_naming.vae_to_original(keys, version, strict=False)))
    elif part == "clip_vision" and "visual_projection.weight" not in shapes:
        return (lambda keys: [k.removeprefix("vision_model.") for k in keys], lambda keys: ["vision_model." + k for k in keys])
    return same


def _file_names(diff: checks.KeyDiff, back: Callable[[list[str]], list[str]], to_file: dict[str, str],
                expected: list[str]) -> checks.KeyDiff:
    """A KeyDiff in the names the file uses (what the user can look up), not the model's. Missing
    names are renamed with the whole expected set, since some original names (the Wan 2.1 VAE's
    flattened upsample indices) depend on the other keys."""
    renamed = dict(zip(expected, back(expected))) if diff.missing else {}
    return checks.KeyDiff(
        missing=[renamed.get(k, k) for k in diff.missing],
        unexpected=[to_file.get(k, k) for k in diff.unexpected],
        mismatched=[(to_file.get(k, k), exp, got) for k, exp, got in diff.mismatched],
    )


def _model_class(part: str, configs: component_configs.PipelineConfigs, names: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import diffusers
    import transformers

    if part == "model":
        return getattr(diffusers, configs.transformer_class), configs.transformer
    if part == "vae":
        return diffusers.AutoencoderKLWan, configs.vae
    if part == "text_encoder":
        return transformers.UMT5EncoderModel, configs.text_encoder
    if configs.image_encoder is None:
        raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", "CLIP vision was given but the config source has no image_encoder", matched=configs.origin)
    with_projection = "visual_projection.weight" in names
    return (transformers.CLIPVisionModelWithProjection if with_projection else transformers.CLIPVisionModel), configs.image_encoder


def check_part(part: str, tensors: Mapping[str, Any], configs: component_configs.PipelineConfigs) -> int:
    """Raise LOAD_MISSING_KEYS / LOAD_UNEXPECTED_KEYS / LOAD_MISMATCHED_SHAPES for one file, naming
    the keys as the file names them. Only names and shapes are read (meta tensors do)."""
    names = [k for k in tensors if k != "scaled_fp8" and not k.endswith((".scale_weight", ".scale_input")) and k not in components.IGNORABLE]
    forward, back = _renamer(part, {k: tuple(tensors[k].shape) for k in names}, configs)
    renamed = forward(names)
    to_file = dict(zip(renamed, names))
    found = {new: tuple(tensors[old].shape) for new, old in to_file.items()}
    cls, config = _model_class(part, configs, found)
    model = components.meta_model(cls, config)
    expected = checks.expected_shapes(model)
    diff = checks.compare_keys(expected, found, tied=checks.tied_keys(model))
    _file_names(diff, back, to_file, list(expected)).raise_if_any(part)
    return len(found)


def _read(part: str, given: Path, allowed: list[str], policy: SecurityPolicy, report: LoadReport) -> tuple[Path, dict[str, Any], bool]:
    path = paths.resolve_inside(given, allowed, expect="file")
    report.allow(str(path), f"{part}: inside the allowed roots")
    with open_regular(path) as fh:
        fmt = sniff_bytes(fh.read(16), path.stat().st_size)
    sources.check_format(path, fmt, report, part)
    if not fmt.is_pickle:
        read_header(path)  # the precise error for a truncated or malformed file
    tensors, _ = sources.read_state_dict(path, part, policy, report)
    return path, tensors, fmt.is_pickle


def _configs(info: ModelInfo, config_source: Path | None, allowed: list[str], policy: SecurityPolicy,
             report: LoadReport) -> component_configs.PipelineConfigs:
    if config_source is None:
        return component_configs.from_registry(info, False)
    from .folder_checks import checked_folder as _checked_folder  # the same path and code checks Wan Safe Load makes
    from ..core.errors import SecurityError
    from ..security.trust import require_shipped_classes

    paths.resolve_inside(config_source, allowed, expect="folder")
    # Read as given: a link in models/diffusers (models on another disk) is followed as Wan Safe
    # Load follows it, and where it leads is never named.
    folder = config_source
    index, _, needs_code = _checked_folder(folder, allowed, policy, report, "config source")
    if needs_code:
        raise SecurityError("CUSTOM_CODE_FILES", f"{folder.name} is used only for its configs; a config source must carry no code", path=str(folder))
    require_shipped_classes(index)
    return component_configs.from_folder(folder, index)


def verified_state_dicts(model: Path, *, vae: Path | None = None, text_encoder: Path | None = None,
                         clip_vision: Path | None = None, config_source: Path | None = None,
                         model_info: ModelInfo | None = None, policy: SecurityPolicy | None = None,
                         roots: list[str] | None = None, on_progress: Callable[[int, int], None] | None = None) -> VerifiedSet:
    """Read, detect and check a set of single files; raise a WanCompatError for anything refused.

    `roots`: the folders models may come from (None: the given paths themselves, as on the command
    line). `config_source`: a diffusers folder whose configs describe a size the registry lacks.
    `on_progress(bytes read, bytes to read)`: the weights read so far, tensor by tensor.
    """
    policy = policy or SecurityPolicy()
    given = {k: Path(str(v)).expanduser() for k, v in
             {"model": model, "vae": vae, "text_encoder": text_encoder, "clip_vision": clip_vision}.items() if v not in (None, "")}
    extra = [Path(str(config_source))] if config_source else []
    allowed = paths.roots_from(list(roots if roots is not None else [*given.values(), *extra]) + list(policy.extra_model_roots))
    report = LoadReport(source={k: str(v) for k, v in given.items()})
    report.source["format"] = "single_files (native)"
    report.track(on_progress)
    given = {part: paths.resolve_inside(path, allowed, expect="file") for part, path in given.items()}  # before anything is read
    report.expect(sum(path.stat().st_size for path in given.values()))
    tensors: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    pickled: dict[Path, dict[str, Any]] = {}  # no header to detect from: the loaded tensors instead
    with report.timed("read"):
        for part, path in given.items():
            files[part], tensors[part], is_pickle = _read(part, path, allowed, policy, report)
            if is_pickle:
                pickled[files[part]] = tensors[part]
        before = snapshot(files.values())
    with report.timed("detect"):
        detector = TensorAwareDetector(pickled)
        info = model_verdict(detector, files["model"], model_info, report, **{p: files[p] for p in given if p != "model"})
        refuse_on_errors(info, report)
        if info.kind != "transformer":
            raise LoadError("MODEL_NOT_LOADABLE", f"[COMPONENT_KIND_MISMATCH] {files['model'].name} is a {info.kind}, not a diffusion model (transformer)")
    configs = _configs(info, Path(str(config_source)).expanduser() if config_source else None, allowed, policy, report)
    components.expected_class("transformer", configs.transformer_class)
    checked: dict[str, int] = {}
    with report.timed("checks"):
        for part in given:
            checked[part] = check_part(part, tensors[part], configs)
            report.allow(str(files[part]), f"{part}: {checked[part]} keys, names and shapes as {configs.origin} expects")
    verify_snapshot(before)
    report.finish()
    logging.getLogger("wan_compat.load").info("verified %d file(s) of %s for ComfyUI's loaders in %.1f s", len(files),
                                              info.variant or info.task or "the model", report.timings_ms.get("total", 0.0) / 1000)
    return VerifiedSet(tensors, info, report, checked)
