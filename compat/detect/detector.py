"""ArchitectureDetector: what a model really is, from headers and configs only.

Input: a diffusers folder (`model_index.json`), a component folder (`config.json` + weights), a
single safetensors file, or a sharded set. Output: a ModelInfo with the verdict, the evidence that
decided it and every problem found. Weights are never loaded and nothing is ever unpickled.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import configs, fingerprint, hints, registry, validate
from ..core.errors import ModelFileError, WanCompatError, problem
from .facts import Facts, classify, is_scaled_fp8_marker
from .lora import apply as apply_lora, lora_facts
from .model_info import ModelInfo
from .safetensors_header import read_header
from .sniff import FileFormat, sniff
from .validate import Part
from .config_check import config_vs_weights
from .pipeline_folder import COMPONENT_CLASSES, PipelineFolderDetection
from .weights import INDEX_SUFFIX, WeightSet, from_header, read_folder, read_gguf, read_sharded
from ..core.regular_file import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

    from .registry import Variant

class ArchitectureDetector(PipelineFolderDetection):
    """Detects Wan architectures; one instance can inspect any number of paths. `overrides`: the
    settings' `advanced.pipeline_overrides` (overrides.py), applied to each model's verdict."""

    def __init__(self, overrides: Sequence[Any] = ()) -> None:
        self.overrides = tuple(overrides or ())

    def inspect(
        self,
        path: str | Path,
        *,
        vae: str | Path | None = None,
        text_encoder: str | Path | None = None,
        clip_vision: str | Path | None = None,
    ) -> ModelInfo:
        started = time.perf_counter()
        taken = fingerprint.take(path)  # before anything is read: a later change cannot hide
        info = self._inspect_path(Path(path))
        if self.overrides:
            from .overrides import apply_overrides

            info = apply_overrides(info, self.overrides)
        info.fingerprint = taken
        if vae or text_encoder or clip_vision:
            info = self.check_parts(info, vae=vae, text_encoder=text_encoder, clip_vision=clip_vision)
        info.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        return info

    def check_parts(
        self,
        info: ModelInfo,
        *,
        vae: str | Path | None = None,
        text_encoder: str | Path | None = None,
        clip_vision: str | Path | None = None,
    ) -> ModelInfo:
        """A new ModelInfo: the model verdict of `info` (not detected again) with the given parts
        inspected and checked against it. Parts an earlier check added to `info` are not kept."""
        started = time.perf_counter()
        base = info.model_only()
        out = base.copy()
        out._model_only = base
        extras = {k: Path(v) for k, v in {"vae": vae, "text_encoder": text_encoder, "clip_vision": clip_vision}.items() if v}
        if extras:
            self._check_extra_parts(out, extras)
        out.elapsed_ms = round(base.elapsed_ms + (time.perf_counter() - started) * 1000, 3)
        return out

    def reuse(self, info: ModelInfo) -> ModelInfo:
        """The model verdict of `info` when its files are unchanged since it was made; otherwise the
        model detected again, with MODEL_INFO_STALE saying what changed. Never a stale verdict: a
        verdict without a fingerprint is never re-used."""
        base = info.model_only()
        if base.fingerprint is None:  # made without one (by hand, or from a pickle's tensors): cannot tell
            return self.inspect(base.path)
        found = fingerprint.changes(base.path, base.fingerprint)
        if not found:
            return base
        fresh = self.inspect(base.path)
        shown = "; ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        fresh.add(problem("MODEL_INFO_STALE", f"{Path(base.path).name}: {shown}", severity="warning"))
        return fresh

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
        lora = lora_facts(weights.shapes)
        if lora is not None:  # a patch for a model, not a model: its own verdict
            apply_lora(info, lora)
            return lora
        facts = classify(weights.shapes)
        info.kind, info.naming, info.key_prefix = facts.kind, facts.naming, facts.prefix
        info.evidence += facts.evidence
        self._quantization(weights, info)
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

    @staticmethod
    def _quantization(weights: WeightSet, info: ModelInfo) -> None:
        """How the weights are stored, from the header: ComfyUI scaled fp8 (a `scaled_fp8` marker,
        kijai's `_scaled_KJ` files: `.scale_weight` per layer), ComfyUI's per-layer quantisation
        (`.comfy_quant` + `.weight_scale`: int8 / fp8 / nvfp4, e.g. the `int8_convrot` files), plain fp8."""
        names = weights.tensors
        if any(k.endswith(".scale_weight") or is_scaled_fp8_marker(k) for k in names):
            info.quantization = "fp8_scaled"
            info.evidence.append("scaled_fp8 / .scale_weight tensors -> ComfyUI scaled-fp8 checkpoint")
        elif any(k.endswith(".comfy_quant") for k in names):
            stored = "int8" if "int8" in info.dtypes else next((d for d in info.dtypes if d.startswith(("fp8", "fp4"))), "mixed")
            info.quantization = f"comfy_quant_{stored}"
            info.evidence.append(f".comfy_quant + .weight_scale per layer -> ComfyUI per-layer quantisation ({stored} weights)")
        elif info.dtype and info.dtype.startswith("fp8"):
            info.quantization = "fp8"

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
        for name, expected, found in config_vs_weights(info.kind, doc.data, facts):
            info.add(problem("CONFIG_WEIGHTS_MISMATCH", f"{config_path.parent.name}/config.json {name} = {expected}, weights have {found}"))

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
    with open_regular(path) as fh:
        return fh.read(n)
