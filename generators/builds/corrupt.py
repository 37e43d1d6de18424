"""Build image-corruption files from the registered corruptions (used by `noisebench make corrupt`).

* build_corrupt: one file per (corruption, severity or parameters), train, val and test corrupted (the
  val split of `make psi`), with its clean twin - `cifar10-gaussian_noise-sev3.h5`, `cifar10-contrast-c0.2.h5`
  (kind "corrupt"); a corruption registered with ``file_kind=KIND`` is named, recorded, drawn and written by
  generators/builds/KIND.py instead (ψ: psi.py; the label corruption label_flip: flip.py, `make mnist-flip`);
* apply_corruption / corrupt_blocks: the seeded, block-wise application every build uses.

The test-only sets (`make cifar10-c`) are in generators/builds/cifar10c.py.

Randomness: images are processed in blocks of BLOCK_IMAGES; block b of a split gets its own generator
SFC64(SeedSequence(seed, spawn_key=(stream, key, b))) with stream 1 = train, 2 = test, 3 = val (as ψ)
and key = crc32 of the corruption name and its parameters. So a file's bytes depend only on (seed,
corruption, parameters, images) - not on the thread count - and the test split of
`make corrupt NAME --severity S` equals severity S of `make cifar10-c` built from the same images and seed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from noisebench.errors import UserError
from noisebench.format.writer import DatasetWriter
from noisebench.generators.builds import images as ib
from noisebench.generators.builds.corrupt_params import build_corruption, file_tag, image_corruption, resolve_params
from noisebench.generators.image_inputs import clean_path, seed_suffix, split_suffix
from noisebench.generators.sources.custom import ImageData
from noisebench.safety.bounds import check_seed

BLOCK_IMAGES = 256
STREAM = {"train": 1, "val": 3, "test": 2}
ROUNDING = ("round half to even (numpy.rint) of the 0..255 value, then clip to [0, 255] "
            "(the original make_cifar_c.py truncates with np.uint8)")
KEEPS_FINISHED = False  # an existing file is refused without --force (the ψ kind keeps finished levels)
DEFAULT_SOURCE = "cifar10"  # the source read without --source (the flip kind: mnist, as `make mnist-flip`)
DEFAULT_VAL_SIZE = ib.CIFAR_VAL_SIZE  # --val-size when not given (the flip kind: 10,000, as `make mnist-flip`)

Progress = Callable[[int], None] | None


def stream_key(name: str, params: Mapping) -> int:
    blob = json.dumps({"name": name, "params": {k: params[k] for k in sorted(params)}}, sort_keys=True)
    return zlib.crc32(blob.encode())


def block_rng(seed: int, stream: int, key: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(int(seed), spawn_key=(stream, key, block))))


def default_workers() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover
        return max(1, min(8, os.cpu_count() or 1))


# ------------------------------------------------------------------ application


def corrupt_blocks(entry, x: np.ndarray, params: Mapping, seed: int, stream: int,
                   workers: int | None = None) -> Iterator[np.ndarray]:
    """Yield the corrupted images of `x` in order, block by block (thread pool; same bytes for any count)."""
    fn = entry.obj
    key = stream_key(entry.name, params)
    n = x.shape[0]
    nblocks = (n + BLOCK_IMAGES - 1) // BLOCK_IMAGES
    workers = default_workers() if workers is None else max(1, int(workers))

    def job(b: int) -> np.ndarray:
        blk = np.ascontiguousarray(x[b * BLOCK_IMAGES : (b + 1) * BLOCK_IMAGES])
        out = fn(blk, block_rng(seed, stream, key, b), **params)
        if not isinstance(out, np.ndarray) or out.shape != blk.shape or out.dtype != np.uint8:
            raise UserError(f"corruption {entry.name!r} returned {getattr(out, 'dtype', type(out).__name__)} "
                            f"{getattr(out, 'shape', '')}; it must return uint8 of the input's shape {blk.shape}")
        return out

    if workers == 1 or nblocks <= 1:
        for b in range(nblocks):
            yield job(b)
        return
    with ThreadPoolExecutor(workers) as ex:
        pending = []
        nxt = 0
        while nxt < nblocks and len(pending) < 2 * workers:
            pending.append(ex.submit(job, nxt))
            nxt += 1
        while pending:
            res = pending.pop(0).result()
            if nxt < nblocks:
                pending.append(ex.submit(job, nxt))
                nxt += 1
            yield res


def apply_corruption(name: str, x: np.ndarray, *, severity: int | None = None, seed: int = 0, stream: int = 2,
                     workers: int | None = None, constants: str | None = None, **params) -> np.ndarray:
    """Corrupt a uint8 batch (N, H, W, C) with a registered corruption at a severity or with parameters.

    `apply_corruption("fog", x, severity=3, seed=0)` gives the same images as severity 3 of the
    test split of `make corrupt fog --severity 3 --seed 0` built from the same x. `constants` picks the
    severity table (default: the one of the image size, as the builds)."""
    from noisebench.corruptors.sets import check_constants, default_constants

    entry = image_corruption(name)
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise UserError(f"{name}: expects uint8 images of shape (N, H, W, C); got {x.dtype} {x.shape}")
    constants = check_constants(constants) or default_constants(*x.shape[1:3])
    p = resolve_params(entry, severity, params or None, constants)
    out = np.empty_like(x)
    pos = 0
    for blk in corrupt_blocks(entry, x, p, seed, stream, workers):
        out[pos : pos + blk.shape[0]] = blk
        pos += blk.shape[0]
    return out


def corruption_record(entry, severity: int | None, params: Mapping, constants: str | None = None) -> dict:
    """What a file records about the corruption that made it (`constants`: the severity table used)."""
    return {"corruption": entry.name, "severity": severity, "params": dict(params),
            "constants": constants if severity is not None or constants else None,
            "differences": str(entry.meta.get("differences", "")),
            "reference": str(entry.meta.get("reference", "")), "rounding": ROUNDING,
            "description": entry.description, "code": "builtin" if entry.builtin else entry.module,
            "code_sha256": entry.source_hash()}


# ------------------------------------------------------------------ train + test files (make corrupt)


def corrupt_name(data_name: str, tag: str, seed: int = 0, split_seed: int = 0) -> str:
    return f"{data_name}-{tag}{seed_suffix(seed)}{split_suffix(split_seed)}.h5"


def corrupt_path(data_name: str, out_dir: Path, tag: str, seed: int, split_seed: int = 0) -> Path:
    return Path(out_dir) / corrupt_name(data_name, tag, seed, split_seed)


def plan_corrupt(name: str, severities: list[int], params: Mapping | None = None,
                 param_sets: list[Mapping] | None = None, constants: str | None = None) -> list[tuple]:
    """[(entry, severity or None, params, tag)] for a build; checks everything before any data is read.

    One file per severity (its row of the `constants` table), or one per parameter set (`params`, or several
    in `param_sets`: `make psi --level 8,16` is two sets of `make corrupt psi --param level=L`). A file kind's
    `check(plan)` (the flip kind: mode and matrix file) runs here too."""
    entry = build_corruption(name)
    sets = [dict(p) for p in (param_sets or ([params] if params else []))]
    if severities and sets:
        raise UserError("give either --severity or --param, not both")
    if severities:
        plan = [(entry, s, p, file_tag(entry, s, p, constants)) for s in severities
                for p in [resolve_params(entry, s, None, constants)]]
    elif not sets:
        raise UserError(f"give --severity 1..5 (comma list) or --param NAME=VALUE for {entry.name}")
    else:
        plan = [(entry, None, p, file_tag(entry, None, p)) for p in (resolve_params(entry, None, q) for q in sets)]
    check = getattr(file_kind(entry), "check", None)
    if check is not None:
        check(plan)
    return plan


def file_kind(entry):
    """The module that names, records and samples the files of a corruption: this one (kind "corrupt"), or
    generators/builds/<KIND>.py for an entry registered with ``file_kind=KIND`` (ψ: generators/builds/psi.py)."""
    kind = entry.meta.get("file_kind") or "corrupt"
    if kind == "corrupt":
        return sys.modules[__name__]
    if not isinstance(kind, str) or not kind.isidentifier():
        raise UserError(f"corruption {entry.name!r}: file_kind must be a name, got {kind!r}")
    return importlib.import_module(f"noisebench.generators.builds.{kind}")


def kind_setting(kind, name: str):
    """A file kind's DEFAULT_SOURCE, DEFAULT_VAL_SIZE or `write`, or this module's (kind "corrupt") if it has none."""
    return getattr(kind, name, getattr(sys.modules[__name__], name))


def planned_paths(plan: list[tuple], data_name: str, out_dir: Path, seed: int, split_seed: int = 0,
                  options: Mapping | None = None) -> list[Path]:
    """The files a build of `plan` writes, known before any data is loaded (for the --force precheck)."""
    return file_kind(plan[0][0]).paths(plan, data_name, out_dir, seed, split_seed, options)


def paths(plan, data_name: str, out_dir: Path, seed: int, split_seed: int = 0, options=None) -> list[Path]:
    if options:
        raise UserError(f"{plan[0][0].name}: unknown build option(s) {', '.join(options)}")
    return [corrupt_path(data_name, out_dir, t[3], seed, split_seed) for t in plan]


def jobs(plan, data: ImageData, out_dir: Path, sp, cref: Path, seed: int, split_seed: int, force: bool, workers,
         options=None, constants: str | None = None):
    """[(writer, blocks)] per file of kind "corrupt"; `blocks(x, stream)` yields the corrupted images in order;
    `constants`: the severity table the plan's severities were read from."""
    out = []
    for (entry, sev, p, _tag), path in zip(plan, paths(plan, data.name, out_dir, seed, split_seed, options)):
        rec = corruption_record(entry, sev, p, constants if sev is not None else None)
        attrs = ib.common_attrs(data, sp) | {"clean_reference": cref.name, "corruption": entry.name,
                                             "severity": int(sev or 0), "reference": rec["reference"],
                                             "rounding": ROUNDING, "constants": rec["constants"] or ""}
        wparams = rec | sp.params | {"block_images": BLOCK_IMAGES,
                                     "rng": "SFC64(SeedSequence(seed, spawn_key=(stream, crc32(name+params), block)))"}
        w = DatasetWriter(path, kind="corrupt", variant="dirty", params=wparams, seed=seed, source=data.source,
                          pair_key=sp.pair_key, force=force, attrs=attrs)

        def blocks(x, stream, entry=entry, p=p):
            return corrupt_blocks(entry, x, p, seed, stream, workers)

        out.append((w, blocks))
    return out


def write(w, blocks, parts, sp, progress: Progress = None) -> None:
    """Write one file of corrupted images: `parts` = (split, clean images, labels) of train, val and test, each
    split's images replaced by `blocks(x, stream)` (the kinds "corrupt" and ψ)."""
    for split, x, y in parts:
        xs = w.create(f"{split}/x", x.shape, np.uint8)
        w.write(f"{split}/y", y.astype(np.int64))
        for blk in blocks(x, STREAM[split]):
            xs.append(blk)
            if progress:
                progress(blk.shape[0])
    ib.write_index(w, sp)
    w.group_attrs("truth")["description"] = ib.INDEX_NOTE


def build_corrupt(data: ImageData, name: str, out_dir: Path, severities: list[int] | None = None,
                  params: Mapping | None = None, seed: int = 0, force: bool = False, workers: int | None = None,
                  progress: Progress = None, with_clean: bool = True, val_size: int | None = None,
                  split_seed: int = 0, param_sets: list[Mapping] | None = None, options: Mapping | None = None,
                  plan: list[tuple] | None = None, constants: str | None = None) -> list[Path]:
    """The one build of corrupted files (`make corrupt`; `make psi` for the ψ corruption, `make mnist-flip` for the
    label corruption label_flip): corrupted copies of `data` per severity or parameter set, with the val split of
    the clean file (same --val-size and --split-seed: the same val images), and the clean twin if missing.
    `constants`: the severity table (default: by image size, `default_constants`); `val_size` None: the file
    kind's DEFAULT_VAL_SIZE (5,000; label flips 10,000 as `make mnist`).

    The corruption's file kind (`file_kind`) names the files, records their attributes, draws the noise and
    writes them (`write`; image kinds: all three splits' images corrupted, the flip kind: train labels flipped);
    `options` are that kind's build options (ψ: independent_levels, device, sampler, blocks_per_job); `plan` is
    `plan_corrupt`'s result when the caller has already checked the request."""
    from noisebench.corruptors.sets import check_constants, default_constants

    seed = check_seed(seed)
    constants = check_constants(constants) or default_constants(*data.x_test.shape[1:3])
    plan = plan or plan_corrupt(name, list(severities or []), params, param_sets, constants)
    kind = file_kind(plan[0][0])
    val_size = kind_setting(kind, "DEFAULT_VAL_SIZE") if val_size is None else int(val_size)
    out_dir = Path(out_dir)
    sp = ib.split_params(data, val_size, split_seed)
    cref = clean_path(data, out_dir, split_seed)
    # constructing the writers checks every output path before any work
    writers = kind.jobs(plan, data, out_dir, sp, cref, seed, split_seed, force, workers, options, constants=constants)
    made = []
    if with_clean:
        made += ib.ensure_clean_twin(data, out_dir, cref, sp, val_size, split_seed,
                                     kind_setting(kind, "DEFAULT_SOURCE").replace("_", "-"))
    parts = ib.split_parts(data, sp)
    write_file = kind_setting(kind, "write")
    for w, job in writers:
        with w:
            write_file(w, job, parts, sp, progress)
        made.append(w.path)
    return made
