"""Test-only corrupted sets (`noisebench make cifar10-c`): ours from a clean file, or the official release.

One file per corruption, kind "corrupt-test", holding only a `test` split: the clean file's test
images once per severity, stacked in ascending severity order (rows [k·N, (k+1)·N) are severity
`severities[k]`, in the clean file's order), with `test/severity` giving each row's severity; the
root attribute `severities_json` lists them (readers get it parsed). It is
paired with the clean file it came from: `clean_reference` (file name), `clean_pair_key` and
`clean_test_sha256` (the checksum of the clean file's test/x, its identity). Names:

* ours: `<clean stem>-c-<corruption>[-sSEED][-TABLE].h5`, e.g. `cifar10-c-fog.h5` (TABLE: the constant table
  when it is not the default for the image size, e.g. `-imagenet-c`; the `constants` attribute records it);
* converted release: `<clean stem>-c-release-<corruption>.h5` (stem `cifar10` without a clean file).

Severity s of ours equals the test split of `make corrupt NAME --severity s` from the same images and seed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from noisebench.errors import UserError
from noisebench.format.reader import check_fits_in_memory, open_file
from noisebench.format.writer import DatasetWriter, check_output_path
from noisebench.generators.builds.corrupt import BLOCK_IMAGES, ROUNDING, STREAM, corrupt_blocks, corruption_record
from noisebench.generators.builds.corrupt_params import image_corruption, resolve_params
from noisebench.generators.image_inputs import seed_suffix
from noisebench.safety.bounds import check_seed

Progress = Callable[[int], None] | None
RELEASE_SEVERITIES = (1, 2, 3, 4, 5)
RELEASE_ROUNDING = "as released: clip to [0, 1], x255, np.uint8 truncation (make_cifar_c.py)"
RELEASE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_RELEASE_BYTES = 8 << 30


def c_path(clean_stem: str, out_dir: Path, name: str, seed: int = 0, release: bool = False, table: str = "") -> Path:
    mid = "c-release" if release else "c"
    tail = "" if release else seed_suffix(seed) + (f"-{table}" if table else "")
    return Path(out_dir) / f"{clean_stem}-{mid}-{name}{tail}.h5"


def _file_constants(meta: dict, image_shape: tuple) -> str:
    """The constant table a test-only file was built with (files from before tables: cifar10-c)."""
    from noisebench.corruptors.sets import default_constants

    c = meta.get("constants")
    if c:
        return str(c)
    return "cifar10-c" if meta.get("origin") != "release" else default_constants(*image_shape[:2])


def find_corrupted_sets(clean_file: Path, datasets_dir: Path | None = None, seed: int = 0,
                        release: bool = False, constants: str | None = None) -> dict[str, Path]:
    """{corruption: path} of the test-only files next to (or in `datasets_dir`) built from `clean_file`
    (checked through `clean_test_sha256`) with the `constants` table (None: the default for the image size;
    the release is taken as it is)."""

    clean_file = Path(clean_file)
    folder = Path(datasets_dir) if datasets_dir is not None else clean_file.parent
    with open_file(clean_file) as f:
        ident = f.meta.get("checksums", {}).get("test/x", "")
        shape = tuple(f.datasets["test/x"].shape[1:3]) if "test" in f.splits else (32, 32)
    if constants is None:
        from noisebench.corruptors.sets import default_constants

        constants = default_constants(*shape)
    prefix = f"{clean_file.stem}-{'c-release' if release else 'c'}-"
    found = {}
    for p in sorted(folder.glob(prefix + "*.h5")):
        try:
            with open_file(p) as f:
                if f.kind == "corrupt-test" and f.meta.get("clean_test_sha256") == ident and \
                        int(f.meta.get("seed", 0)) == (0 if release else seed) and \
                        (f.meta.get("origin") == "release") == release and \
                        (release or _file_constants(f.meta, shape) == constants):
                    found[str(f.meta.get("corruption"))] = p
        except UserError:
            continue
    return found


def read_severity(path: Path, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one severity of a test-only file (kind corrupt-test), in the clean file's order."""

    with open_file(path) as f:
        if f.kind != "corrupt-test":
            raise UserError(f"{path}: a {f.kind} file, not a test-only corrupted set")
        try:
            sevs = [int(s) for s in f.meta.get("severities_json", [])]  # *_json attributes arrive parsed
            n = int(f.meta["n_per_severity"])
        except (TypeError, ValueError, KeyError):
            raise UserError(f"{path}: damaged attributes severities / n_per_severity") from None
        if int(severity) not in sevs:
            raise UserError(f"{path}: no severity {severity}; it holds {', '.join(map(str, sevs))}")
        k = sevs.index(int(severity))
        dx, dy = f.datasets["test/x"], f.datasets["test/y"]
        if dx.shape[0] != n * len(sevs):
            raise UserError(f"{path}: test/x has {dx.shape[0]} rows, not {len(sevs)} x {n}")
        return dx[k * n : (k + 1) * n], dy[k * n : (k + 1) * n]


def _clean_identity(clean_file: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with open_file(clean_file) as f:
        if f.meta.get("variant") != "clean":
            raise UserError(f"{clean_file}: a {f.kind} file ({f.meta.get('variant')}), not a clean reference; "
                            "give the clean file (e.g. cifar10.h5 from `noisebench make cifar10`)")
        if "test" not in f.splits:
            raise UserError(f"{clean_file}: no test split to corrupt")
        dx, dy = f.datasets["test/x"], f.datasets["test/y"]
        if dx.dtype != np.uint8 or len(dx.shape) not in (3, 4) or (len(dx.shape) == 4 and dx.shape[-1] not in (1, 3)):
            raise UserError(f"{clean_file}: test/x must be uint8 images (N, H, W[, C]); got {dx.dtype} {dx.shape}")
        if dx.shape[0] == 0:
            raise UserError(f"{clean_file}: the test split is empty")
        check_fits_in_memory([dx, dy], str(clean_file))
        x, y = dx[()], dy[()]
        if x.ndim == 3:  # grey images stored without a channel axis: corrupt as C = 1
            x = x[..., None]
        info_shape = tuple(dx.shape[1:])
        m = f.meta
        info = {"clean_reference": clean_file.name, "clean_pair_key": str(m.get("pair_key", "")),
                "clean_test_sha256": str(m.get("checksums", {}).get("test/x", "")),
                "dataset": m.get("dataset", clean_file.stem), "num_classes": m.get("num_classes"),
                "class_names": m.get("class_names"), "source": m.get("source", {}), "image_shape": info_shape}
    return x, y, info


def _attrs(info: dict) -> dict:
    a = {k: info[k] for k in ("clean_reference", "clean_pair_key", "clean_test_sha256", "dataset") if info.get(k) is not None}
    if info.get("num_classes") is not None:
        a["num_classes"] = int(info["num_classes"])
    if info.get("class_names") is not None:
        cn = info["class_names"]
        a["class_names"] = cn if isinstance(cn, str) else list(cn)
    return a


def resolve_names(spec: str | None) -> list[str]:
    """A set name (benchmark: the 15 of the CIFAR-10-C mean, extra: the other 4, all: 19; None: benchmark)
    or a comma list of registered names (plug-ins included)."""
    from noisebench.corruptors.sets import resolve_corruptions

    return resolve_corruptions(spec)


def build_cifar10_c(clean_file: Path, names: list[str], severities: list[int], out_dir: Path | None = None,
                    seed: int = 0, force: bool = False, workers: int | None = None,
                    progress: Progress = None, skip_unsupported: bool = False,
                    constants: str | None = None) -> list[Path]:
    """One test-only file per corruption: the clean file's test images at each severity of the `constants`
    table (None: the default for the clean file's image size).

    Every (corruption, severity) is first tried on one image, so an unsupported combination (e.g.
    saturate on grey images) fails before any file is written - or, with `skip_unsupported`, is left
    out with a note."""

    from noisebench.corruptors.sets import check_constants, default_constants

    seed = check_seed(seed)
    clean_file = Path(clean_file)
    out_dir = Path(out_dir) if out_dir is not None else clean_file.parent
    severities = sorted(severities or list(RELEASE_SEVERITIES))
    with open_file(clean_file) as f:
        shape = tuple(f.datasets["test/x"].shape[1:3]) if "test" in f.splits else (32, 32)
    default = default_constants(*shape)
    constants = check_constants(constants) or default
    table = "" if constants == default else constants
    plans = []
    for name in names:  # everything checked before any work
        entry = image_corruption(name)
        plist = [resolve_params(entry, s, None, constants) for s in severities]
        check_output_path(c_path(clean_file.stem, out_dir, entry.name, seed, table=table), force)
        plans.append((entry, plist))
    x, y, info = _clean_identity(clean_file)
    kept = []
    for entry, plist in plans:
        try:
            for p in plist:
                out = entry.obj(x[:1].copy(), np.random.default_rng(0), **p)
                if not isinstance(out, np.ndarray) or out.shape != x[:1].shape or out.dtype != np.uint8:
                    raise UserError(f"corruption {entry.name!r} does not return uint8 images of the input's shape")
        except UserError as e:
            if not skip_unsupported:
                raise
            from noisebench.generators.image_inputs import note

            note(f"note: skipping {entry.name}: {e}")
            continue
        kept.append((entry, plist))
    made = []
    for entry, plist in kept:
        rec = corruption_record(entry, None, {}, constants)
        del rec["severity"], rec["params"]
        params = rec | {"severities": severities, "params_by_severity": {str(s): p for s, p in zip(severities, plist)},
                        "block_images": BLOCK_IMAGES, "clean_reference": info["clean_reference"]}
        attrs = _attrs(info) | {"corruption": entry.name, "severities_json": severities, "n_per_severity": int(x.shape[0]),
                                "reference": rec["reference"], "rounding": ROUNDING, "origin": "noisebench",
                                "constants": constants}
        w = DatasetWriter(c_path(clean_file.stem, out_dir, entry.name, seed, table=table), kind="corrupt-test",
                          variant="dirty",
                          params=params, seed=seed, source=info["source"],
                          pair_key=f"{info['clean_pair_key']}:test-only", force=force, attrs=attrs)
        with w:
            xs = w.create("test/x", (len(severities) * x.shape[0],) + info["image_shape"], np.uint8)
            w.write("test/y", np.tile(y.astype(np.int64), len(severities)))
            w.write("test/severity", np.repeat(np.array(severities, np.uint8), x.shape[0]))
            for p in plist:
                for blk in corrupt_blocks(entry, x, p, seed, STREAM["test"], workers):
                    xs.append(blk.reshape((blk.shape[0],) + info["image_shape"]))
                    if progress:
                        progress(blk.shape[0])
        made.append(w.path)
    return made


# ------------------------------------------------------------------ the official release


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{path}: not a plain .npy array ({e})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None


def release_title(dataset: str) -> str:
    return {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}.get(dataset, f"{dataset}-C")


def build_release(release_dir: Path, out_dir: Path, clean_file: Path | None = None, names: list[str] | None = None,
                  force: bool = False, progress: Progress = None, dataset: str = "cifar10") -> list[Path]:
    """Convert the official CIFAR-10-C layout (DIR/<corruption>.npy: 5·N images stacked by severity 1..5,
    DIR/labels.npy: the 5·N labels) into test-only files, paired with `clean_file` when given. CIFAR-100-C
    (`dataset="cifar100"`) has the same layout."""

    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        raise UserError(f"--release {release_dir}: not a folder")
    lab_path = release_dir / "labels.npy"
    if not lab_path.is_file():
        raise UserError(f"--release {release_dir}: no labels.npy (expected the CIFAR-10-C layout)")
    present = sorted(p.stem for p in release_dir.glob("*.npy") if p.stem != "labels" and RELEASE_NAME_RE.match(p.stem))
    if names is None:
        names = present
    missing = [n for n in names if n not in present]
    if missing:
        raise UserError(f"--release {release_dir}: no {missing[0]}.npy; present: {', '.join(present) or '(none)'}")
    if not names:
        raise UserError(f"--release {release_dir}: no <corruption>.npy files")
    labels = np.asarray(_load_npy(lab_path))
    if labels.ndim != 1 or labels.dtype.kind not in "ui" or labels.size % 5:
        raise UserError(f"{lab_path}: expected 5·N integer labels, got {labels.dtype} {labels.shape}")
    n = labels.size // 5
    y = labels[:n].astype(np.int64)
    for k in range(1, 5):
        if not np.array_equal(labels[k * n : (k + 1) * n], labels[:n]):
            raise UserError(f"{lab_path}: the labels of severity {k + 1} differ from severity 1's (not the release layout)")
    if clean_file is not None:
        cx, cy, info = _clean_identity(Path(clean_file))
        if cy.shape[0] != n or not np.array_equal(cy.astype(np.int64), y):
            raise UserError(f"{clean_file}: its {cy.shape[0]} test labels are not the release's {n} labels per "
                            "severity; give the clean file of the same test set (--data)")
        stem = Path(clean_file).stem
    else:
        cx, info, stem = None, {"clean_reference": "", "clean_pair_key": "", "clean_test_sha256": "",
                                "dataset": dataset, "num_classes": int(y.max()) + 1 if y.size else 1}, dataset
        info["source"] = {}
    if y.size and (y.min() < 0):
        raise UserError(f"{lab_path}: negative labels")
    arrays = {}
    for nm in names:
        a = _load_npy(release_dir / f"{nm}.npy")
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[0] != 5 * n or a.shape[-1] not in (1, 3):
            raise UserError(f"{release_dir / (nm + '.npy')}: expected uint8 ({5 * n}, H, W, C) images, got {a.dtype} {a.shape}")
        if cx is not None and a.shape[1:] != cx.shape[1:] and a.shape[1:] != tuple(info["image_shape"]):
            raise UserError(f"{release_dir / (nm + '.npy')}: images {a.shape[1:]} differ from the clean file's {cx.shape[1:]}")
        if a.nbytes > MAX_RELEASE_BYTES:
            raise UserError(f"{release_dir / (nm + '.npy')}: {a.nbytes >> 20} MiB is larger than a CIFAR-10-C file")
        check_output_path(c_path(stem, out_dir, nm, release=True), force)
        arrays[nm] = a
    made = []
    for nm, a in arrays.items():
        params = {"corruption": nm, "severities": list(RELEASE_SEVERITIES), "origin": "release",
                  "release_dir": release_dir.name}
        attrs = _attrs(info) | {"corruption": nm, "severities_json": list(RELEASE_SEVERITIES), "n_per_severity": n,
                                "reference": f"{release_title(dataset)} release (Hendrycks & Dietterich, ICLR 2019), made by "
                                             "hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py",
                                "rounding": RELEASE_ROUNDING, "origin": "release"}
        src = {"kind": f"{dataset}-c-release", "files": [f"{nm}.npy", "labels.npy"]}
        w = DatasetWriter(c_path(stem, out_dir, nm, release=True), kind="corrupt-test", variant="dirty",
                          params=params, seed=0, source=src, pair_key=f"{info['clean_pair_key']}:test-only",
                          force=force, attrs=attrs)
        with w:
            xs = w.create("test/x", a.shape, np.uint8)
            w.write("test/y", np.tile(y, 5))
            w.write("test/severity", np.repeat(np.array(RELEASE_SEVERITIES, np.uint8), n))
            step = BLOCK_IMAGES * 16
            for s in range(0, a.shape[0], step):
                blk = np.asarray(a[s : s + step])
                xs.append(blk)
                if progress:
                    progress(blk.shape[0])
        made.append(w.path)
    return made


def release_names(spec: str) -> list[str] | None:
    """--official: None for all (every converted official set found), else the listed names as released
    (the benchmark's motion_blur, snow, frost, spatter included)."""
    from noisebench.corruptors.sets import SETS

    if spec.strip().lower() == "all":
        return None
    if spec.strip().lower() in SETS:
        return list(SETS[spec.strip().lower()])
    names = [n.strip().lower().replace("-", "_") for n in spec.split(",") if n.strip()]
    bad = [n for n in names if not RELEASE_NAME_RE.match(n)]
    if bad or not names:
        raise UserError(f"--corruptions: {bad[0][:40]!r} is not a corruption name" if bad else "--corruptions is empty")
    if len(set(names)) != len(names):
        raise UserError("--corruptions lists a name twice")
    return names
