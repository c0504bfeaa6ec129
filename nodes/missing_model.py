"""One message for a model a workflow names but this ComfyUI does not have: the file, the folder it
belongs in, and where to get it (the registry's official repository and ComfyUI file names).

ComfyUI repeats a VALIDATE_INPUTS message once per input the method names, so the model pickers'
VALIDATE_INPUTS name only the picker: the message comes once per missing model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import comfy_env
from .comfy_env import NONE

# The model-folder keys whose pickers this message serves.
_FOLDER_KEYS = ("diffusers", "diffusion_models", "vae", "text_encoders", "clip_vision")



def _known(key: str, name: str) -> Any:
    """The registry variant a folder or file name stands for, or None."""
    from ..compat.detect.where_to_get import official

    return official(key, name)


def _folder(key: str) -> str:
    """Where the key's models go in this ComfyUI (its first folder), or models/<key>."""
    fp = comfy_env._folder_paths()
    try:
        folders = list(fp.get_folder_paths(key)) if fp is not None else []
    except Exception:  # a folder key this ComfyUI does not know
        folders = []
    return folders[0] if folders else f"models/{key}"


def message(choice: str) -> str:
    """What to tell the user about a picker entry (`<folder key>/<name>`) that is not installed."""
    key, _, name = choice.partition("/")
    if not name or key not in _FOLDER_KEYS:
        return f"Model not found: {choice}. Pick a model from the list (press R in ComfyUI to refresh it), or set the list to none and enter a path."
    target = Path(_folder(key)) / name if key == "diffusers" else Path(_folder(key))  # a folder to create, or the folder of the file
    variant = _known(key, name)
    what = "a diffusers folder" if key == "diffusers" else "a file"
    if variant is None:
        source = ("The pack's registry does not know this name: check the spelling, or get it where the workflow's "
                  "author says.")
    elif key == "diffusers" and variant.get("repo"):
        repo = variant["repo"]
        source = f"Download https://huggingface.co/{repo} into it (`hf download {repo} --local-dir \"{target}\"`)."
    else:
        repo = variant.get("repo")
        source = (f"Its ComfyUI files are named {', '.join(variant.get('comfy_files') or [name])} (a workflow's "
                  "download links fetch them)" + (f"; the official weights are https://huggingface.co/{repo}." if repo else "."))
    label = f"{variant.name}, {what}" if variant is not None else what
    return (f"Model not found: {name} ({label}). Put it in {target}. {source} "
            "Then press R to refresh the lists, or pick another model (or set the list to none and enter a path).")


REFUSED = ("{choice} is not a model from the list: a picked name is a plain name inside the model folder it was "
           "listed from. Pick a model from the list (press R in ComfyUI to refresh it), or set the list to none and enter a path.")


def check_choice(choice: str) -> bool | str:
    """True when `choice` is none or installed; otherwise the one message for it (the same message
    for every refused name, whether or not anything is there)."""
    if comfy_env.choice_refused(choice):
        return REFUSED.format(choice=str(choice)[:200])
    if not choice or choice == NONE or comfy_env.resolve_choice(choice) is not None:
        return True
    return message(choice)
