"""Verified state dicts of single files, for hosts that build the models themselves (ComfyUI).

ComfyUI's own constructors load a Wan file non-strictly: a missing tensor stays random. This module
gives them only what passed the pack's checks: each file is path-checked, format-sniffed and opened
once under the security policy, the model set is detected (the verdict), and every key and shape
of every file is compared with the model its config describes (built on `meta`, no memory), in the
diffusers naming the configs use. Missing, unexpected and mismatched weights are refused by name,
exactly as Wan Safe Load refuses them.

All of that reads headers only. The bytes are then read once, by the host: the tensors handed on
are the file's own, mapped from the very file that was checked (held open, `/proc/self/fd/N`) the
way ComfyUI's `load_torch_file` maps them, in the file's naming with scaled fp8 kept (the host
converts them with its own code). `VerifiedSet` is a context manager: at the end of its `with`
(after the host copied the tensors into its models) FILE_CHANGED_DURING_LOAD is raised if a file
changed meanwhile. Allowlisted pickles, which have no header, are loaded (into memory of their own)
before detection instead.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..core.errors import LoadError
from ..detect.facts import SCALED_FP8_MARKER, classify, is_scaled_fp8_marker
from ..detect.model_info import ModelInfo
from ..detect.safetensors_header import SafetensorsHeader, read_header
from ..detect.sniff import sniff_bytes
from ..security import paths
from ..security.pinned import PinnedFile
from ..security.policy import SecurityPolicy
from . import checks, component_configs, components, file_read, key_naming, sources
from .detect_tensors import TensorAwareDetector
from .report import FileRecord, LoadReport
from .verdict import model_verdict, refuse_on_errors

PARTS = ("model", "vae", "text_encoder", "clip_vision")


@dataclass
class VerifiedSet:
    """What passed: part -> tensors (as in the file, mapped), the verdict on the set, the report,
    and the checked files, held open until `close()` (the end of a `with`) verifies that none of
    them changed while the host read the tensors."""

    tensors: dict[str, dict[str, Any]]
    info: ModelInfo
    report: LoadReport
    checked: dict[str, int] = field(default_factory=dict)  # part -> number of keys compared
    held: list[PinnedFile] = field(default_factory=list)
    unread: dict[str, int] = field(default_factory=dict)  # part -> file bytes the host has yet to read (mapped parts)

    def summary(self) -> str:
        lines = [f"verdict: {self.info.variant or 'unknown'} ({self.info.pipeline_class or 'no pipeline class'})"]
        lines += [f"{part}: {n} tensors, every name and shape checked" for part, n in self.checked.items()]
        return "\n".join(lines + [self.report.text()])

    def built(self, part: str) -> None:
        """The host has read and built `part` from its mapped tensors: the progress bar moves by
        that file's bytes (the pack reads no byte of them itself, so this is when they were read)."""
        self.report.advance(self.unread.pop(part, 0))

    def close(self, verify: bool = True) -> None:
        """Release the files and end the progress bar; with `verify`, first raise
        FILE_CHANGED_DURING_LOAD if one changed."""
        try:
            if verify:
                for pinned in self.held:
                    pinned.verify_unchanged()
        finally:
            for pinned in self.held:
                pinned.close()
            self.held = []
            self.report.end_progress()

    def __enter__(self) -> "VerifiedSet":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(verify=exc_type is None)


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


def _model_spec(part: str, configs: component_configs.PipelineConfigs, names: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(library, class name, config) of the model one part must fit; nothing is imported."""
    if part == "model":
        return "diffusers", configs.transformer_class, configs.transformer
    if part == "vae":
        return "diffusers", "AutoencoderKLWan", configs.vae
    if part == "text_encoder":
        return "transformers", "UMT5EncoderModel", configs.text_encoder
    if configs.image_encoder is None:
        raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", "CLIP vision was given but the config source has no image_encoder", matched=configs.origin)
    with_projection = "visual_projection.weight" in names
    return "transformers", "CLIPVisionModelWithProjection" if with_projection else "CLIPVisionModel", configs.image_encoder


def check_part(part: str, tensors: Mapping[str, Any], configs: component_configs.PipelineConfigs) -> int:
    """Raise LOAD_MISSING_KEYS / LOAD_UNEXPECTED_KEYS / LOAD_MISMATCHED_SHAPES for one file, naming
    the keys as the file names them. Only names and shapes are read (header entries or meta
    tensors do); the scaled-fp8 marker (bare or prefixed) and scales are not weights."""
    names = [k for k in tensors if not is_scaled_fp8_marker(k) and not k.endswith((".scale_weight", ".scale_input")) and k not in components.IGNORABLE]
    forward, back = _renamer(part, {k: tuple(tensors[k].shape) for k in names}, configs)
    renamed = forward(names)
    to_file = dict(zip(renamed, names))
    found = {new: tuple(tensors[old].shape) for new, old in to_file.items()}
    expected, tied = components.expectation(*_model_spec(part, configs, found))
    diff = checks.compare_keys(expected, found, tied=tied)
    _file_names(diff, back, to_file, list(expected)).raise_if_any(part)
    return len(found)


@dataclass
class _Opened:
    """One checked file: its names and shapes (header entries, or a pickle's loaded tensors), and
    the open file with its validated header (safetensors) or the loaded tensors (pickles)."""

    path: Path
    shapes: Mapping[str, Any]
    pinned: PinnedFile | None = None
    header: SafetensorsHeader | None = None
    loaded: dict[str, Any] | None = None


def _open(part: str, path: Path, policy: SecurityPolicy, report: LoadReport) -> _Opened:
    """Format, then the header (safetensors, the file held open) or the allowlisted pickle loaded,
    for a path the path policy resolved; no tensor byte of a safetensors file is read here."""
    report.allow(str(path), f"{part}: inside the allowed roots")
    pinned = PinnedFile(path)
    try:
        fmt = sniff_bytes(pinned.head(16), pinned.size)
        sources.check_format(path, fmt, report, part)
        if fmt.is_pickle:
            tensors, _ = sources.read_state_dict(path, part, policy, report)
            pinned.close()
            return _Opened(path, tensors, loaded=tensors)
        header = read_header(path)  # the precise error for a truncated or malformed file
        file_read.torch_dtypes(pinned, header)  # DTYPE_UNSUPPORTED before any library's prose
        digest = pinned.sha256() if policy.hash_safetensors else None
        report.files.append(FileRecord(part, str(path), "safetensors", header.file_size, digest))
        return _Opened(path, header.tensors, pinned, header)
    except BaseException:
        pinned.close()
        raise


def comfy_marker(tensors: dict[str, Any], prefix: str) -> tuple[dict[str, Any], str | None]:
    """The diffusion model's tensors with the scaled-fp8 marker where ComfyUI looks for it: after
    the prefix the other keys carry (it strips that prefix, then looks for `scaled_fp8`). A marker
    with another prefix than the keys (which ComfyUI would miss or take for the only key) is moved
    there, and `.scale_weight` tensors without any marker (which ComfyUI would leave unused, so
    the fp8 weights would compute unscaled) get one of their weights' fp8 dtype, as the Comfy-Org
    files carry it. Returns (tensors, what was changed or None)."""
    markers = [k for k in tensors if is_scaled_fp8_marker(k)]
    wanted = prefix + SCALED_FP8_MARKER
    scaled = [k for k in tensors if k.endswith(".scale_weight")]
    if markers == [wanted] or not (markers or scaled):
        return tensors, None
    out = {k: v for k, v in tensors.items() if k not in markers}
    if markers:
        out[wanted] = tensors[markers[0]]
        return out, f"scaled_fp8 marker {markers[0]} handed to ComfyUI as {wanted}, beside the keys it goes with"
    import torch

    weight = tensors.get(scaled[0][: -len("scale_weight")] + "weight")
    dtype = weight.dtype if weight is not None and weight.element_size() == 1 else torch.float8_e4m3fn
    out[wanted] = torch.empty(0, dtype=dtype)
    return out, f"{len(scaled)} scale_weight tensors without a scaled_fp8 marker: ComfyUI is given {wanted} so that it applies them"


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
    """Open, detect and check a set of single files; raise a WanCompatError for anything refused.

    `roots`: the folders models may come from (None: the given paths themselves, as on the command
    line). `config_source`: a diffusers folder whose configs describe a size the registry lacks.
    `on_progress(bytes read, bytes to read)`: a pickle's bytes as the pack reads them, a mapped
    file's when the host says it built that part (`VerifiedSet.built`): the bytes are read once,
    by the host's loader, from the mapped tensors.
    Use the result in a `with` around the host's build, so the files are verified unchanged after it.
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
    opened: dict[str, _Opened] = {}
    try:
        with report.timed("open"):
            for part, path in given.items():
                opened[part] = _open(part, path, policy, report)
        with report.timed("detect"):
            detector = TensorAwareDetector({o.path: o.loaded for o in opened.values() if o.loaded is not None})
            info = model_verdict(detector, opened["model"].path, model_info, report, **{p: opened[p].path for p in given if p != "model"})
            refuse_on_errors(info, report)
            if info.kind != "transformer":
                raise LoadError("MODEL_NOT_LOADABLE", f"[COMPONENT_KIND_MISMATCH] {opened['model'].path.name} is a {info.kind}, not a diffusion model (transformer)")
        configs = _configs(info, Path(str(config_source)).expanduser() if config_source else None, allowed, policy, report)
        components.expected_class("transformer", configs.transformer_class)
        checked: dict[str, int] = {}
        with report.timed("checks"):
            for part, found in opened.items():
                checked[part] = check_part(part, found.shapes, configs)
                report.allow(str(found.path), f"{part}: {checked[part]} keys, names and shapes as {configs.origin} expects")
        tensors = {part: found.loaded if found.loaded is not None else file_read.mapped_tensors(found.pinned, found.header)
                   for part, found in opened.items()}
        tensors["model"], moved = comfy_marker(tensors["model"], classify({k: tuple(v.shape) for k, v in opened["model"].shapes.items()}).prefix)
        if moved:
            report.allow(str(opened["model"].path), moved)
    except BaseException:
        for found in opened.values():
            if found.pinned is not None:
                found.pinned.close()
        raise
    report.finish(end_progress=False)  # the bar moves on as the host builds each part (`built`) and ends at `close`
    logging.getLogger("wan_compat.load").info("verified %d file(s) of %s for ComfyUI's loaders in %.1f s", len(opened),
                                              info.variant or info.task or "the model", report.timings_ms.get("total", 0.0) / 1000)
    return VerifiedSet(tensors, info, report, checked, [o.pinned for o in opened.values() if o.pinned is not None],
                       {part: o.pinned.size for part, o in opened.items() if o.pinned is not None})
