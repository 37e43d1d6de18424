"""The ψ file kind: how the one corruption build (generators/builds/corrupt.py) writes the `psi` corruption.

`noisebench make psi --level 16` is the ψ corruption's own spelling of `noisebench make corrupt psi --param
level=16`: both run `build_corrupt`, which hands the ψ entry (registered with ``file_kind="psi"`` in
corruptors/psi.py) to this module for what is particular to ψ files:

* the file name `cifar10-psi16.h5` (`-indep` for independent levels, `-sSEED`, `-splitN`), kind "psi";
* the random stream of the exact sampler: SeedSequence(seed, spawn_key=(stream, block[, level bits])) per
  block of 256 images (corruptors/poisson_photon.py), or torch.poisson on a device (`--sampler torch`);
* the attributes (`psi`, `clean_reference`, params `level`, `definition`, `sampler`, `random_numbers`);
* a multi-level build keeps a level file already built from the same source, split, level and seed.

The options `independent_levels`, `device`, `sampler` and `blocks_per_job` are build options (they are not
parameters of the corruption: `nb.corrupt(x, "psi", level=16)` takes `level` only).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from noisebench.corruptors.poisson_photon import PhotonNoise, validate_level
from noisebench.errors import UserError
from noisebench.format.reader import open_file
from noisebench.format.writer import DatasetWriter
from noisebench.generators.builds import images as ib
from noisebench.generators.image_inputs import note, psi_name

PSI_DEFINITION = "y = clip(round(Poisson(psi*x/255)*255/psi), 0, 255), round half to even (docs/IMAGES.md)"
SAMPLERS = ("tables", "torch")
KEEPS_FINISHED = True  # a multi-level build keeps the levels already built (same source, split, level, seed)
OPTIONS = {"independent_levels": False, "device": "cpu", "sampler": None, "blocks_per_job": 4}


def check_options(options: dict | None) -> dict:
    """The ψ build options with their defaults; an unknown one or a sampler that cannot run there is an error."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(f"psi: unknown build option(s) {', '.join(unknown)}; accepted: {', '.join(OPTIONS)}")
    o = OPTIONS | options
    o["sampler"] = o["sampler"] or ("tables" if o["device"] == "cpu" else "torch")
    if o["sampler"] not in SAMPLERS:
        raise UserError(f"unknown sampler {o['sampler']!r}; use tables or torch")
    if o["sampler"] == "tables" and o["device"] != "cpu":
        raise UserError(f"the table sampler runs on the CPU; use --sampler torch for --device {o['device']}")
    return o


def levels_of(plan: list[tuple]) -> list[float]:
    levels = [validate_level(p["level"]) for _, _, p, _ in plan]
    if len(set(levels)) != len(levels):
        raise UserError("the same --level is given twice")
    return levels


def paths(plan: list[tuple], data_name: str, out_dir: Path, seed: int, split_seed: int, options=None) -> list[Path]:
    """The files a build of `plan` writes (before any data is read)."""
    ind = bool(check_options(options)["independent_levels"])
    return [Path(out_dir) / psi_name(data_name, lv, seed, split_seed, ind) for lv in levels_of(plan)]


def finished(path: Path, pair_key: str, level: float, seed: int) -> bool:
    """A complete ψ file of this source, split, level and seed is already at `path` (a resumed multi-level build)."""

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open_file(path) as f:
            m = f.meta
            return (m.get("kind") == "psi" and m.get("pair_key") == pair_key and m.get("psi") == level
                    and m.get("seed") == seed)
    except (OSError, UserError):
        return False


def jobs(plan, data, out_dir: Path, sp, cref: Path, seed: int, split_seed: int, force: bool, workers, options=None,
         constants: str | None = None):
    """[(writer, blocks)] per level still to build; `blocks(x, stream)` yields the corrupted images in order."""
    o = check_options(options)
    ind = bool(o["independent_levels"])
    crn = ("independent per level: SeedSequence(seed, spawn_key=(stream, block, level bits))" if ind
           else "common to all levels of the build: SeedSequence(seed, spawn_key=(stream, block))")
    out = []
    for lv, path in zip(levels_of(plan), paths(plan, data.name, out_dir, seed, split_seed, o)):
        if not force and finished(path, sp.pair_key, lv, seed):
            note(f"note: kept {path} (already built from this source with this level, split and seed); "
                 "--force rebuilds it")
            continue
        if o["sampler"] == "torch":
            from noisebench.corruptors.photon_torch import TorchPhotonNoise

            noise = TorchPhotonNoise(lv, o["device"], independent_stream=ind)
            sampler = noise.sampler
        else:
            noise = PhotonNoise(lv, independent_stream=ind)
            sampler = "exact inverse-CDF tables on 32-bit uniforms"
        params = {"level": lv, "definition": PSI_DEFINITION, "sampler": sampler,
                  "random_numbers": crn, "independent_levels": ind} | sp.params
        attrs = ib.common_attrs(data, sp) | {"clean_reference": cref.name, "psi": lv}
        w = DatasetWriter(path, kind="psi", variant="dirty", params=params, seed=seed, source=data.source,
                          pair_key=sp.pair_key, force=force, attrs=attrs)

        def blocks(x, stream, noise=noise):
            return noise.iter_blocks(x, seed, stream, workers, o["blocks_per_job"])

        out.append((w, blocks))
    if not out:
        raise UserError(f"every requested level is already in {out_dir}; pass --force to rebuild them")
    return out
