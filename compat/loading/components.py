"""Loading one component, checked before and after: from a diffusers folder with the library's own
`from_pretrained(use_safetensors=True, output_loading_info=True)`, or from a state dict (a single
file, already in diffusers naming) strictly into a model built from its config on `meta`.

Never `ignore_mismatched_sizes`, never `low_cpu_mem_usage=False`, never a lenient fallback: every
failure is a LoadError naming the keys.
"""
from __future__ import annotations

import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from ..core.errors import LoadError, WanCompatError
from ..detect.slots import SLOT_CLASSES
from . import checks, dtypes, fp8, materialize
from .report import LoadReport

# What each component slot may hold: detect/slots.py (the classes diffusers/transformers ship for it).
WEIGHT_SLOTS = ("transformer", "transformer_2", "vae", "text_encoder", "image_encoder")
# Tensors some real files carry that are not weights of the model: embedded tokenizer, markers,
# and buffers transformers no longer saves.
IGNORABLE = ("spiece_model", "scaled_fp8", "vision_model.embeddings.position_ids", "text_model.embeddings.position_ids")
_SHAPE_ERROR = re.compile(r"(\S+) expected shape (torch\.Size\(\[[^\]]*\]\)), but got (torch\.Size\(\[[^\]]*\]\))")


def is_diffusers_class(cls: type) -> bool:
    return cls.__module__.startswith("diffusers.")


def meta_model(cls: type, config: Mapping[str, Any]) -> Any:
    """The model a config describes, parameters on the meta device (no memory) and never
    initialised (the libraries' own `no_init_weights`, as their `from_pretrained` does: initialising
    meta tensors runs torch's Python decompositions, seconds for a 14B model); buffers are built
    for real, since non-persistent ones (rotary tables) are never in a file."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False), no_init(cls):
        if is_diffusers_class(cls):
            return cls.from_config(dict(config))
        return cls(cls.config_class(**{k: v for k, v in config.items() if not k.startswith("_")}))


def no_init(cls: type) -> Any:
    """The library's context that skips torch.nn.init while a model is built."""
    if is_diffusers_class(cls):
        from diffusers.models.modeling_utils import no_init_weights
    else:
        try:
            from transformers.initialization import no_init_weights
        except ImportError:  # transformers < 5
            from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def expectation(library: str, class_name: str, config: Mapping[str, Any]) -> tuple[Mapping[str, tuple[int, ...]], Mapping[str, str | None]]:
    """(names -> shapes, tied names) of the model a config describes: the shipped data for the
    registry's components (`expected_weights.py`: no import of diffusers or transformers), else
    built on `meta` and kept for the process (a long-lived host checks the next file for free)."""
    import json

    from . import expected_weights

    found = expected_weights.lookup(class_name, config)
    if found is not None:
        return found
    return _expectation(library, class_name, json.dumps(dict(config), sort_keys=True, default=str))


@lru_cache(maxsize=16)
def _expectation(library: str, class_name: str, config_json: str) -> tuple[Mapping[str, tuple[int, ...]], Mapping[str, str | None]]:
    import importlib
    import json
    from types import MappingProxyType

    model = meta_model(getattr(importlib.import_module(library), class_name), json.loads(config_json))
    return MappingProxyType(checks.expected_shapes(model)), MappingProxyType(checks.tied_keys(model))


def _translate(exc: Exception, component: str) -> WanCompatError:
    """diffusers' raw loading errors, in the pack's terms."""
    text = str(exc)
    found = _SHAPE_ERROR.search(text)
    if found:
        return LoadError("LOAD_MISMATCHED_SHAPES", f"{found.group(1)} expects {found.group(2)}, the file has {found.group(3)}", component=component)
    return LoadError("LOAD_FAILED", f"{type(exc).__name__}: {text[:1500]}", component=component)


def _finish(model: Any, name: str, cls: type, dtype: Any, report: LoadReport, started: float,
            source: Mapping[str, Any] | None = None, storage: Any = None, file_dtypes: Mapping[str, Any] | None = None,
            scales: Mapping[str, Any] | None = None) -> Any:
    model.eval()
    fp32 = dtypes.cast(model, dtype, source)
    upcast = fp8.install(model, scales)
    unused = fp8.unused_scales(model, scales or {})
    if unused:
        raise LoadError("LOAD_UNEXPECTED_KEYS", f"{len(unused)} scale_weight tensor(s) scale no fp8 linear weight: {', '.join(unused[:12])}", component=name)
    fp8_dtypes = sorted({str(m.weight.dtype).replace("torch.", "") for m in fp8.linear_weights(model).values() if fp8.is_fp8(m.weight.dtype)})
    report.components[name] = {
        "class": cls.__name__,
        **dtypes.describe(model),
        "fp32_modules": list(dtypes.fp32_patterns(model, dtype)),
        "fp32_tensors": len(fp32),
        "storage_dtype": fp8_dtypes[0] if len(fp8_dtypes) == 1 else (fp8_dtypes or None),
        "fp8_linears": len(upcast),
        "scaled_fp8": len(scales or {}),
        "compute_dtype": str(dtype).replace("torch.", ""),
        "dtype_changes": fp8.dtype_changes(file_dtypes, model) if file_dtypes is not None else None,
        "load_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return model


def load_from_folder(cls: type, folder: Path, name: str, found: Mapping[str, tuple[int, ...]], *,
                     dtype: Any, report: LoadReport, storage: Any = None) -> Any:
    """A component of a diffusers folder; `found` holds the names and shapes its file headers list."""
    started = time.perf_counter()
    config = (cls.load_config(folder / name, local_files_only=True) if is_diffusers_class(cls)
              else cls.config_class.from_pretrained(folder / name, local_files_only=True).to_dict())
    expected = meta_model(cls, config)
    checks.compare_keys(checks.expected_shapes(expected), found, tied=checks.tied_keys(expected), ignorable=IGNORABLE).raise_if_any(name, f"{name}/")
    del expected
    kwargs: dict[str, Any] = {"use_safetensors": True, "output_loading_info": True, "dtype": dtype, "local_files_only": True}
    try:
        if is_diffusers_class(cls):
            model, info = cls.from_pretrained(folder, subfolder=name, low_cpu_mem_usage=True, **kwargs)
        else:
            model, info = cls.from_pretrained(folder / name, trust_remote_code=False, **kwargs)
    except WanCompatError:
        raise
    except Exception as exc:  # the libraries raise ValueError/OSError/RuntimeError with prose
        raise _translate(exc, name) from None
    checks.verify_loaded(model, name, found, info)
    materialize.detach_from_files(model)
    if storage is not None:
        materialize.store_in_fp8(model, storage, dtype)
    return _finish(model, name, cls, dtype, report, started, storage=storage)


def load_from_state_dict(cls: type, config: Mapping[str, Any], tensors: dict[str, Any], name: str, *,
                         dtype: Any, report: LoadReport, storage: Any = None, scales: Mapping[str, Any] | None = None,
                         file_names: Callable[[str], str] | None = None) -> Any:
    """A component from tensors already in the model's naming, strictly, into a meta-built model.

    Each tensor is converted to its final dtype and copied before it is assigned (`materialize`),
    so the model owns its memory; `tensors` is emptied on the way. `scales`: ComfyUI scaled-fp8
    scales by weight name. `file_names` names keys in errors as the file names them."""
    started = time.perf_counter()
    model = meta_model(cls, config)
    for key in IGNORABLE:
        tensors.pop(key, None)
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    file_dtypes = {k: v.dtype for k, v in tensors.items()}
    checks.compare_keys(checks.expected_shapes(model), found, tied=checks.tied_keys(model)).raise_if_any(name, file_names=file_names)
    diffusers_model = is_diffusers_class(cls)  # transformers' T5 casts activations to its weights' dtype: no fp8 there
    owned = materialize.materialize(model, tensors, dtype, storage if diffusers_model else None, keep_fp8=diffusers_model)
    try:
        model.load_state_dict(owned, strict=False, assign=True)
        if hasattr(model, "tie_weights"):
            model.tie_weights()
    except Exception as exc:
        raise _translate(exc, name) from None
    checks.verify_loaded(model, name, found, file_names=file_names)
    return _finish(model, name, cls, dtype, report, started, source=owned, storage=storage, file_dtypes=file_dtypes, scales=scales)


def expected_class(slot: str, class_name: str, variant_class: str | None = None) -> None:
    """COMPONENT_CLASS_UNEXPECTED unless `class_name` is what this slot of a Wan pipeline holds."""
    if slot == "scheduler":
        if not class_name.endswith("Scheduler"):
            raise LoadError("COMPONENT_CLASS_UNEXPECTED", f"{slot}: {class_name}; this model needs a diffusers scheduler", component=slot,
                            found=class_name, expected="a diffusers scheduler")
        return
    allowed = (variant_class,) if variant_class and slot.startswith("transformer") else SLOT_CLASSES.get(slot)
    if allowed is not None and class_name not in allowed:
        expected = " or ".join(allowed)
        raise LoadError("COMPONENT_CLASS_UNEXPECTED", f"{slot}: {class_name}; this model needs {expected}", component=slot,
                        found=class_name, expected=expected)
