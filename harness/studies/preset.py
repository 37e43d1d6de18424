"""Study presets: one TOML file per experiment of the source studies, shipped in this package.

    [study]        name, description, source, layout ("lr x activation", "model x activation", "dataset x activation");
                   optional protocol = "test-time" (train on the clean file, evaluate on its corrupted test sets)
                   with corruptions ("all" or a comma list), severities ([1, ..., 5]) and baseline (CE/mCE)
    [[datasets]]   build = "synth" (rows) | "psi" (levels) | "mnist-flip" (rate) | "cifar10"
                   | "cifar10n" (noises: aggre, random1..3, worst; the CIFAR-N label file in DATA_DIR/raw/cifar-n/)
    [[grid]]       the keys of a `noisebench grid` [grid] table; data names files in the data folder
    [[reported]]   the studies' published numbers: data, model, metric, rows (lr | model | data),
                   columns (activations, or ["*"]: one number for every activation), values
                   ([[row value, v1, v2, ...], ...]), source; optional `ours` (our final metric compared
                   with it; default: test accuracy at the last epoch, as the studies reported)

A lab copies a preset, edits it and passes the file's path where a preset name is expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.errors import UserError
from noisebench.harness.plan.spec import toml_loads
from noisebench.safety.inputs import read_text

PRESET_DIR = Path(__file__).parent / "presets"
BUILDS = {"synth": ("rows",), "psi": ("levels",), "mnist-flip": ("rate",), "cifar10": (), "cifar10n": ("noises",),
          "cifar100": ()}
CIFAR10N_NOISES = ("aggre", "random1", "random2", "random3", "worst")
ROW_AXES = ("lr", "model", "data")
DEFAULT_OURS = {"test_acc": "last_test_acc", "val_loss": "last_val_loss", "val_acc": "last_val_acc"}
MAX_PRESET_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetBuild:
    build: str
    rows: int = 7000
    levels: tuple = ()
    rate: float = 0.1
    noises: tuple = ()


@dataclass(frozen=True)
class Reported:
    metric: str
    ours: str  # our final metric key compared with it
    columns: tuple  # activations, or ("*",)
    values: tuple  # ((row value, v1, ...), ...)
    source: str
    rows: str | None = None  # lr | model | data; None: one row
    data: str | None = None
    model: str | None = None


@dataclass
class Preset:
    name: str
    description: str
    source: str
    layout: str
    datasets: list
    grids: list  # raw [[grid]] tables (dicts), parsed by grid_config.parse_grids
    reported: list = field(default_factory=list)
    path: Path | None = None
    protocol: str = "train-time"
    corruptions: str = "all"
    severities: tuple = (1, 2, 3, 4, 5)
    baseline: str = "relu"

    @property
    def row_axis(self) -> str:
        first = self.layout.split(" x ")[0].strip()
        return {"dataset": "data"}.get(first, first)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """A shipped preset's file, or a path to a copied preset (*.toml)."""
    p = Path(name)
    if p.suffix == ".toml" and (p.exists() or "/" in name):
        if not p.is_file():
            raise UserError(f"preset file {p} not found")
        return p
    q = PRESET_DIR / f"{name}.toml"
    if not q.is_file() or name.startswith(".") or "/" in name:
        raise UserError(f"unknown study {name!r}; choose one of {', '.join(preset_names())} "
                        "(or give the path of a preset .toml file); `noisebench study list` describes them")
    return q


def load_preset(name: str) -> Preset:
    p = preset_path(name)
    text = read_text(p, "preset file", MAX_PRESET_BYTES)
    try:
        doc = toml_loads(text)
    except ValueError as e:
        raise UserError(f"{p}: not valid TOML ({e})") from None
    return parse_preset(doc, str(p), p)


def _need(src: str, table: dict, key: str, kind, what: str):
    v = table.get(key)
    if not isinstance(v, kind) or isinstance(v, bool) or (isinstance(v, str) and not v.strip()):
        raise UserError(f"{src}: {what} needs {key} ({getattr(kind, '__name__', 'value')})")
    return v


def _number(src: str, v) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise UserError(f"{src}: [[reported]] values must be finite numbers, got {v!r}")
    return float(v)


def parse_preset(doc: dict, src: str, path: Path | None = None) -> Preset:
    unknown = set(doc) - {"study", "datasets", "grid", "reported"}
    if unknown:
        raise UserError(f"{src}: unknown table {sorted(unknown)[0]!r}; a preset has [study], [[datasets]], "
                        "[[grid]] and [[reported]]")
    st = doc.get("study")
    if not isinstance(st, dict):
        raise UserError(f"{src}: missing [study] table")
    name = _need(src, st, "name", str, "[study]")
    layout = st.get("layout", "dataset x activation")
    if not isinstance(layout, str) or layout.split(" x ")[0].strip() not in ("lr", "model", "dataset", "data"):
        raise UserError(f"{src}: [study] layout must be 'lr x activation', 'model x activation' or "
                        f"'dataset x activation', got {layout!r}")
    builds = []
    for t in doc.get("datasets") or []:
        b = t.get("build") if isinstance(t, dict) else None
        if b not in BUILDS:
            raise UserError(f"{src}: [[datasets]] build must be one of {', '.join(BUILDS)}, got {b!r}")
        extra = set(t) - {"build"} - set(BUILDS[b])
        if extra:
            raise UserError(f"{src}: [[datasets]] build = {b!r} takes {', '.join(BUILDS[b]) or 'no other keys'}, "
                            f"not {sorted(extra)[0]!r}")
        if b == "synth":
            rows = _need(src, t, "rows", int, "[[datasets]] synth")
            if not 10 <= rows <= 10**10:
                raise UserError(f"{src}: [[datasets]] synth rows must be in [10, 1e10], got {rows}")
            builds.append(DatasetBuild(b, rows=rows))
        elif b == "psi":
            lv = t.get("levels")
            if not isinstance(lv, list) or not lv or not all(isinstance(x, (int, float)) for x in lv):
                raise UserError(f"{src}: [[datasets]] psi needs levels = [8, 16, ...]")
            builds.append(DatasetBuild(b, levels=tuple(float(x) for x in lv)))
        elif b == "mnist-flip":
            builds.append(DatasetBuild(b, rate=float(_need(src, t, "rate", (int, float), "[[datasets]] mnist-flip"))))
        elif b == "cifar10n":
            ns = t.get("noises")
            if not isinstance(ns, list) or not ns or not all(n in CIFAR10N_NOISES for n in ns):
                raise UserError(f"{src}: [[datasets]] cifar10n needs noises = [...] from {', '.join(CIFAR10N_NOISES)}")
            builds.append(DatasetBuild(b, noises=tuple(ns)))
        else:
            builds.append(DatasetBuild(b))
    grids = doc.get("grid")
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise UserError(f"{src}: a preset needs one or more [[grid]] tables")
    reported = [_reported(src, t) for t in doc.get("reported") or []]
    protocol = st.get("protocol", "train-time")
    if protocol not in ("train-time", "test-time"):
        raise UserError(f"{src}: [study] protocol must be train-time or test-time, got {protocol!r}")
    sevs = st.get("severities", [1, 2, 3, 4, 5])
    if not isinstance(sevs, list) or not sevs or not all(isinstance(v, int) and 1 <= v <= 5 for v in sevs):
        raise UserError(f"{src}: [study] severities must be a list of 1..5")
    corr, base = st.get("corruptions", "all"), st.get("baseline", "relu")
    if not isinstance(corr, str) or not isinstance(base, str):
        raise UserError(f"{src}: [study] corruptions and baseline are strings")
    return Preset(name, str(st.get("description", "")), str(st.get("source", "")), layout, builds,
                  [dict(g) for g in grids], reported, path, protocol, corr, tuple(sorted(set(sevs))), base)


def _reported(src: str, t) -> Reported:
    if not isinstance(t, dict):
        raise UserError(f"{src}: [[reported]] must be tables")
    unknown = set(t) - {"data", "model", "metric", "ours", "rows", "columns", "values", "source"}
    if unknown:
        raise UserError(f"{src}: unknown key [[reported]] {sorted(unknown)[0]!r}")
    metric = _need(src, t, "metric", str, "[[reported]]")
    rows = t.get("rows")
    if rows is not None and rows not in ROW_AXES:
        raise UserError(f"{src}: [[reported]] rows must be one of {', '.join(ROW_AXES)}, got {rows!r}")
    cols = t.get("columns")
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise UserError(f"{src}: [[reported]] columns must be a list of activations (or [\"*\"])")
    vals = t.get("values")
    if not isinstance(vals, list) or not vals:
        raise UserError(f"{src}: [[reported]] needs values = [[row, v1, ...], ...]")
    out = []
    for r in vals:
        if not isinstance(r, list) or len(r) != len(cols) + 1:
            raise UserError(f"{src}: [[reported]] each values row is [row value, one number per column]; got {r!r}")
        if rows == "lr":
            ok = isinstance(r[0], (int, float)) and not isinstance(r[0], bool) and math.isfinite(r[0])
            if not ok or not r[0] > 0:
                raise UserError(f"{src}: [[reported]] rows = \"lr\" needs positive LRs as row values, got {r[0]!r}")
        elif not isinstance(r[0], str):
            raise UserError(f"{src}: [[reported]] row values must be strings (a model or data name, or \"\"), got {r[0]!r}")
        out.append((r[0],) + tuple(_number(src, v) for v in r[1:]))
    ours = t.get("ours") or DEFAULT_OURS.get(metric, metric)
    return Reported(metric, ours, tuple(c.lower() for c in cols), tuple(out), str(t.get("source", "")), rows,
                    t.get("data"), t.get("model"))
