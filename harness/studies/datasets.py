"""A preset's datasets: the files each [[datasets]] build writes, their predicted attributes (so a study
can be planned before anything is built), their sizes, and building what is missing with the same
builders as `noisebench synth` / `noisebench make psi | cifar10 | mnist-flip | cifar10n`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from noisebench.corruptors.label_flip import format_rate
from noisebench.corruptors.poisson_photon import format_level
from noisebench.errors import UserError
from noisebench.generators.builds.images import build_flip, build_psi, build_split_clean
from noisebench.generators.image_inputs import resolve_source
from noisebench.harness.plan.pairs import file_meta
from noisebench.harness.studies.preset import DatasetBuild, Preset

# Official sizes (train carved into train + val by the builders' defaults) for planning before a build.
OFFICIAL_ROWS = {"cifar10": (45000, 5000, 10000), "mnist": (50000, 10000, 10000), "cifar100": (45000, 5000, 10000)}
IMAGE_SHAPES = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28), "cifar100": (3, 32, 32)}
PREDICTED = "predicted"  # the checksums entry of a file not built yet (its runs cannot be in any database)


@dataclass(frozen=True)
class PlannedFile:
    name: str
    meta: dict  # the root attributes the builder writes that planning needs (variant, dataset, clean_reference)
    build: DatasetBuild


def _synth_names(rows: int) -> tuple[str, str]:
    return f"synth-{rows}-clean.h5", f"synth-{rows}-dirty.h5"


def planned_files(preset: Preset) -> dict[str, PlannedFile]:
    """File name -> what will be in it, for every file the preset's builds write (clean twins included)."""

    out: dict[str, PlannedFile] = {}

    def add(name, b, variant, dataset, kind, ref=None):
        meta = {"variant": variant, "dataset": dataset, "kind": kind, "checksums": {PREDICTED: name}}
        if ref:
            meta["clean_reference"] = ref
        out.setdefault(name, PlannedFile(name, meta, b))

    for b in preset.datasets:
        if b.build == "synth":
            clean, dirty = _synth_names(b.rows)
            add(clean, b, "clean", "synth", "synth")
            add(dirty, b, "dirty", "synth", "synth", clean)
        elif b.build in ("psi", "cifar10"):
            add("cifar10.h5", b, "clean", "cifar10", "clean")
            for lv in b.levels:
                add(f"cifar10-psi{format_level(lv)}.h5", b, "dirty", "cifar10", "psi", "cifar10.h5")
        elif b.build == "cifar100":
            add("cifar100.h5", b, "clean", "cifar100", "clean")
        elif b.build == "cifar10n":
            add("cifar10.h5", b, "clean", "cifar10", "clean")
            for nz in b.noises:
                add(f"cifar10n-{nz}.h5", b, "dirty", "cifar10", "label-noise", "cifar10.h5")
        elif b.build == "mnist-flip":
            add("mnist.h5", b, "clean", "mnist", "clean")
            add(f"mnist-flip{format_rate(b.rate)}.h5", b, "dirty", "mnist", "mnist-flip", "mnist.h5")
    return out


def meta_reader(preset: Preset, data_dir: Path):
    """`meta_of(path)` for grid_config.expand: a file's attributes when it exists, else the predicted ones."""

    planned = planned_files(preset)

    def meta_of(path: Path) -> dict:
        path = Path(path)
        if path.exists():
            return file_meta(path)
        p = planned.get(path.name)
        if p is None:
            raise UserError(f"study {preset.name}: {path} is neither built by its [[datasets]] nor present")
        return dict(p.meta)

    return meta_of


def missing_files(preset: Preset, data_dir: Path) -> list[str]:
    return [n for n in planned_files(preset) if not (Path(data_dir) / n).exists()]


def file_rows(path: Path, dataset: str, subset: int | None) -> tuple[int, int, tuple]:
    """(train rows, eval rows per epoch (val + test), model input shape) of a file, or of the official data
    when the file is not built yet; `subset` caps every split as the harness does."""
    if Path(path).exists():
        from noisebench.format.reader import open_file

        with open_file(path) as f:
            n = {s: int(f.datasets[f"{s}/y"].shape[0]) for s in ("train", "val", "test") if f"{s}/y" in f.datasets}
            xs = tuple(int(d) for d in f.datasets["train/x"].shape[1:])
        shape = xs if len(xs) == 1 else ((1,) + xs if len(xs) == 2 else (xs[2], xs[0], xs[1]))
        tr, ev = n.get("train", 0), n.get("val", 0) + n.get("test", 0)
    elif dataset == "synth":
        rows = int(Path(path).stem.split("-")[1])
        tr, ev, shape = rows * 5 // 7, rows - rows * 5 // 7, (10,)
    else:
        a, b, c = OFFICIAL_ROWS[dataset]
        tr, ev, shape = a, b + c, IMAGE_SHAPES[dataset]
    if subset:
        tr, ev = min(tr, subset), min(ev, 2 * subset)
    return tr, ev, shape


def build_missing(preset: Preset, data_dir: Path, source: Path | None = None, download: bool = False,
                  verify: bool = True, echo=print) -> list[Path]:
    """Build every file of the preset not in `data_dir` (existing files are reused, never overwritten)."""

    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir} is a file; give a folder")
    missing = set(missing_files(preset, data_dir))
    if missing:
        data_dir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    loaded: dict = {}

    def load(default: str):
        if default not in loaded:
            if source is not None:
                from noisebench.generators.sources.custom import detect_kind

                if detect_kind(Path(source), prefer=default) != default:
                    raise UserError(f"study {preset.name} needs the official {default.upper()} files; {source} is not "
                                    "in the official layout (CIFAR-10 python batches / MNIST idx files)")
            loaded[default] = resolve_source(default, source, download, verify, data_dir, default)
        return loaded[default]

    for name in sorted(missing, key=lambda n: ("-" in n, n)):  # clean references first
        if (data_dir / name).exists():
            continue
        b = planned_files(preset)[name].build
        echo(f"building {data_dir / name} ...")
        if b.build == "synth":
            from noisebench.generators.synth.files import build
            from noisebench.generators.synth.generator import SynthParams

            p = SynthParams(rows=b.rows)
            if any((data_dir / n).exists() for n in _synth_names(b.rows)):
                raise UserError(f"{data_dir}: only one of {' / '.join(_synth_names(b.rows))} exists; rebuild both with "
                                f"`noisebench synth --rows {b.rows} --out {data_dir} --force`")
            made += list(build(p, data_dir))
        elif name in ("cifar10.h5", "mnist.h5", "cifar100.h5"):
            made.append(build_split_clean(load(name[:-3]), data_dir, val_size=10000 if name == "mnist.h5" else 5000))
        elif b.build == "psi":
            lv = [x for x in b.levels if not (data_dir / _psi_name(x)).exists()]
            made += [p for p in build_psi(load("cifar10"), lv, data_dir) if p not in made]
        elif b.build == "mnist-flip":
            made += [p for p in build_flip(load("mnist"), data_dir, rate=b.rate) if p not in made]
        elif b.build == "cifar10n":
            from noisebench.generators import cifar_n

            labels = Path(data_dir) / "raw" / "cifar-n" / cifar_n.LABEL_FILES["cifar10"]
            if download:
                labels = cifar_n.download_labels("cifar10", labels.parent)
            elif not labels.exists():
                raise UserError(f"study {preset.name} needs the CIFAR-N label file {labels}; put "
                                f"{labels.name} from {cifar_n.REPO} there, or pass --download")
            noise = name[len("cifar10n-"):-3]
            made += [p for p in cifar_n.build_human_noise(load("cifar10"), "cifar10", noise, labels, data_dir,
                                                          verify=verify) if p not in made]
    for p in made:
        print(f"wrote {p}", file=sys.stderr)
    return made


def _psi_name(level: float) -> str:
    return f"cifar10-psi{format_level(level)}.h5"
