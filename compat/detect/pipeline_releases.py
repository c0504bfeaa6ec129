"""Which diffusers release ships a pipeline class a `model_index.json` names, for the message when
the installed diffusers lacks it: update diffusers (and to which version), or, when no release ships
it, it is custom code to review (`wan-compat trust --fetch`). The table is data
(`data/diffusers_pipelines.json`, read from diffusers' own `__init__.py` at each release tag).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).resolve().parents[1] / "data" / "diffusers_pipelines.json"


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    return json.loads(_DATA.read_text(encoding="utf-8"))


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def installed_diffusers() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diffusers")
    except PackageNotFoundError:
        return None


def first_release(class_name: str) -> str | None:
    """The first diffusers version exporting `class_name`, or None when no release up to the table's
    newest does."""
    return _table()["first_release"].get(class_name)


def explain(class_name: Any, installed: str | None = None) -> str:
    """One sentence for an unknown pipeline class: which diffusers ships it, against the installed one."""
    installed = installed if installed is not None else installed_diffusers()
    name = class_name if isinstance(class_name, str) else repr(class_name)
    first = first_release(name) if isinstance(class_name, str) else None
    if first is None:
        return (f"no diffusers release up to {_table()['checked_up_to']} ships {name[:80]}: it is the repository's own code; "
                "review it with `wan-compat trust --fetch OWNER/REPO@REVISION` before trusting it")
    if installed is None or version_tuple(installed) < version_tuple(first):
        return f"{name} ships with diffusers {first} and later; installed: {installed or 'none'} (pip install -U \"diffusers>={first}\")"
    return f"{name} ships with diffusers {first} (installed {installed} has it), but the pack does not run it as a Wan pipeline"
