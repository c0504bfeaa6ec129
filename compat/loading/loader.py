"""Safe loading of Wan pipelines: a diffusers folder, or single files (ComfyUI's layout).

`load_pipeline(model, ...)` decides by what `model` is:
- a folder with `model_index.json`: every file path-checked, code refused or trusted, classes
  checked against the detector's verdict, each component loaded with its own class, then the
  pipeline assembled;
- a single file (the diffusion model) plus `vae`, `text_encoder`, `clip_vision` (Wan 2.1
  I2V/FLF2V), `transformer_2` (Wan 2.2 A14B low-noise expert) and a tokenizer source: each file
  format-checked and loaded under the policy, keys converted from the original naming
  (`key_naming`), loaded strictly into models built from the registry's configs (or those of a
  `config_source` folder), then assembled.

`model_info` (Wan Detect Architecture's verdict on the same model) spares the second detection when
the model's files are unchanged since (`verdict.py`); every security check runs either way.

The result is a `PipelineHandle` (the `WAN_PIPELINE` type): pipeline, verdict and load report.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import key_naming
from ..detect.detector import ArchitectureDetector
from ..core.errors import LoadError, ModelFileError, SecurityError, UsageError
from ..detect.facts import classify
from ..detect.overrides import apply_overrides
from ..detect.model_info import ModelInfo
from ..security import paths
from ..detect.safetensors_header import read_header
from ..security.pinned import snapshot, verify_snapshot
from ..security.policy import SecurityPolicy
from ..security.trust import decide_folder_code, require_shipped_classes, shipped_class
from ..detect.sniff import FileFormat, sniff_bytes
from ..detect.validate import check_experts, Part
from . import assemble, component_file, components, component_configs, dtypes, fp8, gguf_file, sources, tokenizer as tokenizers
from .detect_tensors import TensorAwareDetector
from .folder_checks import checked_folder as _checked_folder
from .handle import PipelineHandle
from .report import FileRecord, LoadReport
from .verdict import load_target, model_verdict, refuse_on_errors as _refuse_on_errors, variant_transformer_class as _variant_transformer_class


log = logging.getLogger("wan_compat.load")


@dataclass(frozen=True)
class LoadOptions:
    """Precision: `dtype` for the transformer(s) and text encoder; `vae_dtype` for the VAE and CLIP
    vision (fp32 as in the official Wan examples); fp8 `weight_storage` for the transformer(s)."""

    dtype: str = "bf16"
    vae_dtype: str = "fp32"
    weight_storage: str = "default"

    def check(self) -> None:
        """DTYPE_UNSUPPORTED before anything is read."""
        dtypes.torch_dtype(self.dtype)
        dtypes.torch_dtype(self.vae_dtype)
        dtypes.storage_dtype(self.weight_storage)


def load_pipeline(
    model: str | Path | None = None,
    *,
    model_info: ModelInfo | None = None,
    transformer_2: str | Path | None = None,
    vae: str | Path | None = None,
    text_encoder: str | Path | None = None,
    clip_vision: str | Path | None = None,
    tokenizer: str | Path | None = None,
    config_source: str | Path | None = None,
    policy: SecurityPolicy | None = None,
    roots: list[str] | None = None,
    options: LoadOptions | None = None,
    overrides: Sequence[Any] = (),
    on_progress: Callable[[int, int], None] | None = None,
) -> PipelineHandle:
    """Load a Wan pipeline safely; raises a WanCompatError subclass for anything refused.

    `roots`: the folders models may come from (ComfyUI's model folders). None means the paths given
    here are explicit (the command line), so they are allowed themselves. `security.extra_model_roots`
    always adds to the roots. `model_info`: the Detect node's verdict on `model` (or instead of it).
    `overrides`: the settings' `advanced.pipeline_overrides` (a forced pipeline class or variant,
    `compat/detect/overrides.py`), applied to the verdict before anything is built from it.
    `on_progress(bytes read, bytes to read)`: the weights read so far (each tensor of a single file,
    each component of a folder), for a progress bar.
    """
    policy = policy or SecurityPolicy()
    options = options or LoadOptions()
    model = load_target(model, model_info)
    given = {"model": model, "transformer_2": transformer_2, "vae": vae, "text_encoder": text_encoder,
             "clip_vision": clip_vision, "tokenizer": tokenizer, "config_source": config_source}
    given = {k: Path(str(v)).expanduser() for k, v in given.items() if v not in (None, "")}
    allowed = paths.roots_from(list(roots if roots is not None else given.values()) + list(policy.extra_model_roots))
    report = LoadReport(source={"model": str(given["model"]), **{k: str(v) for k, v in given.items() if k != "model"}})
    report.track(on_progress)  # the bytes to read are known once the files are checked (`expect`)
    options.check()
    target = paths.resolve_inside(given["model"], allowed, expect="any")
    if target.is_dir():
        extras = sorted(k for k in given if k not in ("model",))
        if extras:
            raise UsageError("USAGE", f"{', '.join(extras)} cannot be combined with a diffusers folder, which holds its own "
                             f"parts: set Wan Safe Load's {', '.join(extras)} to none to use the folder, or pick the "
                             "single-file model (models/diffusion_models) in Wan Detect Architecture to keep the files")
        report.source["format"] = "diffusers"
        loaded = _FolderLoader(given["model"], allowed, policy, options, report, model_info, overrides).load()
    else:
        report.source["format"] = "single_files"
        loaded = _SingleFileLoader(given, allowed, policy, options, report, model_info, overrides).load()
    report.finish()
    _log_load(loaded)
    return loaded


def _log_load(loaded: PipelineHandle) -> None:
    """INFO: what was loaded, from where, how long it took; DEBUG: each policy decision."""
    report = loaded.report
    log.info("loaded %s (%s) from %s in %.1f s", report.pipeline_class, loaded.model_info.variant or loaded.model_info.task or "model",
             report.source.get("model"), report.timings_ms.get("total", 0.0) / 1000)
    for decision in report.decisions:
        log.debug("%s: %s (%s)", decision.decision, decision.subject, decision.reason)
    for item in report.problems:
        log.debug("%s", item.text())


def _forced(info: ModelInfo, overrides: Sequence[Any], report: LoadReport) -> ModelInfo:
    """The verdict with the settings' override applied (overrides.py), reported in the load report."""
    info = apply_overrides(info, overrides)
    if info.forced:
        report.source["forced"] = ", ".join(f"{k} {v}" for k, v in info.forced.items() if k != "by" and v) + f" by {info.forced['by']}"
    return info


class _FolderLoader:
    def __init__(self, folder: Path, allowed: list[str], policy: SecurityPolicy, options: LoadOptions, report: LoadReport,
                 model_info: ModelInfo | None = None, overrides: Sequence[Any] = ()) -> None:
        self.folder, self.allowed, self.policy, self.options, self.report = folder, allowed, policy, options, report
        self.model_info, self.overrides = model_info, overrides
        self._slot_bytes: dict[str, int] = {}  # weight bytes of each slot (progress)

    def load(self) -> PipelineHandle:
        report, folder = self.report, self.folder
        with report.timed("checks"):
            index, files, needs_code = _checked_folder(folder, self.allowed, self.policy, report, "diffusers folder")
            if needs_code:
                return self._sandboxed(index)
            before = snapshot(files)
            classes = require_shipped_classes(index)
            shapes = self._preflight_weights(index)
            report.expect(sum(self._slot_bytes.values()))
        with report.timed("detect"):
            info = _forced(model_verdict(ArchitectureDetector(), folder, self.model_info, report), self.overrides, report)
            _refuse_on_errors(info, report)
        # The class detection settled on: model_index.json's, a forced one, or the Wan pipeline that
        # fits standard parts when diffusers does not ship the declared class (PIPELINE_CLASS_FALLBACK).
        pipeline_cls = assemble.pipeline_class(info.pipeline_class or str(index["_class_name"]))
        variant_class = _variant_transformer_class(info)
        for slot, cls in classes.items():
            components.expected_class(slot, cls.__name__, variant_class)
        report.pipeline_class = pipeline_cls.__name__
        built: dict[str, Any] = {}
        for slot, cls in classes.items():
            with report.timed(slot):
                if slot in components.WEIGHT_SLOTS:
                    built[slot] = components.load_from_folder(
                        cls, folder, slot, shapes[slot], dtype=self._dtype(slot), report=report,
                        storage=dtypes.storage_dtype(self.options.weight_storage) if slot.startswith("transformer") else None,
                    )
                    report.advance(self._slot_bytes.get(slot, 0))  # diffusers reads a component in one call
                elif slot == "scheduler":
                    built[slot] = cls.from_pretrained(folder, subfolder=slot, local_files_only=True)
                else:  # tokenizer, image_processor
                    built[slot] = cls.from_pretrained(folder / slot, local_files_only=True)
        with report.timed("assemble"):
            needed = assemble.needed_components(info.requirements, info.moe, classes)
            pipeline = assemble.assemble(pipeline_cls.__name__, built, {k: index.get(k) for k in ("boundary_ratio", "expand_timesteps")}, needed)
        verify_snapshot(before)
        report.allow(str(folder), "every file unchanged from check to load")
        return PipelineHandle(pipeline, info, report, dtype=self.options.dtype)

    def _sandboxed(self, index: dict[str, Any]) -> PipelineHandle:
        """Trusted custom code: nothing of it is imported here; each call runs in the sandbox."""
        from ..security.sandbox_pipeline import SandboxedPipeline

        info = model_verdict(ArchitectureDetector(), self.folder, self.model_info, self.report)
        for item in info.problems:  # custom pipelines are not what the detector knows: reported, not refused
            self.report.add_problem(item)
        self.report.pipeline_class = str(index.get("_class_name"))
        pipeline = SandboxedPipeline(self.folder, timeout_s=self.policy.sandbox_timeout_s)
        self.report.allow(str(self.folder), "loaded as a sandboxed pipeline: every call runs in bubblewrap")
        return PipelineHandle(pipeline, info, self.report, dtype=self.options.dtype, sandboxed=True)

    def _dtype(self, slot: str) -> Any:
        return dtypes.torch_dtype(self.options.vae_dtype if slot in ("vae", "image_encoder") else self.options.dtype)

    def _preflight_weights(self, index: dict[str, Any]) -> dict[str, dict[str, tuple[int, ...]]]:
        """Sniff every weight file and validate every safetensors header; names and shapes per slot."""
        from ..detect.weights import read_folder

        shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        for slot in components.WEIGHT_SLOTS:
            spec = index.get(slot)
            if not (isinstance(spec, list) and spec and spec[0]):
                continue
            sub = self.folder / slot
            if not sub.is_dir():
                raise ModelFileError("COMPONENT_MISSING", f"'{slot}/' is not in {self.folder.name}", component=slot)
            for path in sorted(p for p in sub.iterdir() if p.suffix.lower() in sources.WEIGHT_SUFFIXES):
                with open(path, "rb") as fh:
                    fmt = sniff_bytes(fh.read(16), path.stat().st_size)
                if fmt.is_pickle and path.suffix.lower() != ".safetensors":
                    self.report.files.append(FileRecord(slot, str(path), fmt.value, path.stat().st_size))
                    self.report.allow(str(path), "present but never read: only .safetensors weights are loaded")
                    continue
                sources.preflight_safetensors(path, self.report, slot, self.policy)
            weights = read_folder(sub)
            if weights is None:
                raise ModelFileError("COMPONENT_MISSING", f"'{slot}/' holds no .safetensors weights", component=slot)
            shapes[slot] = weights.shapes
            self._slot_bytes[slot] = weights.file_bytes
        return shapes


class _SingleFileLoader:
    SLOTS = ("model", "transformer_2", "vae", "text_encoder", "clip_vision")

    def __init__(self, given: dict[str, Path], allowed: list[str], policy: SecurityPolicy, options: LoadOptions, report: LoadReport,
                 model_info: ModelInfo | None = None, overrides: Sequence[Any] = ()) -> None:
        self.given, self.allowed, self.policy, self.options, self.report = given, allowed, policy, options, report
        self.model_info, self.overrides = model_info, overrides
        self.files: dict[str, Path] = {}
        self.pickled: dict[Path, dict[str, Any]] = {}
        self.gguf: set[Path] = set()

    def load(self) -> PipelineHandle:
        report = self.report
        with report.timed("checks"):
            self._check_files()
            report.expect(sum(p.stat().st_size for p in self.files.values()))
            tokenizer_folder = self._tokenizer_folder()
            before = snapshot(self.files.values())
        with report.timed("detect"):
            info = self._detect()
        with report.timed("configs"):
            configs = self._configs(info)
        report.pipeline_class = configs.pipeline_class
        report.source["configs"] = configs.origin
        built: dict[str, Any] = {}
        te_state: dict[str, Any] | None = None
        for slot, path in self.files.items():
            name = {"model": "transformer", "clip_vision": "image_encoder"}.get(slot, slot)
            with report.timed(name):
                if path in self.gguf:  # a GGUF transformer (ComfyUI-GGUF's files): diffusers' GGUF support
                    config = configs.transformer_2 if name == "transformer_2" and configs.transformer_2 else configs.transformer
                    built[name] = gguf_file.load_gguf_transformer(path, config, configs.transformer_class, name=name,
                                                                  dtype=dtypes.torch_dtype(self.options.dtype), report=report)
                    continue
                tensors = self._tensors(slot, path)
                if slot == "text_encoder":
                    te_state = {tokenizers.SPIECE_KEY: tensors[tokenizers.SPIECE_KEY]} if tokenizers.SPIECE_KEY in tensors else {}
                built[name] = self._component(name, tensors, configs)
                del tensors
        with report.timed("tokenizer"):
            tok, origin = tokenizers.find_tokenizer(folder=tokenizer_folder, config_source=configs.folder, text_encoder_state=te_state)
            built["tokenizer"] = tok
            report.allow("tokenizer", f"from {origin}")
        built["scheduler"] = self._scheduler(configs)
        if "image_encoder" in built:
            built["image_processor"] = _image_processor(configs.image_processor or component_configs.CLIP_PROCESSOR)
        with report.timed("assemble"):
            needs_clip = bool((info.components.get("transformer") or {}).get("image_dim"))
            needed = assemble.needed_components({"clip_vision": needs_clip}, "transformer_2" in self.files)
            pipeline = assemble.assemble(configs.pipeline_class, built, configs.scalars, needed)
        verify_snapshot(before)
        report.allow("single files", "every file unchanged from check to load")
        return PipelineHandle(pipeline, info, report, dtype=self.options.dtype)

    # ------------------------------------------------------------------ checks and detection
    def _check_files(self) -> None:
        for slot in self.SLOTS:
            if slot not in self.given:
                continue
            path = paths.resolve_inside(self.given[slot], self.allowed, expect="file")
            self.report.allow(str(path), f"{slot}: inside the allowed roots")
            with open(path, "rb") as fh:
                fmt = sniff_bytes(fh.read(16), path.stat().st_size)
            if fmt is FileFormat.GGUF and slot in ("model", "transformer_2"):
                gguf_file.require_gguf()
                self.gguf.add(path)
                self.files[slot] = path
                continue
            sources.check_format(path, fmt, self.report, slot)
            if fmt.is_pickle:  # scanned, decided and (when allowlisted) loaded now: detection needs its tensors
                self.pickled[path] = sources.read_state_dict(path, slot, self.policy, self.report)[0]
            else:
                read_header(path)  # the precise error for a truncated or malformed file, before detection
            self.files[slot] = path

    def _detect(self) -> ModelInfo:
        files = self.files
        detector = TensorAwareDetector(self.pickled)
        info = model_verdict(detector, files["model"], self.model_info, self.report,
                             vae=files.get("vae"), text_encoder=files.get("text_encoder"), clip_vision=files.get("clip_vision"))
        info = _forced(info, self.overrides, self.report)
        _refuse_on_errors(info, self.report)
        if info.kind != "transformer":
            raise LoadError("MODEL_NOT_LOADABLE", f"[COMPONENT_KIND_MISMATCH] {files['model'].name} is a {info.kind}, not a diffusion model (transformer)")
        for slot in ("vae", "text_encoder"):
            if slot not in files:
                raise LoadError("PIPELINE_ARGUMENT_MISSING", f"no {slot} file was given", pipeline_class=info.pipeline_class or "the Wan pipeline", argument=slot)
        if "transformer_2" in files:
            second = detector.inspect(files["transformer_2"])
            _refuse_on_errors(second, self.report)
            pair = check_experts(Part("transformer", info.components.get("transformer", {})), Part("transformer", second.components.get("transformer", {})))
            second.problems += pair
            _refuse_on_errors(second, self.report)
            info.moe = True
            info.evidence.append(f"transformer_2 given ({files['transformer_2'].name}) -> Wan 2.2 MoE (high-noise + low-noise expert)")
        return info

    def _configs(self, info: ModelInfo) -> component_configs.PipelineConfigs:
        source = self.given.get("config_source")
        if source is None:
            configs = component_configs.from_registry(info, "transformer_2" in self.files)
        else:
            folder = paths.resolve_inside(source, self.allowed, expect="folder")
            index, _, needs_code = _checked_folder(Path(source), self.allowed, self.policy, self.report, "config source")
            if needs_code:
                raise SecurityError("CUSTOM_CODE_FILES", f"{folder.name} is used only for its configs; a config source must carry no code", path=str(folder))
            require_shipped_classes(index)
            configs = component_configs.from_folder(folder, index)
        if (info.forced or {}).get("pipeline_class") and info.pipeline_class:
            configs.pipeline_class = info.pipeline_class
        assemble.pipeline_class(configs.pipeline_class)
        components.expected_class("transformer", configs.transformer_class, _variant_transformer_class(info))
        self.report.allow("configs", configs.origin)
        return configs

    # ------------------------------------------------------------------ components
    def _tensors(self, slot: str, path: Path) -> dict[str, Any]:
        if path in self.pickled:
            return self.pickled.pop(path)
        tensors, _ = sources.read_state_dict(path, slot, self.policy, self.report)
        return tensors

    def _component(self, name: str, tensors: dict[str, Any], configs: component_configs.PipelineConfigs) -> Any:
        import diffusers
        import transformers

        facts = classify({k: tuple(v.shape) for k, v in tensors.items() if not k.endswith(fp8.SCALE_SUFFIXES)})
        if name.startswith("transformer"):
            config = configs.transformer_2 if name == "transformer_2" and configs.transformer_2 else configs.transformer
            return component_file.transformer_from_tensors(getattr(diffusers, configs.transformer_class), config, tensors, name, facts,
                                                           dtype=dtypes.torch_dtype(self.options.dtype), report=self.report,
                                                           storage=dtypes.storage_dtype(self.options.weight_storage))
        tensors, scales = fp8.split_scales(tensors)
        if scales:
            tensors = fp8.dequantize(tensors, scales)
            self.report.allow(name, f"ComfyUI scaled-fp8 weights: {len(scales)} multiplied by their scale_weight")
        if name == "vae":
            origin = {}
            if facts.naming == "original":
                version = "2.2" if configs.vae.get("is_residual") else "2.1"
                old = list(tensors)
                tensors = key_naming.vae_to_diffusers(tensors, version, strict=False)
                origin = dict(zip(tensors, old))
            return components.load_from_state_dict(diffusers.AutoencoderKLWan, configs.vae, tensors, name, dtype=dtypes.torch_dtype(self.options.vae_dtype),
                                                   report=self.report, file_names=key_naming.file_namer(origin))
        if name == "text_encoder":
            return components.load_from_state_dict(transformers.UMT5EncoderModel, configs.text_encoder, tensors, name, dtype=dtypes.torch_dtype(self.options.dtype), report=self.report)
        if configs.image_encoder is None:
            raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", "CLIP vision was given but the config source has no image_encoder", matched=configs.origin)
        # ComfyUI's clip_vision_h keeps the projection head (`vision_model.*` + `visual_projection`);
        # transformers 5's CLIPVisionModel has no `vision_model.` level, so bare files drop the prefix.
        if "visual_projection.weight" in tensors:
            cls = transformers.CLIPVisionModelWithProjection
        else:
            cls = transformers.CLIPVisionModel
            tensors = {k.removeprefix("vision_model."): v for k, v in tensors.items()}
        return components.load_from_state_dict(cls, configs.image_encoder, tensors, name, dtype=dtypes.torch_dtype(self.options.vae_dtype), report=self.report)

    def _tokenizer_folder(self) -> Path | None:
        folder = self.given.get("tokenizer")
        if folder is None:
            return None
        folder = paths.resolve_inside(folder, self.allowed, expect="folder")
        paths.check_tree(folder, self.allowed)
        if decide_folder_code(folder, {}, self.policy).needs_code:
            raise SecurityError("CUSTOM_CODE_FILES", f"{folder.name}: a tokenizer folder must carry no code", path=str(folder))
        return folder

    def _scheduler(self, configs: component_configs.PipelineConfigs) -> Any:
        name = str(configs.scheduler.get("_class_name"))
        components.expected_class("scheduler", name)
        cls = shipped_class("diffusers", name)
        if cls is None:
            raise SecurityError("UNKNOWN_COMPONENT_CLASS", f"scheduler: {name}", class_name=name, library="diffusers", version="installed")
        return cls.from_config(configs.scheduler)


def _image_processor(config: dict[str, Any]) -> Any:
    import transformers

    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return cls(**{k: v for k, v in config.items() if k != "image_processor_type"})
