"""One component file loaded alone (`load_component`), and the transformer step the pipeline loader
shares with it (`transformer_from_tensors`).

`load_component(path)` runs what Wan Safe Load runs for that one file, without the VAE, text
encoder and tokenizer a pipeline needs: the path policy, the format check, the detector, the
registry config (or a `config_source` folder's), every key and shape checked against the model,
then the load under the precision and fp8 storage options. `wan-compat load` prints its result.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import LoadError
from ..detect.facts import Facts, classify
from ..detect.model_info import ModelInfo
from ..detect.sniff import FileFormat, sniff_bytes
from ..security import paths
from ..security.policy import SecurityPolicy
from . import components, dtypes, fp8, gguf_file, key_naming, sources
from .report import LoadReport
from .transformer_config import transformer_config


def transformer_from_tensors(cls: type, config: dict[str, Any], tensors: dict[str, Any], name: str, facts: Facts, *,
                             dtype: Any, report: LoadReport, storage: Any = None) -> Any:
    """A Wan transformer from a single file's tensors (original or diffusers naming, any wrapper
    prefix, plain or ComfyUI scaled fp8). Errors name keys as the file names them."""
    old = list(tensors)
    if facts.naming == "original":
        tensors = key_naming.transformer_to_diffusers(tensors, facts.prefix or None, strict=False)
        to_file = key_naming.transformer_file_name(facts.prefix)
    else:
        cut = len(facts.prefix)
        tensors = {k[cut:] if facts.prefix and k.startswith(facts.prefix) else k: v for k, v in tensors.items()}
        to_file = (lambda key: facts.prefix + key)
    names = key_naming.file_namer(dict(zip(tensors, old)), to_file)
    tensors, scales = fp8.split_scales(tensors)
    if scales:
        report.allow(name, f"ComfyUI scaled fp8: {len(scales)} weights stay fp8, each multiplied by its scale_weight at compute time as ComfyUI does")
    return components.load_from_state_dict(cls, config, tensors, name, dtype=dtype, report=report, storage=storage,
                                           scales=scales, file_names=names)


@dataclass
class LoadedComponent:
    """What `load_component` gives: the model, the verdict, the report and the measured facts."""

    model: Any
    model_info: ModelInfo
    report: LoadReport
    path: str
    file_bytes: int
    seconds: float
    facts: dict[str, Any] = field(default_factory=dict)

    def resident_bytes(self) -> int:
        """Bytes the model's parameters and buffers hold (each storage counted once)."""
        seen: dict[int, int] = {}
        for tensor in list(self.model.parameters()) + list(self.model.buffers()):
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return sum(seen.values())

    def to_dict(self) -> dict[str, Any]:
        info = self.report.components.get("transformer") or next(iter(self.report.components.values()), {})
        return {"path": self.path, "class": info.get("class"), "variant": self.model_info.variant,
                "dtypes": info.get("dtypes"), "dtype_changes": info.get("dtype_changes"),
                "storage_dtype": info.get("storage_dtype"), "fp8_linears": info.get("fp8_linears"),
                "scaled_fp8": info.get("scaled_fp8"), "compute_dtype": info.get("compute_dtype"),
                "parameters": info.get("parameters"), "resident_bytes": self.resident_bytes(), "file_bytes": self.file_bytes,
                "seconds": round(self.seconds, 3), "decisions": [d.to_dict() for d in self.report.decisions]}


def load_component(path: str | Path, *, dtype: str = "bf16", weight_storage: str = "default", config_source: str | Path | None = None,
                   policy: SecurityPolicy | None = None, roots: list[str] | None = None) -> LoadedComponent:
    """Load one Wan transformer file (safetensors, an allowlisted pickle, or GGUF) alone, every
    key checked. `roots` as in `load_pipeline` (None: the path itself is allowed)."""
    from ..detect.detector import ArchitectureDetector

    started = time.perf_counter()
    policy = policy or SecurityPolicy()
    dtypes.torch_dtype(dtype)
    storage = dtypes.storage_dtype(weight_storage)
    given = Path(str(path)).expanduser()
    explicit = [given] + ([Path(str(config_source)).expanduser()] if config_source else [])
    allowed = paths.roots_from(list(roots if roots is not None else explicit) + list(policy.extra_model_roots))
    target = paths.resolve_inside(given, allowed, expect="file")
    report = LoadReport(source={"model": str(target), "format": "single_file"})
    report.allow(str(target), "inside the allowed roots")
    with open(target, "rb") as fh:
        fmt = sniff_bytes(fh.read(16), target.stat().st_size)
    if fmt is FileFormat.GGUF:
        gguf_file.require_gguf()
        with report.timed("detect"):
            info = ArchitectureDetector().inspect(target)
        _require_transformer(info, target)
        config, cls_name = transformer_config(info, config_source, allowed, policy, report)
        with report.timed("transformer"):
            model = gguf_file.load_gguf_transformer(target, config, cls_name, dtype=dtypes.torch_dtype(dtype), report=report)
        report.finish()
        return LoadedComponent(model, info, report, str(target), target.stat().st_size, time.perf_counter() - started)
    sources.check_format(target, fmt, report, "transformer")
    with report.timed("detect"):
        pickled = sources.read_state_dict(target, "transformer", policy, report)[0] if fmt.is_pickle else None
        if pickled is not None:
            from .detect_tensors import TensorAwareDetector

            info = TensorAwareDetector({target: pickled}).inspect(target)
        else:
            info = ArchitectureDetector().inspect(target)
    _require_transformer(info, target)
    config, cls_name = transformer_config(info, config_source, allowed, policy, report)
    import diffusers

    with report.timed("transformer"):
        tensors = pickled if pickled is not None else sources.read_state_dict(target, "transformer", policy, report)[0]
        facts = classify({k: tuple(v.shape) for k, v in tensors.items() if not k.endswith(fp8.SCALE_SUFFIXES)})
        model = transformer_from_tensors(getattr(diffusers, cls_name), config, tensors, "transformer", facts,
                                         dtype=dtypes.torch_dtype(dtype), report=report, storage=storage)
        del tensors
    report.finish()
    return LoadedComponent(model, info, report, str(target), target.stat().st_size, time.perf_counter() - started)


def _require_transformer(info: ModelInfo, target: Path) -> None:
    if info.kind != "transformer":
        raise LoadError("MODEL_NOT_LOADABLE", f"[COMPONENT_KIND_MISMATCH] {target.name} is a {info.kind}; `load` takes a diffusion model (transformer) file")
    errors = [p for p in info.problems if p.severity == "error"]
    if errors:
        raise LoadError("MODEL_NOT_LOADABLE", "; ".join(p.text() for p in errors))
