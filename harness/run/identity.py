"""Run identity: everything besides the configuration that changes a result, and the run key.

A run's key is the sha256 of the canonical JSON of
- the fully resolved configuration (`RunConfig.key_fields()`: every hyperparameter, recipe
  defaults included, the data's content digest, the seed), and
- its identity (`run_identity`): the code version (a hash of the package's own `.py` source
  files), the source hash of any plug-in activation, the device type, the precision, the
  compile flag and the torch version.

The git commit is recorded beside the identity for information only: a commit that changes
only docs or tests keeps the key (and so the results) valid; any change to a source file of
noisebench changes the code version and therefore every key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import torch

from noisebench.errors import UserError
from noisebench.harness.activations.names import normalize_name
from noisebench.harness.activations.resolve import ACTIVATIONS, activation_entry_point
from noisebench.registry import ACTIVATIONS as ACT_REGISTRY
from noisebench.registry import MODELS as MODEL_REGISTRY

# Import packages whose .py files make up noisebench's code (subpackages are walked recursively).
CODE_PACKAGES = ("noisebench", "noisebench.corruptors", "noisebench.generators", "noisebench.harness")
IDENTITY_KEYS = ("code_version", "git_commit", "data_digest", "plugin_hashes", "device_type", "precision",
                 "compile", "torch_version")
NOT_IN_KEY = ("git_commit",)  # recorded for information
MAX_PLUGIN_FILES = 5_000
MAX_PLUGIN_BYTES = 256 << 20


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name} not found")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def source_files(root: Path, pattern: str = "*.py") -> list[Path]:
    """Files under `root` matching `pattern`, sorted, without __pycache__ and hidden folders."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if p.match(pattern) and not fn.endswith((".pyc", ".pyo")):
                out.append(p)
    return sorted(out)


def hash_tree(roots: dict[str, Path], pattern: str = "*.py") -> str:
    """sha256 over (name/relative path, content) of every matching file under each named root."""
    h = hashlib.sha256()
    for name in sorted(roots):
        root = Path(roots[name])
        files = [root] if root.is_file() else source_files(root, pattern)
        for p in files:
            rel = f"{name}/{p.relative_to(root).as_posix()}" if root.is_dir() else name
            h.update(rel.encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of noisebench's own source files (.py under noisebench/, corruptors/, generators/, harness/)."""
    roots = {}
    for pkg in CODE_PACKAGES:
        base = _package_dir(pkg)
        roots[pkg] = base
    # a subpackage folder inside another one would be hashed twice under two names: harmless, stable
    return "src-" + hash_tree(roots)[:16]


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The git commit of the source tree, when it is a git checkout (information only)."""
    here = _package_dir("noisebench.harness")
    try:
        r = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=here, capture_output=True,
                           text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = r.stdout.split()
    # only noisebench's own checkout (harness/ at its top), not a repository it happens to be installed in
    if r.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != here.parent:
        return None
    sha = lines[1]
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return sha + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def torch_version() -> str:
    return str(torch.__version__)


def plugin_module(activation: str) -> str | None:
    """The module a plug-in activation comes from (`pkg.mod:Class` or an entry point), else None."""
    if not isinstance(activation, str):
        return None
    if ":" in activation:
        return activation.split(":", 1)[0].strip() or None

    key = normalize_name(activation)
    if key in ACTIVATIONS:
        return None
    ep = activation_entry_point(key)
    if ep is None:
        return None
    return str(ep.value).split(":", 1)[0].strip() or None


def _check_size(root: Path) -> None:
    """Plug-in code is hashed in full every time a key is computed: refuse absurdly large packages."""
    files = [root] if root.is_file() else source_files(root, "*")
    if len(files) > MAX_PLUGIN_FILES:
        raise UserError(f"plug-in package {root} has more than {MAX_PLUGIN_FILES} files; give a smaller module")
    if sum(p.stat().st_size for p in files) > MAX_PLUGIN_BYTES:
        raise UserError(f"plug-in package {root} holds more than {MAX_PLUGIN_BYTES >> 20} MiB of files; "
                        "give a smaller module")


# Plug-in modules from packages the identity already covers (by code_version and torch_version).
COVERED_PACKAGES = ("noisebench", "torch")


def _installed_distribution(top: str, root: Path) -> str | None:
    """For a package installed in site-packages: 'dist==version record:<sha256 of its RECORD>' (the
    RECORD lists the sha256 of every installed file), else None (a local package: hash its files)."""
    if not any(part in ("site-packages", "dist-packages") for part in root.parts):
        return None
    try:
        from importlib.metadata import distribution, packages_distributions

        names = packages_distributions().get(top) or []
        if not names:
            return None
        dist = distribution(names[0])
        record = dist.read_text("RECORD")
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        if record is None or (direct.get("dir_info") or {}).get("editable"):
            return None  # an editable install's files live elsewhere and change: hash them instead
        return f"{dist.metadata['Name']}=={dist.version} record:{hashlib.sha256(record.encode()).hexdigest()[:16]}"
    except Exception:  # noqa: BLE001 - broken metadata: fall back to hashing the files
        return None


def plugin_source_hash(module: str) -> tuple[str, str] | None:
    """(top-level name, sha256 of every file of its package, or of the module file when it is one);
    None for packages already in the identity (noisebench itself, torch)."""
    top = module.split(".", 1)[0]
    if top in COVERED_PACKAGES:
        return None
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as e:
        raise UserError(f"plug-in module {module!r}: cannot locate {top!r} ({e})") from None
    if spec is None:
        raise UserError(f"plug-in module {module!r}: {top!r} is not importable")
    if spec.submodule_search_locations:
        root = Path(list(spec.submodule_search_locations)[0]).resolve()
    elif spec.origin and Path(spec.origin).is_file():
        root = Path(spec.origin).resolve()
    else:
        return top, f"builtin:{spec.origin}"
    installed = _installed_distribution(top, root)
    if installed is not None:
        return top, installed
    _check_size(root)
    return top, hash_tree({top: root}, "*")


def plugin_hashes(activation: str, model: str | None = None) -> dict:
    """Source hashes of the plug-in code a run uses: registered plug-in activations and models
    (``--plugin`` files, ``noisebench.plugins`` entry points) by their module's source, and
    ``pkg.mod:Class`` / ``noisebench.activations`` entry-point activations by their package."""

    out = {}
    for registry, name in ((ACT_REGISTRY, activation), (MODEL_REGISTRY, model)):
        if isinstance(name, str) and ":" not in name and name in registry:
            entry = registry.get(name)
            if not entry.builtin:
                out[f"{registry.family}:{entry.name}"] = entry.source_hash()
    mod = plugin_module(activation)
    got = plugin_source_hash(mod) if mod is not None else None
    if got is not None:
        out[got[0]] = got[1]
    return out


def device_type(device: str) -> str:
    """cpu / cuda / mps... of a --device value; "auto" resolves on this machine."""

    if device in ("auto", "", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return torch.device(device).type
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None


def precision(dev_type: str, extra: dict) -> str:
    """What the training loop computes in: `extra["precision"]` ("bf16" / "fp32") when given, else
    ("auto") bf16 autocast on CUDA unless the legacy `extra["fp32"]` flag asks for fp32."""
    asked = extra.get("precision", "auto")
    if asked == "auto":
        return "bf16-autocast" if dev_type == "cuda" and not extra.get("fp32", False) else "fp32"
    return "bf16-autocast" if asked == "bf16" else "fp32"


def run_identity(cfg) -> dict:
    """The identity inputs of a RunConfig on this machine (see module docstring)."""
    dt = device_type(cfg.device)
    return {
        "code_version": code_version(),
        "git_commit": git_commit(),
        "data_digest": cfg.data_sha256,
        "plugin_hashes": plugin_hashes(cfg.activation, cfg.model),
        "device_type": dt,
        "precision": precision(dt, cfg.extra_dict()),
        "compile": bool(cfg.compile),
        "torch_version": torch_version(),
    }


def key_inputs(cfg, identity: dict | None = None) -> dict:
    """Everything the run key hashes: the resolved configuration and the identity (less git_commit)."""
    ident = dict(identity if identity is not None else run_identity(cfg))
    for k in NOT_IN_KEY:
        ident.pop(k, None)
    return {"config": cfg.key_fields(), "identity": ident}


def run_key(cfg, identity: dict | None = None) -> str:
    blob = json.dumps(key_inputs(cfg, identity), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
