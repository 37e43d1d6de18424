"""Execute one run: `execute_run(cfg) -> RunResult`. Pure: reads the data file, trains, returns.

It never touches the results database (a driver, local or Ray, records results), so it can run
in any worker process. Before any data is used the file's arrays are re-hashed against their
recorded checksums (harness/data_verify.py, cached per unchanged file); the reported epoch is
selected on the val split only (harness/selection.py), and the result carries the run identity
(harness/identity.py) its key was computed from. Setup mistakes (missing or tampered file, wrong
checksum digest, no val split, unknown model or activation, model/data mismatch) raise
`UserError`; errors during training are returned as a result with status "failed" and the error,
so one bad run does not stop a grid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.harness.run_config import AUGMENTS, LR_POLICIES, OPTIMIZERS, RunConfig

STATUSES = ("ok", "null", "failed")
_DATA_CACHE: dict = {}
_DATA_CACHE_SIZE = 2  # a clean/dirty pair


@dataclass
class RunResult:
    key: str
    config: dict
    status: str
    null_cause: str | None = None
    error: str | None = None
    epochs: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    wall_s: float = 0.0
    device: str = ""
    hostname: str = ""
    code_version: str = ""
    data_info: dict = field(default_factory=dict)  # dataset, kind, variant, task, num_classes, pair_key
    started_at: float = 0.0
    identity: dict = field(default_factory=dict)  # harness/identity.py IDENTITY_KEYS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        return cls(**d)

    @property
    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config)


def checksums_digest(checksums: dict) -> str:
    """sha256 of the sorted JSON of a file's recorded per-dataset checksums."""
    blob = json.dumps(checksums, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def dataset_digest(path: str | Path) -> str:
    """The identity of a noisebench file's content, from its recorded checksums (no rehash of the data)."""
    from noisebench.h5format import open_file

    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found")
    with open_file(path) as f:
        return checksums_digest(f.meta["checksums"])


def data_role(meta: dict) -> str:
    """'clean' or 'dirty' from a file's root attributes."""
    if meta.get("kind") == "clean" or meta.get("variant") == "clean":
        return "clean"
    return "dirty"


def data_info(meta: dict) -> dict:
    task = meta.get("task", "classification")
    nc = meta.get("num_classes")
    return {
        "dataset": meta.get("dataset") or meta.get("kind"),
        "kind": meta.get("kind"),
        "variant": meta.get("variant") or data_role(meta),
        "task": task,
        "num_classes": int(nc) if nc is not None else None,
        "pair_key": meta.get("pair_key"),
        "clean_reference": meta.get("clean_reference"),
    }


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__


PRECISIONS = ("auto", "bf16", "fp32")


def engine_paths(extra: dict, device, images: bool) -> tuple[bool, bool]:
    """(bf16 autocast, channels_last) for a run.

    Defaults ("auto"): both on CUDA only (channels_last for image models). `extra["precision"]`
    ("bf16"/"fp32") and `extra["channels_last"]` (True/False) force them on any device, e.g. to
    exercise the GPU code paths on a CPU (CPU autocast supports bfloat16). The legacy
    `extra["fp32"]` flag still turns autocast off."""
    from noisebench.harness.identity import precision

    autocast = precision(device.type, extra) == "bf16-autocast"  # the run identity records the same
    cl = extra.get("channels_last", "auto")
    channels_last = images and (device.type == "cuda" if cl == "auto" else bool(cl))
    return autocast, channels_last


def resolve_device(name: str):
    import torch

    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    return dev


@contextlib.contextmanager
def _threads(n: int | None):
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _load(path: str, digest: str, device) -> tuple[dict, dict]:
    """(meta, splits as tensors on device), cached for the last couple of files."""
    import torch

    from noisebench.h5format import open_file

    st = Path(path).stat()
    ck = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino, digest, str(device))
    if ck in _DATA_CACHE:
        return _DATA_CACHE[ck]
    from noisebench.h5format import check_fits_in_memory

    with open_file(path) as f:
        meta = dict(f.meta)
        check_fits_in_memory([f.datasets[f"{s}/{a}"] for s in f.splits for a in "xy"], str(path))
        splits = {}
        for s in f.splits:
            if f"{s}/x" in f.datasets and f"{s}/y" in f.datasets:
                splits[s] = (
                    torch.from_numpy(f.datasets[f"{s}/x"][...]).to(device),
                    torch.from_numpy(f.datasets[f"{s}/y"][...]).to(device),
                )
    if len(_DATA_CACHE) >= _DATA_CACHE_SIZE:
        _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
    _DATA_CACHE[ck] = (meta, splits)
    return meta, splits


def clear_data_cache() -> None:
    _DATA_CACHE.clear()


def _check_file(cfg: RunConfig) -> dict:
    """The file's root attributes, after its arrays were verified against the recorded checksums."""
    from noisebench.h5format import open_file
    from noisebench.harness.data_verify import verify_for_training

    p = Path(cfg.data)
    if not p.exists():
        raise UserError(f"data file {p} not found")
    if p.is_dir():
        raise UserError(f"data path {p} is a folder; give a noisebench .h5 file")
    verify_for_training(p)
    with open_file(p) as f:
        meta = dict(f.meta)
    got = checksums_digest(meta["checksums"])
    if got != cfg.data_sha256:
        raise UserError(
            f"{p}: content digest {got[:12]}… does not match the run's data_sha256 {cfg.data_sha256[:12]}… "
            "(the file was rebuilt or replaced; rerun to plan against the current file)"
        )
    return meta


def _check_model_for_data(cfg: RunConfig, task: str, images: bool, path: str) -> None:
    from noisebench.harness.models import MODELS, model_names

    key = cfg.model.strip().lower().replace("-", "_")
    if key not in MODELS:
        raise UserError(f"unknown model {cfg.model!r}; valid: {', '.join(model_names())}")
    spec = MODELS[key]
    if spec.task != task or spec.tabular == images:
        what = "image classification" if images else f"tabular {task}"
        fits = [n for n, s in MODELS.items() if s.task == task and s.tabular != images]
        raise UserError(
            f"model {spec.name} ({spec.task}, {'tabular' if spec.tabular else 'image'} input) cannot train on "
            f"{path}, a {what} dataset; use {', '.join(fits) or 'another dataset'}"
        )


def _make_optimizer(cfg: RunConfig, params, extra: dict):
    import torch

    betas = (0.9, 0.99) if cfg.lr_policy == "onecycle" else (0.9, 0.999)
    if "betas" in extra:
        betas = tuple(float(b) for b in extra["betas"])
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        params = list(params)
        try:  # the fused kernel: one op for all parameters (CPU and CUDA), much less per-step overhead
            return cls(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return cls(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=float(extra.get("momentum", 0.9)), weight_decay=cfg.weight_decay
        )
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def validate_config(cfg: RunConfig) -> None:
    """Cheap checks of the numbers (before any data is read)."""
    if cfg.epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    if not (0 < cfg.lr < float("inf")):
        raise UserError(f"--lr must be > 0 and finite, got {cfg.lr}")
    if not (0 <= cfg.weight_decay < float("inf")):
        raise UserError(f"--weight-decay must be >= 0 and finite, got {cfg.weight_decay}")
    extra = cfg.extra_dict()
    for knob, lo, hi, lo_open in (("step_size", 1, float("inf"), False), ("gamma", 0, float("inf"), True),
                                  ("momentum", 0, 1, False)):
        v = extra.get(knob)
        if v is None:
            continue
        ok = isinstance(v, (int, float)) and (lo < v if lo_open else lo <= v) and v < hi
        if not ok:
            raise UserError(f"--{knob.replace('_', '-')} must be {'>' if lo_open else '>='} {lo}"
                            f"{f' and < {hi}' if hi != float('inf') else ' and finite'}, got {v}")
    if extra.get("augment") is not None and extra["augment"] not in AUGMENTS:
        raise UserError(f"unknown augmentation {extra['augment']!r}; use {', '.join(AUGMENTS)}")
    if extra.get("precision", "auto") not in PRECISIONS:
        raise UserError(f"unknown precision {extra['precision']!r}; use {', '.join(PRECISIONS)}")
    if extra.get("channels_last", "auto") not in ("auto", True, False):
        raise UserError(f"channels_last must be auto, true or false, got {extra['channels_last']!r}")
    if cfg.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if cfg.lr_policy not in LR_POLICIES:
        raise UserError(f"unknown LR policy {cfg.lr_policy!r}; choose one of {', '.join(LR_POLICIES)}")
    from noisebench.bounds import check_run_config

    check_run_config(cfg)  # documented ranges (docs/BOUNDS.md), seeds, names without control characters


def no_val_error(path) -> UserError:
    return UserError(
        f"{path}: no val split, so the reported epoch could only be selected on test; rebuild the file "
        "with this noisebench (`noisebench make ...` writes train/val/test) and train on the new file")


def _take(x, y, idx):
    import torch

    t = torch.as_tensor(idx, device=x.device)
    return x.index_select(0, t), y.index_select(0, t)


def prepare(cfg: RunConfig, device, for_training: bool = False):
    """Load and check everything a run needs; returns (TrainData, meta). Raises UserError on bad input.

    `for_training`: the file must have a val split (selection never uses test). Without it (the
    LR finder, which reads only train), a file without val passes."""
    from noisebench.harness.activations import resolve_activation
    from noisebench.harness.train_loop import SplitTensors, TrainData, image_stats

    validate_config(cfg)
    meta = _check_file(cfg)
    info = data_info(meta)
    _, splits = _load(cfg.data, cfg.data_sha256, device)
    if "train" not in splits:
        raise UserError(f"{cfg.data}: no train split (has {', '.join(splits) or 'none'})")
    if for_training and "val" not in splits:
        raise no_val_error(cfg.data)
    val_name = "val" if "val" in splits else "test" if "test" in splits else None
    if val_name is None:
        raise UserError(f"{cfg.data}: needs a val or test split to validate on (has {', '.join(splits)})")
    task = info["task"]
    extra = cfg.extra_dict()
    if extra.get("subset"):  # a stratified smoke-study subset of every split (harness/subset.py)
        from noisebench.harness.subset import subset_indices

        n = int(extra["subset"])
        splits = {s: _take(sx, sy, subset_indices(sy.cpu().numpy(), n, task == "classification"))
                  for s, (sx, sy) in splits.items()}
    x = splits["train"][0]
    images = x.dtype.is_floating_point is False and x.ndim in (3, 4)
    _check_model_for_data(cfg, task, images, cfg.data)
    resolve_activation(cfg.activation)  # unknown activation -> UserError now, not mid-run
    aug = extra.get("augment")
    if aug is None:
        aug = "crop_flip" if images and info["dataset"] in ("cifar10", "psi") else "none"
    if aug not in AUGMENTS:
        raise UserError(f"unknown augmentation {aug!r}; use {', '.join(AUGMENTS)}")
    nc = info["num_classes"]
    from noisebench.torch_data import check_training_arrays

    for s, (sx, sy) in splits.items():  # labels in range, finite floats, plausible shapes: before any training
        check_training_arrays(sx, sy, task, nc, f"{cfg.data} [{s}]")
    if task == "classification" and not nc:
        nc = int(splits["train"][1].max().item()) + 1
    mean = std = None
    if images:
        mean, std = image_stats(x)
    data = TrainData(
        train=SplitTensors(*splits["train"]),
        val=SplitTensors(*splits[val_name]),
        test=SplitTensors(*splits["test"]) if val_name == "val" and "test" in splits else None,
        task=task,
        num_classes=nc if task == "classification" else None,
        images=images,
        augment=aug if images else "none",
        mean=mean,
        std=std,
        val_name=val_name,
    )
    return data, meta


def summarize(epochs: list[dict], task: str, train_s: float, samples: int, has_test: bool = True) -> dict:
    """Final metrics: the last epoch's values, plus the val-selected epoch with test beside it
    (harness/selection.py); `metric`/`metric_value` name the reported number."""
    from noisebench.harness.selection import selection_summary

    final = {k: v for k, v in (epochs[-1] if epochs else {}).items() if k not in ("epoch_s", "samples_per_s")}
    final["epochs_done"] = len(epochs)
    final["train_s"] = train_s
    final["samples_per_s"] = samples / train_s if train_s > 0 else None
    sel = selection_summary(epochs, task, has_test and any("test_loss" in e for e in epochs))
    if task == "classification":
        final["best_val_acc"] = sel["selected_val_acc"]
    else:
        final["best_val_loss"] = sel["selected_val_loss"]
    final.update(sel)
    return final


def execute_run(cfg: RunConfig, progress: bool | str = False, on_epoch=None, checkpoint_dir: str | Path | None = None) -> RunResult:
    """Train one configuration from fresh weights and return its result (never writes the DB).

    `progress`: False/"quiet" shows nothing, "bars" an epoch bar and a batch bar for long epochs,
    "lines" one plain line per epoch, True chooses by terminal (noisebench/progress.py).
    `on_epoch(metrics)` is called after each epoch.
    `checkpoint_dir`: save the selected and last weights there (harness/run_artifacts.py); the
    learned activation parameters are recorded in every run's final metrics."""
    import torch

    from noisebench.harness.divergence import DivergencePolicy
    from noisebench.harness.lr_schedules import make_scheduler
    from noisebench.harness.models import build_model
    from noisebench.harness.activations import resolve_activation
    from noisebench.harness.run_artifacts import BestWeights, SiteTracker, learned_activation_params, save_checkpoints
    from noisebench.harness.train_loop import TrainSettings, steps_per_epoch, train

    from noisebench.harness.identity import run_identity, run_key

    started = time.time()
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    data, meta = prepare(cfg, device, for_training=True)
    info = data_info(meta)
    info["val_split"] = data.val_name
    if cfg.recipe:
        info["recipe"] = cfg.recipe
    extra = cfg.extra_dict()
    identity = run_identity(cfg)  # on this machine: the key says what actually ran
    base = dict(
        key=run_key(cfg, identity), config=cfg.to_dict(), device=str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        hostname=socket.gethostname(), code_version=code_version(), data_info=info, started_at=started,
        identity=identity,
    )
    bar = None
    try:
        torch.manual_seed(cfg.seed)
        num_outputs = data.num_classes if data.task == "classification" else 1
        sites = SiteTracker(resolve_activation(cfg.activation))
        model = build_model(cfg.model, sites, data.in_shape, num_outputs).to(device)
        best = BestWeights(data.task) if checkpoint_dir is not None else None
        autocast, channels_last = engine_paths(extra, device, data.images)
        if device.type == "cuda":  # same seed, same device -> same metrics (cuDNN may pick non-deterministic kernels)
            torch.backends.cudnn.deterministic = bool(extra.get("deterministic", True))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model_fn = torch.compile(model) if cfg.compile else None
        opt = _make_optimizer(cfg, model.parameters(), extra)
        spe = steps_per_epoch(len(data.train), min(cfg.batch_size, len(data.train)))
        sched = make_scheduler(cfg.lr_policy, opt, cfg.lr, spe, cfg.epochs, extra)
        div = DivergencePolicy(margin=float(extra.get("chance_margin", 0.02)))
        settings = TrainSettings(
            epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=opt, schedule=sched, seed=cfg.seed,
            device=device, autocast=autocast,
            channels_last=channels_last, divergence=div, eval_batch=2048 if device.type == "cuda" else 1024,
        )
        from noisebench.progress import RunProgress, choose

        mode = choose() if progress is True else (progress or "quiet")
        bar = RunProgress(mode, cfg.label(), cfg.epochs, spe) if mode != "quiet" else None

        def _on_epoch(m):
            if bar is not None:
                bar.epoch(m)
            if best is not None:
                best.update(model, m)
            if on_epoch is not None:
                on_epoch(m)

        # Tiny tabular models on CPU run fastest on one thread (per-op overhead dominates; extra
        # threads only contend); image models keep torch's thread count.
        with _threads(1 if device.type == "cpu" and not data.images else None):
            out = train(model, data, settings, _on_epoch, model_fn, on_batch=bar.batch if bar is not None else None)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not a crash of the grid
        return RunResult(status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}"[:2000],
                         wall_s=time.perf_counter() - t0, **base)
    finally:
        if bar is not None:
            bar.close()
    final = summarize(out.epochs, data.task, out.train_s, out.samples, has_test=data.test is not None)
    final["activation_params"] = learned_activation_params(sites.sites)
    if best is not None and out.epochs:
        final["checkpoints"] = save_checkpoints(checkpoint_dir, base["key"], model, best, int(out.epochs[-1]["epoch"]),
                                                base["config"], identity)
    status = "null" if out.null_cause else "ok"
    return RunResult(status=status, null_cause=out.null_cause, epochs=out.epochs, final=final,
                     wall_s=time.perf_counter() - t0, **base)


def config_for_file(path: str | Path, **kw) -> RunConfig:
    """A RunConfig for `path` with its digest filled in (role from the file unless given)."""
    from noisebench.h5format import open_file

    p = Path(path)
    if not p.exists():
        raise UserError(f"data file {p} not found")
    with open_file(p) as f:
        meta = dict(f.meta)
    kw.setdefault("role", data_role(meta))
    return RunConfig(data=str(p), data_sha256=checksums_digest(meta["checksums"]), **kw)


os.environ.setdefault("KMP_WARNINGS", "0")


def preflight(cfg: RunConfig) -> dict:
    """All checks of `execute_run` that need no data loaded (file, digest, model/data fit, activation).

    Used by drivers to fail a whole grid on its first bad entry before any training starts."""
    from noisebench.h5format import open_file
    from noisebench.harness.activations import resolve_activation

    validate_config(cfg)
    resolve_device(cfg.device)  # an unknown device fails here, before any database is touched
    meta = _check_file(cfg)
    with open_file(cfg.data) as f:
        dx = f.datasets.get("train/x")
        if dx is None:
            raise UserError(f"{cfg.data}: no train split")
        if "val" not in f.splits:
            raise no_val_error(cfg.data)
        images = dx.dtype.kind == "u" and len(dx.shape) in (3, 4)
    info = data_info(meta)
    _check_model_for_data(cfg, info["task"], images, cfg.data)
    resolve_activation(cfg.activation)
    return info
