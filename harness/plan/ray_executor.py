"""The Ray executor: each run is a Ray task; the driver loop records results as they arrive.

Each run is a task requesting `gpus_per_run` GPUs (fractions share a GPU) and `cpus_per_run`
CPUs; a task whose worker or node dies, or which raises, is retried `retries` times by Ray
(max_retries + retry_exceptions), then recorded as failed with its error, and the grid goes on.
Setup errors on the worker (e.g. the file's digest does not match: stale shared storage) are
deterministic, so they are recorded as failed at once, not retried. The node that ran each run is
recorded as "IP/node-id-prefix". Ray is optional: it is imported only when this executor is used.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from noisebench.errors import UserError
from noisebench.harness.plan.driver import FAULT_ENV, Done, execute_config, failed_result, run_outputs
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.data import RunResult
from noisebench.progress import worker_mode
from noisebench.registry.plugins import ENV_VAR as PLUGINS_ENV
from noisebench.safety import signals

WAIT_TRIES = 5  # ray.wait calls that may return a SystemError in a row before the grid stops (rerun resumes)
RAY_INSTALL_HINT = "Ray is not installed; install the extra with: pip install 'noisebench[ray]'"


def _ray_task(cfg_dict: dict, fault: str | None, cpu_only: bool, outputs: dict | None = None,
              progress: str = "quiet"):
    import ray

    ctx = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()}/{ctx.get_node_id()[:12]}"
    if cpu_only and cfg_dict.get("device", "auto") == "auto":
        cfg_dict = dict(cfg_dict, device="cpu")  # device is not part of the run key
    res = execute_config(cfg_dict, fault, where=f"node {node} ({socket.gethostname()})", progress=progress,
                         **(outputs or {}))
    return res.to_dict(), node


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


def _wait(ray, refs: list, tries: int = WAIT_TRIES) -> tuple[list, list]:
    """`ray.wait` for one result, retried when Ray's compiled wait returns with an exception pending
    (`SystemError: <cyfunction CoreWorker.wait ...> returned a result with an exception set`, seen on a
    driver resumed after a killed one). An interrupt behind it is raised as the interrupt; past `tries`,
    one line says to rerun (finished runs are recorded, the rerun resumes)."""
    for i in range(tries):
        try:
            return ray.wait(refs, num_returns=1, timeout=5.0)
        except SystemError as e:
            inner = e.__cause__ or e.__context__
            if isinstance(inner, KeyboardInterrupt):
                raise inner from None
            signals.check()
            if i == tries - 1:
                raise UserError(f"Ray's wait failed {tries} times ({' '.join(str(e).split())[:200]}); finished runs are "
                                "recorded: rerun the same command to resume") from None
            time.sleep(0.2 * (i + 1))
    raise AssertionError("unreachable")  # pragma: no cover


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
                 checkpoint_dir: str | Path | None = None, progress: str = "quiet",
                 tensorboard_dir: str | Path | None = None):
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
        # checkpoints and curves are written by the worker: on a multi-node cluster, shared paths
        self.outputs = run_outputs(checkpoint_dir, tensorboard_dir)
        # workers never draw bars: one line per epoch (forwarded by Ray to the driver) under "lines"

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
                    pending[task.remote(c.to_dict(), self.fault, cpu_only, self.outputs, self.worker_progress)] = c

            submit()
            try:
                while pending:
                    ready, _ = _wait(ray, list(pending))
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
