"""The LoRAs of a WAN_PIPELINE active for one run, and gone after it.

A low-rank LoRA is not merged into the weights: a forward hook on each changed linear layer adds
`strength * scale * up(down(x))` (and `strength * diff(x)`, `strength * diff_b`) to the layer's
output, computed in the activations' dtype. So the weights are never written (fp8 and GGUF weights
stay as they are, and nothing needs restoring bit by bit), and the LoRA costs its own size, not
a second copy of every changed matrix. Full differences of parameters that are not linear layers
(norms, modulation tables) are added to a new tensor swapped in for the run; the original tensor
object goes back on the way out, however the run ends. Removal is also covered by
`optimize.runtime.applied`, which restores every hook table it recorded.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator


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


def _added(data: Any, diff: Any, strength: float) -> Any:
    """data + strength * diff in fp32, back in data's dtype (as ComfyUI adds a `diff` patch)."""
    import torch

    return (data.to(torch.float32) + diff.to(device=data.device, dtype=torch.float32) * strength).to(data.dtype)


@contextmanager
def lora_applied(pipeline: Any, loras: Iterable[Any]) -> Iterator[Any]:
    """Activate `loras` (LoraSpecs) on `pipeline`'s experts for the body of the `with`."""
    loras = list(loras)
    handles: list[Any] = []
    swapped: list[tuple[Any, Any]] = []
    try:
        hooks: dict[int, tuple[Any, _LayerHook]] = {}
        for spec in loras:
            model = getattr(pipeline, spec.target)
            params = dict(model.named_parameters())
            for delta in spec.deltas:
                if delta.linear:
                    module = model.get_submodule(delta.layer)
                    entry = hooks.setdefault(id(module), (module, _LayerHook()))
                    entry[1].add(delta.down, delta.up, spec.strength * delta.scale, delta.diff, delta.diff_b)
                    continue
                weight = params[f"{delta.layer}.weight"] if f"{delta.layer}.weight" in params else params[delta.layer]
                for param, diff in ((weight, delta.diff), (params.get(f"{delta.layer}.bias"), delta.diff_b)):
                    if diff is not None:
                        swapped.append((param, param.data))
                        param.data = _added(param.data, diff, spec.strength)
        for module, hook in hooks.values():
            handles.append(module.register_forward_hook(hook))
        yield pipeline
    finally:
        for handle in handles:
            handle.remove()
        for param, data in reversed(swapped):
            param.data = data
