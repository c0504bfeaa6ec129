"""Wan LoRA: one to three LoRAs, each with a strength and the expert it is aimed at, on a WAN_PIPELINE
(the backend is `compat/lora`). Each LoRA is read under the security policy and checked against
the expert when the node runs; the pipeline it returns carries them, and Wan Sample activates them
for its run only, so the loaded weights are never changed."""
from __future__ import annotations

from typing import Any

from . import comfy_env, input_paths
from .comfy_env import NONE
from .detect import _resolve, path_input
from .safe_load import _settings

CATEGORY = "Wan Compat/Load"
TARGETS = ["transformer", "transformer_2", "both"]
SLOTS = (1, 2, 3)


def _slot_inputs(i: int) -> dict[str, Any]:
    return {
        f"lora_{i}": comfy_env.model_combo("lora", "A Wan LoRA (models/loras): diffusers/PEFT, kohya, ComfyUI or lightx2v format; none to skip."),
        f"lora_{i}_path": path_input("Absolute path of the LoRA file; wins over the list. Must lie inside the model folders."),
        f"strength_{i}": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.05, "tooltip": "How strongly the LoRA changes the model (1.0: as trained)."}),
        f"target_{i}": (TARGETS, {"default": "transformer", "tooltip": "Wan 2.2 A14B: transformer is the high-noise expert, transformer_2 the low-noise one; both applies it to each. Other Wan models have only transformer."}),
    }


class WanLoRA:
    DESCRIPTION = (
        "Applies up to three Wan LoRAs (e.g. lightx2v / CausVid step distillation) to the pipeline, each with a strength and "
        "aimed at an expert (Wan 2.2 A14B: transformer = high noise, transformer_2 = low noise). A LoRA that does not fit "
        "(another model family or size, a key that names no layer) is refused with the reason. The loaded weights are never "
        "changed: the LoRAs are active only while Wan Sample runs."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("WAN_PIPELINE", "STRING")
    RETURN_NAMES = ("pipeline", "report")
    OUTPUT_TOOLTIPS = ("The pipeline carrying the LoRAs (the input pipeline is unchanged).", "What each LoRA matched: format, rank, layers, expert.")
    FUNCTION = "apply"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        optional: dict[str, Any] = {}
        for i in SLOTS:
            optional.update(_slot_inputs(i))
        return {"required": {"pipeline": ("WAN_PIPELINE", {"tooltip": "From Wan Safe Load (or VAE Fix / Optimize)."})}, "optional": optional}

    @classmethod
    def VALIDATE_INPUTS(cls, lora_1_path: str = "", lora_2_path: str = "", lora_3_path: str = "") -> bool | str:
        # The path policy first: a path outside the model folders is refused before it is tested
        # for existence, with the same message whether something is there or not.
        for i, text in zip(SLOTS, (lora_1_path, lora_2_path, lora_3_path)):
            if text and text.strip():
                wrong = input_paths.problem(text, "LoRA")
                if wrong:
                    return f"lora_{i}_path: {wrong}"
        return True

    def apply(self, pipeline: Any, **kwargs: Any) -> tuple[Any, str]:
        from ..compat.lora import prepare_lora, with_loras

        specs = []
        for i in SLOTS:
            path = _resolve(kwargs.get(f"lora_{i}", NONE), kwargs.get(f"lora_{i}_path", ""), "lora")
            if path is None:
                continue
            specs += prepare_lora(pipeline, path, float(kwargs.get(f"strength_{i}", 1.0)), str(kwargs.get(f"target_{i}", "transformer")),
                                  policy=_settings().security, roots=comfy_env.model_roots())
        handle = with_loras(pipeline, specs)
        lines = [f"{s.name} -> {s.target}: strength {s.strength:g}, {s.format}, rank {s.rank}, {len(s.deltas)} layers" for s in handle.loras]
        return handle, "\n".join(lines) or "no LoRA chosen: the pipeline is passed on unchanged"


NODES = {"WanLoRA": WanLoRA}
DISPLAY_NAMES = {"WanLoRA": "Wan LoRA"}
