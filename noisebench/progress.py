"""Progress of builds, runs and studies, in one place.

Three modes, chosen once per command (`choose`):

* ``bars`` (stdout and stderr are terminals): tqdm bars on stderr — the study's runs with an ETA,
  the current run's epochs, and a batch bar that appears only for epochs longer than a second.
  Messages go through ``tqdm.write`` so they never glue onto a bar.
* ``lines`` (anything else: CI, nohup, ``| cat``, worker processes, Ray workers): no bars, one
  plain line per epoch and one per finished run (with the count and an ETA), flushed at once.
* ``quiet`` (``--quiet``): nothing but the command's own summary.

``NOISEBENCH_PROGRESS=bars|lines|quiet`` overrides the choice (e.g. lines on a terminal).
Worker processes never draw bars: they print lines when the driver prints lines, else nothing.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

from noisebench.safety.text import clean

MODES = ("bars", "lines", "quiet")
ENV = "NOISEBENCH_PROGRESS"
BATCH_BAR_DELAY_S = 1.0  # the batch bar shows only for epochs longer than this


def _tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def choose(quiet: bool = False) -> str:
    """The mode for this process: quiet when asked, else the environment's choice, else by terminal."""
    if quiet:
        return "quiet"
    env = os.environ.get(ENV, "").strip().lower()
    if env in MODES:
        return env
    return "bars" if _tty(sys.stdout) and _tty(sys.stderr) else "lines"


def worker_mode(mode: str) -> str:
    """What a worker process (another process, a Ray worker) shows: lines under lines, else nothing."""
    return "lines" if mode == "lines" else "quiet"


def say(text: str, mode: str) -> None:
    """One message on stdout that never glues onto a bar (nothing in quiet mode)."""
    if mode == "quiet":
        return

    text = clean(text)  # names and errors come from files and the database: no control characters
    if mode == "bars":
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)
        sys.stdout.flush()
    else:  # one write of the whole line: lines of parallel worker processes never run into each other
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def bar(total: int, desc: str, unit: str = "row", mode: str | None = None):
    """A tqdm bar on stderr for a build; hidden (a no-op) unless the mode is bars."""

    mode = choose() if mode is None else mode
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=mode != "bars", leave=False,
                file=sys.stderr)


def fmt_duration(s: float) -> str:
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def epoch_line(m: dict, label: str | None = None, epochs: int | None = None) -> str:
    """'LABEL  epoch  3/10  lr 0.001  train loss 0.41  val loss 0.45  val top-1 0.81  1234/s'."""
    ep = f"epoch {m['epoch']:>3}" + (f"/{epochs}" if epochs else "")
    parts = ([label] if label else []) + [ep, f"lr {m['lr']:.3g}", f"train loss {m['train_loss']:.4g}"]
    for k, lab in (("val_loss", "val loss"), ("val_acc", "val top-1"), ("val_top3", "val top-3"),
                   ("test_loss", "test loss"), ("test_acc", "test top-1")):
        if k in m:
            parts.append(f"{lab} {m[k]:.4g}")
    parts.append(f"{m.get('samples_per_s', 0):.0f}/s")
    return "  ".join(parts)


def run_outcome(res) -> str:
    """'ok val_acc = 0.8123', 'null run: <cause>' or 'failed: <error>' for a RunResult."""
    f = res.final or {}
    if res.status == "failed":
        return f"failed: {res.error}"
    if res.status == "null":
        return f"null run: {res.null_cause}"
    v = f.get("metric_value")
    return f"ok {f.get('metric')} = {v:.4g}" if v is not None else "ok"


class RunProgress:
    """One run's epochs (and batches): a bar per run in bars mode, one line per epoch in lines mode."""

    def __init__(self, mode: str, label: str, epochs: int, steps: int = 0):
        self.mode, self.label, self.epochs, self.steps = mode, label, epochs, steps
        self._bar = self._batches = None
        if mode == "bars":
            from tqdm import tqdm

            self._bar = tqdm(total=epochs, desc=label, unit="epoch", leave=False,
                             file=sys.stderr, dynamic_ncols=True)

    def batch(self) -> None:
        if self._bar is None or self.steps <= 1:
            return
        if self._batches is None:  # one per epoch; tqdm's delay keeps it hidden for short epochs
            from tqdm import tqdm

            self._batches = tqdm(total=self.steps, desc="  batches", unit="batch", leave=False,
                                 delay=BATCH_BAR_DELAY_S, file=sys.stderr, dynamic_ncols=True)
        self._batches.update(1)

    def epoch(self, m: dict) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: f"{m[k]:.4g}" for k in ("train_loss", "val_loss", "val_acc") if k in m},
                                  refresh=False)
            if self._batches is not None:
                self._batches.close()
                self._batches = None
            self._bar.update(1)
        elif self.mode == "lines":
            say(epoch_line(m, self.label, self.epochs), "lines")

    def close(self) -> None:
        for b in (self._batches, self._bar):
            if b is not None:
                b.close()
        self._bar = self._batches = None


class StudyProgress:
    """The runs of a study: one bar with an ETA (bars) or one line per finished run with the count
    and an ETA (lines). Use as a context manager; `done(cfg, res, node)` after each recorded run."""

    def __init__(self, mode: str, total: int, desc: str = "runs", skipped: int = 0):
        self.mode, self.total, self.skipped = mode, total, skipped
        self.finished = 0
        self._t0 = time.monotonic()
        self._bar = None
        if mode == "bars" and total > 0:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True)

    def eta(self) -> str:
        if not self.finished or self.finished >= self.total:
            return ""
        per = (time.monotonic() - self._t0) / self.finished
        return f", eta {fmt_duration(per * (self.total - self.finished))}"

    def done(self, cfg, res, node: str | None = None) -> None:
        self.finished += 1
        if self._bar is not None:
            self._bar.set_postfix_str(f"{cfg.label()} {res.status}", refresh=False)
            self._bar.update(1)
        line = (f"[{self.finished}/{self.total}] {cfg.label()} {run_outcome(res)} "
                f"({res.wall_s:.1f} s{f' on {node}' if node else ''}{self.eta()})")
        say(line, self.mode)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
