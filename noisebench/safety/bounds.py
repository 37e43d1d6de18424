"""Documented bounds for every number, count and size noisebench takes from a user or a file.

One place for the limits (docs/BOUNDS.md lists them with the reason for each). Every check raises
`UserError` with one line naming the option and the accepted range, and runs before any data is
loaded or allocated. Checks accept only finite values: NaN and ±inf are refused everywhere.
"""

from __future__ import annotations

import math

from noisebench.errors import UserError
from noisebench.safety.text import has_control

# -- seeds and repetitions
SEED_MAX = 2**32 - 1  # numpy's legacy RandomState and many tools take 32-bit seeds; torch adds +1 internally
MAX_SEEDS = 1000  # seeds per configuration (`robustness --seeds`, `grid --seeds`)
# -- labels and classes
MAX_IMAGE_CLASSES = 1000  # image sources (ImageNet-1k has 1000): K = number of classes, labels 0..K-1
MAX_IMAGES = 5_000_000  # images per split of a source
MAX_IMAGE_SIDE = 4096  # pixels per side of one image
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE  # PIL decompression-bomb limit for folder sources
MAX_SOURCE_BYTES = 16 << 30  # decoded pixels of one image source in memory (also checked against free RAM)
MAX_NAME_CHARS = 128  # dataset, class, activation and model names
# -- input file sizes (bytes)
MAX_CIFAR_BATCH_BYTES = 200 << 20  # an official batch is 31 MB
MAX_CIFAR_META_BYTES = 1 << 20  # the official batches.meta is 158 bytes
MAX_IDX_BYTES = 256 << 20  # decompressed idx file (official train images: 47 MB)
MAX_NPZ_BYTES = 16 << 30
MAX_IMAGE_FILE_BYTES = 64 << 20  # one file of an image-folder source
MAX_MATRIX_BYTES = 16 << 20  # --matrix (a 1000x1000 CSV is ~10 MB)
MAX_GRID_BYTES = 1 << 20  # grid TOML
MAX_PLUGIN_BYTES = 8 << 20  # a plug-in activation module's source file
# -- corruption levels
PSI_MIN, PSI_MAX = 1e-3, 1e6  # peak photon count ψ (below 1e-3 every pixel is 0; above 1e6 equals clean)
SIGMA_MAX = 1e6  # synth offsets on standardised data; float32 stays finite far beyond
# -- training
LR_MIN, LR_MAX = 1e-12, 1e3
WEIGHT_DECAY_MAX = 1e3
GAMMA_MAX = 1e3
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 20
MAX_STEP_SIZE = MAX_EPOCHS
MAX_LR_FIND_ITERS = 100_000
MAX_WORKERS = 256
MAX_JOBS = 1024
MAX_VAL_SIZE = MAX_IMAGES


def _num(v, what: str) -> float:
    if isinstance(v, bool):
        raise UserError(f"{what} must be a number, got {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(f):
        raise UserError(f"{what} must be a finite number, got {v!r}")
    return f


def check_real(v, what: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite float in [lo, hi] (open ends on request)."""
    f = _num(v, what)
    if (f <= lo if lo_open else f < lo) or (f >= hi if hi_open else f > hi):
        lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
        raise UserError(f"{what} must be within {lb}{lo:g}, {hi:g}{rb}, got {v!r}")
    return f


def check_int(v, what: str, lo: int, hi: int) -> int:
    """An integer (not a bool, not a float) in [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise UserError(f"{what} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise UserError(f"{what} must be within {lo}..{hi}, got {v}")
    return int(v)


def check_seed(v, what: str = "--seed") -> int:
    return check_int(v, what, 0, SEED_MAX)


def check_seed_count(n, what: str = "--seeds") -> int:
    return check_int(n, what, 1, MAX_SEEDS)


def check_seed_list(seeds, what: str = "--seeds") -> list[int]:
    seeds = list(seeds)
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise UserError(f"{what} must list 1..{MAX_SEEDS} seeds, got {len(seeds)}")
    return [check_seed(s, what) for s in seeds]


def check_psi(v, what: str = "--level") -> float:
    return check_real(v, what, PSI_MIN, PSI_MAX)


def check_sigma(v, what: str = "--sigma") -> float:
    return check_real(v, what, 0.0, SIGMA_MAX)


def check_rate(v, what: str = "--rate") -> float:
    return check_real(v, what, 0.0, 1.0)


def check_lr(v, what: str = "--lr") -> float:
    return check_real(v, what, LR_MIN, LR_MAX)


def check_run_config(cfg) -> None:
    """Every number of a RunConfig inside its documented range and every name printable (cheap; before
    any data is read or any database is created)."""

    for what, v in (("--model", cfg.model), ("--activation", cfg.activation), ("--optimizer", cfg.optimizer),
                    ("--lr-policy", cfg.lr_policy), ("--device", cfg.device)):
        if not isinstance(v, str) or has_control(v) or len(v) > 4 * MAX_NAME_CHARS:
            raise UserError(f"{what} {str(v)[:60]!r} contains control characters or is too long; refusing it")
    check_int(cfg.epochs, "--epochs", 1, MAX_EPOCHS)
    check_int(cfg.batch_size, "--batch-size", 1, MAX_BATCH_SIZE)
    check_lr(cfg.lr)
    check_real(cfg.weight_decay, "--weight-decay", 0.0, WEIGHT_DECAY_MAX)
    check_seed(cfg.seed)
    extra = cfg.extra_dict()
    if extra.get("step_size") is not None:
        check_int(extra["step_size"], "--step-size", 1, MAX_STEP_SIZE)
    if extra.get("gamma") is not None:
        check_real(extra["gamma"], "--gamma", 0.0, GAMMA_MAX, lo_open=True)
    if extra.get("momentum") is not None:
        check_real(extra["momentum"], "--momentum", 0.0, 1.0, hi_open=True)
