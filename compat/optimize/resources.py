"""What the machine offers: RAM (psutil), accelerators with their memory and compute capability
(torch, with NVML's view beside it), on CPU-only machines too.

The probes themselves live in `diagnostics.system` (shared with `wan-compat doctor`); this module
turns them into the few facts a plan is made from. A `SystemResources` can also be written by hand,
which is how plans for other machines are tested and explained.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

GIB = 1024**3


@dataclass
class Accelerator:
    kind: str  # cuda | mps
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    compute_capability: str | None = None

    @property
    def device(self) -> str:
        return f"{self.kind}:{self.index}" if self.kind == "cuda" else self.kind

    @property
    def bf16(self) -> bool:
        """bf16 kernels: NVIDIA Ampere (compute 8.0) and newer."""
        return self.kind == "cuda" and _capability(self.compute_capability) >= (8, 0)

    @property
    def fp8(self) -> bool:
        """fp8 matrix multiplies (torch._scaled_mm): compute 8.9 and newer."""
        return self.kind == "cuda" and _capability(self.compute_capability) >= (8, 9)


def _capability(text: str | None) -> tuple[int, int]:
    try:
        major, minor = (text or "0.0").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


@dataclass
class SystemResources:
    ram_total_bytes: int
    ram_available_bytes: int
    cpu_count: int | None = None
    accelerators: list[Accelerator] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def accelerator(self) -> Accelerator | None:
        return self.accelerators[0] if self.accelerators else None

    @property
    def device(self) -> str:
        return self.accelerator.device if self.accelerator else "cpu"

    def describe(self) -> str:
        ram = f"RAM {self.ram_available_bytes / GIB:.1f} of {self.ram_total_bytes / GIB:.1f} GiB free"
        acc = self.accelerator
        if acc is None:
            return f"CPU only ({self.cpu_count} cores), {ram}"
        cc = f", compute {acc.compute_capability}" if acc.compute_capability else ""
        return f"{acc.name} ({acc.free_bytes / GIB:.1f} of {acc.total_bytes / GIB:.1f} GiB free{cc}), {ram}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["device"] = self.device
        out["summary"] = self.describe()
        return out


def probe() -> SystemResources:
    """This machine now. torch decides which accelerators are usable; NVML only adds a note when
    the driver sees a GPU that torch cannot use (a CPU build of torch)."""
    import torch  # noqa: F401 - torch_info reports only on an imported torch

    from ..core.system import memory_info, nvml_info, torch_info

    memory = memory_info()
    found = torch_info()
    accelerators = [
        Accelerator("cuda", d["index"], d["name"], int(d["memory_total_bytes"]), int(d["memory_free_bytes"]), d.get("compute_capability"))
        for d in found.get("devices") or []
    ]
    notes: list[str] = []
    if not accelerators and found.get("mps_available"):
        accelerators.append(Accelerator("mps", 0, "Apple GPU (MPS)", int(memory.get("total_bytes", 0)), int(memory.get("available_bytes", 0))))
    if not accelerators:
        nvml = nvml_info()
        if nvml.get("available") and nvml.get("devices"):
            notes.append(f"the NVIDIA driver sees {nvml['devices'][0]['name']}, but this torch build has no CUDA "
                         f"(torch {found.get('version')}, CUDA build {found.get('cuda_build')}): planning for the CPU")
        else:
            notes.append(f"no GPU: {nvml.get('reason', 'NVML not available')}")
    return SystemResources(
        ram_total_bytes=int(memory.get("total_bytes", 0)),
        ram_available_bytes=int(memory.get("available_bytes", 0)),
        cpu_count=memory.get("cpu_count"),
        accelerators=accelerators,
        notes=notes,
    )
