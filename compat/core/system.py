"""System facts for reports, plans and `wan-compat doctor`: OS, Python, package versions, GPU, RAM.

Cheap and side-effect free: package versions come from installed metadata (importing torch or
diffusers costs seconds), the GPU from NVML, and torch.cuda is asked only when torch is already
imported by someone else. Every probe returns plain JSON data and never raises.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

# Distribution names whose versions reports show, in this order.
PACKAGES = (
    "comfyui-wan-compat", "torch", "diffusers", "transformers", "safetensors", "accelerate",
    "huggingface_hub", "pydantic", "numpy", "psutil", "nvidia-ml-py", "imageio-ffmpeg",
)
GIB = 1024**3


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return _own_version() if name == PACKAGES[0] else None


def _own_version() -> str | None:
    """The pack's version when ComfyUI loads it from custom_nodes (a folder, not a pip install): the
    top package's `__version__`, already imported because it is this module's parent."""
    top = sys.modules.get(__name__.rsplit(".compat.", 1)[0])
    return getattr(top, "__version__", None)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def os_info() -> dict[str, Any]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def memory_info() -> dict[str, Any]:
    try:
        import psutil
    except ImportError:
        return {"error": "psutil is not installed"}
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return {"total_bytes": vm.total, "available_bytes": vm.available, "swap_total_bytes": swap.total, "cpu_count": psutil.cpu_count()}


def nvml_info() -> dict[str, Any]:
    """GPUs as the NVIDIA driver sees them. On machines without the driver NVML raises
    NVMLError_LibraryNotFound; that is reported as `available: false` with the reason."""
    try:
        import pynvml
    except ImportError:
        return {"available": False, "reason": "nvidia-ml-py is not installed"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    try:
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            device: dict[str, Any] = {
                "index": index,
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_total_bytes": int(mem.total),
                "memory_free_bytes": int(mem.free),
            }
            try:
                device["compute_capability"] = "%d.%d" % pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            except pynvml.NVMLError:
                pass
            devices.append(device)
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {"available": True, "driver": driver.decode() if isinstance(driver, bytes) else driver, "devices": devices}
    except pynvml.NVMLError as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def torch_info() -> dict[str, Any]:
    """torch's view of the accelerators, only when torch is already imported (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"imported": False}
    out: dict[str, Any] = {"imported": True, "version": getattr(torch, "__version__", None),
                           "cuda_build": getattr(torch.version, "cuda", None)}
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
        if out["cuda_available"]:
            devices = []
            for index in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(index)
                devices.append({"index": index, "name": torch.cuda.get_device_name(index),
                                "compute_capability": "%d.%d" % torch.cuda.get_device_capability(index),
                                "memory_total_bytes": total, "memory_free_bytes": free})
            out["devices"] = devices
        mps = getattr(torch.backends, "mps", None)
        out["mps_available"] = bool(mps and mps.is_available())
    except Exception as exc:  # a broken CUDA install must not break the report
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def gpu_summary(nvml: dict[str, Any], torch: dict[str, Any]) -> str:
    devices = nvml.get("devices") or torch.get("devices") or []
    if not devices:
        return "CPU only, no NVIDIA GPU"
    first = devices[0]
    text = f"{first['name']} ({first['memory_total_bytes'] / GIB:.1f} GiB"
    if first.get("compute_capability"):
        text += f", compute {first['compute_capability']}"
    text += ")"
    if len(devices) > 1:
        text += f" + {len(devices) - 1} more"
    if nvml.get("driver"):
        text += f", driver {nvml['driver']}"
    return text
