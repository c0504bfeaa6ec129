"""The error catalogue: complete entries, every code used in the source exists, docs page up to date."""
from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from wan_compat.compat.core import errors
from wan_compat.compat.cli import main
from wan_compat.compat.diagnostics import catalogue_docs

ROOT = Path(errors.__file__).resolve().parents[2]
ERROR_CLASSES = "|".join(
    name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.WanCompatError)
)
# `WanCompatError("CODE"`, `LoadError(\n "CODE"`, `problem("CODE"`, `_bad("CODE"`: the first argument as a literal.
CODE_USE = re.compile(r"\b(?:" + ERROR_CLASSES + r"|problem|_bad)\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']")
# Rules in the translation table name codes as their first argument too.
RULE_USE = re.compile(r"\bRule\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']")


def source_files() -> list[Path]:
    skip = {"tests", ".git", ".ci", "build", "dist", ".venv", "venv", "node_modules"}
    return [p for p in ROOT.rglob("*.py") if not (set(p.relative_to(ROOT).parts) & skip)]


def test_every_code_used_in_the_source_is_in_the_catalogue():
    known = errors.catalogue()
    used: dict[str, list[str]] = {}
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        for code in CODE_USE.findall(text) + RULE_USE.findall(text):
            used.setdefault(code, []).append(str(path.relative_to(ROOT)))
    assert len(used) > 40, "the scan found too few codes: is the pattern still right?"
    missing = {code: files for code, files in used.items() if code not in known}
    assert not missing


def test_the_scan_catches_an_unknown_code():
    sample = 'raise LoadError(\n    "NO_SUCH_CODE_ANYWHERE", detail)\nproblem("ALSO_UNKNOWN")'
    assert CODE_USE.findall(sample) == ["NO_SUCH_CODE_ANYWHERE", "ALSO_UNKNOWN"]


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


@pytest.mark.parametrize("code", sorted(errors.catalogue()))
def test_every_entry_is_complete_with_valid_placeholders(code):
    entry = errors.catalogue()[code]
    assert entry.get("severity", "error") in ("error", "warning", "info")
    for key in ("summary", "cause", "fix"):
        assert isinstance(entry.get(key), str) and entry[key].strip(), f"{code}.{key} is empty"
        names = _fields(entry[key])  # raises ValueError on a stray brace
        assert all(n.isidentifier() for n in names), f"{code}.{key} has a bad placeholder: {names}"
    assert re.fullmatch(r"[A-Z][A-Z0-9_]+", code)
    assert not entry["summary"].endswith(".")


def test_catalogue_files_are_valid_json_objects_without_duplicates():
    seen: dict[str, str] = {}
    for path in sorted((ROOT / "compat" / "data" / "errors").glob("*.json")):
        pairs = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=lambda p: p)
        for code, _ in pairs:
            assert code not in seen, f"{code} in {path.name} and {seen[code]}"
            seen[code] = path.name


def test_docs_page_is_up_to_date():
    page = ROOT / "docs" / "errors.md"
    assert page.read_text(encoding="utf-8") == catalogue_docs.render(), (
        "docs/errors.md is stale: run python -m wan_compat.compat.diagnostics.catalogue_docs"
    )
    for code, entry in errors.catalogue().items():
        assert f"### {code}\n" in page.read_text(encoding="utf-8")


def test_docs_check_command_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "errors.md"
    stale.write_text("# old\n")
    cmd = [sys.executable, "-m", "wan_compat.compat.diagnostics.catalogue_docs", "--check", "--out", str(stale)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1 and "out of date" in result.stderr
    assert subprocess.run(cmd[:-3] + ["--out", str(stale)], capture_output=True).returncode == 0
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert stale.read_text() == catalogue_docs.render()


def test_errors_command_prints_the_catalogue_text(capsys):
    assert main(["errors", "wrong_vae", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["WRONG_VAE"]["summary"] == errors.catalogue()["WRONG_VAE"]["summary"]
    assert main(["errors", "NO_SUCH_CODE"]) == 2
    assert "unknown error code(s): NO_SUCH_CODE" in capsys.readouterr().err


def test_raised_messages_use_the_catalogue_text():
    err = errors.SettingsError("SETTINGS_INVALID", "detail", json_path="$.encoder.crf", path="settings.json")
    entry = errors.catalogue()["SETTINGS_INVALID"]
    assert err.summary == entry["summary"].replace("{json_path}", "$.encoder.crf")
    assert err.fix == entry["fix"].replace("{json_path}", "$.encoder.crf").replace("{path}", "settings.json")
