"""Nothing documented is ignored: every settings key (each field of every section, and of the
entries of list settings) is read somewhere outside the settings module and the models that declare
it (or by a method of its own model that the pack calls, `self.<field>`: `policy.allows_pickle`). A
key nothing reads would be a promise the pack does not keep (as `advanced.pipeline_overrides` once
was). Reads are attribute accesses (`settings.optimization.offload`, `override.match`)."""
from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from wan_compat.compat.settings.store import Settings

ROOT = Path(__file__).resolve().parents[1]
DECLARING = {ROOT / "compat" / "settings" / "store.py", ROOT / "compat" / "security" / "policy.py"}


def _models(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, field name) for every field, entering nested models and lists of models."""
    out = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        out.append((key, name))
        for arg in [info.annotation, *typing.get_args(info.annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                out += _models(arg, key + ("[]." if arg is not info.annotation else "."))
    return out


def _code() -> str:
    files = [p for folder in ("compat", "nodes", "encoders") for p in (ROOT / folder).rglob("*.py") if p not in DECLARING]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def _read(name: str, code: str, own: str) -> bool:
    return bool(re.search(rf"\.{re.escape(name)}\b", code) or re.search(rf"\bself\.{re.escape(name)}\b", own))


def test_every_settings_key_is_read_somewhere() -> None:
    code, own = _code(), "\n".join(p.read_text(encoding="utf-8") for p in DECLARING)
    unread = [key for key, name in _models(Settings) if key != "version" and not _read(name, code, own)]
    assert unread == [], f"settings keys nothing reads: {unread}"


def test_the_check_finds_an_unread_key() -> None:
    """The check above can fail: a field no code reads is reported."""
    class Extra(BaseModel):
        never_read_anywhere_q: int = 0

    assert [k for k, n in _models(Extra) if not _read(n, _code(), "")] == ["never_read_anywhere_q"]
