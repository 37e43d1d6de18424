"""The floors of the code base (docs/ARCHITECTURE.md, "Floors"): a module imports only from its own floor or the
floors below it, never from a higher one, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"noisebench": "noisebench", "corruptors": "noisebench.corruptors", "generators": "noisebench.generators",
            "harness": "noisebench.harness"}
SHARE = {"dataset_sources", "dataset_card", "croissant", "info_card", "export_data", "preview_grid", "dataset_facts"}
API = {"api", "build_api", "corrupt_api", "export_api", "study_api", "evaluate_api", "corrupt_transform", "__init__"}
FLOORS = ["core", "corruptors", "generators", "share", "harness", "api", "cli"]


def floor(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # the package itself: `import noisebench as nb`
    top = parts[1]
    if top in ("cli", "corruptors", "generators", "harness"):
        return top
    if len(parts) == 2 and top == "zoo_catalog":
        return "harness"  # the harness's model and activation table, shipped as package data
    if len(parts) == 2 and top in SHARE:
        return "share"
    if len(parts) == 2 and top in API:
        return "api"
    return "core"  # format, safe inputs and outputs, registry, plug-ins, errors, defaults, progress


def imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module == "noisebench":
            return [f"noisebench.{a.name}" for a in node.names]
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
    assert floor("noisebench.h5writer") == "core" and floor("noisebench.dataset_card") == "share"
