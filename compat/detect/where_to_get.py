"""Where to get a model a workflow names but the user does not have: the registry's official
repository for a folder or file name. Shared by the node pickers' one-line message and the workflow
check, so both name the same source."""
from __future__ import annotations

from typing import Any

from . import registry

HUB = "https://huggingface.co/"
# The kind of component each ComfyUI model-folder key holds.
FOLDER_KINDS = {"diffusers": "transformer", "diffusion_models": "transformer", "unet": "transformer",
                "vae": "vae", "text_encoders": "text_encoder", "clip": "text_encoder",
                "clip_vision": "clip_vision"}


def official(folder_key: str, name: str) -> Any:
    """The registry variant a folder or file name in `folder_key` stands for, or None."""
    kind = FOLDER_KINDS.get(folder_key)
    if kind is None:
        return None
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    for variant in registry.variants(kind):
        repo = (variant.get("repo") or "").rsplit("/", 1)[-1]
        if base.lower() == repo.lower() or base in (variant.get("comfy_files") or []):
            return variant
    return None


# Comfy-Org's repackaged single files, one repository per Wan version, one folder per kind (the
# links of ComfyUI's official Wan templates, comfyui-workflow-templates).
_REPACKAGED = {"2.1": "Comfy-Org/Wan_2.1_ComfyUI_repackaged", "2.2": "Comfy-Org/Wan_2.2_ComfyUI_Repackaged"}
_SPLIT_FOLDERS = {"transformer": "diffusion_models", "vae": "vae", "text_encoder": "text_encoders",
                  "clip_vision": "clip_vision"}
# ComfyUI's legacy folder keys, named as the current ones (folder_paths lists models/unet first
# for diffusion_models; users and templates say models/diffusion_models).
CURRENT_KEYS = {"unet": "diffusion_models", "clip": "text_encoders"}


def official_source(folder_key: str, name: str) -> tuple[str, str | None] | None:
    """(repository, path in it) of that name, or None when the registry does not know it: the
    official diffusers repository for a folder (path None: the whole repository), the file in
    Comfy-Org's repackaged repository for a ComfyUI single file."""
    variant = official(folder_key, name)
    if variant is None:
        return None
    if folder_key == "diffusers":
        return (variant["repo"], None) if variant.get("repo") else None
    repo = _REPACKAGED.get(str(variant.get("version") or "2.1"))
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return (repo, f"split_files/{_SPLIT_FOLDERS[FOLDER_KINDS[folder_key]]}/{base}") if repo else None


def official_url(folder_key: str, name: str) -> str | None:
    """Where to download that name, or None when the registry does not know it: the official
    diffusers repository for a folder, the Comfy-Org repackaged file itself (the link ComfyUI's
    official templates give) for a single file."""
    found = official_source(folder_key, name)
    if found is None:
        return None
    repo, path = found
    return f"{HUB}{repo}" if path is None else f"{HUB}{repo}/resolve/main/{path}"


def missing(folder_key: str, name: str, url: str | None = None) -> dict[str, str]:
    """The one message for a model a workflow names but this ComfyUI does not have, as catalogue
    context (WF_FILE_MISSING): the same words in the queue check's dialog, ComfyUI's validation
    message and the server log. `url` is the workflow's own link (its `properties.models`); the
    registry's is the fallback. Paths are relative to ComfyUI's folder, in its current names."""
    key = CURRENT_KEYS.get(folder_key, folder_key)
    variant = official(key, name)
    kind = "a diffusers folder" if key == "diffusers" else "a file"
    place = f"models/{key}/{name}" if key == "diffusers" else f"models/{key}"
    link = url or official_url(key, name)
    if link:
        source = f"Download: {link}"
        if key == "diffusers" and variant is not None and variant.get("repo"):
            source += f" (hf download {variant['repo']} --local-dir {place})"
    else:
        source = "Neither the workflow nor the pack's registry gives a download link: get it where the workflow's author says"
    return {"name": name, "what": f"{variant.name}, {kind}" if variant is not None else kind, "folder": f"models/{key}",
            "place": place, "url": link or "", "source": source}
