"""Everything a report shows about the machine: the system facts of `core.system` plus ffmpeg."""
from __future__ import annotations

from typing import Any

from ...encoders import ffmpeg_probe
from ..core.system import gpu_summary, memory_info, nvml_info, os_info, package_versions, torch_info


def collect(*, ffmpeg: bool = True) -> dict[str, Any]:
    """Everything reports show about the machine. No environment variables, no user names."""
    nvml = nvml_info()
    torch = torch_info()
    info: dict[str, Any] = {
        "os": os_info(),
        "packages": package_versions(),
        "memory": memory_info(),
        "gpu": {"nvml": nvml, "torch": torch, "summary": gpu_summary(nvml, torch)},
    }
    if ffmpeg:
        info["ffmpeg"] = ffmpeg_probe.probe().to_dict()
    return info
