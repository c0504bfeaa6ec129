"""The LoRAs of a WAN_PIPELINE active for one run, and gone after it.

Per expert and per run, one of two ways:
- merged: each changed weight is replaced, for the run, by a new tensor holding the weight plus
  the LoRA's change (computed in fp32 and cast back once, as a merge does), so a step costs what it
  costs without a LoRA. On the way out, however the run ends, the original tensor objects go back:
  the cached weights are bit-exact by construction (they are never written). Costs one copy of the
  changed matrices for the run, and the merge itself.
- hooks: a forward hook on each changed linear layer adds `strength * scale * up(down(x))` (and
  `strength * diff(x)`, `strength * diff_b`) to its output, in the activations' dtype. Used where
  weights cannot take a merge (fp8 weights would round the change away, GGUF weights are quantized
  blocks), where offload hooks keep their own copies of the weights, where the copies do not fit
  in free memory, and where the run is too short for the merge to pay (`choose`).
Full differences of parameters that are not linear layers (norms, modulation tables) are always
added to a new tensor swapped in for the run. Removal is also covered by `optimize.runtime.applied`,
which restores every hook table and tensor it recorded.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator

WRITABLE = ("float32", "bfloat16", "float16")
ELEMENTWISE = 8  # an fp32 add (or cast) of one element, in multiply-adds: the memory-bound part of either way
MEMORY_SHARE = 0.5  # merged copies may take at most this share of the device's free memory


class _LayerHook:
    """The summed LoRA changes of one linear layer, its tensors moved to the input's device once."""

    def __init__(self) -> None:
        self.terms: list[tuple[Any, Any, float, Any, Any]] = []  # (down, up, factor, diff, diff_b)
        self._placed: dict[tuple[Any, Any], list[tuple[Any, Any, float, Any, Any]]] = {}

    def add(self, down: Any, up: Any, factor: float, diff: Any, diff_b: Any) -> None:
        self.terms.append((down, up, factor, diff, diff_b))

    def _on(self, device: Any, dtype: Any) -> list[tuple[Any, Any, float, Any, Any]]:
        key = (device, dtype)
        if key not in self._placed:
            def put(t: Any) -> Any:
                return None if t is None else t.to(device=device, dtype=dtype)

            self._placed[key] = [(put(d), put(u), f, put(w), put(b)) for d, u, f, w, b in self.terms]
        return self._placed[key]

    def __call__(self, module: Any, args: tuple[Any, ...], output: Any) -> Any:
        import torch.nn.functional as F

        x = args[0]
        out = output
        for down, up, factor, diff, diff_b in self._on(x.device, x.dtype):
            if down is not None:
                out = out + F.linear(F.linear(x, down), up) * factor
            if diff is not None:
                out = out + F.linear(x, diff) * factor
            if diff_b is not None:
                out = out + diff_b * factor
        return out

    def merged(self, weight: Any, bias: Any) -> tuple[Any, Any]:
        """(weight, bias) with every term added, in fp32, cast back to their dtypes."""
        import torch

        w = weight.detach().to(torch.float32, copy=True)  # a new tensor: the original is never written
        b = None
        for down, up, factor, diff, diff_b in self.terms:
            if down is not None:
                w.addmm_(up.to(w.device, torch.float32), down.to(w.device, torch.float32), alpha=factor)
            if diff is not None:
                w.add_(diff.to(w.device, torch.float32), alpha=factor)
            if diff_b is not None:
                b = (bias.detach().to(torch.float32, copy=True) if b is None else b).add_(diff_b.to(bias.device, torch.float32), alpha=factor)
        return w.to(weight.dtype), (b.to(bias.dtype) if b is not None else None)


def _added(data: Any, diff: Any, strength: float) -> Any:
    """data + strength * diff in fp32, back in data's dtype (as ComfyUI adds a `diff` patch)."""
    import torch

    return (data.to(torch.float32) + diff.to(device=data.device, dtype=torch.float32) * strength).to(data.dtype)


def _mergeable(model: Any, layers: dict[int, tuple[Any, _LayerHook]]) -> bool:
    """Whether the run may replace these layers' weights: plain float weights (not fp8, not GGUF
    blocks), no offload hooks anywhere in the expert (they keep copies of the weights)."""
    if any("_hf_hook" in m.__dict__ or "_diffusers_hook" in m.__dict__ for m in model.modules()):
        return False
    for module, _ in layers.values():
        weight = module.weight
        if str(weight.dtype).replace("torch.", "") not in WRITABLE or hasattr(weight, "quant_type") or weight.is_meta:
            return False
    return True


def costs(layers: Iterable[tuple[Any, _LayerHook]], tokens: int) -> tuple[float, float]:
    """(merge, hooks per step) in multiply-adds: a merge adds r·in·out per low-rank term and an
    fp32 pass over each weight; hooks add tokens·r·(in + out) per term and a pass over the output."""
    merge = hooks = 0.0
    for module, hook in layers:
        out_f, in_f = module.weight.shape[0], module.weight.shape[-1]
        merge += out_f * in_f * ELEMENTWISE
        for down, _, _, diff, _ in hook.terms:
            rank = down.shape[0] if down is not None else 0
            merge += rank * in_f * out_f
            hooks += tokens * ((rank * (in_f + out_f)) + (in_f * out_f if diff is not None else 0) + ELEMENTWISE * out_f)
    return merge, hooks


def choose(model: Any, layers: dict[int, tuple[Any, _LayerHook]], steps: int | None, tokens: int | None) -> str:
    """"merge" or "hooks" for one expert's layers in one run of `steps` steps whose linears each see
    `tokens` rows per step (both None: merge whenever the weights allow it)."""
    if not layers or not _mergeable(model, layers):
        return "hooks"
    extra = sum(m.weight.numel() * m.weight.element_size() for m, _ in layers.values())
    if extra > MEMORY_SHARE * _free_bytes(next(iter(layers.values()))[0].weight.device):
        return "hooks"
    if steps is None or tokens is None:
        return "merge"
    merge, per_step = costs(layers.values(), tokens)
    return "merge" if steps * per_step >= merge else "hooks"


def _free_bytes(device: Any) -> int:
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


@contextmanager
def lora_applied(pipeline: Any, loras: Iterable[Any], *, steps: int | None = None, tokens: int | None = None,
                 chosen: dict[str, str] | None = None) -> Iterator[Any]:
    """Activate `loras` (LoraSpecs) on `pipeline`'s experts for the body of the `with`. `steps`
    and `tokens` (rows each linear sees per step, both guidance passes counted) decide merge or
    hooks per expert; `chosen` (if given) receives expert -> the way taken."""
    loras = list(loras)
    handles: list[Any] = []
    swapped: list[tuple[Any, Any]] = []
    try:
        per_expert: dict[str, dict[int, tuple[Any, _LayerHook]]] = {}
        for spec in loras:
            model = getattr(pipeline, spec.target)
            params = dict(model.named_parameters())
            layers = per_expert.setdefault(spec.target, {})
            for delta in spec.deltas:
                if delta.linear:
                    module = model.get_submodule(delta.layer)
                    entry = layers.setdefault(id(module), (module, _LayerHook()))
                    entry[1].add(delta.down, delta.up, spec.strength * delta.scale, delta.diff, delta.diff_b)
                    continue
                weight = params[f"{delta.layer}.weight"] if f"{delta.layer}.weight" in params else params[delta.layer]
                for param, diff in ((weight, delta.diff), (params.get(f"{delta.layer}.bias"), delta.diff_b)):
                    if diff is not None:
                        swapped.append((param, param.data))
                        param.data = _added(param.data, diff, spec.strength)
        for target, layers in per_expert.items():
            way = choose(getattr(pipeline, target), layers, steps, tokens)
            if chosen is not None:
                chosen[target] = way
            for module, hook in layers.values():
                if way == "hooks":
                    handles.append(module.register_forward_hook(hook))
                    continue
                weight, bias = hook.merged(module.weight.data, module.bias.data if module.bias is not None else None)
                swapped.append((module.weight, module.weight.data))
                module.weight.data = weight
                if bias is not None:
                    swapped.append((module.bias, module.bias.data))
                    module.bias.data = bias
        yield pipeline
    finally:
        for handle in handles:
            handle.remove()
        for param, data in reversed(swapped):
            param.data = data
