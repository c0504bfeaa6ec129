"""One message for a model a workflow names but this ComfyUI does not have: the file, the folder it
belongs in (relative, in ComfyUI's current names) and where to get it, in the same words as the
queue check's dialog and the server log (`compat/detect/where_to_get.missing`, catalogue code
WF_FILE_MISSING).

ComfyUI repeats a VALIDATE_INPUTS message once per input the method names, so the model pickers'
VALIDATE_INPUTS name only the pickers: the message comes once per missing model.
"""
from __future__ import annotations

from . import comfy_env
from .comfy_env import NONE


def message(choice: str, slot: str = "model") -> str:
    """What to tell the user about a pick of `slot` (a model, vae, text_encoder ... picker) that is
    not installed."""
    from ..compat.core.errors import problem
    from ..compat.detect.where_to_get import missing
    from ..compat.workflow.folders import picker_folder

    key, name = picker_folder(slot, choice)
    found = problem("WF_FILE_MISSING", **missing(key, name))
    return f"{found.summary}. Fix: {found.fix}"  # as the queue check's dialog and the server log say it


REFUSED = ("{choice} is not a model from the list: a picked name is a plain name inside the model folder it was "
           "listed from. Pick a model from the list (press R in ComfyUI to refresh it), or set the list to none and enter a path.")


def check_choice(choice: str, slot: str = "model") -> bool | str:
    """True when `choice` is none or installed; otherwise the one message for it (the same message
    for every refused name, whether or not anything is there)."""
    if comfy_env.choice_refused(choice, slot):
        return REFUSED.format(choice=str(choice)[:200])
    if not choice or choice == NONE or comfy_env.resolve_choice(choice, slot) is not None:
        return True
    return message(choice, slot)
