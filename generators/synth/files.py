"""The synthetic set's two files (`noisebench synth`): their names, the split record they share, and the
streaming build that writes the clean and the dirty file together from `HiddenFunctionDataset` blocks
(generators/synth/generator.py), so a half pair is never left under the final names."""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from noisebench.format.writer import DatasetWriter, check_free_space
from noisebench.generators.builds.split_record import pair_key, range_sha256, split_record
from noisebench.generators.synth.generator import BLOCK, HiddenFunctionDataset, SynthParams, compute_block


def output_paths(out_dir: Path, p: SynthParams) -> tuple[Path, Path]:
    stem = f"synth-{p.rows}" + (f"-s{p.seed}" if p.seed else "")
    return out_dir / f"{stem}-clean.h5", out_dir / f"{stem}-dirty.h5"


def _blocks_in_order(gen: HiddenFunctionDataset, chunk_rows: int, workers: int):
    """Yield (start, stop, block) in row order, computed by `workers` threads with bounded lookahead.

    numpy releases the GIL in its kernels, so threads use both cores; the lookahead of
    2 x workers blocks keeps memory flat whatever the row count.
    """

    n = gen.p.rows
    bounds = ((s, min(n, s + BLOCK)) for s in range(0, n, BLOCK))
    if workers <= 1:
        for s, e in bounds:
            yield s, e, compute_block(gen, s, e)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for s, e in bounds:
            pending.append((s, e, pool.submit(compute_block, gen, s, e)))
            if len(pending) >= 2 * workers + chunk_rows // BLOCK:
                s0, e0, fut = pending.popleft()
                yield s0, e0, fut.result()
        while pending:
            s0, e0, fut = pending.popleft()
            yield s0, e0, fut.result()


def split_identity(p: SynthParams) -> tuple[dict, str, str]:
    """(`split`, `source_fingerprint`, `pair_key`) shared by the clean and dirty file: the source is the generator
    at (rows, cols, seed); val is generated rows n_train..rows-1 (rows come in seeded random order)."""


    source = {"generator": "noisebench hidden-function", "rows": p.rows, "cols": p.cols, "seed": p.seed}
    fingerprint = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()
    split = split_record("ordered", p.seed, p.n_train, p.n_val, p.n_test, range_sha256(p.n_train, p.rows))
    return split, fingerprint, pair_key("synth", fingerprint, split)


def build(
    p: SynthParams,
    out_dir: Path,
    force: bool = False,
    chunk_rows: int = 4 * BLOCK,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> tuple[Path, Path]:
    """Stream the clean and dirty files into `out_dir`; each appears atomically (temp file + rename)."""

    p.validate()
    # both files hold rows x (cols + 1) float32 uncompressed, plus the dirty file's truth: refuse up front
    need = 2 * (p.rows + p.n_test) * (p.cols + 1) * 4 + p.n_dirty * (8 + (p.cols + 1) * 4)
    check_free_space(Path(out_dir), need, f"synth --rows {p.rows} --cols {p.cols}")
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if chunk_rows % BLOCK:
        raise ValueError("chunk_rows must be a multiple of BLOCK")
    gen = HiddenFunctionDataset(p)
    clean_path, dirty_path = output_paths(Path(out_dir), p)
    params = asdict(p) | {"n_train": p.n_train, "n_val": p.n_val, "n_test": p.n_test, "n_dirty": p.n_dirty}
    split, fingerprint, pair_key = split_identity(p)
    common = dict(kind="synth", params=params, seed=p.seed, task="regression", pair_key=pair_key, force=force,
                  source={"name": "hidden-function generator", "definition": "docs/FORMAT.md, The synth dataset definition"})
    ident = {"dataset": "synth", "split": split, "source_fingerprint": fingerprint}
    cw = DatasetWriter(clean_path, variant="clean", attrs=ident, **common)
    dw = DatasetWriter(dirty_path, variant="dirty", attrs=ident | {"clean_reference": clean_path.name}, **common)
    before, dirty_before = _inode(clean_path), _inode(dirty_path)
    try:
        _write_pair(p, gen, cw, dw, chunk_rows, workers, progress)
    except BaseException:
        # the clean file is placed before its dirty twin: if this build placed it (a new inode, whenever the
        # failure or signal came, even inside the rename) and the twin did not follow, remove it (no half pairs)
        now = _inode(clean_path)
        twin_placed = _inode(dirty_path) not in (None, dirty_before)
        if now is not None and now != before and not twin_placed:
            try:
                os.unlink(clean_path)
            except OSError:
                pass
        raise
    return clean_path, dirty_path


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _write_pair(p: SynthParams, gen: HiddenFunctionDataset, cw: DatasetWriter, dw: DatasetWriter, chunk_rows: int,
                workers: int, progress) -> None:
    with dw:
        _write_clean_and_dirty(p, gen, cw, dw, chunk_rows, workers, progress)


def _write_clean_and_dirty(p: SynthParams, gen: HiddenFunctionDataset, cw: DatasetWriter, dw: DatasetWriter,
                           chunk_rows: int, workers: int, progress) -> None:
    n, nt, c = p.rows, p.n_train, p.cols
    with cw:
        streams = {}
        for w, tag in ((cw, "clean"), (dw, "dirty")):
            # val is the same bytes in both files: the dirty file reuses the clean file's val digests
            shared = streams.get("clean", {})
            streams[tag] = {
                "train/x": w.create("train/x", (nt, c), np.float32, hash_in_thread=True),
                "train/y": w.create("train/y", (nt,), np.float32, hash_in_thread=True),
                "val/x": w.create("val/x", (n - nt, c), np.float32, mirror_of=shared.get("val/x"), hash_in_thread=True),
                "val/y": w.create("val/y", (n - nt,), np.float32, mirror_of=shared.get("val/y"), hash_in_thread=True),
                "test/x": w.create("test/x", (p.n_test, c), np.float32, mirror_of=shared.get("test/x")),
                "test/y": w.create("test/y", (p.n_test,), np.float32, mirror_of=shared.get("test/y")),
            }
        dirty_rows = dw.create("truth/dirty_rows", (p.n_dirty,), np.int64)
        offsets = dw.create("truth/offsets", (p.n_dirty, c + 1), np.float32)
        for bstart, bstop, (xs32, y32, xd, yd, rows, off) in _blocks_in_order(gen, chunk_rows, workers):
            if rows.size:
                dirty_rows.append(rows)
                offsets.append(off)
            tr = slice(0, max(0, min(bstop, nt) - bstart))
            va = slice(tr.stop, bstop - bstart)
            for tag, (bx, by) in (("clean", (xs32, y32)), ("dirty", (xd, yd))):
                s = streams[tag]
                s["train/x"].append(bx[tr])
                s["train/y"].append(by[tr])
                s["val/x"].append(xs32[va])
                s["val/y"].append(y32[va])
            if progress:
                progress(bstop - bstart)
        for tstart in range(0, p.n_test, BLOCK):  # the held-out test rows, clean in both files
            tx, ty = gen.test_block(tstart, min(p.n_test, tstart + BLOCK))
            tx32, ty32 = tx.astype(np.float32), ty.astype(np.float32)
            for tag in ("clean", "dirty"):
                streams[tag]["test/x"].append(tx32)
                streams[tag]["test/y"].append(ty32)
        truth = gen.truth_attrs()
        for w in (cw, dw):
            w.group_attrs("truth")["hidden_functions_json"] = json.dumps(truth)
        dw.group_attrs("truth")["description"] = (
            "dirty_rows: indices into train of the corrupted rows; offsets: the N(0, sigma^2) noise added "
            "to each standardised feature (columns 0..cols-1) and to the target (last column)"
        )
