"""The shape of the code: `compat/` grouped by stage, no import cycles, no upward imports, no
ComfyUI import outside the adapter (`nodes/comfy_env.py`, `nodes/comfy_*.py`), small modules.

The layers are the stages in the order data flows through them; a folder may import its own
modules and folders of a lower layer, never a higher one or a sibling of the same layer.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder -> layer (lower layers never import higher ones; equal layers never import each other)
LAYERS = {
    "compat": 0,  # the package itself: an empty __init__
    "compat.core": 0,  # errors, raw-error translation, system facts
    "compat.detect": 1,  # headers, sniffing, registry, detection, compatibility checks
    "compat.frames": 1,  # IMAGE frames: validation and normalisation
    "compat.security": 2,
    "compat.settings": 3,
    "compat.workflow": 3,  # workflow graphs: parse, follow links, check the picked files (detect's verdicts)
    "compat.loading": 4,  # safe load, key naming, the WAN_PIPELINE handle
    "compat.hub": 4,  # downloads from the Hugging Face Hub: sources, checksums, header check, jobs
    "encoders": 4,  # frames -> files (ffmpeg)
    "compat.fixtures": 6,  # tiny and sparse models and the fuzz targets: above the stages they exercise (LoRA)
    "compat.vae": 5,
    "compat.lora": 5,  # Wan LoRAs: matched at the LoRA node, active only inside a Sample run
    "compat.optimize": 6,
    "compat.sampling": 7,
    "compat.diagnostics": 8,
    "compat.cli": 9,  # the command line, the demo and the smoke run
    "nodes": 10,
}
COMFYUI_MODULES = {"folder_paths", "comfy", "comfy_extras", "server", "execution", "nodes", "comfy_api", "comfy_execution"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("compat", "encoders", "nodes"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:` blocks: imports there are for
    annotations only (a handle declaring the type of a later stage's report) and never run."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if _type_checking(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return found


def _imports(name: str, path: Path, modules: dict[str, Path], annotations: bool = False) -> tuple[set[str], set[str]]:
    """(pack modules this module imports at run time, absolute top-level names it imports);
    `annotations`: also the imports made for annotations only (`if TYPE_CHECKING:`)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    inside, outside = set(), set()
    tree = ast.parse(path.read_text())
    for node in (ast.walk(tree) if annotations else _runtime_nodes(tree)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules] or [base]
            inside.update(targets)
        elif isinstance(node, ast.ImportFrom) and node.module:
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(a.name.split(".")[0] for a in node.names)
    return inside, outside


def _layer(module: str) -> tuple[str, int]:
    folder = max((f for f in LAYERS if module == f or module.startswith(f + ".")), key=len, default=None)
    assert folder is not None, f"{module} is in no layer: add its folder to LAYERS"
    return folder, LAYERS[folder]


def _graph(annotations: bool = True) -> dict[str, set[str]]:
    """module -> the pack modules it imports; by default with the imports made for annotations:
    a type-only import that closes a circle is still a circle in the design (a lower stage naming
    a later stage's types), only hidden from the interpreter."""
    modules = _modules()
    return {name: _imports(name, path, modules, annotations)[0] for name, path in modules.items()}


def test_compat_root_holds_only_stage_folders() -> None:
    loose = sorted(p.name for p in (ROOT / "compat").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules in the compat/ root: {loose}; put each in the folder of its stage"
    for folder in (p for p in (ROOT / "compat").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert f"compat.{folder.name}" in LAYERS, f"compat/{folder.name} has no layer"


def test_type_checking_imports_are_not_run_time_edges() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..optimize import x\nfrom ..core import y\n")
    names = [n.module for n in _runtime_nodes(tree) if isinstance(n, ast.ImportFrom)]
    assert sorted(names) == ["core", "typing"]


def test_no_upward_or_sideways_imports() -> None:
    wrong = []
    for module, targets in _graph().items():
        folder, layer = _layer(module)
        for target in targets:
            target_folder, target_layer = _layer(target)
            if target_folder != folder and target_layer >= layer:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _graph()
    # Package __init__ modules that only re-export are edges to their children; a cycle through
    # them is still a cycle, so they stay in the graph.
    state: dict[str, int] = defaultdict(int)
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt == node or node.startswith(nxt + "."):  # a module importing its own package's __init__
                continue
            if state[nxt] == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif state[nxt] == 0:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node)
    assert cycles == []


def _is_adapter(module: str) -> bool:
    """The ComfyUI adapter: `nodes/comfy_env.py` plus one-job siblings named `nodes/comfy_*.py`
    (model management, routes, native constructors), so each can grow without one big file."""
    return module == "nodes.comfy_env" or module.startswith("nodes.comfy_")


def test_only_the_adapter_imports_comfyui() -> None:
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        _, outside = _imports(name, path, modules)
        if outside & COMFYUI_MODULES and not _is_adapter(name):
            offenders.append(f"{name}: {sorted(outside & COMFYUI_MODULES)}")
    assert offenders == []


def test_no_runtime_module_is_over_the_size_limit() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (>{MAX_LINES} lines): {long}"


def test_every_package_folder_ships_in_the_wheel() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    folders = {
        "wan_compat." + ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("compat", "encoders", "nodes") for p in (ROOT / top).rglob("__init__.py")
    }
    missing = sorted(name for name in folders if f'"{name}"' not in pyproject)
    assert missing == [], "add these to [tool.setuptools] packages in pyproject.toml"
