"""No missing, unexpected or mismatched weight, and no parameter left on `meta` or uninitialised.

Two lines of defence. Before loading, the names and shapes in the file headers are compared with
the model the config describes (built on `meta`, so it costs nothing): every problem is reported
at once, by name, before a byte of weights is read. After loading, the model itself is checked:
diffusers' `output_loading_info`, any parameter still on `meta`, and any parameter or buffer that
no tensor of the file provided (which is what `low_cpu_mem_usage=False` or a lenient single-file
load leaves random or uninitialised, silently).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..core.errors import LoadError

Shapes = Mapping[str, tuple[int, ...]]
MAX_NAMED = 12


def _names(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:MAX_NAMED])
    return shown + (f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else "")


@dataclass
class KeyDiff:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # name, expected, found

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def raise_if_any(self, component: str, where: str = "", file_names: Callable[[str], str] | None = None) -> None:
        """The first kind of problem as a LoadError; `file_names` turns the model's key names into
        the names the file gives them (or would give a missing one), so the message names keys as
        the user can find them in the file."""
        prefix = f"{where}: " if where else ""
        if file_names is not None:
            named = KeyDiff([file_names(k) for k in self.missing], [file_names(k) for k in self.unexpected],
                            [(file_names(k), e, g) for k, e, g in self.mismatched])
            return named.raise_if_any(component, where)
        if self.mismatched:
            shown = "; ".join(f"{name} expects {list(exp)}, the file has {list(got)}" for name, exp, got in sorted(self.mismatched)[:MAX_NAMED])
            more = f" and {len(self.mismatched) - MAX_NAMED} more" if len(self.mismatched) > MAX_NAMED else ""
            raise LoadError("LOAD_MISMATCHED_SHAPES", prefix + shown + more, component=component)
        if self.missing:
            raise LoadError("LOAD_MISSING_KEYS", f"{prefix}{len(self.missing)} missing: {_names(self.missing)}", component=component)
        if self.unexpected:
            raise LoadError("LOAD_UNEXPECTED_KEYS", f"{prefix}{len(self.unexpected)} unexpected: {_names(self.unexpected)}", component=component)


def tied_keys(model: Any) -> dict[str, str | None]:
    """Parameters a model ties to another (transformers' `_tied_weights_keys`): target -> source."""
    tied = getattr(model, "_tied_weights_keys", None) or {}
    if isinstance(tied, dict):
        return dict(tied)
    return {name: None for name in tied}


def compare_keys(expected: Shapes, found: Shapes, *, tied: Mapping[str, str | None] = (), ignorable: Iterable[str] = ()) -> KeyDiff:  # type: ignore[assignment]
    """Names and shapes a model needs against those a file provides."""
    tied = dict(tied or {})
    skip = set(ignorable)
    diff = KeyDiff()
    for name, shape in expected.items():
        if name not in found:
            source = tied.get(name, "")
            if name in tied and (source is None or source in found):
                continue  # filled by tying to a weight the file has
            diff.missing.append(name)
        elif tuple(found[name]) != tuple(shape):
            diff.mismatched.append((name, tuple(shape), tuple(found[name])))
    diff.unexpected = sorted(k for k in found if k not in expected and k not in skip)
    return diff


def expected_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def from_loading_info(info: Mapping[str, Any]) -> KeyDiff:
    """diffusers / transformers `output_loading_info` as a KeyDiff."""
    mismatched = []
    for item in info.get("mismatched_keys") or ():
        if isinstance(item, (list, tuple)) and len(item) == 3:
            mismatched.append((str(item[0]), tuple(item[2]), tuple(item[1])))
        else:
            mismatched.append((str(item), (), ()))
    return KeyDiff(sorted(info.get("missing_keys") or ()), sorted(info.get("unexpected_keys") or ()), mismatched)


def verify_loaded(model: Any, component: str, provided: Shapes, loading_info: Mapping[str, Any] | None = None,
                  file_names: Callable[[str], str] | None = None) -> None:
    """After loading: raise when anything in `model` did not come from the file's tensors.

    `provided` maps every state-dict name the file supplied (after key conversion) to its shape;
    a parameter whose name is there with another shape was not loaded from it either.
    """
    if loading_info is not None:
        diff = from_loading_info(loading_info)
        diff.raise_if_any(component, "the loader reports")
        errors = [str(e) for e in loading_info.get("error_msgs") or ()]
        if errors:
            raise LoadError("LOAD_FAILED", "; ".join(errors)[:2000], component=component)
    state = model.state_dict(keep_vars=True)
    on_meta = sorted(name for name, tensor in state.items() if getattr(tensor, "is_meta", False))
    if on_meta:
        raise LoadError("LOAD_META_PARAMETERS", f"{len(on_meta)} on meta: {_names(on_meta)}", component=component)
    mismatched = [(name, tuple(t.shape), tuple(provided[name])) for name, t in state.items()
                  if name in provided and tuple(provided[name]) != tuple(t.shape)]
    KeyDiff(mismatched=mismatched).raise_if_any(component, file_names=file_names)
    loaded_storages = {t.untyped_storage().data_ptr() for name, t in state.items() if name in provided}
    uninitialised = sorted(
        name for name, tensor in state.items()
        if name not in provided and tensor.untyped_storage().data_ptr() not in loaded_storages
    )
    if uninitialised:
        shown = [file_names(n) for n in uninitialised] if file_names is not None else uninitialised
        raise LoadError("LOAD_UNINITIALISED_PARAMETERS", f"{len(uninitialised)} not in the file: {_names(shown)}", component=component)
