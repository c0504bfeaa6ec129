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
# ComfyUI model-folder keys for each choice list, in the order shown to users.
MODEL_FOLDERS = {
    "model": ("diffusers", "diffusion_models"),
    "vae": ("vae",),
    "text_encoder": ("text_encoders",),
    "clip_vision": ("clip_vision",),
    "lora": ("loras",),
}


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
    """Combo entries `<folder key>/<name>` for a slot; empty outside ComfyUI."""
    fp = _folder_paths()
    if fp is None:
        return []
    choices: list[str] = []
    for key in MODEL_FOLDERS[slot]:
        try:
            names = _diffusers_folders(fp) if key == "diffusers" else fp.get_filename_list(key)
        except Exception:  # a folder key this ComfyUI does not know
            continue
        choices += [f"{key}/{name}" for name in names]
    return choices


def model_combo(slot: str, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    """A model picker input: `none` plus the models found for `slot`. The `wan_model_choice` flag
    tells workflow validation that the list comes from the user's folders."""
    return [NONE] + model_choices(slot), {"tooltip": tooltip, "wan_model_choice": slot}


def resolve_choice(choice: str) -> Path | None:
    """The absolute path behind a combo entry, or None for `none`/unknown entries."""
    if not choice or choice == NONE:
        return None
    fp = _folder_paths()
    key, _, name = choice.partition("/")
    if fp is None or not name:
        return None
    if key == "diffusers":
        for base in fp.get_folder_paths("diffusers"):
            candidate = Path(base) / name
            if (candidate / "model_index.json").is_file():
                return candidate
        return None
    full = fp.get_full_path(key, name)
    return Path(full) if full else None


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
    return [path for path in (resolve_choice(choice) for choice in model_choices(slot)) if path is not None]


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
