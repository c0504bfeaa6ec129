"""The only place that touches ComfyUI itself (folder_paths, progress bar, interrupt, output folder).

Every function falls back to plain behaviour outside ComfyUI, so the nodes run in pytest and in
scripts unchanged. Imports of ComfyUI modules are absolute on purpose (they are ComfyUI's
top-level modules) and happen inside the functions.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

NONE = "none"


def _folder_paths() -> ModuleType | None:
    try:
        import folder_paths  # ComfyUI's module
    except ImportError:
        return None
    return folder_paths


def prompt_server() -> Any | None:
    """ComfyUI's running PromptServer (to add routes and handlers), or None outside a running server."""
    try:
        from server import PromptServer  # ComfyUI's module
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


_added_to_server: set[str] = set()


def add_to_server(name: str, add: Any) -> bool:
    """`add(server)` once per process for `name` (routes, handlers); False outside a running
    server, where nothing is added."""
    if name in _added_to_server:
        return True
    instance = prompt_server()
    if instance is None:
        return False
    add(instance)
    _added_to_server.add(name)
    return True


def prompt_queued(prompt_id: str) -> bool:
    """Whether ComfyUI has queued the prompt with this id (waiting, running or done), through the
    queue's cheap readers (no deep copies); False outside a running server."""
    instance = prompt_server()
    queue = getattr(instance, "prompt_queue", None)
    if queue is None:
        return False
    running, waiting = queue.get_current_queue_volatile()
    if any(len(item) > 1 and item[1] == prompt_id for item in (*running, *waiting)):
        return True
    return bool(queue.get_history(prompt_id=prompt_id, map_function=lambda entry: True))


def cors_origin() -> str | None:
    """The origin ComfyUI was told to allow (`--enable-cors-header`), or None."""
    try:
        from comfy.cli_args import args  # ComfyUI's module
    except ImportError:
        return None
    value = getattr(args, "enable_cors_header", None)
    return value if isinstance(value, str) and value else None


def _diffusers_folders(fp: ModuleType) -> list[str]:
    """Folders under models/diffusers that hold a model_index.json (relative names)."""
    found: list[str] = []
    for base in fp.get_folder_paths("diffusers"):
        if not os.path.isdir(base):
            continue
        for current, dirs, files in os.walk(base, followlinks=True):
            if "model_index.json" in files:
                found.append(os.path.relpath(current, base))
                dirs.clear()
    return sorted(set(found))


def model_choices(slot: str) -> list[str]:
    """Combo entries for a slot, named as ComfyUI's own loaders name them (no folder prefix:
    `wan2.1_t2v_1.3B_fp16.safetensors`, a diffusers folder by its name); empty outside ComfyUI.
    The names equal the `name` of a workflow's `properties.models`, which is how the frontend
    matches a missing pick with its download link."""
    fp = _folder_paths()
    if fp is None:
        return []
    from ..compat.workflow.folders import PICKER_FOLDERS

    choices: list[str] = []
    for key in PICKER_FOLDERS[slot]:
        try:
            names = _diffusers_folders(fp) if key == "diffusers" else fp.get_filename_list(key)
        except Exception:  # a folder key this ComfyUI does not know
            continue
        choices += [name for name in names if name not in choices]
    return choices


def model_combo(slot: str, tooltip: str, **options: Any) -> tuple[list[str], dict[str, Any]]:
    """A model picker input: `none` plus the models found for `slot`. The `wan_model_choice` flag
    tells workflow validation that the list comes from the user's folders."""
    return [NONE] + model_choices(slot), {"tooltip": tooltip, "wan_model_choice": slot, **options}


def choice_refused(choice: str, slot: str) -> bool:
    """Whether a pick of `slot` names no plain name inside a model folder (e.g. `../../..`): such a
    name is refused before any folder is looked at, so the answer says nothing about what exists."""
    from ..compat.security.paths import plain_name
    from ..compat.workflow.folders import picker_folder

    if not choice or choice == NONE:
        return False
    return not plain_name(picker_folder(slot, choice)[1])


def resolve_choice(choice: str, slot: str) -> Path | None:
    """The path behind a combo entry of `slot`, or None for `none`, unknown and refused entries.
    The name is resolved inside the model folder it was listed from and must stay there (a link
    placed in the folder is followed, `..` and links further down that lead out are not) before
    anything is opened or tested for existence."""
    from ..compat.security.paths import inside_folder
    from ..compat.workflow.folders import picker_folder

    if not choice or choice == NONE or choice_refused(choice, slot):
        return None
    fp = _folder_paths()
    if fp is None:
        return None
    key, name = picker_folder(slot, choice)
    try:
        bases = fp.get_folder_paths(key)
    except Exception:  # a folder key this ComfyUI does not know
        return None
    for base in bases:
        candidate = inside_folder(base, name)
        if candidate is None:
            continue
        if (candidate / "model_index.json").is_file() if key == "diffusers" else candidate.is_file():
            return candidate
    return None


# Folder keys whose folders may hold models Wan Safe Load reads.
MODEL_ROOT_KEYS = ("diffusers", "diffusion_models", "unet", "checkpoints", "vae", "text_encoders", "clip", "clip_vision", "loras")
MODEL_ROOTS_ENV = "WAN_COMPAT_MODEL_ROOTS"


def model_roots() -> list[str]:
    """Folders models may be loaded from: ComfyUI's model folders, plus $WAN_COMPAT_MODEL_ROOTS
    (os.pathsep-separated; the only roots outside ComfyUI)."""
    roots: list[str] = []
    fp = _folder_paths()
    if fp is not None:
        for key in MODEL_ROOT_KEYS:
            try:
                roots += list(fp.get_folder_paths(key))
            except Exception:  # a folder key this ComfyUI does not know
                continue
    roots += [p for p in os.environ.get(MODEL_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return list(dict.fromkeys(roots))


# How a model folder is named in what users read: ComfyUI's current key for legacy ones.
_SHOWN_KEYS = {"unet": "diffusion_models", "clip": "text_encoders"}


def path_labels() -> list[tuple[str, str]]:
    """(folder, label) for ComfyUI's model folders (`diffusion_models`, `vae` ...) and its output,
    input and temp folders, as written and resolved, longest first: texts on nodes name paths
    relative to them. Empty outside ComfyUI."""
    fp = _folder_paths()
    if fp is None:
        return []
    pairs: list[tuple[str, str]] = []
    for key in MODEL_ROOT_KEYS:
        try:
            folders = list(fp.get_folder_paths(key))
        except Exception:  # a folder key this ComfyUI does not know
            continue
        pairs += [(folder, _SHOWN_KEYS.get(key, key)) for folder in folders]
    for label, getter in (("output", "get_output_directory"), ("input", "get_input_directory"), ("temp", "get_temp_directory")):
        if hasattr(fp, getter):
            pairs.append((getattr(fp, getter)(), label))
    found = {}
    for folder, label in pairs:
        for form in (os.path.abspath(folder), os.path.realpath(folder)):
            found.setdefault(form.rstrip("/\\"), label)
    return sorted(found.items(), key=lambda item: len(item[0]), reverse=True)


def linked_type_problem(node_cls: type, input_types: dict[str, Any] | None) -> str | None:
    """A node whose VALIDATE_INPUTS takes `input_types` (to see which inputs are linked) turns off
    ComfyUI's own check of linked types: this makes it, with ComfyUI's rule when it is there."""
    try:
        from comfy_execution.validation import validate_node_input  # ComfyUI's module
    except ImportError:
        def validate_node_input(received: Any, wanted: Any) -> bool:
            return received == wanted or bool({t.strip() for t in str(received).split(",")} & {t.strip() for t in str(wanted).split(",")})
    spec = node_cls.INPUT_TYPES()
    declared = {**spec.get("optional", {}), **spec.get("required", {})}
    for name, received in (input_types or {}).items():
        if name not in declared:
            continue
        wanted = declared[name][0]
        wanted = "COMBO" if isinstance(wanted, list) else wanted
        if not validate_node_input(received, wanted):
            return f"{name} wants {wanted} but is linked to {received}"
    return None


def model_files(slot: str) -> list[Path]:
    """The absolute path of every model in a slot's folders (e.g. every file in models/vae); empty
    outside ComfyUI."""
    return [path for path in (resolve_choice(choice, slot) for choice in model_choices(slot)) if path is not None]


def output_directory() -> Path:
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_output_directory())
    return Path(os.environ.get("WAN_COMPAT_OUTPUT_DIR", Path(tempfile.gettempdir()) / "wan-compat-output"))


def temp_directory() -> Path:
    """ComfyUI's temp folder (cleared at start-up), for fallbacks when the output disk fails."""
    fp = _folder_paths()
    if fp is not None and hasattr(fp, "get_temp_directory"):
        return Path(fp.get_temp_directory())
    return Path(os.environ.get("WAN_COMPAT_TEMP_DIR", Path(tempfile.gettempdir()) / "wan-compat-temp"))


def user_directory() -> Path | None:
    fp = _folder_paths()
    if fp is None or not hasattr(fp, "get_user_directory"):
        return None
    return Path(fp.get_user_directory())


class _NoProgress:
    def __init__(self, total: int) -> None:
        self.total, self.current = total, 0

    def update(self, value: int = 1) -> None:
        self.current += value

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        self.current = value


def progress_bar(total: int) -> Any:
    """ComfyUI's ProgressBar (which also checks for interrupt), or a counter outside ComfyUI."""
    try:
        from comfy.utils import ProgressBar  # ComfyUI's module
    except ImportError:
        return _NoProgress(total)
    return ProgressBar(total)


def progress_reporter() -> Any:
    """`on_progress(done, total)` for the backend (bytes read, steps, stages): ComfyUI's ProgressBar,
    made on the first call so its total is the backend's; a counter outside ComfyUI."""
    bar: Any = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(total)
        bar.update_absolute(done, total)

    return report


def throw_if_interrupted() -> None:
    try:
        import comfy.model_management as mm  # ComfyUI's module
    except ImportError:
        return
    mm.throw_exception_if_processing_interrupted()


def send_progress_text(text: str, node_id: str | None) -> None:
    if not node_id:
        return
    try:
        from server import PromptServer  # ComfyUI's module
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if instance is not None and hasattr(instance, "send_progress_text"):
        instance.send_progress_text(text, node_id)
