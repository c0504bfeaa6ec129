"""Detection of a diffusers pipeline folder (`model_index.json`): each component from its headers
and config, then the pipeline's verdict from its transformer and the checks between the parts.

A mixin of `ArchitectureDetector`, which supplies `_verdict_transformer` (one transformer's verdict).
"""
from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the `wan-compat inspect` path
    from typing import Any

from . import configs, hints, registry, validate
from ..core.errors import WanCompatError, problem
from .slots import KNOWN_SLOTS, slot_problems, standard_parts
from .config_check import config_vs_weights
from .facts import Facts, classify
from .model_info import ModelInfo
from .validate import Part
from .weights import read_folder

# model_index component names and the kind of weights each holds.
WEIGHT_COMPONENTS = {
    "transformer": "transformer",
    "transformer_2": "transformer",
    "vae": "vae",
    "text_encoder": "text_encoder",
    "image_encoder": "clip_vision",
}
# Non-weight components and the file that proves each is present.
AUX_COMPONENTS = {
    "tokenizer": ("tokenizer_config.json", "tokenizer.json", "spiece.model"),
    "scheduler": ("scheduler_config.json",),
    "image_processor": ("preprocessor_config.json",),
    "feature_extractor": ("preprocessor_config.json",),
}
COMPONENT_CLASSES = {
    "transformer": "WanTransformer3DModel",
    "vae": "AutoencoderKLWan",
    "text_encoder": "UMT5EncoderModel",
    "clip_vision": "CLIPVisionModel",
}
# Fields of a ModelInfo that a pipeline takes from its transformer's verdict.
VERDICT_FIELDS = ("family", "version", "task", "size", "moe", "variant", "candidates", "requirements")




def _attribute(info: ModelInfo, slot: str, found: list[Any]) -> None:
    """Add `found` to the verdict and list it under the component it concerns (`problems`: [code,
    detail] pairs), so a loader that replaces that part knows which findings go with it."""
    for item in found:
        info.add(item)
    if found:
        info.part_problems.setdefault(slot, []).extend([p.code, p.detail] for p in found)


def part_problems(info: ModelInfo, slot: str) -> list[Any]:
    """The findings of a folder's verdict that concern one part (see `_attribute`)."""
    mine = {tuple(pair) for pair in info.part_problems.get(slot, [])}
    return [p for p in info.problems if (p.code, p.detail) in mine]


class PipelineFolderDetection:
    """What `ArchitectureDetector` knows of diffusers pipeline folders."""

    def _inspect_pipeline(self, folder: Path, info: ModelInfo) -> None:
        info.kind = "pipeline"
        index = configs.read("model_index", folder / "model_index.json")
        if not index.ok:
            info.add(problem("MODEL_INDEX_INVALID", "; ".join(index.problems)))
            if not isinstance(index.get("_class_name"), str):
                return
        info.pipeline_class = index.get("_class_name")
        info.evidence.append(f"model_index.json: {info.pipeline_class}")
        refused = slot_problems(index.data)  # path-like or unknown slots: reported, never read
        for _, code, detail in refused:
            info.add(problem(code, detail))
        specs = {
            k: v for k, v in index.data.items()
            if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
            and k in KNOWN_SLOTS and k not in {name for name, _, _ in refused}
        }
        parts: dict[str, Part] = {}
        total = 0
        for name, (library, class_name) in specs.items():
            component = {"library": library, "class": class_name}
            info.components[name] = component
            sub = folder / name
            if not sub.is_dir():
                _attribute(info, name, [problem("COMPONENT_MISSING", f"'{name}/' is not in {folder.name}", component=name)])
                continue
            if name in AUX_COMPONENTS:
                if not any((sub / f).is_file() for f in AUX_COMPONENTS[name]):
                    info.add(problem("COMPONENT_MISSING", f"'{name}/' has none of {', '.join(AUX_COMPONENTS[name])}", component=name))
                elif name == "scheduler":
                    sched = configs.read("scheduler", sub / "scheduler_config.json")
                    component.update({k: sched.get(k) for k in ("flow_shift", "num_train_timesteps") if sched.get(k) is not None})
                    if not sched.ok:
                        info.add(problem("CONFIG_INVALID", "scheduler/scheduler_config.json: " + "; ".join(sched.problems)))
                continue
            found = len(info.problems)
            part = self._pipeline_component(folder, name, component, info)
            if len(info.problems) > found:  # this part's own findings
                info.part_problems.setdefault(name, []).extend([p.code, p.detail] for p in info.problems[found:])
            if part is not None:
                parts[name] = part
                total += component.get("bytes", 0)
        info.size_bytes = total
        self._pipeline_verdict(folder, index, parts, info)

    def _pipeline_component(self, folder: Path, name: str, component: dict[str, Any], info: ModelInfo) -> Part | None:
        sub = folder / name
        try:
            weights = read_folder(sub)
        except WanCompatError as err:
            info.add(err.problem)
            return None
        if weights is None:
            info.add(problem("COMPONENT_MISSING", f"'{name}/' holds no .safetensors weights", component=name))
            return None
        facts = classify(weights.shapes)
        dtypes = weights.dtype_bytes()
        component.update(kind=facts.kind, dtype=next(iter(dtypes), None), files=len(weights.files), bytes=weights.file_bytes, params=weights.params)
        component.update(facts.values)
        info.evidence += [f"{name}: {e}" for e in facts.evidence]
        for dtype, size in dtypes.items():
            info.dtypes[dtype] = info.dtypes.get(dtype, 0) + size
        expected_kind = WEIGHT_COMPONENTS.get(name)
        if expected_kind and facts.kind != expected_kind:
            info.add(problem("COMPONENT_KIND_MISMATCH", f"'{name}/' holds {facts.kind} weights", slot=name, found=facts.kind))
            return None
        config_kind = facts.kind
        config_path = sub / "config.json"
        if not config_path.is_file():
            info.add(problem("COMPONENT_MISSING", f"'{name}/config.json' is missing", component=name))
        else:
            doc = configs.read(config_kind, config_path)
            if not doc.ok:
                info.add(problem("CONFIG_INVALID", f"{name}/config.json: " + "; ".join(doc.problems)))
            else:
                for field_name, expected, found in config_vs_weights(config_kind, doc.data, facts.values):
                    info.add(problem("CONFIG_WEIGHTS_MISMATCH", f"{name}/config.json {field_name} = {expected}, weights have {found}"))
        variant = None
        if facts.kind != "transformer":
            match = registry.match(facts.kind, facts.values)
            variant = match.unique
            if variant:
                component["variant"] = variant.id
        return Part(facts.kind, facts.values, variant, facts.family, label=f"{name}/")

    def _pipeline_verdict(self, folder: Path, index: configs.ConfigDoc, parts: dict[str, Part], info: ModelInfo) -> None:
        has_t2 = "transformer_2" in info.components
        boundary = index.get("boundary_ratio")
        info.boundary_ratio = boundary
        for p in validate.check_moe(has_t2, boundary):
            info.add(p)
        if info.dtypes:
            info.dtypes = dict(sorted(info.dtypes.items(), key=lambda kv: -kv[1]))
            info.dtype = next(iter(info.dtypes))
        transformer = parts.get("transformer")
        if transformer is None:
            if "transformer" not in info.components and not any(p.code == "COMPONENT_MISSING" for p in info.problems):
                info.add(problem("COMPONENT_MISSING", "model_index.json names no transformer", component="transformer"))
            return
        sub = ModelInfo(path=str(folder), format="diffusers")
        self._verdict_transformer(Facts("transformer", transformer.values), sub, hints.name_text(folder), moe_layout=has_t2)
        for key in VERDICT_FIELDS:
            setattr(info, key, getattr(sub, key))
        info.evidence += sub.evidence
        for p in sub.problems:
            info.add(p)
        if has_t2:
            info.moe = True
            info.evidence.append(f"transformer_2 + boundary_ratio {boundary} -> Wan 2.2 MoE (transformer = high-noise expert, transformer_2 = low-noise expert)")
        expand = bool(index.get("expand_timesteps"))
        if info.variant and registry.by_id(info.variant).requires.get("expand_timesteps") and not expand:
            info.add(problem("CONFIG_INVALID", "model_index.json: $.expand_timesteps must be true for Wan 2.2 TI2V-5B"))
        transformer.variant = registry.by_id(info.variant) if info.variant else None
        info.components["transformer"]["variant"] = info.variant
        # Each pairwise finding is the part's (a replacement for that part settles it: Safe Load).
        if "transformer_2" in parts:
            _attribute(info, "transformer_2", validate.check_experts(transformer, parts["transformer_2"]))
        if "vae" in parts:
            _attribute(info, "vae", validate.check_vae(transformer, parts["vae"]))
        if "text_encoder" in parts:
            _attribute(info, "text_encoder", validate.check_text_encoder(transformer, parts["text_encoder"]))
        _attribute(info, "image_encoder", validate.check_clip_vision(transformer, parts.get("image_encoder")))
        fallback = self._fallback_class(info)
        if fallback is not None:
            declared, info.pipeline_class = info.pipeline_class, fallback
            info.evidence.append(f"model_index.json names {declared}, which diffusers does not ship; standard Wan parts -> {fallback}")
            from .pipeline_releases import explain

            info.add(problem("PIPELINE_CLASS_FALLBACK", f"model_index.json names {declared}; loaded as {fallback}; {explain(declared)}",
                             severity="warning", declared=declared, used=fallback))
        for p in validate.check_pipeline_class(info.pipeline_class, info.task):
            info.add(p)
        if "vae" in parts:
            vae = parts["vae"]
            info.vae = {"z_dim": vae.values.get("z_dim"), "is_3d": vae.values.get("is_3d")}
            if vae.variant:
                info.vae["version"] = vae.variant["version"]
        feature, required = self._version_needs(info, has_t2, expand)
        for p in validate.check_diffusers_version(required, validate.installed_diffusers_version(), feature):
            info.add(p)

    @staticmethod
    def _fallback_class(info: ModelInfo) -> str | None:
        """The Wan pipeline that fits a folder whose `_class_name` diffusers does not ship, when every
        part is a standard Wan part (no custom code anywhere): the detected variant's class, else the
        one that runs the task its transformer was detected for. None when the class is known, the
        parts are not standard or the task is not known (then UNKNOWN_PIPELINE_CLASS stands)."""
        if info.pipeline_class in validate.PIPELINE_TASKS or not standard_parts(info.components):
            return None
        official = (info.requirements or {}).get("pipeline_class")
        if official:
            return official
        return validate.PIPELINE_FOR_TASK.get(info.task or "")

    @staticmethod
    def _version_needs(info: ModelInfo, moe: bool, expand: bool) -> tuple[str, str | None]:
        if moe or expand or (info.vae or {}).get("z_dim") == 48:
            return "Wan 2.2 (transformer_2, boundary_ratio, expand_timesteps, the 2.2 VAE)", "0.35.0"
        required = (info.requirements or {}).get("min_diffusers")
        return f"{info.pipeline_class or 'Wan'}", required
