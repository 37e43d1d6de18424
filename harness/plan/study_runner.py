"""The one study runner: `grid`, `robustness` (train-time and test-time), `study`, `nb.Study` and
`nb.run_study` all train their runs through `run_configs`, on the executor `make_executor` gives.

One resume rule: a run is trained unless it is done, and `is_done(config, db)` decides what done means --
by default its key is in the database with status ok or null (`runs_in_db`; failed runs are tried
again); the test-time protocol also needs the run's saved selected weights (`with_weights`). Each run
key is trained once, however many times it is planned (two dirty files sharing a clean twin plan the
clean runs twice). `force` trains every planned run again.

    from noisebench.harness.plan.study_runner import make_executor, run_configs
    with ResultsDB(db) as rdb:
        outcome = run_configs(configs, rdb, make_executor("ray", address="auto"), progress="lines")
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from noisebench.errors import UserError
from noisebench.harness.plan.driver import GridOutcome, run_grid
from noisebench.harness.run.config import RunConfig
from noisebench.progress import StudyProgress

IsDone = Callable[[RunConfig, object], bool]
EXECUTORS = ("local", "ray")


def runs_in_db(config: RunConfig, db) -> bool:
    """Done when the run key is recorded with status ok or null (the train-time rule)."""
    return db.has(config.key())


def with_weights(weights_of: Callable[[str], Path]) -> IsDone:
    """Done when the run key is recorded and `weights_of(key)` is a file (the test-time rule: its
    evaluations need the selected weights; a run recorded without them is trained again)."""

    def is_done(config: RunConfig, db) -> bool:
        return db.has(config.key()) and Path(weights_of(config.key())).is_file()

    return is_done


def make_executor(kind: str = "local", jobs: int = 1, checkpoint_dir=None, tensorboard_dir=None,
                  progress: str = "quiet", address: str | None = None, **ray_options):
    """"local" (`jobs` worker processes) or "ray" (`address`: None, auto, HOST:PORT; `ray_options`:
    gpus_per_run, cpus_per_run, retries, max_in_flight, spread)."""

    if kind == "ray":
        from noisebench.harness.plan.ray_executor import RayExecutor  # ray is optional: imported only when asked for

        return RayExecutor(address=address, checkpoint_dir=checkpoint_dir, tensorboard_dir=tensorboard_dir,
                           progress=progress, **ray_options)
    if kind == "local":
        from noisebench.harness.plan.local_executor import LocalExecutor

        return LocalExecutor(jobs=jobs, checkpoint_dir=checkpoint_dir, progress=progress,
                             tensorboard_dir=tensorboard_dir)
    raise UserError(f"--executor must be {' or '.join(EXECUTORS)}, got {kind!r}")


def unique(configs: list[RunConfig]) -> list[RunConfig]:
    """The configs in order, each run key once."""
    seen: set = set()
    return [c for c in configs if not (c.key() in seen or seen.add(c.key()))]


def count_todo(configs: list[RunConfig], db, force: bool = False, is_done: IsDone | None = None) -> int:
    is_done = is_done or runs_in_db
    return sum(1 for c in unique(configs) if force or not is_done(c, db))


def run_configs(configs: list[RunConfig], db, executor, force: bool = False, progress: str = "quiet",
                is_done: IsDone | None = None, preflight: bool = True,
                on_result: Callable[[RunConfig, object, str | None, GridOutcome], None] | None = None) -> GridOutcome:
    """Train every planned run that is not done (`is_done`, default `runs_in_db`) on `executor`, recording
    each result in the open results database `db` as it arrives; progress as noisebench/progress.py shows it.

    Returns the GridOutcome (planned = distinct run keys; skipped = done before; ran, ok, null, failed)."""

    is_done = is_done or runs_in_db
    configs = unique(configs)
    with StudyProgress(progress, count_todo(configs, db, force, is_done)) as bar:

        def step(c, res, node, out):
            bar.done(c, res, node)
            if on_result is not None:
                on_result(c, res, node, out)

        return run_grid(configs, db, executor, force=force, preflight=preflight, on_result=step, is_done=is_done)
