"""The pack as ComfyUI, ComfyUI-Manager and the Registry see it."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "pydantic", "numpy", "safetensors", "PIL")


def _load_like_comfyui(name: str = "comfyui-wan-compat"):
    """ComfyUI imports a pack folder by file location under an arbitrary module name."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_import_is_cheap_in_a_fresh_process() -> None:
    code = (
        "import sys, importlib.util, pathlib\n"
        f"root = pathlib.Path({str(ROOT)!r})\n"
        "spec = importlib.util.spec_from_file_location('wan_pack', root / '__init__.py', submodule_search_locations=[str(root)])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['wan_pack'] = m; spec.loader.exec_module(m)\n"
        "assert m.NODE_CLASS_MAPPINGS and m.NODE_DISPLAY_NAME_MAPPINGS and m.WEB_DIRECTORY\n"
        "for cls in m.NODE_CLASS_MAPPINGS.values(): cls.INPUT_TYPES()\n"
        f"print([h for h in {HEAVY!r} if h in sys.modules])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_nodes_are_documented() -> None:
    pack = _load_like_comfyui()
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert cls.CATEGORY.startswith("Wan Compat/"), name
        assert len(cls.DESCRIPTION) > 40, name
        assert callable(getattr(cls, cls.FUNCTION)), name
        assert len(cls.RETURN_TYPES) == len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.OUTPUT_TOOLTIPS), name
        spec = cls.INPUT_TYPES()
        for kind, section in spec.items():
            if kind == "hidden":  # PROMPT, EXTRA_PNGINFO...: filled by ComfyUI, never shown
                continue
            for input_name, entry in section.items():
                options = entry[1] if len(entry) > 1 else {}
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"


def test_web_directory_exists() -> None:
    pack = _load_like_comfyui("wan_pack_web")
    assert (ROOT / pack.WEB_DIRECTORY).is_dir()


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"wan_compat"} | {
        "wan_compat." + ".".join(p.parent.relative_to(ROOT).parts)
        for p in ROOT.rglob("__init__.py")
        if p.parent != ROOT and not any(part.startswith(".") or part in ("tests", "build") for part in p.relative_to(ROOT).parts)
    }
    assert found == listed


def test_registry_metadata_and_requirements() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = config["project"]
    assert project["name"] == "comfyui-wan-compat"
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"]
    assert "wan-compat" in project["scripts"]
    assert "test" in project["optional-dependencies"]
    comfy = config["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["Icon"]
    deps = project["dependencies"]
    assert not any(re.match(r"torch\b", d) for d in deps)
    assert any(d.startswith("diffusers>=0.35") for d in deps)
    # ComfyUI-Manager installs requirements.txt line by line: one requirement a line, no torch, no options.
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert sorted(lines) == sorted(deps)
    for line in lines:
        assert not line.startswith(("-", ".", "/")) and "torch" not in line.split(">")[0].split("=")[0]


def test_version_is_consistent() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pack = _load_like_comfyui("wan_pack_version")
    assert pack.__version__ == config["project"]["version"]


def test_error_catalogue_is_well_formed() -> None:
    from wan_compat.compat.core.errors import catalogue

    entries = catalogue()
    assert len(entries) > 20
    for code, entry in entries.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", code)
        assert entry["severity"] in ("error", "warning", "info"), code
        assert entry["summary"] and entry["cause"] and entry["fix"], code
