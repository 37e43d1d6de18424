"""SIGINT / SIGTERM / SIGHUP handling for the CLI, and lifetime rules for worker processes.

The first signal raises `Interrupted` (a KeyboardInterrupt) in the main thread, so everything
unwinds the normal way: writers remove their temp files, executors terminate their workers,
finished runs stay recorded; the CLI prints one line and exits 128 + signal number (130 for
Ctrl-C, 143 for SIGTERM). A second signal during that cleanup removes the registered temp files
and exits at once. SIGXFSZ is ignored so that a file-size limit (`ulimit -f`) makes write() fail
with EFBIG, reported as one line, instead of killing the process.

Workers (`worker_init`) ignore SIGINT (the parent decides), and on Linux ask the kernel to
SIGKILL them when their parent dies (PR_SET_PDEATHSIG), so a SIGKILLed driver leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

HANDLED = ("SIGINT", "SIGTERM", "SIGHUP")
PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover
            return f"signal {self.signum}"


_state = {"hits": 0, "signum": None}


def received() -> int | None:
    """The signal number that interrupted this command (None if none did)."""
    return _state["signum"]


def check() -> None:
    """Raise Interrupted if a signal came but its exception was swallowed (a signal handler's exception
    raised inside a destructor or weakref callback is only printed by Python); called at safe points."""
    if _state["signum"] is not None and threading.current_thread() is threading.main_thread():
        raise Interrupted(_state["signum"])


def _handler(signum, frame):
    _state["hits"] += 1
    _state["signum"] = _state["signum"] or signum
    if _state["hits"] > 1:  # impatient second signal: clean up and leave now
        from noisebench.safety.outputs import cleanup_registered

        cleanup_registered()
        try:
            sys.stderr.write(f"error: interrupted again ({signal.Signals(signum).name}); exiting now\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(128 + signum)
    raise Interrupted(signum)


def _quiet_unraisable(default):
    """An Interrupted raised inside a destructor or weakref callback cannot propagate; Python would print it as
    "Exception ignored in ..." with a traceback. It is remembered (`check`) and reported once, as one line, by the
    command: print nothing for it here; every other unraisable exception goes to the previous hook."""

    def hook(unraisable):
        if isinstance(unraisable.exc_value, Interrupted):
            return
        default(unraisable)

    hook._noisebench = True
    return hook


def install():
    """Install the handlers (main thread only); returns a function restoring the previous ones."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _state["hits"], _state["signum"] = 0, None
    previous = {}
    hook = sys.unraisablehook
    if not getattr(hook, "_noisebench", False):
        sys.unraisablehook = _quiet_unraisable(hook)
    for name in HANDLED + ("SIGXFSZ",):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, signal.SIG_IGN if name == "SIGXFSZ" else _handler)
        except (OSError, ValueError):  # pragma: no cover - not settable here
            pass

    def restore():
        _state["hits"], _state["signum"] = 0, None
        for sig, h in previous.items():
            try:
                signal.signal(sig, h if h is not None else signal.SIG_DFL)
            except (OSError, ValueError):  # pragma: no cover
                pass

    return restore


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: the kernel SIGKILLs this process when its parent dies. Elsewhere a daemon thread
    polls the parent and exits when it is gone."""
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                if parent_pid is not None and os.getppid() != parent_pid:  # died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if parent_pid is None:
        parent_pid = os.getppid()

    def watch():  # pragma: no cover - non-Linux fallback

        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="nb-parent-watch").start()


def worker_init(parent_pid: int | None = None) -> None:
    """Call first in every worker process: ignore Ctrl-C (the parent stops us), die with the parent.

    Workers started under `sigint_blocked` had SIGINT blocked from their first instruction (a Ctrl-C
    to the process group while they import is pending, not a traceback); ignoring it discards it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent_pid)


@contextlib.contextmanager
def sigint_blocked():
    """Block SIGINT in this thread while it starts worker processes: a child inherits the mask across
    fork and exec, so a Ctrl-C that reaches the process group while a worker is still starting up
    (importing, before `worker_init`) stays pending there and is discarded, never a traceback from
    multiprocessing's spawn. In this process it is delivered when the block ends (or to another thread
    meanwhile), and the command stops as for any Ctrl-C."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_REAPER = """
import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
pids = set()
for line in sys.stdin:
    line = line.strip()
    if line == "done":
        sys.exit(0)
    if line.isdigit():
        pids.add(int(line))
for pid in pids:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


class Reaper:
    """A tiny watchdog process that SIGKILLs the registered worker pids when this process dies.

    Workers set PR_SET_PDEATHSIG only once their initializer runs, after seconds of imports; if the
    driver is SIGKILLed before that, the watchdog (which sees its stdin pipe close) kills them."""

    def __init__(self):
        self.proc = None
        try:
            self.proc = subprocess.Popen([sys.executable, "-S", "-c", _REAPER], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        except OSError:  # pragma: no cover - workers still die at their initializer
            self.proc = None

    def add(self, pids) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.write("".join(f"{int(p)}\n" for p in pids))
            self.proc.stdin.flush()
        except (OSError, ValueError):  # pragma: no cover
            pass

    def close(self) -> None:
        """Normal end: the workers are gone already; let the watchdog exit without killing anything."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write("done\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            self.proc.kill()
        self.proc = None
