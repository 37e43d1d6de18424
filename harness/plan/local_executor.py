"""The local executor: runs in this process one after another, or in N worker processes (one per GPU).

The driver loop (harness/plan/driver.py `run_grid`) hands it the runs still to do and records each
result it reports. Workers ignore Ctrl-C (the driver's to handle) and die with the driver.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import torch

from noisebench.errors import UserError
from noisebench.harness.plan.driver import FAULT_ENV, Done, execute_config, failed_result, run_outputs
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.data import RunResult
from noisebench.safety import signals
from noisebench.safety.signals import Reaper, sigint_blocked, worker_init

_LOCAL_GPU = {"id": None}


def _local_init(gpu_queue, parent_pid: int | None = None) -> None:
    worker_init(parent_pid)  # Ctrl-C is the driver's to handle; die with the driver (no orphans)
    torch.set_num_threads(1)
    if gpu_queue is not None:
        gpu = gpu_queue.get()
        _LOCAL_GPU["id"] = gpu
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def _local_task(cfg_dict: dict, fault: str | None, outputs: dict | None = None, progress: str = "quiet"):
    res = execute_config(cfg_dict, fault, progress=progress, **(outputs or {}))
    gpu = _LOCAL_GPU["id"]
    return res.to_dict(), f"local:{socket.gethostname()}" + (f":gpu{gpu}" if gpu is not None else "")


class LocalExecutor:
    """In-process, one run after another (jobs=1), or `jobs` worker processes; with CUDA, the
    processes are pinned one per GPU (round-robin), so `jobs` = number of GPUs is one process per GPU.
    `progress` (noisebench/progress.py): in-process runs show it as is; worker processes print
    lines under "lines", else nothing."""

    name = "local"

    def __init__(self, jobs: int = 1, checkpoint_dir: str | Path | None = None, progress: str = "quiet",
                 tensorboard_dir: str | Path | None = None):
        if jobs < 1:
            raise UserError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.progress = progress
        self.fault = os.environ.get(FAULT_ENV)
        self.outputs = run_outputs(checkpoint_dir, tensorboard_dir)

    def describe(self) -> str:
        return "local, in-process" if self.jobs == 1 else f"local, {self.jobs} processes"

    def run(self, todo: list[RunConfig], done: Done) -> None:
        if self.jobs == 1 or len(todo) <= 1:
            node = f"local:{socket.gethostname()}"
            for c in todo:
                try:
                    d, _ = _local_task(c.to_dict(), self.fault, self.outputs, self.progress)
                    res = RunResult.from_dict(d)
                except Exception as e:  # noqa: BLE001 - a run's crash is its result; the grid goes on
                    res = failed_result(c, f"{type(e).__name__}: {e}")
                done(c, res, node)
            return

        ctx = mp.get_context("spawn")
        queue = None
        n_gpu = _cuda_count()
        if n_gpu:
            queue = ctx.Queue()
            for i in range(self.jobs):
                queue.put(i % n_gpu)
        ex = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_local_init,
                                 initargs=(queue, os.getpid()))

        reaper = Reaper()  # kills the workers should this process die before they could notice
        try:
            from noisebench.progress import worker_mode

            wmode = worker_mode(self.progress)
            with sigint_blocked():  # the workers spawned by submit are born with Ctrl-C blocked (worker_init)
                futs = {ex.submit(_local_task, c.to_dict(), self.fault, self.outputs, wmode): c for c in todo}
            signals.check()  # a Ctrl-C that came meanwhile
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
