"""The grid driver: runs every config not yet done on an executor, recording results as they arrive.

Executors: harness/plan/local_executor.py (in-process, or N worker processes, one per GPU) and
harness/plan/ray_executor.py (Ray tasks). Both call `execute_config` on the worker and report each
result to the driver through a `Done` callback.

The driver (this process) alone writes the results database, one transaction per run as results
arrive; workers only read their data file (checked against the run's recorded digest) and return
a RunResult. Resume is by run key: `run_grid` skips every run already done (status ok or null), so
killing the driver and starting the same grid again trains only what is missing; failed runs are
tried again.

The node that ran each run is recorded in the runs table's `node` column ("IP/node-id-prefix" for
Ray, "local:HOSTNAME" otherwise); the column is added to older databases on first use.

Testing hook: NOISEBENCH_GRID_FAULT in the driver's environment is passed to every task:
"raise:DIR[:MATCH]" / "exit:DIR[:MATCH]" make the first attempt of each run (whose label contains
MATCH) raise or kill its worker process (a marker file in DIR remembers the attempt);
"sleep:SECONDS" delays every run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from noisebench.errors import UserError
from noisebench.harness.plan.expand import preflight_all
from noisebench.harness.run.config import RunConfig
from noisebench.harness.run.data import RunResult, code_version
from noisebench.harness.run.runner import execute_run
from noisebench.safety.signals import check as check_interrupted

FAULT_ENV = "NOISEBENCH_GRID_FAULT"


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


def split_done(configs: list[RunConfig], db, force: bool = False,
               is_done: Callable[[RunConfig, object], bool] | None = None) -> tuple[list[RunConfig], list[RunConfig]]:
    """(to run, already done), each run key once: done = `is_done(config, db)`, by default recorded with
    status ok or null (failed runs are run again)."""
    todo, done, seen = [], [], set()
    for c in configs:
        k = c.key()
        if k in seen:
            continue
        seen.add(k)
        finished = not force and (is_done(c, db) if is_done is not None else db.has(k))
        (done if finished else todo).append(c)
    return todo, done


def failed_result(cfg: RunConfig, error: str) -> RunResult:
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


def run_outputs(checkpoint_dir=None, tensorboard_dir=None) -> dict:
    """What a worker writes besides the result: execute_run's checkpoint_dir / tensorboard_dir (as str)."""
    return {k: str(v) for k, v in (("checkpoint_dir", checkpoint_dir), ("tensorboard_dir", tensorboard_dir)) if v is not None}


def execute_config(cfg_dict: dict, fault: str | None = None, where: str = "", checkpoint_dir: str | None = None,
                   tensorboard_dir: str | None = None, progress: str = "quiet") -> RunResult:
    """Train one run on this machine. Setup errors (UserError: missing file, digest mismatch, ...)
    become a failed result; anything else escapes (so Ray retries it). `progress`: a mode of
    noisebench/progress.py (workers get "lines" or "quiet")."""

    cfg = RunConfig.from_dict(cfg_dict)
    _fault(fault, cfg)
    try:
        return execute_run(cfg, progress=progress, checkpoint_dir=checkpoint_dir, tensorboard_dir=tensorboard_dir)
    except UserError as e:
        return failed_result(cfg, f"{e}" + (f" (on {where})" if where else ""))


# -- what an executor reports: (config, its result, the node it ran on) -----------------------
Done = Callable[[RunConfig, RunResult, str], None]


# -- the driver --------------------------------------------------------------------------------
def run_grid(configs: list[RunConfig], db, executor, force: bool = False, preflight: bool = True,
             on_result: Callable[[RunConfig, RunResult, str | None, GridOutcome], None] | None = None,
             is_done: Callable[[RunConfig, object], bool] | None = None) -> GridOutcome:
    """Run every config not done in `db` on `executor`, recording each result as it arrives; each run key once.

    `preflight` checks every (file, model, activation) on the driver before any run starts (bad
    input fails the whole grid at once, as a UserError). `is_done(config, db)`: see split_done. Callers go
    through harness/plan/study_runner.py (`run_configs`), which adds progress and the executor choice."""

    todo, done_already = split_done(configs, db, force, is_done)
    out = GridOutcome(planned=len(todo) + len(done_already))
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
