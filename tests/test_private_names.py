"""No module of the package uses another module's private (`_name`) function, class or constant: a helper two
modules share is a public name of the lower one. Checked on the source with ast."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"noisebench": "noisebench", "harness": "noisebench.harness", "generators": "noisebench.generators",
           "corruptors": "noisebench.corruptors"}


def _modules():
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield path, ".".join([package] + parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def private_uses(path: Path, module: str, root: Path = REPO) -> list[str]:
    """`from noisebench.X import _y` and `alias._y` where alias is another noisebench module."""
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(root)
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("noisebench") and a.name != module:
                    aliases[a.asname or a.name.split(".")[0]] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("noisebench"):
            for a in node.names:
                if node.module == module:
                    continue
                if _private(a.name):
                    found.append(f"{where}:{node.lineno} imports {node.module}.{a.name}")
                elif _is_module(f"{node.module}.{a.name}"):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and aliases[node.value.id] != module):
            found.append(f"{where}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [f for path, module in _modules() for f in private_uses(path, module)]
    assert not found, "\n".join(found)


def test_the_check_sees_a_private_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from noisebench.harness.report import plots as rp\nfrom noisebench.format.spec import _x\nrp._plt()\n")
    found = private_uses(probe, "probe", root=tmp_path)
    assert len(found) == 2 and "noisebench.format.spec._x" in found[0] and "report.plots._plt" in found[1]
