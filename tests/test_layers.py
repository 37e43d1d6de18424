"""The floors of the code base (docs/ARCHITECTURE.md, "Floors"): a module imports only from its own floor or the
floors below it, never from a higher one, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"noisebench": "noisebench", "corruptors": "noisebench.corruptors", "generators": "noisebench.generators",
            "harness": "noisebench.harness"}
FLOORS = ["core", "corruptors", "generators", "share", "harness", "api", "cli"]
# the folders and modules of noisebench/ itself, by floor: every one must be named here
CORE = {"format", "safety", "registry", "data", "errors", "defaults", "progress", "user_cache", "rebuild_hint",
        "__version__"}
OWN_FLOOR = {"cli", "corruptors", "generators", "share", "harness", "api"}


def floor(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # the package itself: `import noisebench as nb`
    top = parts[1]
    if top in OWN_FLOOR:
        return top
    if top in CORE:
        return "core"  # format, safe inputs and outputs, registries and plug-ins, errors, defaults, progress
    raise AssertionError(f"{module}: a folder or module of noisebench/ that no floor names (tests/test_layers.py)")


def imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module == "noisebench":
            return [f"noisebench.{a.name}" if a.name in CORE | OWN_FLOOR else "noisebench" for a in node.names]
        return [node.module]
    return []


def violations() -> list[str]:
    out = []
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__main__.py":  # the entry point runs the CLI
                continue
            rel = path.relative_to(ROOT / folder).with_suffix("")
            module = package + ("" if rel.parts == ("__init__",) else "." + ".".join(rel.parts))
            mine = FLOORS.index(floor(module))
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                for target in imported(node):
                    if target.startswith("noisebench") and FLOORS.index(floor(target)) > mine:
                        out.append(f"{path.relative_to(ROOT)}:{node.lineno} ({floor(module)}) imports {target} "
                                   f"({floor(target)})")
    return out


def test_no_module_imports_a_higher_floor():
    found = violations()
    assert not found, "\n".join(found)


def test_the_rule_sees_function_level_imports(tmp_path):
    tree = ast.parse("def f():\n    from noisebench.cli import app\n")
    targets = [t for n in ast.walk(tree) for t in imported(n)]
    assert targets == ["noisebench.cli"] and FLOORS.index(floor(targets[0])) > FLOORS.index(floor("noisebench.harness.x"))
    assert floor("noisebench.format.writer") == "core" and floor("noisebench.share.card") == "share"
