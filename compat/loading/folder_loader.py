"""A diffusers folder (`model_index.json`) to a Wan pipeline: every file path-checked, code refused or
trusted (then sandboxed), classes checked against the detector's verdict, each component loaded with
its own class, the pipeline assembled (`loader.load_pipeline` chooses this or `single_loader.py`).

Any part but the transformer can come from elsewhere (`replacements`: a single file, or another
folder's component folder): the folder's own part is then never read, its findings are set aside,
and the replacement is checked against the model like any part. A folder refused for one broken
part says which, and which Wan Safe Load input replaces it (FOLDER_PART_BROKEN).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..core.regular_file import open_regular
from ..core.errors import LoadError, ModelFileError, UsageError
from ..detect import configs as config_files, registry
from ..detect.detector import ArchitectureDetector
from ..detect.model_info import ModelInfo
from ..detect.pipeline_folder import part_problems
from ..detect.sniff import sniff_bytes
from ..detect.validate import Part, check_experts
from ..detect.weights import read_folder
from ..security import paths
from ..security.pinned import snapshot, verify_snapshot
from ..security.policy import SecurityPolicy
from ..security.trust import require_shipped_classes, shipped_class
from . import assemble, component_configs, components, dtypes, part_file, sources
from .folder_checks import checked_folder
from .handle import PipelineHandle
from .report import FileRecord, LoadReport
from .verdict import apply_forced, model_verdict, refuse_on_errors, variant_transformer_class

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .options import LoadOptions

# Folder slot -> the Wan Safe Load input that replaces it, and what to put there.
REPLACEABLE = {
    "transformer_2": ("transformer_2", "the low-noise expert file (models/diffusion_models)"),
    "vae": ("vae", "a Wan VAE file (models/vae)"),
    "text_encoder": ("text_encoder", "a UMT5-XXL text encoder file (models/text_encoders)"),
    "image_encoder": ("clip_vision", "clip_vision_h (models/clip_vision)"),
}
# The class a replacement part is built with when the folder declares none for its slot.
DEFAULT_CLASSES = {"transformer_2": ("diffusers", "WanTransformer3DModel"), "vae": ("diffusers", "AutoencoderKLWan"),
                   "text_encoder": ("transformers", "UMT5EncoderModel"), "image_encoder": ("transformers", "CLIPVisionModelWithProjection")}
CONFIG_KINDS = {"transformer_2": "transformer", "vae": "vae", "text_encoder": "text_encoder", "image_encoder": "clip_vision"}


def part_broken(folder: Path, broken: dict[str, list[Any]]) -> LoadError:
    """FOLDER_PART_BROKEN for the parts of `folder` whose own findings refuse it."""
    names = ", ".join(f"{slot}/" for slot in broken)
    inputs = ", ".join(REPLACEABLE[slot][0] for slot in broken)
    what = "; ".join(f"{slot}: " + "; ".join(f"[{p.code}] {p.detail or p.summary}" for p in found) for slot, found in broken.items())
    return LoadError("FOLDER_PART_BROKEN", f"{folder.name}: {what}", part=names, input=inputs,
                     replacement=" / ".join(REPLACEABLE[slot][1] for slot in broken))


class FolderLoader:
    def __init__(self, folder: Path, allowed: list[str], policy: SecurityPolicy, options: LoadOptions, report: LoadReport,
                 model_info: ModelInfo | None = None, overrides: Sequence[Any] = (), replacements: dict[str, Path] | None = None) -> None:
        self.folder, self.allowed, self.policy, self.options, self.report = folder, allowed, policy, options, report
        self.model_info, self.overrides = model_info, overrides
        self.replacements = dict(replacements or {})
        self._slot_bytes: dict[str, int] = {}  # weight bytes of each slot (progress)

    def load(self) -> PipelineHandle:
        report, folder = self.report, self.folder
        with report.timed("checks"):
            index, files, needs_code = checked_folder(folder, self.allowed, self.policy, report, "diffusers folder")
            if needs_code:
                if self.replacements:
                    raise UsageError("USAGE", f"{folder.name} runs its own code in the sandbox: {', '.join(self.replacements)} "
                                     "cannot be swapped into it; set those inputs to none")
                return self._sandboxed(index)
            parts = self._checked_parts()
            before = snapshot([*files, *(p for p in parts.values() if p.is_file())])
            classes = require_shipped_classes(index)
            shapes = self._preflight_weights(index)
            report.expect(sum(self._slot_bytes.values()))
        with report.timed("detect"):
            info = model_verdict(ArchitectureDetector(), folder, self.model_info, report)
            info = apply_forced(self._with_parts(info, parts), self.overrides, report)
            self._refuse(info)
        # The class detection settled on: model_index.json's, a forced one, or the Wan pipeline that
        # fits standard parts when diffusers does not ship the declared class (PIPELINE_CLASS_FALLBACK).
        pipeline_cls = assemble.pipeline_class(info.pipeline_class or str(index["_class_name"]))
        variant_class = variant_transformer_class(info)
        for slot, cls in classes.items():
            components.expected_class(slot, cls.__name__, variant_class)
        report.pipeline_class = pipeline_cls.__name__
        built: dict[str, Any] = {}
        for slot, cls in classes.items():
            with report.timed(slot):
                if slot in parts:
                    continue
                if slot in components.WEIGHT_SLOTS:
                    built[slot] = components.load_from_folder(
                        cls, folder, slot, shapes[slot], dtype=self._dtype(slot), report=report,
                        storage=self._storage(slot),
                    )
                    report.advance(self._slot_bytes.get(slot, 0))  # diffusers reads a component in one call
                elif slot == "scheduler":
                    built[slot] = cls.from_pretrained(folder, subfolder=slot, local_files_only=True)
                else:  # tokenizer, image_processor
                    built[slot] = cls.from_pretrained(folder / slot, local_files_only=True)
        for slot, path in parts.items():
            with report.timed(slot):
                built[slot] = self._part(slot, path, classes.get(slot), info)
        if "image_encoder" in built and built.get("image_processor") is None:
            built["image_processor"] = part_file.image_processor(component_configs.CLIP_PROCESSOR)
        with report.timed("assemble"):
            needed = assemble.needed_components(info.requirements, info.moe, [*classes, *parts])
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

    def _storage(self, slot: str) -> Any:
        return dtypes.storage_dtype(self.options.weight_storage) if slot.startswith("transformer") else None

    # ------------------------------------------------------------------ the folder's own parts
    def _preflight_weights(self, index: dict[str, Any]) -> dict[str, dict[str, tuple[int, ...]]]:
        """Sniff every weight file and validate every safetensors header; names and shapes per slot.
        A replaced slot is never read; a broken part that could be replaced says which input."""
        shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        for slot in components.WEIGHT_SLOTS:
            spec = index.get(slot)
            if slot in self.replacements or not (isinstance(spec, list) and spec and spec[0]):
                continue
            try:
                shapes[slot] = self._preflight_slot(slot)
            except ModelFileError as err:  # broken files (a security refusal stays what it is)
                if slot in REPLACEABLE:
                    raise part_broken(self.folder, {slot: [err.problem]}) from None
                raise
        return shapes

    def _preflight_slot(self, slot: str) -> dict[str, tuple[int, ...]]:
        sub = self.folder / slot
        if not sub.is_dir():
            raise ModelFileError("COMPONENT_MISSING", f"'{slot}/' is not in {self.folder.name}", component=slot)
        for path in sorted(p for p in sub.iterdir() if p.suffix.lower() in sources.WEIGHT_SUFFIXES):
            with open_regular(path) as fh:
                fmt = sniff_bytes(fh.read(16), path.stat().st_size)
            if fmt.is_pickle and path.suffix.lower() != ".safetensors":
                self.report.files.append(FileRecord(slot, str(path), fmt.value, path.stat().st_size))
                self.report.allow(str(path), "present but never read: only .safetensors weights are loaded")
                continue
            sources.preflight_safetensors(path, self.report, slot, self.policy)
        weights = read_folder(sub)
        if weights is None:
            raise ModelFileError("COMPONENT_MISSING", f"'{slot}/' holds no .safetensors weights", component=slot)
        self._slot_bytes[slot] = weights.file_bytes
        return weights.shapes

    def _refuse(self, info: ModelInfo) -> None:
        """Refuse on errors; when every error is one replaceable part's own, say which input replaces it."""
        errors = [p for p in info.problems if p.severity == "error"]
        broken = {slot: [p for p in part_problems(info, slot) if p.severity == "error"] for slot in REPLACEABLE}
        broken = {slot: found for slot, found in broken.items() if found}
        if errors and broken and all(any(p in found for found in broken.values()) for p in errors):
            for item in info.problems:
                self.report.add_problem(item)
            raise part_broken(self.folder, broken)
        refuse_on_errors(info, self.report)

    # ------------------------------------------------------------------ replacement parts
    def _checked_parts(self) -> dict[str, Path]:
        """Each replacement inside the allowed roots, its format and header checked before anything else."""
        checked: dict[str, Path] = {}
        for slot, given in self.replacements.items():
            path = paths.resolve_inside(given, self.allowed, expect="any")
            self.report.allow(str(path), f"{slot}: inside the allowed roots, replaces the folder's {slot}/")
            if path.is_dir():
                paths.check_tree(path, self.allowed)
                weights = [p for p in sorted(path.glob("*.safetensors"))]
                for file in weights:
                    sources.preflight_safetensors(file, self.report, slot, self.policy)
                self._slot_bytes[slot] = sum(p.stat().st_size for p in weights)
            else:
                with open_regular(path) as fh:
                    fmt = sniff_bytes(fh.read(16), path.stat().st_size)
                sources.check_format(path, fmt, self.report, slot)
                if not fmt.is_pickle:
                    sources.preflight_safetensors(path, self.report, slot, self.policy)
                self._slot_bytes[slot] = path.stat().st_size
            checked[slot] = path
        return checked

    def _with_parts(self, info: ModelInfo, parts: dict[str, Path]) -> ModelInfo:
        """The folder's verdict without the findings of the replaced parts, with the replacements
        checked against the model instead."""
        if not parts:
            return info
        dropped = {(p.code, p.detail) for slot in parts for p in part_problems(info, slot)}
        out = info.copy()
        out._model_only = None
        out.problems = [p for p in info.problems if (p.code, p.detail) not in dropped]
        out.part_problems = {slot: found for slot, found in info.part_problems.items() if slot not in parts}
        out.evidence.append(f"replaced by Wan Safe Load's inputs: {', '.join(f'{slot}/ <- {path.name}' for slot, path in parts.items())}")
        detector = ArchitectureDetector()
        given = {"vae": parts.get("vae"), "text_encoder": parts.get("text_encoder"), "clip_vision": parts.get("image_encoder")}
        out = detector.check_parts(out, **{k: v for k, v in given.items() if v is not None})
        if "transformer_2" in parts:
            second = detector.inspect(parts["transformer_2"])
            refuse_on_errors(second, self.report)
            mine = out.components.get("transformer") or {}
            out.problems += check_experts(Part("transformer", mine), Part("transformer", second.components.get("transformer", {})))
        return out

    def _part(self, slot: str, path: Path, cls: type | None, info: ModelInfo) -> Any:
        """A replacement part: another folder's component with its own config, or a single file with
        the folder's config for that slot (else the registry's for what the file was detected as)."""
        if cls is None:
            cls = shipped_class(*DEFAULT_CLASSES[slot])
        if path.is_dir():
            weights = read_folder(path)
            if weights is None:
                raise ModelFileError("COMPONENT_MISSING", f"'{path.name}/' holds no .safetensors weights", component=slot)
            built = components.load_from_folder(cls, path.parent, path.name, weights.shapes, dtype=self._dtype(slot), report=self.report,
                                                storage=self._storage(slot))
            self.report.advance(self._slot_bytes.get(slot, 0))
            return built
        config, origin = self._part_config(slot, info)
        if config is None:
            raise LoadError("SINGLE_FILE_CONFIG_UNKNOWN", f"{slot} replaced by {path.name}: no config fits it: {origin}", matched=origin)
        tensors, _ = sources.read_state_dict(path, slot, self.policy, self.report)
        return part_file.build(slot, tensors, config, options=self.options, report=self.report,
                               transformer_class=cls.__name__ if slot.startswith("transformer") else "WanTransformer3DModel", origin=origin)

    def _part_config(self, slot: str, info: ModelInfo) -> tuple[dict[str, Any] | None, str]:
        """The config of a single-file replacement: the registry's for the release it was detected as,
        else the folder's own config for the slot when the file's weights fit it (a part replaced
        because it was the wrong one has a config that fits only itself)."""
        from ..detect.config_check import config_vs_weights

        kind = CONFIG_KINDS[slot]
        key = {"image_encoder": "clip_vision"}.get(slot, slot)
        facts = dict(info.components.get(key) or {})
        variant_id = facts.get("variant") or (info.variant if slot == "transformer_2" else None)
        if variant_id and registry.by_id(variant_id).get("config"):
            variant = registry.by_id(variant_id)
            config = dict(variant["config"])
            return ({"_class_name": "AutoencoderKLWan", **config} if kind == "vae" else config), f"registry: {variant.name}"
        own = self.folder / (slot if slot != "transformer_2" or (self.folder / slot).is_dir() else "transformer") / "config.json"
        where = f"{self.folder.name}/{own.parent.name}/config.json"
        doc = config_files.read(kind, own) if own.is_file() else None
        if doc is None or not doc.ok:
            return None, f"{where} (missing or invalid) and the registry (no config for this {kind.replace('_', ' ')})"
        differs = config_vs_weights(kind, doc.data, facts)
        if differs:
            shown = "; ".join(f"{name} {cfg} vs {found}" for name, cfg, found in differs)
            return None, f"{where}, which describes another {kind.replace('_', ' ')} ({shown}): give the part as a folder with its config"
        return dict(doc.data), where
