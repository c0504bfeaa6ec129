"""Model folders by ComfyUI folder name, and the safe lookup of a name a workflow picks.

On the command line the folders come from `--models DIR` (a ComfyUI `models/` folder, repeatable)
and an `extra_model_paths.yaml`; inside the server the adapter passes ComfyUI's own
`folder_paths`. A picked name is untrusted text: absolute names, drive letters and `..` are never
looked up, so a workflow cannot make the checker read or reveal a path outside the model folders.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError
from ..security.paths import inside_folder, plain_name as _plain

# ComfyUI's legacy folder names, read as the current ones.
ALIASES = {"unet": "diffusion_models", "clip": "text_encoders"}
KNOWN = ("diffusion_models", "text_encoders", "vae", "clip_vision", "loras", "checkpoints", "diffusers", "audio_encoders",
         "model_patches", "vae_approx")
# The pack's model pickers: each slot lists the models of these folder keys, in this order, by the
# names ComfyUI's own loaders show (no folder prefix).
PICKER_FOLDERS = {
    "model": ("diffusers", "diffusion_models"),
    "vae": ("vae",),
    "text_encoder": ("text_encoders",),
    "clip_vision": ("clip_vision",),
    "lora": ("loras",),
}
# Model-file suffixes ComfyUI lists (folder_paths.supported_pt_extensions, plus GGUF): a model pick
# with one is a file of models/diffusion_models, without one a folder of models/diffusers.
FILE_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".gguf")


def picker_folder(slot: str, choice: str) -> tuple[str, str]:
    """(folder key, name) a pick of one of the pack's pickers names. Workflows saved by pack
    versions up to 0.2 prefix the key (`vae/wan_2.1_vae.safetensors`); that form is still read."""
    keys = PICKER_FOLDERS[slot]
    prefix, _, rest = choice.partition("/")
    if rest and prefix in keys:
        return prefix, rest
    if len(keys) == 1:
        return keys[0], choice
    return ("diffusion_models" if choice.lower().endswith(FILE_SUFFIXES) else "diffusers"), choice


class ModelFolders:
    """Folder name -> the directories searched, in order."""

    def __init__(self, folders: dict[str, list[str]] | None = None) -> None:
        self.folders: dict[str, list[str]] = {}
        for name, paths in (folders or {}).items():
            for path in paths:
                self.add(name, path)

    def add(self, name: str, path: str | os.PathLike[str]) -> None:
        name = ALIASES.get(name, name)
        text = os.path.abspath(os.path.expanduser(str(path)))
        bucket = self.folders.setdefault(name, [])
        if text not in bucket:
            bucket.append(text)

    def add_models_root(self, root: str | os.PathLike[str]) -> None:
        """A ComfyUI `models/` folder: each known subfolder (and its legacy alias) is searched."""
        base = Path(root)
        if not base.is_dir():
            raise UsageError("MODELS_DIR_NOT_FOUND", str(root))
        for name in (*KNOWN, *ALIASES):
            if (base / name).is_dir():
                self.add(name, base / name)

    def add_extra_paths(self, yaml_path: str | os.PathLike[str]) -> None:
        """ComfyUI's `extra_model_paths.yaml`: sections of `base_path` plus folder: path(s)."""
        import yaml

        path = Path(yaml_path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise UsageError("EXTRA_MODEL_PATHS_INVALID", f"{path.name}: {err}") from None
        if not isinstance(doc, dict):
            raise UsageError("EXTRA_MODEL_PATHS_INVALID", f"{path.name}: not a mapping of sections")
        for section in doc.values():
            if not isinstance(section, dict):
                continue
            base = Path(str(section.get("base_path") or "")).expanduser()
            if not base.is_absolute():
                base = path.parent / base
            for name, value in section.items():
                if name in ("base_path", "is_default") or not isinstance(value, str):
                    continue
                for line in value.splitlines():
                    if line.strip():
                        entry = Path(line.strip()).expanduser()
                        self.add(name, entry if entry.is_absolute() else base / entry)

    def resolve(self, folder: str, name: str) -> str | None:
        """The file `name` in `folder`'s directories, or None. A name never climbs out of them.
        Windows names (`WanVideo\\model.safetensors`, as workflows saved there store them) are read
        with `/` too: the same file in the same subfolder on any system."""
        if not _plain(name):
            return None
        parts = name.replace("\\", "/").split("/")
        for directory in self.folders.get(ALIASES.get(folder, folder), []):
            # A link the user put in a model folder is followed, as ComfyUI's folder_paths does; a
            # path that leads out of the folder further down is not (decided before any existence test).
            inside = inside_folder(directory, "/".join(parts))
            if inside is None:
                continue
            candidate = str(inside)
            if os.path.isfile(candidate) or (folder == "diffusers" and os.path.isfile(os.path.join(candidate, "model_index.json"))):
                return candidate
        return None

    def describe(self, folder: str) -> str:
        dirs = self.folders.get(ALIASES.get(folder, folder), [])
        return ", ".join(dirs) if dirs else f"no {folder} folder was given"
