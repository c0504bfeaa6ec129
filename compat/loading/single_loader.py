"""Single files (ComfyUI's layout) to a Wan pipeline: the diffusion model plus `vae`, `text_encoder`,
`clip_vision` (Wan 2.1 I2V/FLF2V), `transformer_2` (Wan 2.2 A14B low-noise expert) and a tokenizer
source: each file format-checked and loaded under the policy, keys converted from the original naming,
loaded strictly into models built from the registry's configs (or a `config_source` folder's), then
assembled (`loader.load_pipeline` chooses this or `folder_loader.py`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..core.regular_file import open_regular
from ..core.errors import LoadError, SecurityError
from ..detect.model_info import ModelInfo
from ..detect.safetensors_header import read_header
from ..detect.sniff import FileFormat, sniff_bytes
from ..detect.validate import Part, check_experts
from ..security import paths
from ..security.pinned import snapshot, verify_snapshot
from ..security.policy import SecurityPolicy
from ..security.trust import decide_folder_code, require_shipped_classes, shipped_class
from . import assemble, component_configs, components, dtypes, gguf_file, part_file, sources, tokenizer as tokenizers
from .detect_tensors import TensorAwareDetector
from .folder_checks import checked_folder
from .handle import PipelineHandle
from .report import LoadReport
from .verdict import apply_forced, model_verdict, refuse_on_errors, variant_transformer_class

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .options import LoadOptions


class SingleFileLoader:
    """A pipeline from single files (ComfyUI's layout): each file checked, detected, converted and built."""

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
            built["image_processor"] = part_file.image_processor(configs.image_processor or component_configs.CLIP_PROCESSOR)
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
            with open_regular(path) as fh:
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
        info = apply_forced(info, self.overrides, self.report)
        refuse_on_errors(info, self.report)
        if info.kind != "transformer":
            raise LoadError("MODEL_NOT_LOADABLE", f"[COMPONENT_KIND_MISMATCH] {files['model'].name} is a {info.kind}, not a diffusion model (transformer)")
        for slot in ("vae", "text_encoder"):
            if slot not in files:
                raise LoadError("PIPELINE_ARGUMENT_MISSING", f"no {slot} file was given", pipeline_class=info.pipeline_class or "the Wan pipeline", argument=slot)
        if "transformer_2" in files:
            second = detector.inspect(files["transformer_2"])
            refuse_on_errors(second, self.report)
            pair = check_experts(Part("transformer", info.components.get("transformer", {})), Part("transformer", second.components.get("transformer", {})))
            second.problems += pair
            refuse_on_errors(second, self.report)
            info.moe = True
            info.evidence.append(f"transformer_2 given ({files['transformer_2'].name}) -> Wan 2.2 MoE (high-noise + low-noise expert)")
        return info

    def _configs(self, info: ModelInfo) -> component_configs.PipelineConfigs:
        source = self.given.get("config_source")
        if source is None:
            configs = component_configs.from_registry(info, "transformer_2" in self.files)
        else:
            folder = paths.resolve_inside(source, self.allowed, expect="folder")
            index, _, needs_code = checked_folder(Path(source), self.allowed, self.policy, self.report, "config source")
            if needs_code:
                raise SecurityError("CUSTOM_CODE_FILES", f"{folder.name} is used only for its configs; a config source must carry no code", path=str(folder))
            require_shipped_classes(index)
            configs = component_configs.from_folder(folder, index)
        if (info.forced or {}).get("pipeline_class") and info.pipeline_class:
            configs.pipeline_class = info.pipeline_class
        assemble.pipeline_class(configs.pipeline_class)
        components.expected_class("transformer", configs.transformer_class, variant_transformer_class(info))
        self.report.allow("configs", configs.origin)
        return configs

    # ------------------------------------------------------------------ components
    def _tensors(self, slot: str, path: Path) -> dict[str, Any]:
        if path in self.pickled:
            return self.pickled.pop(path)
        tensors, _ = sources.read_state_dict(path, slot, self.policy, self.report)
        return tensors

    def _component(self, name: str, tensors: dict[str, Any], configs: component_configs.PipelineConfigs) -> Any:
        config = {"transformer": configs.transformer, "transformer_2": configs.transformer_2 or configs.transformer, "vae": configs.vae,
                  "text_encoder": configs.text_encoder, "image_encoder": configs.image_encoder}[name]
        return part_file.build(name, tensors, config, options=self.options, report=self.report, transformer_class=configs.transformer_class,
                               origin=configs.origin)

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
