"""Wan Optimize's backend: a plan from the machine, the model and the video size.

`OptimizationManager(resources, preferences).plan(handle, sizes)` decides precision, offload, VAE
tiling/slicing and chunked decode, each with the reason and where it came from (`auto`, the
user's settings, or an explicit choice in Wan VAE Fix). Only what works on the machine is chosen:
on a CPU-only machine model and sequential offload raise "requires accelerator" in diffusers, so
the plan never picks them there and says so when the user asked for them. A plan is applied only
for one run, by Wan Sample (`runtime.applied`), for the size it runs (`plan_for_run`); Wan Optimize
records the preferences and shows a `preview` at the model's recommended size.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..core.errors import Problem, problem
from ..loading.handle import PipelineHandle
from ..loading.pipeline_checks import require_wan_pipeline
from ..vae.decode import DecodeOptions
from .memory import DTYPE_BYTES, MemoryEstimate, ModelShape, Sizes, estimate
from .resources import GIB, SystemResources

OFFLOADS = ("none", "model", "group", "sequential")  # from fastest to the least memory
SAFETY = 0.9  # plan for at most this share of the free memory


@dataclass
class Choice:
    name: str
    value: Any
    reason: str
    source: str = "auto"  # auto | settings | vae_fix

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OptimizationPlan:
    """The plan and its memory estimate (a stage report for Wan Diagnose). `preview` says why
    the sizes were chosen when the plan is only a preview (Wan Optimize's, at the recommended size)."""

    device: str
    precision: str
    offload: str
    decode: DecodeOptions
    sizes: Sizes
    estimate: MemoryEstimate
    budget: dict[str, int]
    choices: list[Choice] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    preview: str | None = None
    weight_storage: str = "default"  # fp8_e4m3fn: the transformers' linear weights go to the GPU in fp8 for the run
    history: list[dict[str, Any]] = field(default_factory=list)  # what earlier runs of this model and size measured, by strategy

    @property
    def stage(self) -> str:
        return "plan_preview" if self.preview else "plan"

    @property
    def fits(self) -> bool:
        return self.estimate.device_peak <= self.budget["device_bytes"] and self.estimate.ram_peak <= self.budget["ram_bytes"]

    def choice(self, name: str) -> Choice:
        return next(c for c in self.choices if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "offload": self.offload, "weight_storage": self.weight_storage,
                "decode": self.decode.to_dict(),
                "sizes": self.sizes.to_dict(), "estimate": self.estimate.to_dict(), "budget": self.budget, "fits": self.fits,
                "choices": [c.to_dict() for c in self.choices], "resources": self.resources,
                "problems": [p.to_dict() for p in self.problems], "preview": self.preview, "history": self.history}

    def summary(self) -> str:
        e, s = self.estimate, self.sizes
        lines = [f"PREVIEW ({self.preview}), not applied: Wan Sample makes the plan for the size it runs"] if self.preview else []
        lines += [f"plan for {s.describe()} on {self.device}: "
                 f"estimate {e.device_peak / GIB:.2f} GiB on the device, {e.ram_peak / GIB:.2f} GiB RAM "
                 f"(budget {self.budget['device_bytes'] / GIB:.2f} / {self.budget['ram_bytes'] / GIB:.2f} GiB): "
                 + ("fits" if self.fits else "does NOT fit")]
        lines += [f"- {c.name}: {c.value} ({c.source}) - {c.reason}" for c in self.choices]
        lines += self._history_lines()
        lines += [p.text() for p in self.problems]
        return "\n".join(lines)

    def _history_lines(self) -> list[str]:
        """What earlier runs of this model at this size measured, fastest first, and whether this plan
        is the fastest one measured."""
        if not self.history:
            return []
        lines = [f"history at {self.sizes.describe()} ({sum(r['runs'] for r in self.history)} runs):"]
        for row in self.history:
            peak = f", peak {row['peak_memory_bytes'] / GIB:.2f} GiB" if row.get("peak_memory_bytes") else ""
            lines.append(f"- {row['strategy']}: {row['seconds_per_step']:.3g} s/step over {row['runs']} run(s) on {row['device']}{peak}")
        fastest = self.history[0]["plan"]
        if (fastest.get("precision"), fastest.get("offload")) != (self.precision, self.offload):
            lines.append(f"- measured fastest here: {self.history[0]['strategy']} (this plan: {self.precision}, offload {self.offload})")
        return lines


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


class OptimizationManager:
    """Plans and applies memory/speed settings for one machine and one user's preferences."""

    def __init__(self, resources: SystemResources | None = None, preferences: Any = None) -> None:
        if resources is None:
            from .resources import probe

            resources = probe()
        if preferences is None:  # the user's settings (raises SettingsError naming the bad key)
            from ..settings.store import load_settings

            preferences = load_settings().optimization
        self.resources, self.preferences = resources, preferences

    # ------------------------------------------------------------------ budget
    def budget(self, resident_ram: int = 0) -> dict[str, int]:
        """Usable bytes: free memory (plus what the loaded model already holds in RAM) times the
        safety share, capped by the user's max_vram_gb / max_ram_gb."""
        prefs, res = self.preferences, self.resources
        ram = int((res.ram_available_bytes + resident_ram) * SAFETY)
        if prefs.max_ram_gb:
            ram = min(ram, int(prefs.max_ram_gb * GIB))
        acc = res.accelerator
        device = int(acc.total_bytes * SAFETY) if acc else ram
        if acc and prefs.max_vram_gb:
            device = min(device, int(prefs.max_vram_gb * GIB))
        return {"device_bytes": device, "ram_bytes": ram}

    # ------------------------------------------------------------------ plan
    def plan(self, handle_or_shape: Any, sizes: Sizes, decode_choices: dict[str, str] | None = None,
             previous: DecodeOptions | None = None) -> OptimizationPlan:
        """A plan for `sizes` on this machine. `handle_or_shape`: a WAN_PIPELINE handle (its loaded
        modules), a ModelInfo (headers only) or a ModelShape. `decode_choices`: explicit on/off
        choices made in Wan VAE Fix, which are kept."""
        shape, resident, decode_choices, previous = self._shape(handle_or_shape, decode_choices, previous)
        res, prefs = self.resources, self.preferences
        acc = res.accelerator
        device = acc.device if acc else "cpu"
        budget = self.budget(resident if acc is None else 0)
        problems: list[Problem] = []
        choices: list[Choice] = []

        precision = self._precision(shape, sizes, budget, choices, problems)
        decode = DecodeOptions(**(previous.to_dict() if previous else {}))
        self._decode_choice("chunked", decode, decode_choices, choices,
                            "chunked temporal decode: the same frames as a full decode, handed over chunk by chunk, so the whole video never sits in the decoder's memory")
        storage = self._storage(shape, sizes, precision, decode, budget, choices, problems)
        offload = self._offload(shape, sizes, precision, decode, budget, choices, problems, storage)
        if storage == "fp8_e4m3fn" and offload != "none":  # per-run fp8 storage goes with the weights moved to the device
            storage = "default"
            choices.append(Choice("weight_storage", "default", f"{offload} offload moves the weights itself: no per-run fp8 storage", "settings"))
        untiled = estimate(shape, sizes, precision=precision, device=device, offload=offload, chunked_decode=decode.chunked, storage=storage).phases["vae_decode"]
        needs_tiling = untiled > budget["device_bytes"]
        self._decode_choice("tiling", decode, decode_choices, choices,
                            f"the untiled decode phase needs {_gib(untiled)} at {sizes.width}x{sizes.height}, over the budget of {_gib(budget['device_bytes'])}"
                            if needs_tiling else f"the untiled decode phase ({_gib(untiled)}) fits; tiling would blend tile seams",
                            auto_value=needs_tiling, pref=prefs.vae_tiling)
        self._decode_choice("slicing", decode, decode_choices, choices,
                            f"{sizes.videos} videos per prompt and a full decode: decode one video at a time"
                            if sizes.videos > 1 and not decode.chunked else "chunked decode already decodes one video at a time" if decode.chunked
                            else "one video per prompt: nothing to slice",
                            auto_value=sizes.videos > 1 and not decode.chunked, pref=prefs.vae_slicing)
        est = estimate(shape, sizes, precision=precision, device=device, offload=offload, chunked_decode=decode.chunked, tiling=decode.tiling,
                       storage=storage)
        plan = OptimizationPlan(device=device, precision=precision, offload=offload, decode=decode, sizes=sizes, estimate=est,
                                budget=budget, choices=choices, resources=res.to_dict(), problems=problems,
                                weight_storage=storage if storage != "loaded" else "default")
        if not plan.fits:
            problems.append(problem("PLAN_EXCEEDS_MEMORY", f"estimate {_gib(est.device_peak)} on {device} / {_gib(est.ram_peak)} RAM, "
                                    f"budget {_gib(budget['device_bytes'])} / {_gib(budget['ram_bytes'])}", severity="warning",
                                    need=_gib(max(est.device_peak, est.ram_peak)), budget=_gib(budget["device_bytes"])))
        return plan

    def _shape(self, source: Any, decode_choices: dict[str, str] | None, previous: DecodeOptions | None) -> tuple[ModelShape, int, dict[str, str], DecodeOptions | None]:
        if isinstance(source, ModelShape):
            return source, sum(source.loaded_bytes.values()), decode_choices or {}, previous
        if isinstance(source, PipelineHandle):
            pipeline = require_wan_pipeline(source, "Wan Optimize")
            shape = ModelShape.from_pipeline(pipeline)
            vae_choices = source.vae_report.choices if source.vae_report is not None else {}
            choices = decode_choices if decode_choices is not None else dict(vae_choices)
            on_cpu = {n: b for n, b in shape.loaded_bytes.items() if _device_of(getattr(pipeline, n)) == "cpu"}
            return shape, sum(on_cpu.values()), choices, previous or source.decode
        if hasattr(source, "pipeline"):  # not a WAN_PIPELINE: the typed error
            require_wan_pipeline(source, "Wan Optimize")
        return ModelShape.from_model_info(source), 0, decode_choices or {}, previous

    def _precision(self, shape: ModelShape, sizes: Sizes, budget: dict[str, int], choices: list[Choice], problems: list[Problem]) -> str:
        acc, wanted = self.resources.accelerator, self.preferences.precision
        if acc is None:
            fp32 = estimate(shape, sizes, precision="fp32").device_peak
            auto, reason = ("fp32", "CPU: fp32 is the fast and exact path on CPUs") if fp32 <= budget["device_bytes"] else (
                "bf16", f"fp32 would need {_gib(fp32)}, over the RAM budget of {_gib(budget['device_bytes'])}; bf16 halves the weights (slower on CPU)")
        elif acc.bf16:
            auto, reason = "bf16", f"{acc.name} (compute {acc.compute_capability}) runs bf16 natively"
        else:
            auto, reason = "fp16", f"{acc.name} has no bf16 kernels (compute {acc.compute_capability or 'n/a'} < 8.0); fp16 with the fp32 modules Wan needs"
        if wanted == "auto":
            choices.append(Choice("precision", auto, reason))
            return auto
        if wanted == "bf16" and acc is not None and not acc.bf16:
            problems.append(problem("PRECISION_UNAVAILABLE", f"bf16 requested; {acc.name} has no bf16 kernels", severity="warning",
                                    requested="bf16", used="fp16"))
            choices.append(Choice("precision", "fp16", f"settings asked for bf16, which {acc.name} cannot run", "settings"))
            return "fp16"
        choices.append(Choice("precision", wanted, "optimization.precision in the settings", "settings"))
        return wanted

    def _storage(self, shape: ModelShape, sizes: Sizes, precision: str, decode: DecodeOptions, budget: dict[str, int],
                 choices: list[Choice], problems: list[Problem]) -> str:
        """fp8 weight storage: kept when the loaded transformers hold fp8; chosen for the run on a GPU
        when the weights at `precision` do not fit without offload and fp8 linear weights would;
        on a CPU (the loaded weights stay in RAM) advised for the next load instead."""
        acc = self.resources.accelerator
        device = acc.device if acc else "cpu"
        held = sum(n for c, n in shape.fp8_params.items() if c.startswith("transformer"))
        if held and not self.preferences.keep_fp8_storage:
            choices.append(Choice("weight_storage", f"upcast to {precision}", f"optimization.keep_fp8_storage is off: the {held:,} "
                                  f"transformer parameters held in fp8 are upcast to {precision} for this run (not per call), "
                                  f"{DTYPE_BYTES[precision]} bytes each; the loaded weights stay fp8", "settings"))
            return "upcast"
        if held:
            choices.append(Choice("weight_storage", "fp8 (as loaded)", f"{held:,} transformer parameters are held in fp8 and computed in {precision}: "
                                  "1 byte each on the device", "loaded"))
            return "loaded"

        def peak(storage: str) -> int:
            return estimate(shape, sizes, precision=precision, device=device, offload="none", chunked_decode=decode.chunked, storage=storage).device_peak

        full, small = peak("default"), peak("fp8_e4m3fn")
        if full <= budget["device_bytes"]:
            choices.append(Choice("weight_storage", "default", f"the weights fit in {precision} ({_gib(full)} of {_gib(budget['device_bytes'])})"))
            return "default"
        if small > budget["device_bytes"]:
            choices.append(Choice("weight_storage", "default", f"even fp8 linear weights ({_gib(small)}) exceed the budget of "
                                  f"{_gib(budget['device_bytes'])}: offload decides instead"))
            return "default"
        if acc is None:
            choices.append(Choice("weight_storage", "default", f"memory is short ({_gib(full)} of {_gib(budget['device_bytes'])}); fp8 storage "
                                  f"would need {_gib(small)} but on a CPU the loaded weights stay in RAM: load again with "
                                  "weight_storage fp8_e4m3fn in Wan Safe Load"))
            problems.append(problem("PLAN_EXCEEDS_MEMORY", f"reload with weight_storage=fp8_e4m3fn: {_gib(small)} instead of {_gib(full)}",
                                    severity="warning", need=_gib(full), budget=_gib(budget["device_bytes"])))
            return "default"
        choices.append(Choice("weight_storage", "fp8_e4m3fn", f"memory is short: the weights in {precision} need {_gib(full)}, over the budget of "
                              f"{_gib(budget['device_bytes'])}; the transformers' linear weights go to {acc.name} in fp8 for this run "
                              f"(computed in {precision}), {_gib(small)} without offload"))
        return "fp8_e4m3fn"

    def _offload(self, shape: ModelShape, sizes: Sizes, precision: str, decode: DecodeOptions, budget: dict[str, int],
                 choices: list[Choice], problems: list[Problem], storage: str = "default") -> str:
        acc, wanted = self.resources.accelerator, self.preferences.offload
        device = acc.device if acc else "cpu"

        def peak(mode: str) -> int:
            per_run = storage if mode == "none" else "default"  # per-run fp8 storage only without offload
            return estimate(shape, sizes, precision=precision, device=device, offload=mode, chunked_decode=decode.chunked,
                            storage="default" if storage == "loaded" else per_run).device_peak

        if acc is None:
            if wanted in ("model", "sequential"):
                problems.append(problem("OFFLOAD_UNAVAILABLE", f"{wanted} offload moves weights to an accelerator; this machine has none "
                                        "(diffusers raises 'requires accelerator')", severity="warning", requested=wanted, used="none"))
                choices.append(Choice("offload", "none", f"settings asked for {wanted} offload, which needs a GPU", "settings"))
                return "none"
            if wanted in ("none", "group"):
                reason = ("block-level group offload to a temporary folder on disk: only two blocks of the running expert stay in RAM"
                          if wanted == "group" else "settings: no offload")
                choices.append(Choice("offload", wanted, reason, "settings"))
                return wanted
            need = peak("none")
            if need <= budget["device_bytes"]:
                choices.append(Choice("offload", "none", f"CPU only: everything stays in RAM ({_gib(need)} of {_gib(budget['device_bytes'])}); "
                                      "model/sequential offload need an accelerator"))
                return "none"
            choices.append(Choice("offload", "group", f"{_gib(need)} exceeds the RAM budget of {_gib(budget['device_bytes'])}: block-level "
                                  "group offload to disk keeps two transformer blocks in RAM (slow, but it runs)"))
            return "group"
        if wanted != "auto":
            choices.append(Choice("offload", wanted, "optimization.offload in the settings", "settings"))
            return wanted
        for mode in OFFLOADS:
            need = peak(mode)
            if need <= budget["device_bytes"]:
                reason = {"none": f"everything fits on {acc.name} ({_gib(need)} of {_gib(budget['device_bytes'])})",
                          "model": f"all weights would not fit ({_gib(peak('none'))}); one component at a time does ({_gib(need)})",
                          "group": f"one whole component would not fit ({_gib(peak('model'))}); two transformer blocks at a time do ({_gib(need)})",
                          "sequential": f"only layer-by-layer offload fits ({_gib(need)}); expect slow steps"}[mode]
                choices.append(Choice("offload", mode, reason))
                return mode
        choices.append(Choice("offload", "sequential", f"nothing fits the budget of {_gib(budget['device_bytes'])}; sequential offload needs the least"))
        return "sequential"

    @staticmethod
    def _decode_choice(name: str, decode: DecodeOptions, explicit: dict[str, str], choices: list[Choice], reason: str,
                       auto_value: bool = True, pref: str = "auto") -> None:
        """An explicit choice in Wan VAE Fix wins, then the settings, then `auto_value` for `reason`."""
        if name in explicit:
            value, why, source = explicit[name] == "on", f"set to {explicit[name]} in Wan VAE Fix", "vae_fix"
        elif pref in ("on", "off"):
            value, why, source = pref == "on", f"optimization.vae_{name} in the settings", "settings"
        else:
            value, why, source = auto_value, reason, "auto"
        setattr(decode, name, value)
        choices.append(Choice(name, value, why, source))


def _device_of(module: Any) -> str:
    try:
        return next(module.parameters()).device.type
    except (StopIteration, AttributeError):
        return "cpu"


def plan(handle: Any, width: int, height: int, num_frames: int, videos: int = 1, *, resources: SystemResources | None = None,
         preferences: Any = None) -> OptimizationPlan:
    """A plan for this machine and the user's settings (`preferences`: OptimizationPreferences; None
    reads them from the settings file)."""
    return OptimizationManager(resources, preferences).plan(handle, Sizes(width, height, num_frames, videos))


def recommended_sizes(model_info: Any) -> tuple[Sizes, str]:
    """The size the model was made for (the registry's resolution and frame count), and where it
    came from; Wan 2.1 480p's 832x480 and 81 frames for what the registry does not say."""
    needs = getattr(model_info, "requirements", None) or {}
    width, height = needs.get("resolution") or (832, 480)
    frames = needs.get("frames") or 81
    if needs.get("resolution") and needs.get("frames"):
        return Sizes(int(width), int(height), int(frames)), f"the recommended size of {model_info.variant or 'this model'}"
    return Sizes(int(width), int(height), int(frames)), "no recommended size is known for this model: Wan 2.1 480p's where missing"


def preview(handle: Any, preferences: Any = None, resources: SystemResources | None = None) -> Any:
    """What the plan would be at the model's recommended size (Wan Optimize shows it; Wan Sample
    makes the plan for the size it runs): an OptimizationPlan, or a SandboxedPlan saying why there
    is none for a sandboxed pipeline."""
    if getattr(handle, "sandboxed", False) and isinstance(handle, PipelineHandle):
        from .sandboxed_plan import sandboxed_plan

        return sandboxed_plan(preferences)
    sizes, source = recommended_sizes(handle.model_info)
    made = OptimizationManager(resources, preferences).plan(handle, sizes)
    return replace(made, preview=source)


def next_offload(plan: OptimizationPlan) -> OptimizationPlan | None:
    """`plan` with the next offload level that works on its device (none -> model -> group ->
    sequential; a CPU has only group: model and sequential offload need an accelerator), for one
    retry after an out-of-memory while sampling; None when there is none left."""
    later = OFFLOADS[OFFLOADS.index(plan.offload) + 1:] if plan.offload in OFFLOADS else ()
    usable = [m for m in later if plan.device != "cpu" or m == "group"]
    if not usable:
        return None
    mode = usable[0]
    why = f"out of memory with {plan.offload} offload: retried once with {mode} offload"
    return replace(plan, offload=mode, weight_storage="default",
                   choices=[c for c in plan.choices if c.name != "offload"] + [Choice("offload", mode, why, "retry")])


def plan_for_run(handle: Any, sizes: Sizes, *, user_dir: str | None = None,
                 resources: SystemResources | None = None) -> tuple[OptimizationPlan, list[Problem]]:
    """The plan Wan Sample applies for a run of `sizes`: the handle's plan when it was made for
    exactly these sizes; otherwise a new one from Wan Optimize's preferences on the handle (else the
    user's settings). A plan made for another size is never applied: it is made again, with a
    warning that says so."""
    given = handle.plan
    if given is not None and given.sizes == sizes:
        return given, []
    preferences = handle.preferences
    if preferences is None:
        from ..settings.store import load_settings

        preferences = load_settings(user_dir).optimization
    made = OptimizationManager(resources, preferences).plan(handle, sizes)
    if given is None:
        return made, []
    return made, [problem("PLAN_REMADE", f"the pipeline carried a plan for {given.sizes.describe()}; this run is "
                          f"{sizes.describe()}, so the plan was made again for it", severity="warning",
                          planned=given.sizes.describe(), run=sizes.describe())]
