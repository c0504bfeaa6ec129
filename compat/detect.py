"""ArchitectureDetector: what a model really is, from headers and configs only.

Input: a diffusers folder (`model_index.json`), a component folder (`config.json` + weights), a
single safetensors file, or a sharded set. Output: a ModelInfo with the verdict, the evidence that
decided it and every problem found. Weights are never loaded and nothing is ever unpickled.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import configs, hints, registry, validate
from .errors import ModelFileError, WanCompatError, problem
from .facts import Facts, classify
from .model_info import ModelInfo
from .safetensors_header import read_header
from .sniff import FileFormat, sniff
from .validate import Part
from .weights import INDEX_SUFFIX, WeightSet, from_header, read_folder, read_gguf, read_sharded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .registry import Variant

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


class ArchitectureDetector:
    """Detects Wan architectures. Stateless; one instance can inspect any number of paths."""

    def inspect(
        self,
        path: str | Path,
        *,
        vae: str | Path | None = None,
        text_encoder: str | Path | None = None,
        clip_vision: str | Path | None = None,
    ) -> ModelInfo:
        started = time.perf_counter()
        info = self._inspect_path(Path(path))
        extras = {"vae": vae, "text_encoder": text_encoder, "clip_vision": clip_vision}
        if any(extras.values()):
            self._check_extra_parts(info, {k: Path(v) for k, v in extras.items() if v})
        info.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        return info

    # ------------------------------------------------------------------ dispatch
    def _inspect_path(self, path: Path) -> ModelInfo:
        info = ModelInfo(path=str(path), format="unknown")
        try:
            if not path.exists():
                info.add(problem("PATH_NOT_FOUND", str(path)))
            elif path.is_dir():
                self._inspect_folder(path, info)
            elif path.name.endswith(INDEX_SUFFIX):
                info.format = "sharded"
                self._analyse_weights(read_sharded(path), info, path)
            else:
                self._inspect_file(path, info)
        except WanCompatError as err:
            info.add(err.problem)
        except OSError as err:
            info.add(problem("PATH_NOT_FOUND", f"{path}: {err.strerror or err}"))
        return info

    def _inspect_file(self, path: Path, info: ModelInfo) -> None:
        fmt = sniff(path)
        info.files = [path.name]
        info.size_bytes = path.stat().st_size
        claims_safetensors = path.suffix.lower() == ".safetensors"
        if fmt is FileFormat.UNKNOWN and claims_safetensors and info.size_bytes >= 9:
            raise ModelFileError("SAFETENSORS_HEADER_INVALID", f"{path.name} does not start like a safetensors file (first bytes {_head(path, 9)!r})")
        if fmt is FileFormat.SAFETENSORS or (fmt is FileFormat.UNKNOWN and claims_safetensors):
            info.format = "single_file"
            # read_header gives the precise reason when the bytes are not valid safetensors.
            self._analyse_weights(from_header(read_header(path)), info, path)
        elif fmt.is_pickle:
            info.format = "pickle"
            info.evidence.append(f"first bytes are a {'torch zip archive' if fmt is FileFormat.TORCH_ZIP else 'pickle stream'}")
            if claims_safetensors:
                info.add(problem("DISGUISED_PICKLE", f"{path.name} is named .safetensors but holds a {fmt.value}"))
            else:
                info.add(problem("PICKLE_NOT_INSPECTED", path.name))
        elif fmt is FileFormat.GGUF:
            info.format = "gguf"
            self._analyse_weights(read_gguf(path), info, path)
            info.quantization = "gguf"
            info.add(problem("GGUF_LOAD_ELSEWHERE", path.name))
        elif fmt is FileFormat.EMPTY:
            info.add(problem("FILE_EMPTY", path.name))
        else:
            info.add(problem("UNKNOWN_FORMAT", f"{path.name}: first bytes {_head(path, 8)!r}"))

    def _inspect_folder(self, folder: Path, info: ModelInfo) -> None:
        if (folder / "model_index.json").is_file():
            info.format = "diffusers"
            self._inspect_pipeline(folder, info)
            return
        weights = read_folder(folder)
        if weights is None:
            info.add(problem("NOT_A_MODEL_FOLDER", str(folder)))
            return
        info.format = "diffusers" if (folder / "config.json").is_file() else "sharded"
        self._analyse_weights(weights, info, folder)
        if (folder / "config.json").is_file():
            self._cross_check_config(folder / "config.json", info)

    # ------------------------------------------------------------------ one component
    def _analyse_weights(self, weights: WeightSet, info: ModelInfo, path: Path) -> Facts:
        info.files = [f.name for f in weights.files]
        info.size_bytes = weights.file_bytes
        info.dtypes = weights.dtype_bytes()
        info.dtype = next(iter(info.dtypes), None)
        info.params = weights.params
        if not weights.tensors:
            info.add(problem("NO_WEIGHTS", str(path)))
            return Facts("unknown")
        facts = classify(weights.shapes)
        info.kind, info.naming, info.key_prefix = facts.kind, facts.naming, facts.prefix
        info.evidence += facts.evidence
        if "scaled_fp8" in weights.tensors or any(k.endswith(".scale_weight") for k in weights.tensors):
            info.quantization = "fp8_scaled"
            info.evidence.append("scaled_fp8 / .scale_weight tensors -> ComfyUI scaled-fp8 checkpoint")
        elif info.dtype and info.dtype.startswith("fp8"):
            info.quantization = "fp8"
        component = {"class": COMPONENT_CLASSES.get(facts.kind) if facts.naming else None, **facts.values}
        info.components = {facts.kind: component} if facts.kind != "unknown" else {}
        name_text = hints.name_text(path, weights.metadata)
        recognised = facts.naming is not None  # read by one of our readers, not only by a marker key
        if recognised and facts.kind == "transformer":
            self._verdict_transformer(facts, info, name_text)
        elif recognised:
            self._verdict_component(facts, info)
        else:
            info.family = facts.family or "unknown"
            if facts.family:
                info.add(problem("NOT_WAN", f"recognised as {facts.family}", severity="warning", family=facts.family))
            else:
                info.add(problem("UNKNOWN_ARCHITECTURE", f"{len(weights.tensors)} tensors, e.g. {next(iter(weights.tensors))}"))
        return facts

    def _verdict_transformer(self, facts: Facts, info: ModelInfo, name_text: str, moe_layout: bool | None = None) -> None:
        info.family = "wan"
        result = registry.match("transformer", facts.values)
        candidates, official = result.candidates, bool(result.candidates)
        if not official:
            # Sizes match no official variant (pruned, custom, tiny): the layout alone can still say
            # which version and task this is; size and variant stay unknown.
            candidates = registry.match("transformer", facts.values, keys=registry.structure_keys("transformer")).candidates
            closest = f"closest official variant: {result.closest.name} ({'; '.join(result.differences)})" if result.closest else "no close official variant"
            info.add(problem("UNKNOWN_WAN_VARIANT", closest))
            same_width = [v for v in candidates if v.signature.get("hidden") == facts.values.get("hidden")]
            candidates = same_width or candidates
            if candidates:
                info.evidence.append(f"layout (channels, image embedder, special modules{', width' if same_width else ''}) matches {' or '.join(v.name for v in candidates)}")
        info.evidence += result.evidence
        if moe_layout is not None and candidates:
            # In a folder the layout decides: transformer_2 means Wan 2.2 A14B, its absence means not.
            by_layout = [v for v in candidates if v["moe"] == moe_layout]
            if by_layout and len(by_layout) < len(candidates):
                info.evidence.append(
                    f"folder layout ({'transformer + transformer_2' if moe_layout else 'a single transformer'}) -> {' or '.join(v.name for v in by_layout)}"
                )
            candidates = by_layout or candidates
        if len(candidates) > 1 and official:
            # Names only choose between variants whose weights are identical (official matches);
            # layout-only matches differ in size, and a name must not pick a size for them.
            kept, found = hints.choose(candidates, name_text)
            if found and len(kept) < len(candidates):
                info.evidence.append(f"name hint {', '.join(repr(h) for h in found)} -> {' or '.join(v.name for v in kept)}")
                if len({v['version'] for v in kept}) < len({v['version'] for v in candidates}):
                    info.add(problem("VERSION_FROM_HINT", f"hint {', '.join(found)}", severity="info"))
            candidates = kept
        if not candidates:
            info.size = registry.size_for_hidden(facts.values.get("hidden"))
            return
        self._apply_candidates(info, candidates, official)
        if info.moe and info.format != "diffusers":
            info.expert = hints.expert_role(name_text)
            if info.expert:
                info.evidence.append(f"name says {info.expert.replace('_', '-')} expert")
        if info.size is None and (len(candidates) == 1 or not official):
            info.size = registry.size_for_hidden(facts.values.get("hidden"))

    def _apply_candidates(self, info: ModelInfo, candidates: list[Variant], official: bool = True) -> None:
        """Set every verdict field the candidates agree on; leave the rest null and say why.
        `official=False` (matched by layout only) never names a size or a variant."""

        def agreed(key: str) -> Any:
            values = {repr(v.get(key)) for v in candidates}
            return candidates[0].get(key) if len(values) == 1 else None

        info.candidates = [v.id for v in candidates]
        info.variant = candidates[0].id if len(candidates) == 1 and official else None
        info.version, info.task = agreed("version"), agreed("task")
        info.size = agreed("size") if official else None
        info.moe = bool(agreed("moe"))
        info.requirements = {
            k: v for k, v in candidates[0].requires.items() if all(c.requires.get(k) == v for c in candidates)
        }
        info.pipeline_class = info.requirements.get("pipeline_class")
        if info.moe:
            info.boundary_ratio = info.requirements.get("boundary_ratio")
        if len({v["version"] for v in candidates}) > 1:
            info.add(problem("AMBIGUOUS_VERSION", " or ".join(v.name for v in candidates)))
        elif len(candidates) > 1:
            info.evidence.append(f"same weights as {' and '.join(v.name for v in candidates)}; the name does not say which")

    def _verdict_component(self, facts: Facts, info: ModelInfo) -> None:
        if facts.kind == "vae":
            info.vae = {"z_dim": facts.values["z_dim"], "is_3d": facts.values["is_3d"]}
        if facts.family is not None:  # recognisably another family (2D image VAE, T5...)
            info.family = facts.family
            info.add(problem("NOT_WAN", f"recognised as {facts.family}", severity="warning", family=facts.family))
            return
        result = registry.match(facts.kind, facts.values)
        variant, official = result.unique, result.unique is not None
        if variant is None:
            layout = registry.match(facts.kind, facts.values, keys=registry.structure_keys(facts.kind)).candidates
            variant = layout[0] if layout and len({v.get("version") for v in layout}) == 1 else None
        if variant is None:
            info.family = "unknown"
            what = {"vae": "Wan VAE", "text_encoder": "UMT5-XXL text encoder", "clip_vision": "CLIP ViT-H/14"}[facts.kind]
            info.add(problem("NOT_WAN", f"not a {what} ({'; '.join(result.differences)})", severity="warning",
                             family=f"an unrecognised {facts.kind.replace('_', ' ')}"))
            return
        info.family = variant.get("family", "wan")
        info.version = variant.get("version")
        info.evidence += result.evidence
        if facts.kind == "vae":
            info.vae["version"] = variant["version"]
        if official:
            info.variant, info.candidates = variant.id, [variant.id]
            if facts.kind == "vae":
                info.vae.update(spatial_compression=variant["spatial"], temporal_compression=variant["temporal"])
        else:
            info.add(problem("UNOFFICIAL_COMPONENT", f"layout of the {variant.name}, sizes differ: {'; '.join(result.differences)}",
                             name=variant.name, file=(variant.get("comfy_files") or [variant.id])[0]))

    def _cross_check_config(self, config_path: Path, info: ModelInfo) -> None:
        """A component folder: its config.json must describe the weights beside it."""
        if info.kind not in ("transformer", "vae"):
            return
        doc = configs.read(info.kind, config_path)
        if not doc.ok:
            info.add(problem("CONFIG_INVALID", f"{config_path.parent.name}/config.json: " + "; ".join(doc.problems)))
            return
        facts = info.components.get(info.kind, {})
        for name, expected, found in _config_vs_weights(info.kind, doc.data, facts):
            info.add(problem("CONFIG_WEIGHTS_MISMATCH", f"{config_path.parent.name}/config.json {name} = {expected}, weights have {found}"))

    # ------------------------------------------------------------------ pipeline folder
    def _inspect_pipeline(self, folder: Path, info: ModelInfo) -> None:
        info.kind = "pipeline"
        index = configs.read("model_index", folder / "model_index.json")
        if not index.ok:
            info.add(problem("MODEL_INDEX_INVALID", "; ".join(index.problems)))
            if not isinstance(index.get("_class_name"), str):
                return
        info.pipeline_class = index.get("_class_name")
        info.evidence.append(f"model_index.json: {info.pipeline_class}")
        specs = {
            k: v for k, v in index.data.items()
            if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
        }
        parts: dict[str, Part] = {}
        total = 0
        for name, (library, class_name) in specs.items():
            component = {"library": library, "class": class_name}
            info.components[name] = component
            sub = folder / name
            if not sub.is_dir():
                info.add(problem("COMPONENT_MISSING", f"'{name}/' is not in {folder.name}", component=name))
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
            part = self._pipeline_component(folder, name, component, info)
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
                for field_name, expected, found in _config_vs_weights(config_kind, doc.data, facts.values):
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
        if "transformer_2" in parts:
            for p in validate.check_experts(transformer, parts["transformer_2"]):
                info.add(p)
        clip = parts.get("image_encoder")
        for p in validate.check_parts(
            transformer,
            vae=parts.get("vae"),
            text_encoder=parts.get("text_encoder"),
            clip_vision=clip,
            clip_given=True,
        ):
            info.add(p)
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
    def _version_needs(info: ModelInfo, moe: bool, expand: bool) -> tuple[str, str | None]:
        if moe or expand or (info.vae or {}).get("z_dim") == 48:
            return "Wan 2.2 (transformer_2, boundary_ratio, expand_timesteps, the 2.2 VAE)", "0.35.0"
        required = (info.requirements or {}).get("min_diffusers")
        return f"{info.pipeline_class or 'Wan'}", required

    # ------------------------------------------------------------------ extra parts (--vae, ...)
    def _check_extra_parts(self, info: ModelInfo, extras: dict[str, Path]) -> None:
        parts: dict[str, Part] = {}
        for slot, path in extras.items():
            sub = self._inspect_path(path)
            info.components[slot] = {"path": str(path), "kind": sub.kind, "family": sub.family, "variant": sub.variant, "dtype": sub.dtype,
                                     **(sub.components.get(sub.kind) or {})}
            for p in sub.problems:
                if p.severity == "error":
                    info.add(p)
            if sub.kind != slot:
                info.add(problem("COMPONENT_KIND_MISMATCH", f"{path.name} is a {sub.kind}", slot=slot.replace("_", " "), found=sub.kind.replace("_", " ")))
                continue
            facts = sub.components.get(slot, {})
            variant = registry.by_id(sub.variant) if sub.variant else None
            parts[slot] = Part(slot, facts, variant, None if sub.family in ("wan", "umt5", "clip_vision", "unknown") else sub.family, label=path.name)
            if slot == "vae":
                info.vae = sub.vae
        transformer = self._transformer_part(info)
        if transformer is None:
            return
        for p in validate.check_parts(
            transformer,
            vae=parts.get("vae"),
            text_encoder=parts.get("text_encoder"),
            clip_vision=parts.get("clip_vision"),
            clip_given="clip_vision" in extras or info.kind == "pipeline",
        ):
            info.add(p)

    @staticmethod
    def _transformer_part(info: ModelInfo) -> Part | None:
        facts = info.components.get("transformer")
        if not facts or info.family != "wan":
            return None
        variant = registry.by_id(info.variant) if info.variant else None
        return Part("transformer", facts, variant, "wan", label=Path(info.path).name)


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _config_vs_weights(kind: str, config: dict[str, Any], facts: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, config value, weight value) for every config field the weights contradict."""
    if kind == "transformer":
        heads, head_dim = config.get("num_attention_heads"), config.get("attention_head_dim")
        pairs = [
            ("in_channels", config.get("in_channels"), facts.get("in_channels")),
            ("out_channels", config.get("out_channels"), facts.get("out_channels")),
            ("num_layers", config.get("num_layers"), facts.get("blocks")),
            ("num_attention_heads * attention_head_dim", heads * head_dim if heads and head_dim else None, facts.get("hidden")),
            ("text_dim", config.get("text_dim"), facts.get("text_dim")),
            ("ffn_dim", config.get("ffn_dim"), facts.get("ffn_dim")),
            ("image_dim", config.get("image_dim"), facts.get("image_dim")),
        ]
    elif kind == "vae":
        pairs = [
            ("z_dim", config.get("z_dim", 16), facts.get("z_dim")),
            ("base_dim", config.get("base_dim", 96), facts.get("base_dim")),
            ("in_channels", config.get("in_channels", 3), facts.get("in_channels")),
        ]
    elif kind == "text_encoder":
        pairs = [("d_model", config.get("d_model"), facts.get("d_model")), ("num_layers", config.get("num_layers"), facts.get("layers"))]
    elif kind == "clip_vision":
        pairs = [("hidden_size", config.get("hidden_size"), facts.get("hidden")), ("num_hidden_layers", config.get("num_hidden_layers"), facts.get("layers"))]
    else:
        pairs = []
    return [(name, cfg, found) for name, cfg, found in pairs if found is not None and cfg != found]
