"""One LoRA read, matched and checked against one expert of a loaded pipeline (`prepare_lora`), and
the new WAN_PIPELINE that carries it (`with_loras`).

Nothing of the pipeline is changed here: a `LoraSpec` holds the LoRA's own tensors (private
copies, never the file's memory map) and the layers they change; Wan Sample activates the
handle's LoRAs for one run (`apply.lora_applied`) and removes them after it, so the cached
weights stay bit-exact and two handles made from one Safe Load can carry different LoRAs.

Refused with the reason (LORA_NOT_APPLICABLE): a LoRA none of whose layers is in the model
(another family), a layer whose sizes differ (another model size), a half pair (down without
up), a target expert the pipeline does not have. Keys that name no layer of the model are never
dropped: LORA_KEYS_UNMATCHED lists them. Refused as LORA_INVALID, whatever the model: a pair that
is not a matrix pair of one rank, an alpha that is not one finite positive number, a NaN or
infinite weight, one layer given twice in two namings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import LoadError, ModelFileError
from ..loading.handle import PipelineHandle
from ..loading.report import LoadReport
from ..security import paths
from ..security.policy import SecurityPolicy
from . import keys as lora_keys

TARGETS = ("transformer", "transformer_2", "both")
MAX_SHOWN = 8


@dataclass(frozen=True, eq=False)
class Delta:
    """One change to one layer: a low-rank pair (`down`, `up`, `scale` = alpha / rank) or full
    differences of the weight (`diff`) and bias (`diff_b`)."""

    layer: str
    down: Any = None
    up: Any = None
    scale: float = 1.0
    diff: Any = None
    diff_b: Any = None
    linear: bool = True  # a linear layer (changed through its output); else a parameter (changed for the run)


@dataclass(frozen=True, eq=False)
class LoraSpec:
    name: str
    path: str
    strength: float
    target: str  # transformer | transformer_2
    format: str
    deltas: tuple[Delta, ...]
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "strength": self.strength, "target": self.target, "format": self.format,
                "layers": len(self.deltas), "rank": self.rank}


def _shown(items: list[str]) -> str:
    return ", ".join(items[:MAX_SHOWN]) + (f" and {len(items) - MAX_SHOWN} more" if len(items) > MAX_SHOWN else "")


def _format_of(aliases: list[str]) -> str:
    first = aliases[0] if aliases else ""
    if first.startswith("lora_unet_"):
        return "kohya"
    if first.startswith(("diffusion_model.", "model.diffusion_model.")) or ".self_attn." in first or ".cross_attn." in first:
        return "ComfyUI / original Wan naming"
    return "diffusers / PEFT"


def read_lora(path: str | Path, policy: SecurityPolicy | None = None, roots: list[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The LoRA's tensors, read under the same policy as a model file, in memory of their own."""
    from ..loading import sources

    policy = policy or SecurityPolicy()
    given = Path(str(path)).expanduser()
    allowed = paths.roots_from(list(roots if roots is not None else [given]) + list(policy.extra_model_roots))
    target = paths.resolve_inside(given, allowed, expect="file")
    tensors, _ = sources.read_state_dict(target, "lora", policy, LoadReport(source={"model": str(target)}))
    return target, tensors  # read into memory of their own (loading.file_read)


def _not_applicable(target: str, reason: str) -> LoadError:
    return LoadError("LORA_NOT_APPLICABLE", reason, target=target, reason=reason)


def match_lora(model: Any, tensors: dict[str, Any], target: str) -> tuple[list[Delta], str, int | None]:
    """(deltas, format, rank) of a LoRA for `model`; every key accounted for, every size checked."""
    import torch

    params = dict(model.named_parameters())
    layers, unmatched, unknown = lora_keys.match(tensors, lora_keys.alias_table(list(params)))
    if not layers and (unmatched or unknown):
        raise _not_applicable(target, f"none of its {len(tensors)} tensors names a layer of this Wan transformer "
                                      f"(another model family?): {_shown(sorted(tensors))}")
    if not layers:
        raise ModelFileError("LORA_FORMAT_UNKNOWN", "the file holds no tensors", found="no tensors")
    if unmatched or unknown:
        raise LoadError("LORA_KEYS_UNMATCHED", f"{len(unmatched) + len(unknown)} key(s): {_shown(unmatched + unknown)}", target=target)
    deltas: list[Delta] = []
    ranks: set[int] = set()
    for layer, parts in sorted(layers.items()):
        module = model.get_submodule(layer) if f"{layer}.weight" in params else None
        is_linear = isinstance(module, torch.nn.Linear)
        if ("down" in parts.tensors) != ("up" in parts.tensors):
            have = "down" if "down" in parts.tensors else "up"
            raise _not_applicable(target, f"{parts.keys[have]} has no matching lora_{'up' if have == 'down' else 'down'}")
        down, up = parts.tensors.get("down"), parts.tensors.get("up")
        _check_values(parts)
        scale = 1.0
        if down is not None:
            if not is_linear:
                raise _not_applicable(target, f"{parts.keys['down']}: low-rank LoRAs are applied to linear layers; {layer} is a {type(module).__name__ if module is not None else 'parameter'}")
            down, up = down.reshape(down.shape[0], -1), up.reshape(up.shape[0], -1)
            if down.shape[1] != module.in_features or up.shape[0] != module.out_features or down.shape[0] != up.shape[1]:
                raise _not_applicable(target, f"{parts.keys['down']}: made for a {down.shape[1]} -> {up.shape[0]} layer, "
                                              f"{layer} is {module.in_features} -> {module.out_features} (another model size)")
            rank = int(down.shape[0])
            ranks.add(rank)
            if "alpha" in parts.tensors:
                scale = float(parts.tensors["alpha"].reshape(())) / rank  # one finite positive value (_check_values)
        elif "alpha" in parts.tensors:
            raise _not_applicable(target, f"{parts.keys['alpha']} has no lora_down / lora_up")
        weight = params.get(f"{layer}.weight", params.get(layer))
        diff, diff_b = parts.tensors.get("diff"), parts.tensors.get("diff_b")
        if diff is not None and tuple(diff.shape) != tuple(weight.shape):
            raise _not_applicable(target, f"{parts.keys['diff']}: shape {list(diff.shape)}, {layer} has {list(weight.shape)} (another model size)")
        if diff_b is not None:
            bias = params.get(f"{layer}.bias")
            if bias is None or tuple(bias.shape) != tuple(diff_b.shape):
                raise _not_applicable(target, f"{parts.keys['diff_b']}: {layer} has " + (f"a bias of {list(bias.shape)}" if bias is not None else "no bias"))
        deltas.append(Delta(layer, down, up, scale, diff, diff_b, linear=is_linear))
    return deltas, _format_of([p.alias for p in layers.values()]), (min(ranks) if ranks else None)


def _invalid(reason: str) -> ModelFileError:
    return ModelFileError("LORA_INVALID", reason, reason=reason)


def _check_values(parts: lora_keys.LayerParts) -> None:
    """What no LoRA can hold, whatever the model: checked before any size is compared."""
    import torch

    for part, tensor in parts.tensors.items():
        key = parts.keys[part]
        if not isinstance(tensor, torch.Tensor):
            raise _invalid(f"{key} is not a tensor")
        if not (tensor.is_floating_point() or part == "alpha"):
            raise _invalid(f"{key} is {str(tensor.dtype).replace('torch.', '')}, not a floating-point tensor")
        if tensor.numel() and not bool(torch.isfinite(tensor.float() if tensor.dtype.itemsize == 1 else tensor).all()):
            raise _invalid(f"{key} holds NaN or infinite values")
    for part in ("down", "up"):
        tensor = parts.tensors.get(part)
        if tensor is not None and (tensor.dim() < 2 or tensor.shape[0] == 0 or tensor[0].numel() == 0):
            raise _invalid(f"{parts.keys[part]} has shape {list(tensor.shape)}, not a matrix with rows and columns")
    alpha = parts.tensors.get("alpha")
    if alpha is not None:
        if alpha.numel() != 1:
            raise _invalid(f"{parts.keys['alpha']} has shape {list(alpha.shape)}, not one number")
        if not float(alpha.reshape(()).float()) > 0:
            raise _invalid(f"{parts.keys['alpha']} is {float(alpha.reshape(()).float()):g}, alpha must be positive")


def prepare_lora(handle: PipelineHandle, path: str | Path, strength: float = 1.0, target: str = "transformer", *,
                 policy: SecurityPolicy | None = None, roots: list[str] | None = None) -> list[LoraSpec]:
    """The LoRA at `path` checked against the expert(s) `target` names (`both`: each expert of a
    Wan 2.2 A14B, or the one transformer); one LoraSpec per expert."""
    if target not in TARGETS:
        from ..core.errors import UsageError

        raise UsageError("USAGE", f"target {target!r}: choose one of {', '.join(TARGETS)}")
    if handle.sandboxed:
        raise _not_applicable(target, "the pipeline runs in the sandbox (custom code); LoRAs apply to the pack's own Wan pipelines")
    pipeline = handle.pipeline
    experts = [n for n in ("transformer", "transformer_2") if getattr(pipeline, n, None) is not None]
    wanted = experts if target == "both" else [target]
    missing = [n for n in wanted if n not in experts]
    if missing:
        raise _not_applicable(target, f"this pipeline has no {missing[0]} (it has {', '.join(experts)}); "
                                      "transformer_2 is the low-noise expert of a Wan 2.2 A14B")
    file, tensors = read_lora(path, policy, roots)
    specs = []
    for name in wanted:
        deltas, fmt, rank = match_lora(getattr(pipeline, name), tensors, name)
        specs.append(LoraSpec(file.name, str(file), float(strength), name, fmt, tuple(deltas), rank))
    return specs


def with_loras(handle: PipelineHandle, specs: list[LoraSpec]) -> PipelineHandle:
    """A new handle carrying the given LoRAs after those it had; `handle` is unchanged."""
    return dataclasses.replace(handle, loras=tuple(handle.loras) + tuple(specs))
