"""Assembling the pipeline class with every argument it needs.

diffusers' own assembly fails late and vaguely ("expected {...} but only set() were passed").
Here the required arguments are known before the constructor runs: the constructor's parameters
without a default, plus what the detected model needs even though the signature makes it optional
(`transformer`; `transformer_2` for a Wan 2.2 MoE; the image encoder and processor for a Wan 2.1
I2V/FLF2V). A missing one is an error that names it.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

from ..core.errors import LoadError, SecurityError
from ..security.trust import shipped_class
from ..detect.validate import PIPELINE_TASKS


def pipeline_class(name: str) -> type:
    """A Wan pipeline class diffusers ships; anything else would need custom code."""
    found = shipped_class("diffusers", name) if name in PIPELINE_TASKS else None
    if found is None:
        from ..detect.pipeline_releases import explain

        raise SecurityError("UNKNOWN_PIPELINE_CLASS", f"_class_name is {name!r}; {explain(name)}")
    return found


def required_arguments(cls: type, needed: Iterable[str] = ()) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    required = [n for n, p in params.items() if n != "self" and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return required + [n for n in needed if n not in required]


def assemble(class_name: str, components: dict[str, Any], scalars: dict[str, Any], needed: Iterable[str] = ()) -> Any:
    cls = pipeline_class(class_name)
    params = inspect.signature(cls.__init__).parameters
    for argument in required_arguments(cls, needed):
        if components.get(argument) is None:
            raise LoadError("PIPELINE_ARGUMENT_MISSING", f"{class_name} got {', '.join(sorted(k for k, v in components.items() if v is not None)) or 'nothing'}",
                            pipeline_class=class_name, argument=argument)
    extra = sorted(k for k, v in components.items() if v is not None and k not in params)
    if extra:
        raise LoadError("LOAD_FAILED", f"{class_name} takes no {', '.join(extra)}", component="pipeline")
    kwargs = {k: v for k, v in components.items() if k in params}
    kwargs.update({k: v for k, v in scalars.items() if k in params and v is not None})
    return cls(**kwargs)


def needed_components(requirements: dict[str, Any] | None, moe: bool, index_components: Iterable[str] = ()) -> list[str]:
    """What the detected model needs besides the constructor's required arguments."""
    needed = ["transformer"]
    if moe:
        needed.append("transformer_2")
    if (requirements or {}).get("clip_vision") or "image_encoder" in index_components:
        needed += ["image_encoder", "image_processor"]
    return needed
