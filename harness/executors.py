"""Executors for grids of runs: local (in-process, or N worker processes, one per GPU) and Ray.

The driver (this process) alone writes the results database, one transaction per run as results
arrive; workers only read their data file (checked against the run's recorded digest) and return
a RunResult. Resume is by run key: `run_grid` skips every run already done (status ok or null), so
killing the driver and starting the same grid again trains only what is missing; failed runs are
tried again.

Ray: each run is a task requesting `gpus_per_run` GPUs (fractions share a GPU) and `cpus_per_run`
CPUs; a task whose worker or node dies, or which raises, is retried `retries` times by Ray
(max_retries + retry_exceptions), then recorded as failed with its error, and the grid goes on.
Setup errors on the worker (e.g. the file's digest does not match: stale shared storage) are
deterministic, so they are recorded as failed at once, not retried.

The node that ran each run is recorded in the runs table's `node` column ("IP/node-id-prefix" for
Ray, "local:HOSTNAME" otherwise); the column is added to older databases on first use.

Testing hook: NOISEBENCH_GRID_FAULT in the driver's environment is passed to every task:
"raise:DIR[:MATCH]" / "exit:DIR[:MATCH]" make the first attempt of each run (whose label contains
MATCH) raise or kill its worker process (a marker file in DIR remembers the attempt);
"sleep:SECONDS" delays every run.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from noisebench.errors import UserError
from noisebench.plugins import ENV_VAR as PLUGINS_ENV
from noisebench.harness.run_config import RunConfig
from noisebench.harness.runner import RunResult

FAULT_ENV = "NOISEBENCH_GRID_FAULT"
RAY_INSTALL_HINT = "Ray is not installed; install the extra with: pip install 'noisebench[ray]'"


@dataclass
class GridOutcome:
    planned: int = 0
    skipped: int = 0
    ran: int = 0
    ok: int = 0
    null: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)  # (label, error)
    nodes: Counter = field(default_factory=Counter)  # node -> runs recorded this time


# -- database helpers --------------------------------------------------------------------------
def record(db, result: RunResult, node: str | None) -> None:
    """Write one result with the node it ran on (one transaction)."""
    db.record(result, node=node)


def split_done(configs: list[RunConfig], db, force: bool = False) -> tuple[list[RunConfig], list[RunConfig]]:
    """(to run, already done): done = recorded with status ok or null (failed runs are run again)."""
    todo, done = [], []
    for c in configs:
        (done if (not force and db.has(c.key())) else todo).append(c)
    return todo, done


def failed_result(cfg: RunConfig, error: str) -> RunResult:
    from noisebench.harness.runner import code_version

    return RunResult(
        key=cfg.key(), config=cfg.to_dict(), status="failed", error=" ".join(str(error).split())[:2000],
        code_version=code_version(), started_at=time.time(),
    )


# -- what runs on a worker ---------------------------------------------------------------------
def _fault(spec: str | None, cfg: RunConfig) -> None:
    if not spec:
        return
    mode, _, rest = spec.partition(":")
    if mode == "sleep":
        time.sleep(float(rest))
        return
    where, _, match = rest.partition(":")
    if match and match not in cfg.label():
        return
    marker = Path(where) / f"{cfg.key()}.{mode}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    if mode == "raise":
        raise RuntimeError(f"injected fault ({FAULT_ENV}) in {cfg.label()}")
    if mode == "exit":
        os._exit(17)
    raise ValueError(f"{FAULT_ENV}: unknown mode {mode!r}")


def execute_config(cfg_dict: dict, fault: str | None = None, where: str = "", checkpoint_dir: str | None = None,
                   progress: str = "quiet") -> RunResult:
    """Train one run on this machine. Setup errors (UserError: missing file, digest mismatch, ...)
    become a failed result; anything else escapes (so Ray retries it). `progress`: a mode of
    noisebench/progress.py (workers get "lines" or "quiet")."""
    from noisebench.harness.runner import execute_run

    cfg = RunConfig.from_dict(cfg_dict)
    _fault(fault, cfg)
    try:
        return execute_run(cfg, progress=progress, checkpoint_dir=checkpoint_dir)
    except UserError as e:
        return failed_result(cfg, f"{e}" + (f" (on {where})" if where else ""))


def _ray_task(cfg_dict: dict, fault: str | None, cpu_only: bool, checkpoint_dir: str | None = None,
              progress: str = "quiet"):
    import ray

    ctx = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()}/{ctx.get_node_id()[:12]}"
    if cpu_only and cfg_dict.get("device", "auto") == "auto":
        cfg_dict = dict(cfg_dict, device="cpu")  # device is not part of the run key
    res = execute_config(cfg_dict, fault, where=f"node {node} ({socket.gethostname()})", checkpoint_dir=checkpoint_dir,
                         progress=progress)
    return res.to_dict(), node


_LOCAL_GPU = {"id": None}


def _local_init(gpu_queue, parent_pid: int | None = None) -> None:
    import torch

    from noisebench.signals import worker_init

    worker_init(parent_pid)  # Ctrl-C is the driver's to handle; die with the driver (no orphans)
    torch.set_num_threads(1)
    if gpu_queue is not None:
        gpu = gpu_queue.get()
        _LOCAL_GPU["id"] = gpu
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def _local_task(cfg_dict: dict, fault: str | None, checkpoint_dir: str | None = None, progress: str = "quiet"):
    res = execute_config(cfg_dict, fault, checkpoint_dir=checkpoint_dir, progress=progress)
    gpu = _LOCAL_GPU["id"]
    return res.to_dict(), f"local:{socket.gethostname()}" + (f":gpu{gpu}" if gpu is not None else "")


# -- executors ---------------------------------------------------------------------------------
Done = Callable[[RunConfig, RunResult, str], None]


class LocalExecutor:
    """In-process, one run after another (jobs=1), or `jobs` worker processes; with CUDA, the
    processes are pinned one per GPU (round-robin), so `jobs` = number of GPUs is one process per GPU.
    `progress` (noisebench/progress.py): in-process runs show it as is; worker processes print
    lines under "lines", else nothing."""

    name = "local"

    def __init__(self, jobs: int = 1, checkpoint_dir: str | Path | None = None, progress: str = "quiet"):
        if jobs < 1:
            raise UserError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.progress = progress
        self.fault = os.environ.get(FAULT_ENV)
        self.checkpoint_dir = None if checkpoint_dir is None else str(checkpoint_dir)

    def describe(self) -> str:
        return "local, in-process" if self.jobs == 1 else f"local, {self.jobs} processes"

    def run(self, todo: list[RunConfig], done: Done) -> None:
        if self.jobs == 1 or len(todo) <= 1:
            node = f"local:{socket.gethostname()}"
            for c in todo:
                try:
                    d, _ = _local_task(c.to_dict(), self.fault, self.checkpoint_dir, self.progress)
                    res = RunResult.from_dict(d)
                except Exception as e:  # noqa: BLE001 - a run's crash is its result; the grid goes on
                    res = failed_result(c, f"{type(e).__name__}: {e}")
                done(c, res, node)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        ctx = mp.get_context("spawn")
        queue = None
        n_gpu = _cuda_count()
        if n_gpu:
            queue = ctx.Queue()
            for i in range(self.jobs):
                queue.put(i % n_gpu)
        ex = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_local_init,
                                 initargs=(queue, os.getpid()))
        from noisebench.signals import Reaper

        reaper = Reaper()  # kills the workers should this process die before they could notice
        try:
            from noisebench.progress import worker_mode

            wmode = worker_mode(self.progress)
            futs = {ex.submit(_local_task, c.to_dict(), self.fault, self.checkpoint_dir, wmode): c for c in todo}
            reaper.add(p.pid for p in list((getattr(ex, "_processes", None) or {}).values()))
            for f in as_completed(futs):
                c = futs[f]
                try:
                    d, node = f.result()
                    res = RunResult.from_dict(d)
                except BrokenProcessPool as e:
                    res, node = failed_result(c, f"worker process died: {e}"), f"local:{socket.gethostname()}"
                except Exception as e:  # noqa: BLE001 - a run's crash is its result
                    res, node = failed_result(c, f"{type(e).__name__}: {e}"), f"local:{socket.gethostname()}"
                done(c, res, node)
        except BaseException:
            # Ctrl-C or an error: completed runs are already recorded; stop the workers now
            # (their unfinished runs are simply not recorded and run next time).
            procs = list((getattr(ex, "_processes", None) or {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:  # reap them, so none outlives this process
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)
            reaper.close()
            raise
        ex.shutdown(wait=True)
        reaper.close()


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast (one line) when HOST:PORT does not answer, instead of Ray's long connect retries."""
    if not address or address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start it with "
                        "`ray start --head --port PORT` there, or check the address and firewall") from None


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(RAY_INSTALL_HINT) from None
    return ray


class RayExecutor:
    """Runs each config as a Ray task; the driver loop (ray.wait) records results as they arrive.

    address: None (RAY_ADDRESS, else a local one-machine Ray), "auto" (the cluster `ray start`
    made on this machine) or HOST:PORT / ray://HOST:10001. If Ray is already initialized in this
    process (tests), that session is used and left running."""

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_run: float | None = None, cpus_per_run: float = 1.0,
                 retries: int = 2, max_in_flight: int | None = None, spread: bool = False, init_kwargs: dict | None = None,
                 checkpoint_dir: str | Path | None = None, progress: str = "quiet"):
        if retries < 0:
            raise UserError(f"--retries must be >= 0, got {retries}")
        if gpus_per_run is not None and gpus_per_run < 0:
            raise UserError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        if cpus_per_run < 0:
            raise UserError(f"--cpus-per-run must be >= 0, got {cpus_per_run}")
        if gpus_per_run == 0 and cpus_per_run == 0:
            raise UserError("--gpus-per-run 0 needs --cpus-per-run > 0 (each run must request something)")
        if max_in_flight is not None and max_in_flight < 1:
            raise UserError(f"--max-in-flight must be >= 1, got {max_in_flight}")
        self.address = address
        self.gpus_per_run = gpus_per_run
        self.cpus_per_run = cpus_per_run
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.spread = spread
        self.init_kwargs = dict(init_kwargs or {})
        self.fault = os.environ.get(FAULT_ENV)
        # checkpoints are written by the worker: on a multi-node cluster this must be a shared path
        self.checkpoint_dir = None if checkpoint_dir is None else str(checkpoint_dir)
        # workers never draw bars: one line per epoch (forwarded by Ray to the driver) under "lines"
        from noisebench.progress import worker_mode

        self.worker_progress = worker_mode(progress)
        self._gpus = gpus_per_run
        import_ray()

    def describe(self) -> str:
        g = "auto" if self._gpus is None else f"{self._gpus:g}"
        return f"ray ({self.address or 'local/RAY_ADDRESS'}), {g} GPU + {self.cpus_per_run:g} CPU per run, {self.retries} retries"

    def _connect(self):
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            _probe(self.address)
            kw = dict(include_dashboard=False, log_to_driver=False, logging_level="warning")
            plugins = os.environ.get(PLUGINS_ENV)
            if plugins:  # Ray workers load the driver's plug-ins before any registry lookup
                kw["runtime_env"] = {"env_vars": {PLUGINS_ENV: plugins}}
            kw.update(self.init_kwargs)
            try:
                ray.init(address=self.address, **kw)
            except (ConnectionError, RuntimeError) as e:
                raise UserError(f"cannot connect to the Ray cluster at {self.address!r}: {' '.join(str(e).split())} "
                                "(start one with `ray start --head`, or leave out --address for a local Ray)") from None
            started = True
        return ray, started

    def _resources(self, ray) -> None:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        per_node = [n.get("Resources", {}) for n in nodes]
        total_gpu = sum(r.get("GPU", 0) for r in per_node)
        if self._gpus is None:
            self._gpus = 1.0 if total_gpu > 0 else 0.0
        if self._gpus > 0 and total_gpu == 0:
            raise UserError(f"--gpus-per-run {self._gpus:g}, but the Ray cluster has no GPUs; "
                            "use --gpus-per-run 0 (runs then request --cpus-per-run CPUs)")
        if self._gpus == 0 and self.cpus_per_run == 0:
            raise UserError("the cluster has no GPUs and --cpus-per-run is 0; give --cpus-per-run > 0")
        fits = [r for r in per_node if r.get("GPU", 0) >= self._gpus and r.get("CPU", 0) >= self.cpus_per_run]
        if not fits:
            most = max((r.get("CPU", 0) for r in per_node), default=0)
            raise UserError(f"no Ray node has {self._gpus:g} GPU and {self.cpus_per_run:g} CPU for one run "
                            f"(largest node: {most:g} CPU); lower --gpus-per-run / --cpus-per-run")
        slots = 0
        for r in fits:
            s = [r.get("CPU", 0) / self.cpus_per_run if self.cpus_per_run else float("inf")]
            if self._gpus:
                s.append(r.get("GPU", 0) / self._gpus)
            slots += int(min(s))
        self._slots = max(1, slots)

    def run(self, todo: list[RunConfig], done: Done) -> None:
        if not todo:
            return
        ray, started = self._connect()
        try:
            self._resources(ray)
            opts = dict(num_cpus=self.cpus_per_run, num_gpus=self._gpus, max_retries=self.retries,
                        retry_exceptions=True)
            if self.spread:
                opts["scheduling_strategy"] = "SPREAD"
            task = ray.remote(_ray_task).options(**opts)
            cpu_only = self._gpus == 0
            window = self.max_in_flight or max(64, 4 * self._slots)
            pending: dict = {}
            queue = iter(todo)

            def submit():
                while len(pending) < window:
                    c = next(queue, None)
                    if c is None:
                        return
                    pending[task.remote(c.to_dict(), self.fault, cpu_only, self.checkpoint_dir, self.worker_progress)] = c

            submit()
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                    for ref in ready:
                        c = pending.pop(ref)
                        res, node = self._collect(ray, ref, c)
                        done(c, res, node)
                    submit()
            except BaseException:
                for ref in pending:
                    try:
                        ray.cancel(ref, force=True)
                    except Exception:  # noqa: BLE001 - best effort on the way out
                        pass
                raise
        finally:
            if started:
                ray.shutdown()

    def _collect(self, ray, ref, cfg: RunConfig) -> tuple[RunResult, str | None]:
        try:
            d, node = ray.get(ref)
            return RunResult.from_dict(d), node
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            msg = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(e).splitlines()[-1]
            return failed_result(cfg, f"failed after {self.retries} retries: {msg}"), None
        except ray.exceptions.RayError as e:  # worker crashed, node died, object lost, ...
            first = " ".join(str(e).split())[:500]
            return failed_result(cfg, f"{type(e).__name__} after {self.retries} retries: {first}"), None


# -- the driver --------------------------------------------------------------------------------
def run_grid(configs: list[RunConfig], db, executor, force: bool = False, preflight: bool = True,
             on_result: Callable[[RunConfig, RunResult, str | None, GridOutcome], None] | None = None) -> GridOutcome:
    """Run every config not done in `db` on `executor`, recording each result as it arrives.

    `preflight` checks every (file, model, activation) on the driver before any run starts (bad
    input fails the whole grid at once, as a UserError)."""
    from noisebench.harness.grid_config import preflight_all
    from noisebench.signals import check as check_interrupted

    out = GridOutcome(planned=len(configs))
    todo, done_already = split_done(configs, db, force)
    out.skipped = len(done_already)
    if preflight:
        preflight_all(todo)

    def done(c: RunConfig, res: RunResult, node: str | None) -> None:
        record(db, res, node)
        check_interrupted()  # a signal whose exception was swallowed still stops the grid here
        out.ran += 1
        setattr(out, res.status, getattr(out, res.status) + 1)
        out.nodes[node or "?"] += 1
        if res.status == "failed":
            out.failures.append((c.label(), res.error))
        if on_result is not None:
            on_result(c, res, node, out)

    executor.run(todo, done)
    return out


def dry_run_rows(configs: list[RunConfig], db) -> list[tuple[str, RunConfig]]:
    """(state, config) per run: state is done, null, failed (will run again) or todo."""
    rows = []
    for c in configs:
        st = db.status(c.key()) if db is not None else None
        rows.append(({"ok": "done", "null": "null", "failed": "failed"}.get(st, "todo"), c))
    return rows
