"""Finding and loading a VAE that fits, and rebuilding the pipeline around it.

Candidates are the model folder's own `vae/` and the VAE files the caller lists (ComfyUI's
models/vae). Each is judged from its headers by the detector (milliseconds, nothing loaded); the
one that fits is loaded with the loader's own checked paths: a diffusers VAE folder with
`from_pretrained(output_loading_info=True)`, a single file read under the security policy, renamed
from the original naming (`key_naming.vae_to_diffusers`, which knows the 2.2 VAE that diffusers'
single-file converter does not) and loaded strictly into a model built from its config (the
registry's for the official files, else a config folder's). The pipeline is then rebuilt, because a
Wan pipeline fixes its latent scale from the VAE when it is constructed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..loading import key_naming
from ..detect import registry
from ..detect.detector import ArchitectureDetector
from ..core.errors import LoadError
from ..detect.facts import classify
from ..detect.model_info import ModelInfo


@dataclass
class VaeCandidate:
    """A VAE on disk, as the detector sees it."""

    path: Path
    info: ModelInfo
    verdict: str = ""  # why it was or was not used
    fits: bool = False

    @property
    def z_dim(self) -> int | None:
        return (self.info.vae or {}).get("z_dim")

    @property
    def version(self) -> str | None:
        return self.info.version

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "z_dim": self.z_dim, "version": self.version, "variant": self.info.variant,
                "fits": self.fits, "verdict": self.verdict}


def model_folder_vae(model_info: Any) -> Path | None:
    """`<model folder>/vae` of a diffusers pipeline folder, when it holds a VAE."""
    path = Path(str(getattr(model_info, "path", "") or ""))
    folder = path / "vae"
    return folder if (path / "model_index.json").is_file() and (folder / "config.json").is_file() else None


def inspect(path: Path) -> VaeCandidate:
    return VaeCandidate(Path(path), ArchitectureDetector().inspect(path))


def judge(candidate: VaeCandidate, z_dim: int | None, needed: registry.Variant | None) -> VaeCandidate:
    """Set `fits` and `verdict`: a Wan 3D VAE with the transformer's latent channels (and, when the
    model's VAE release is known, that release)."""
    info = candidate.info
    blocking = [p for p in info.problems if p.severity == "error"]
    if info.kind != "vae":
        candidate.verdict = f"not a VAE ({info.kind})"
    elif blocking:
        candidate.verdict = "; ".join(f"[{p.code}] {p.summary}" for p in blocking)
    elif not (info.vae or {}).get("is_3d", False) or info.family != "wan":
        candidate.verdict = f"not a Wan video VAE ({info.family})"
    elif z_dim is not None and candidate.z_dim != z_dim:
        candidate.verdict = f"z_dim {candidate.z_dim}, the transformer needs {z_dim}"
    elif needed is not None and candidate.version not in (None, needed["version"]):
        candidate.verdict = f"a Wan {candidate.version} VAE, the model needs the {needed.name}"
    else:
        candidate.fits = True
        candidate.verdict = "fits"
    return candidate


def find(paths: Iterable[Path], z_dim: int | None, needed: registry.Variant | None) -> list[VaeCandidate]:
    """Every candidate judged, in the order given (the first that fits is the one to use)."""
    seen: set[str] = set()
    out = []
    for path in paths:
        key = str(Path(path).resolve())
        if key in seen or not Path(path).exists():
            continue
        seen.add(key)
        out.append(judge(inspect(Path(path)), z_dim, needed))
    return out


def _config_for_file(candidate: VaeCandidate, config_source: Path | None) -> dict[str, Any]:
    variant = candidate.info.variant
    if variant and registry.by_id(variant).kind == "vae":
        return {"_class_name": "AutoencoderKLWan", **registry.by_id(variant)["config"]}
    if config_source is not None and (Path(config_source) / "vae" / "config.json").is_file():
        from ..core import safe_json

        try:
            return safe_json.load_file(Path(config_source) / "vae" / "config.json")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            from ..detect.validate import right_vae_text

            raise LoadError("VAE_SWAP_CONFIG_UNKNOWN", f"{config_source}/vae/config.json: {exc}",
                            right_vae=right_vae_text(None, candidate.z_dim)) from None
    from ..detect.validate import right_vae_text

    raise LoadError("VAE_SWAP_CONFIG_UNKNOWN", f"{candidate.path.name}: {candidate.z_dim}-channel VAE of unofficial size",
                    right_vae=right_vae_text(None, candidate.z_dim))


def load(candidate: VaeCandidate, *, dtype: Any, policy: Any = None, roots: list[str] | None = None,
         config_source: Path | None = None, report: Any = None) -> Any:
    """The candidate as a checked AutoencoderKLWan (raises the loader's typed errors)."""
    from diffusers import AutoencoderKLWan

    from ..loading import components, sources
    from ..loading.report import LoadReport
    from ..security import paths
    from ..security.policy import SecurityPolicy
    from ..detect.weights import read_folder

    policy = policy or SecurityPolicy()
    report = report or LoadReport(source={"vae": str(candidate.path)})
    allowed = paths.roots_from(list(roots if roots is not None else [candidate.path]) + list(policy.extra_model_roots))
    if candidate.is_folder:
        folder = paths.resolve_inside(candidate.path, allowed, expect="folder")
        paths.check_tree(folder, allowed)
        report.expect(sum(f.stat().st_size for f in folder.glob("*.safetensors")))
        for file in sorted(folder.glob("*.safetensors")):
            sources.preflight_safetensors(file, report, "vae", policy)
        weights = read_folder(folder)
        if weights is None:
            raise LoadError("LOAD_FAILED", f"{folder} holds no .safetensors weights", component="vae")
        loaded = components.load_from_folder(AutoencoderKLWan, folder.parent, folder.name, weights.shapes, dtype=dtype, report=report)
        report.advance(weights.file_bytes)
        return loaded
    path = paths.resolve_inside(candidate.path, allowed, expect="file")
    report.expect(path.stat().st_size)
    config = _config_for_file(candidate, config_source)
    tensors, _ = sources.read_state_dict(path, "vae", policy, report)
    facts = classify({k: tuple(v.shape) for k, v in tensors.items()})
    if facts.naming == "original":
        version = "2.2" if config.get("is_residual") else "2.1"
        tensors = key_naming.vae_to_diffusers(tensors, version, strict=False)
    return components.load_from_state_dict(AutoencoderKLWan, config, tensors, "vae", dtype=dtype, report=report)


def rebuild(pipeline: Any, **replace: Any) -> Any:
    """The same pipeline class around the same components, with `replace` swapped in; Wan
    pipelines compute their latent scale and video processor from the VAE in the constructor."""
    from ..loading import assemble

    parts = dict(pipeline.components)
    parts.update(replace)
    scalars = {k: pipeline.config.get(k) for k in ("boundary_ratio", "expand_timesteps")}
    rebuilt = assemble.assemble(type(pipeline).__name__, parts, scalars)
    progress = getattr(pipeline, "_progress_bar_config", None)
    if progress is not None:
        rebuilt._progress_bar_config = dict(progress)
    return rebuilt
