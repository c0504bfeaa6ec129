"""`wan-compat doctor`: is everything this pack needs present? Each missing thing comes with its fix.

The checks read installed metadata and probe ffmpeg, NVML and memory; nothing heavy is imported.
Required checks decide the exit code; optional ones (GPU, faster encoders) only warn.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ...encoders import ffmpeg_probe
from ..core.errors import Problem, SettingsError, problem
from ..detect.pipeline_releases import version_tuple
from ..core import system
from . import machine

GIB = 1024**3
LOW_MEMORY_BYTES = 4 * GIB
MIN_PYTHON = (3, 10)

# distribution, minimum version (as in pyproject.toml), what the pack needs it for, required
PACKAGES: tuple[tuple[str, str | None, str, bool], ...] = (
    ("torch", "2.6", "run the models and load pickles safely (torch.load(weights_only=True) is safe only from 2.6)", True),
    ("diffusers", "0.35", "build Wan 2.1 / 2.2 pipelines (Wan 2.2 needs 0.35)", True),
    ("transformers", "4.46", "run the UMT5 text encoder and CLIP vision", True),
    ("safetensors", "0.4.3", "read and write model files", True),
    ("huggingface_hub", "0.26", "resolve model folders and download missing models (wan-compat get)", True),
    ("filelock", "3.12", "download one file once when two downloads of it run at the same time", True),
    ("pydantic", "2.6", "validate configs and settings", True),
    ("psutil", "5.9", "measure memory for the plan and the report", True),
    ("imageio-ffmpeg", "0.5", "bundle the ffmpeg used for encoding", True),
    ("numpy", "1.24", "convert frames", True),
    ("pillow", "10.0", "read and write images", True),
    ("sentencepiece", "0.1.99", "build the tokenizer of the built-in demo and test models", True),
    ("ftfy", "6.0", "clean prompts (diffusers' Wan image-to-video pipeline calls it)", True),
    ("nvidia-ml-py", "12.535", "read GPU memory and the driver version", False),
    ("accelerate", "0.30", "build models without allocating their weights (safe loading) and offload them", True),
)
# encoder, what it writes, required
ENCODERS: tuple[tuple[str, str, bool], ...] = (
    ("libx264", "MP4 (H.264)", True),
    ("libvpx-vp9", "WebM (VP9)", True),
    ("libx265", "MP4 (H.265)", False),
    ("libsvtav1", "WebM (AV1)", False),
)


@dataclass
class Check:
    name: str
    ok: bool
    required: bool
    found: str
    problem: Problem | None = None

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "missing" if self.required else "warning"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "required": self.required, "found": self.found}
        if self.problem is not None:
            out["problem"] = self.problem.to_dict()
        return out


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    found = ".".join(map(str, version))
    if tuple(version[:2]) >= MIN_PYTHON:
        return Check("python", True, True, found)
    need = ">=" + ".".join(map(str, MIN_PYTHON))
    return Check("python", False, True, found, problem("PACKAGE_TOO_OLD", f"Python {found}", package="Python",
                                                      installed=found, requirement=f"python{need}"))


def check_package(name: str, minimum: str | None, purpose: str, required: bool) -> Check:
    installed = system.package_version(name)
    requirement = f"{name}>={minimum}" if minimum else name
    severity = "error" if required else "warning"
    if installed is None:
        return Check(f"package:{name}", False, required, "not installed",
                     problem("PACKAGE_MISSING", f"{name} is not installed", severity=severity,
                             package=name, purpose=purpose, requirement=requirement))
    if minimum and version_tuple(installed) < version_tuple(minimum):
        return Check(f"package:{name}", False, required, installed,
                     problem("PACKAGE_TOO_OLD", f"{name} {installed} < {minimum}", severity=severity,
                             package=name, installed=installed, requirement=requirement))
    return Check(f"package:{name}", True, required, installed)


def check_ffmpeg(info: ffmpeg_probe.FfmpegInfo) -> list[Check]:
    if not info.found:
        return [Check("ffmpeg", False, True, "not found", ffmpeg_probe.not_found_problem(info))]
    checks = [Check("ffmpeg", True, True, f"{info.version} ({info.source})")]
    for encoder, purpose, required in ENCODERS:
        issue = ffmpeg_probe.encoder_problem(encoder, info)
        if issue is not None and not required:
            issue.severity = "warning"
        checks.append(Check(f"encoder:{encoder}", issue is None, required, purpose, issue))
    return checks


def check_gpu(gpu: dict[str, Any]) -> Check:
    devices = gpu["nvml"].get("devices") or gpu["torch"].get("devices") or []
    if devices:
        return Check("gpu", True, False, gpu["summary"])
    reason = gpu["nvml"].get("reason") or "no devices"
    return Check("gpu", False, False, gpu["summary"], problem("NO_GPU", f"NVML: {reason}"))


def check_memory(memory: dict[str, Any]) -> Check:
    if "available_bytes" not in memory:
        return Check("memory", False, False, memory.get("error", "unknown"))
    available, total = memory["available_bytes"], memory["total_bytes"]
    found = f"{available / GIB:.1f} GiB free of {total / GIB:.1f} GiB"
    if available >= LOW_MEMORY_BYTES:
        return Check("memory", True, False, found)
    return Check("memory", False, False, found, problem("LOW_MEMORY", found, available=f"{available / GIB:.1f} GiB",
                                                      total=f"{total / GIB:.1f} GiB"))


def check_settings(user_dir: str | None = None) -> Check:
    from ..settings.store import SettingsStore

    store = SettingsStore(user_dir=user_dir)
    try:
        loaded = store.load()
    except SettingsError as err:
        return Check("settings", False, True, str(store.path), err.problem)
    note = "defaults (no file yet)" if not loaded.exists else "valid"
    if loaded.migrated_from:
        note += f", migrated from version {loaded.migrated_from}"
    return Check("settings", True, True, f"{store.path}: {note}")


def run_checks(info: dict[str, Any] | None = None, *, settings: bool = True, user_dir: str | None = None) -> list[Check]:
    """Every check, in the order `doctor` prints them. `info` is `machine.collect()` (probed if None)."""
    info = info if info is not None else machine.collect()
    checks = [check_python()]
    checks += [check_package(*row) for row in PACKAGES]
    ff = info.get("ffmpeg")
    checks += check_ffmpeg(ffmpeg_probe.probe() if ff is None else _ffmpeg_from_dict(ff))
    checks.append(check_gpu(info["gpu"]))
    checks.append(check_memory(info["memory"]))
    if settings:
        checks.append(check_settings(user_dir))
    return checks


def _ffmpeg_from_dict(data: dict[str, Any]) -> ffmpeg_probe.FfmpegInfo:
    return ffmpeg_probe.FfmpegInfo(
        data["path"], data["source"], data["version"],
        frozenset(data["video_encoders"]), frozenset(data["audio_encoders"]), data["error"],
    )


def required_missing(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.required and not c.ok]
