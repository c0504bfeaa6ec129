"""Remote and custom code: found, shown, and refused unless the user trusts exactly these bytes.

A model needs custom code when its folder carries code files, when a config's `auto_map` points
to code, or when `model_index.json` names a class diffusers/transformers do not ship. A component
library outside diffusers/transformers that is not a code file of the folder (`["os", "system"]`)
is hostile and refused outright, before diffusers ever reads the file.

Trust is data in the settings: a local folder plus the sha256 of each of its code files, or a Hub
repository plus a full commit hash. Before trusting, `review_code` shows every file, its hash and
what it imports (read with `ast`, never executed). Trusted code still never runs in the ComfyUI
process: it runs in the sandbox (`sandbox.py`) when the policy allows that, and is refused otherwise.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import safe_json
from ..core.errors import SecurityError
from .policy import SecurityPolicy, TrustedFolder

ALLOWED_LIBRARIES = ("diffusers", "transformers")
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd")
# Calls worth a reader's attention in a code review.
_RISKY_CALLS = frozenset({
    "eval", "exec", "compile", "__import__", "importlib.import_module", "os.system", "os.popen", "os.exec",
    "subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_output", "socket.socket",
    "urllib.request.urlopen", "requests.get", "requests.post", "pickle.load", "pickle.loads", "torch.load",
})


@dataclass
class CodeFile:
    path: str  # relative to the model folder
    sha256: str
    size: int
    imports: list[str] = field(default_factory=list)
    risky_calls: list[str] = field(default_factory=list)
    parse_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CodeReview:
    """What a reviewer must see before trusting a folder's code."""

    folder: str
    files: list[CodeFile] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # auto_map entries and custom component libraries

    @property
    def has_code(self) -> bool:
        return bool(self.files or self.references)

    def code_sha256(self) -> dict[str, str]:
        return {f.path: f.sha256 for f in self.files}

    def trust_entry(self, note: str = "") -> TrustedFolder:
        """The settings entry that trusts exactly this code (the user adds it after reading `text()`)."""
        return TrustedFolder(path=self.folder, code_sha256=self.code_sha256(), note=note)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "files": [f.to_dict() for f in self.files], "references": self.references}

    def text(self) -> str:
        lines = [f"Code in {self.folder}:"]
        if not self.files:
            lines.append("  (no code files)")
        for f in self.files:
            lines.append(f"  {f.path}  sha256 {f.sha256}  {f.size} bytes")
            if f.parse_error:
                lines.append(f"    not parseable Python: {f.parse_error}")
            lines.append(f"    imports: {', '.join(f.imports) or 'nothing'}")
            if f.risky_calls:
                lines.append(f"    calls to check: {', '.join(f.risky_calls)}")
        for ref in self.references:
            lines.append(f"  referenced: {ref}")
        return "\n".join(lines)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def read_imports(source: bytes) -> tuple[list[str], list[str]]:
    """(modules imported, risky calls with line numbers) of Python source, without running it."""
    tree = ast.parse(source)
    imports: set[str] = set()
    risky: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _RISKY_CALLS or name.startswith(("subprocess.", "os.exec", "os.spawn")):
                risky.append(f"{name} (line {node.lineno})")
                if name in ("__import__", "importlib.import_module") and node.args and isinstance(node.args[0], ast.Constant):
                    imports.add(str(node.args[0].value))
    return sorted(imports), risky


def _auto_map_refs(folder: Path) -> list[str]:
    refs = []
    for config in sorted(folder.rglob("*.json")):
        try:
            doc = safe_json.load_file(config, max_bytes=safe_json.MAX_TOKENIZER_BYTES)
        except OSError:
            continue
        except ValueError as exc:  # the libraries may still read what we cannot: count it as code
            refs.append(f"{config.relative_to(folder)}: unreadable JSON ({exc}); it could hide an auto_map")
            continue
        if isinstance(doc, dict) and doc.get("auto_map"):
            refs.append(f"{config.relative_to(folder)}: auto_map {json.dumps(doc['auto_map'])}")
    return refs


def review_code(folder: str | os.PathLike[str], index: dict[str, Any] | None = None) -> CodeReview:
    """Every code file under `folder` (hash, size, imports) and every config reference to code."""
    base = Path(folder)
    review = CodeReview(folder=os.path.realpath(base))
    for path in sorted(p for p in base.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()):
        data = path.read_bytes()
        item = CodeFile(str(path.relative_to(base)), hashlib.sha256(data).hexdigest(), len(data))
        if path.suffix == ".py":
            try:
                item.imports, item.risky_calls = read_imports(data)
            except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                item.parse_error = str(exc)
        else:
            item.parse_error = "compiled code: cannot be reviewed"
        review.files.append(item)
    review.references += _auto_map_refs(base)
    for name, (library, class_name) in _components(index or {}).items():
        if library not in ALLOWED_LIBRARIES:
            review.references.append(f"model_index.json: {name} = [{library!r}, {class_name!r}]")
    if isinstance((index or {}).get("_class_name"), list):
        review.references.append(f"model_index.json: _class_name = {index['_class_name']!r}")  # type: ignore[index]
    return review


def _components(index: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        k: (v[0], v[1])
        for k, v in index.items()
        if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v != [None, None]
    }


def _is_folder_code(folder: Path, component: str, library: Any) -> bool:
    """diffusers resolves a custom library to `<library>.py` in the folder or its component folder."""
    if not isinstance(library, str) or not re.fullmatch(r"[A-Za-z_][\w]{0,63}", library):
        return False  # a long name would make the file system raise (ENAMETOOLONG) instead of answer
    if not isinstance(component, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", component):
        return False  # never a path
    return (folder / f"{library}.py").is_file() or (folder / component / f"{library}.py").is_file()


def refuse_foreign_libraries(folder: str | os.PathLike[str], index: dict[str, Any]) -> None:
    """Refuse `[library, class]` entries that import anything but diffusers, transformers or the
    folder's own code. Pure string checks: nothing is imported."""
    base = Path(folder)
    for name, (library, class_name) in _components(index).items():
        if library in ALLOWED_LIBRARIES or _is_folder_code(base, name, library):
            continue
        raise SecurityError(
            "FOREIGN_COMPONENT_LIBRARY",
            f"model_index.json: {name} = [{library!r}, {class_name!r}]",
            path=str(base),
        )


@dataclass
class CodeDecision:
    """The outcome for a folder: no custom code, or trusted code that must run sandboxed."""

    needs_code: bool
    review: CodeReview
    trusted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"needs_code": self.needs_code, "trusted": self.trusted, "review": self.review.to_dict()}


def decide_folder_code(folder: str | os.PathLike[str], index: dict[str, Any], policy: SecurityPolicy) -> CodeDecision:
    """Refuse hostile or untrusted code; return the decision for a folder that is fine to load.

    A folder without code gets `needs_code=False` and loads in-process. Trusted code gets
    `needs_code=True, trusted=True` only when the policy allows the sandbox.
    """
    refuse_foreign_libraries(folder, index)
    review = review_code(folder, index)
    if not review.has_code:
        return CodeDecision(needs_code=False, review=review)
    entry = policy.trusted_folder(folder)
    what = ", ".join([f.path for f in review.files][:5] + review.references[:3])
    if entry is None:
        raise SecurityError("CUSTOM_CODE_FILES", f"{Path(folder).name}: {what}", path=str(folder))
    current = review.code_sha256()
    if current != entry.code_sha256:
        changed = sorted(k for k in set(current) | set(entry.code_sha256) if current.get(k) != entry.code_sha256.get(k))
        raise SecurityError("CODE_TRUST_MISMATCH", f"changed, added or removed: {', '.join(changed)}", path=str(folder))
    if policy.untrusted_code != "sandbox":
        raise SecurityError("CODE_NEEDS_SANDBOX", f"{Path(folder).name}: {what}")
    return CodeDecision(needs_code=True, review=review, trusted=True)


def shipped_class(library: str, class_name: str) -> type | None:
    """The class `library` ships under that name, or None. Only diffusers and transformers are ever
    imported here; names are looked up on the library's public namespace."""
    import importlib
    import inspect

    if library not in ALLOWED_LIBRARIES or not isinstance(class_name, str) or not class_name.isidentifier() or class_name.startswith("_"):
        return None
    module = importlib.import_module(library)
    try:
        found = getattr(module, class_name)
    except Exception:  # lazy modules raise various errors for unknown or unavailable names
        return None
    if not inspect.isclass(found) or not (found.__module__ or "").startswith(library + "."):
        return None
    # Loadable components only: models, schedulers, tokenizers, processors all have from_pretrained.
    return found if callable(getattr(found, "from_pretrained", None)) else None


def require_shipped_classes(index: dict[str, Any]) -> dict[str, type]:
    """The component classes of a model_index, each one that diffusers/transformers ship.

    Call after `refuse_foreign_libraries`; raises UNKNOWN_COMPONENT_CLASS naming the first class
    that would need custom code.
    """
    import importlib.metadata

    classes: dict[str, type] = {}
    for name, (library, class_name) in _components(index).items():
        found = shipped_class(library, class_name)
        if found is None:
            raise SecurityError(
                "UNKNOWN_COMPONENT_CLASS",
                f"model_index.json: {name} = [{library!r}, {class_name!r}]",
                class_name=class_name, library=library, version=importlib.metadata.version(library),
            )
        classes[name] = found
    return classes
