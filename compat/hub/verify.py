"""After the checksum, the header: a downloaded file must be what its name and folder say.

The checksum proves the bytes are the Hub's file; it does not prove the Hub's file is a VAE when it
sits in `vae/`. The pack's detector reads the header (never the weights) and the file is refused
when it is certainly something else: a pickle or an unreadable file, a text encoder in `vae/`, or
another known variant than the registry's file of that name (a Wan 2.1 VAE named `wan2.2_vae`).
A file the detector does not recognise is not wrong: it passes, and the verdict says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ModelFileError
from ..detect import registry
from ..detect.detector import ArchitectureDetector
from ..detect.model_info import ModelInfo
from .sources import Source, rules

_ARTICLES = {"transformer": "a diffusion model (transformer)", "vae": "a VAE", "text_encoder": "a text encoder",
             "clip_vision": "a CLIP vision model", "lora": "a LoRA", "pipeline": "a diffusers pipeline folder",
             "unknown": "an unrecognised model"}


@dataclass
class HeaderCheck:
    """What the header says the file is, against what its folder and name say it must be."""

    expected: str
    found: str
    kind: str
    family: str
    variant: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self) -> str:
        return "; ".join([f"header: {self.found}; needed: {self.expected}", *self.notes])


def _what(info: ModelInfo) -> str:
    facts = [info.variant or " ".join(b for b in (info.family, info.version, (info.task or "").upper(), info.size) if b and b != "unknown")]
    if (info.vae or {}).get("z_dim"):
        facts.append(f"{info.vae['z_dim']} latent channels")  # type: ignore[index]
    shown = ", ".join(f for f in facts if f)
    return _ARTICLES.get(info.kind, info.kind) + (f" ({shown})" if shown else "")


def _contradicts(info: ModelInfo, expected: registry.Variant, known: list[str]) -> bool:
    """Certain evidence that the file is not the registry's variant: another variant matched the
    weights, another family, or (a VAE) another number of latent channels."""
    if known and expected.id not in known:
        return True
    if info.family not in ("unknown", expected.get("family")):
        return True
    z_dim = (info.vae or {}).get("z_dim")
    return bool(z_dim and expected.get("z_dim") and z_dim != expected.get("z_dim"))


def check_header(path: Path, source: Source) -> HeaderCheck:
    """The detector's verdict on `path` (a downloaded file or folder, not yet in place) against the
    source's folder and registry variant; raises HUB_FILE_NOT_WHAT_NAMED when it is certainly not."""
    expected_kind = rules()["folders"][source.folder]
    info = ArchitectureDetector().inspect(path)
    broken = [p for p in info.problems if p.code in rules()["broken_file_codes"]]
    expected = _ARTICLES[expected_kind] + (f" ({source.variant})" if source.variant else "")

    def refuse(found: str) -> ModelFileError:
        return ModelFileError("HUB_FILE_NOT_WHAT_NAMED", found, name=source.name, folder=source.folder, found=found, expected=expected)

    if broken or info.format in ("pickle", "unknown"):
        raise refuse(f"{broken[0].code}: {broken[0].detail}" if broken else f"a {info.format} file")
    if info.kind not in (expected_kind, "unknown"):
        raise refuse(_what(info))
    known = [v for v in (info.variant, *info.candidates) if v]
    if source.variant and _contradicts(info, registry.by_id(source.variant), known):
        raise refuse(_what(info))
    check = HeaderCheck(expected, _what(info), info.kind, info.family, info.variant)
    if info.kind == "unknown" or (source.variant and not known):
        check.notes.append("the detector does not recognise the exact model: not certainly wrong, so it is kept")
    return check
