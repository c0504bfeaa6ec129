"""Video formats as data: one JSON file per format in `encoders/formats/`.

A format names its container (muxer, extension), its encoder and pixel format, the filters and
arguments it always uses, the dimension alignment its pixel format needs, its quality (crf) range
and its presets. Presets are either names passed to one flag (`{"flag": "-preset", "choices":
[...]}`) or names mapped to argument lists (`{"choices": {"realtime": [...]}}`), so speed knobs
such as VP9's `-deadline/-cpu-used` are data too. Adding a format means adding a file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..compat.core.errors import EncodeError

FORMATS_DIR = Path(__file__).parent / "formats"
_REQUIRED = ("name", "label", "extension", "muxer", "encoder", "pix_fmt", "align")
_KNOWN = set(_REQUIRED) | {"order", "aliases", "filters", "args", "quality", "presets", "metadata",
                           "browser_preview", "env", "notes", "audio"}


@dataclass(frozen=True)
class Quality:
    flag: str
    default: int
    min: int
    max: int
    help: str = ""


@dataclass(frozen=True)
class VideoFormat:
    name: str
    label: str
    extension: str
    muxer: str
    encoder: str
    pix_fmt: str
    align: int
    order: int = 100
    aliases: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    quality: Quality | None = None
    preset_default: str | None = None
    presets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metadata: bool = True
    browser_preview: bool = False
    env: dict[str, str] = field(default_factory=dict)
    audio_encoder: str | None = None  # the container's usual audio codec (AAC in MP4, Opus in WebM)
    audio_args: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VideoFormat":
        """Build a format from its JSON object; unknown or missing keys are errors, not surprises."""
        missing = [k for k in _REQUIRED if k not in data]
        unknown = sorted(set(data) - _KNOWN)
        if missing or unknown:
            raise ValueError(f"format {data.get('name', '?')}: missing keys {missing}, unknown keys {unknown}")
        quality = Quality(**data["quality"]) if data.get("quality") else None
        presets: dict[str, tuple[str, ...]] = {}
        preset_default = None
        if data.get("presets"):
            spec = data["presets"]
            choices = spec["choices"]
            if isinstance(choices, dict):
                presets = {name: tuple(args) for name, args in choices.items()}
            else:
                presets = {name: (spec["flag"], name) for name in choices}
            preset_default = spec.get("default")
            if preset_default not in presets:
                raise ValueError(f"format {data['name']}: default preset {preset_default!r} is not a choice")
        align = int(data["align"])
        if align < 1:
            raise ValueError(f"format {data['name']}: align must be >= 1")
        return cls(
            name=data["name"], label=data["label"], extension=data["extension"].lstrip("."),
            muxer=data["muxer"], encoder=data["encoder"], pix_fmt=data["pix_fmt"], align=align,
            order=int(data.get("order", 100)), aliases=tuple(data.get("aliases", ())),
            filters=tuple(data.get("filters", ())), args=tuple(data.get("args", ())), quality=quality,
            preset_default=preset_default, presets=presets, metadata=bool(data.get("metadata", True)),
            browser_preview=bool(data.get("browser_preview", False)), env=dict(data.get("env", {})),
            audio_encoder=(data.get("audio") or {}).get("encoder"), audio_args=tuple((data.get("audio") or {}).get("args", ())),
        )

    def resolve_quality(self, crf: int | None) -> int | None:
        """The crf to use (None: the format's default); out of range is a typed error."""
        if self.quality is None:
            if crf is not None and crf >= 0:
                raise EncodeError("ENCODE_BAD_OPTION", f"{self.name} has no quality setting (it is lossless or profile-based), got crf={crf}",
                                  hint="Leave quality at -1 (default) for this format; choose a preset instead.")
            return None
        if crf is None or crf < 0:
            return self.quality.default
        if not self.quality.min <= crf <= self.quality.max:
            raise EncodeError("ENCODE_BAD_OPTION", f"crf {crf} is outside {self.quality.min}..{self.quality.max} for {self.name}",
                              hint=f"Use a crf from {self.quality.min} to {self.quality.max} ({self.quality.help}).")
        return crf

    def resolve_preset(self, preset: str | None) -> str | None:
        if not self.presets:
            if preset and preset != "default":
                raise EncodeError("ENCODE_BAD_OPTION", f"{self.name} has no presets, got {preset!r}",
                                  hint="Leave preset at default for this format.")
            return None
        if not preset or preset == "default":
            return self.preset_default
        if preset not in self.presets:
            raise EncodeError("ENCODE_BAD_OPTION", f"preset {preset!r} is not one of {self.name}'s presets",
                              hint=f"Use one of: {', '.join(self.presets)}.")
        return preset

    def codec_args(self, crf: int | None, preset: str | None) -> list[str]:
        """Encoder arguments after `-c:v`: pixel format, quality, preset and the fixed extras."""
        out = ["-c:v", self.encoder, "-pix_fmt", self.pix_fmt]
        quality = self.resolve_quality(crf)
        if self.quality is not None:
            out += [self.quality.flag, str(quality)]
        chosen = self.resolve_preset(preset)
        if chosen is not None:
            out += list(self.presets[chosen])
        return out + list(self.args)

    def audio_codec_args(self) -> list[str]:
        """Encoder arguments for a muxed audio stream; a format without one refuses audio."""
        if not self.audio_encoder:
            raise EncodeError("ENCODE_AUDIO_INVALID", f"{self.name} carries no audio")
        return ["-c:a", self.audio_encoder, *self.audio_args]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "extension": self.extension, "encoder": self.encoder,
            "pix_fmt": self.pix_fmt, "align": self.align, "aliases": list(self.aliases),
            "quality": None if self.quality is None else {"default": self.quality.default, "min": self.quality.min, "max": self.quality.max},
            "presets": list(self.presets), "preset_default": self.preset_default,
            "metadata": self.metadata, "browser_preview": self.browser_preview, "audio": self.audio_encoder,
        }


@lru_cache(maxsize=1)
def all_formats() -> tuple[VideoFormat, ...]:
    """Every shipped format, in display order (the most useful first)."""
    formats = [VideoFormat.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(FORMATS_DIR.glob("*.json"))]
    return tuple(sorted(formats, key=lambda f: (f.order, f.name)))


def get_format(name: str | VideoFormat) -> VideoFormat:
    """A format by name or alias (case-insensitive); unknown names are a typed error."""
    if isinstance(name, VideoFormat):
        return name
    key = str(name).strip().lower()
    for fmt in all_formats():
        if key == fmt.name or key in fmt.aliases:
            return fmt
    known = ", ".join(f"{f.name} ({'/'.join(f.aliases)})" if f.aliases else f.name for f in all_formats())
    raise EncodeError("ENCODE_FORMAT_UNKNOWN", f"got {name!r}", known=known)


def format_for_extension(extension: str) -> VideoFormat | None:
    """The first format (in display order) that writes this extension, e.g. `.webm` -> vp9-webm."""
    ext = extension.lower().lstrip(".")
    return next((f for f in all_formats() if f.extension == ext), None)
