"""`wan-compat config show|set KEY VALUE|validate|path [--json]`: the pack's settings."""
from __future__ import annotations

import argparse
import json

from .output import emit_json, emit_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="the effective settings (file + WAN_COMPAT__... overrides)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    setter = sub.add_parser("set", help="set KEY (e.g. optimization.precision) to VALUE (JSON or plain text)")
    setter.add_argument("key")
    setter.add_argument("value")
    check = sub.add_parser("validate", help="check the settings file and the overrides")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_parser("path", help="print the settings file's path")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import SettingsError
    from ..settings.store import CURRENT_VERSION, SettingsStore

    store = SettingsStore()
    if args.action == "path":
        emit_text(str(store.path))
        return 0
    if args.action == "set":
        try:
            value = json.loads(args.value)
        except ValueError:
            value = args.value
        store.set(args.key, value)
        emit_text(f"{args.key} = {json.dumps(value)} saved in {store.path}")
        return 0
    if args.action == "validate":
        try:
            loaded = store.load()
        except SettingsError as err:
            if args.json:
                emit_json({"ok": False, "path": str(store.path), "problems": [err.problem.to_dict()]})
            else:
                emit_text(err.message())
            return 1
        if args.json:
            emit_json({"ok": True, "path": str(store.path), "exists": loaded.exists, "migrated_from": loaded.migrated_from,
                       "overrides": loaded.overrides, "problems": []})
        else:
            note = "valid" if loaded.exists else "no file yet: defaults apply"
            if loaded.migrated_from:
                note += f" (version {loaded.migrated_from} layout: `wan-compat config set` rewrites it as version {CURRENT_VERSION})"
            emit_text(f"{store.path}: {note}")
        return 0
    loaded = store.load()
    doc = {"path": str(loaded.path), "exists": loaded.exists, "migrated_from": loaded.migrated_from,
           "overrides": loaded.overrides, "settings": loaded.settings.model_dump(mode="json")}
    if args.json:
        emit_json(doc)
        return 0
    lines = [f"# {loaded.path}" + ("" if loaded.exists else " (not created yet: defaults)")]
    for section, values in doc["settings"].items():
        if not isinstance(values, dict):
            lines.append(f"{section} = {json.dumps(values)}")
            continue
        for key, value in values.items():
            dotted = f"{section}.{key}"
            origin = f"   # from {loaded.overrides[dotted]}" if dotted in loaded.overrides else ""
            lines.append(f"{dotted} = {json.dumps(value)}{origin}")
    emit_text("\n".join(lines))
    return 0
