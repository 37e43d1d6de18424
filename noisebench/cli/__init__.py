"""The `noisebench` command line (Typer): this package holds the app, one thin module per command group
(noisebench/cli/*.py) over the library functions (nb.build, the harness), which tests call directly.

Every user mistake ends as one line on stderr, `error: ...`, and a non-zero exit; tracebacks
only with `--debug` (or NOISEBENCH_DEBUG=1).
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc

# typer >= 0.20 moved Abort out of its vendored click (typer.Abort); looking up a missing
# _click_exc.Abort inside `except` turned every unexpected error into an AttributeError traceback.
_Abort = getattr(_click_exc, "Abort", None) or getattr(typer, "Abort", None) or KeyboardInterrupt

from noisebench import __version__
from noisebench.errors import UserError
from noisebench.safety.text import clean

app = typer.Typer(
    name="noisebench",
    help=(
        "Reproducible corrupted datasets (HDF5) and a benchmark of activation functions on clean vs dirty data.\n\n"
        "Example: noisebench synth --rows 7000 && noisebench info datasets_cache/synth-7000-dirty.h5"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
make_app = typer.Typer(
    help="Build an image dataset into HDF5.\n\nExample: noisebench make psi --level 16",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(make_app, name="make")

_state = {"debug": bool(os.environ.get("NOISEBENCH_DEBUG"))}

# Command modules register themselves on `app` / `make_app` when imported.
COMMAND_MODULES = [
    "noisebench.cli.data",
    "noisebench.cli.images",
    "noisebench.cli.corrupt",
    "noisebench.cli.sources",
    "noisebench.cli.zoo",
    "noisebench.cli.train",
    "noisebench.cli.robustness",
    "noisebench.cli.report",
    "noisebench.cli.lr_find",
    "noisebench.cli.grid",
    "noisebench.cli.study",
    "noisebench.cli.export",
    "noisebench.cli.evaluate",
    "noisebench.cli.share",
]


def _version(value: bool):
    if value:
        typer.echo(f"noisebench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    plugin: list[str] = typer.Option(
        None, "--plugin",
        help="Load a plug-in first: a .py file or a module name that registers corruptions, sources, models or "
             "activations with noisebench.register_* (repeatable; worker processes load it too). "
             "Example: noisebench --plugin myplug.py zoo",
    ),
):
    if debug:
        _state["debug"] = True
    if plugin:
        from noisebench.registry.plugins import load_plugin

        for p in plugin:
            load_plugin(p)


def _load_commands() -> None:
    for mod in COMMAND_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def _one_line(msg: str) -> str:
    """One terminal-safe line: whitespace runs collapsed, control characters escaped."""
    return clean(" ".join(str(msg).split()))


def _interrupted(signum: int) -> None:
    import signal as _signal

    name = _signal.Signals(signum).name if signum in iter(_signal.Signals) else f"signal {signum}"
    print(f"error: interrupted ({name}); finished work is kept, unfinished outputs were removed", file=sys.stderr)
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    from noisebench.safety import signals

    restore = signals.install()
    try:
        _main(argv)
    finally:
        restore()


def _main(argv: list[str] | None) -> None:
    from noisebench.safety import signals

    _load_commands()
    try:
        rv = app(args=argv, prog_name="noisebench", standalone_mode=False)
    except UserError as e:
        if _state["debug"]:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        sys.exit(e.exit_code)
    except _click_exc.ClickException as e:
        print(f"error: {_one_line(e.format_message())} (see --help)", file=sys.stderr)
        sys.exit(e.exit_code)
    except _Abort:
        _interrupted(signals.received() or 2)
    except KeyboardInterrupt as e:
        _interrupted(getattr(e, "signum", None) or signals.received() or 2)
    except OSError as e:
        if _state["debug"]:
            raise
        from noisebench.safety.outputs import disk_error

        why = disk_error(e) or e.strerror or e
        where = f" ({_one_line(e.filename)})" if getattr(e, "filename", None) else ""
        print(f"error: {_one_line(why)}{where}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the last resort: still one line
        if _state["debug"]:
            raise
        print(f"error: {type(e).__name__}: {_one_line(e)} (rerun with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)
    if signals.received():  # typer turns KeyboardInterrupt into a plain exit code 130
        _interrupted(signals.received())
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
