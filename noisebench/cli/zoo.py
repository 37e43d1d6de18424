"""CLI: `zoo` -- list the activation functions and models that `--activation` / `--model` accept."""

from __future__ import annotations

import typer

from noisebench.cli import app


@app.command(epilog="Example: noisebench zoo")
def zoo():
    """List activations (with their own trainable parameter count), models (with their parameter
    count using relu at the default input shape) and corruptions (with their parameters and
    severities), plug-ins included (noisebench --plugin FILE zoo).

    Any nn.Module class also works as an activation: --activation mypkg.mod:MyAct.
    """
    from noisebench.zoo_catalog import rows

    def origin(o: str) -> str:
        return f"  [{o}]" if o else ""

    zoo_rows = rows()  # built-ins from the shipped catalog (no torch import); plug-ins counted live
    typer.echo("activations (name, trainable parameters, formula):")
    for name, n, description, o in zoo_rows["activations"]:
        typer.echo(f"  {name:<11} {n:>3}  {description}{origin(o)}")
    typer.echo("  (aliases: silu -> swish, leakyrelu -> leaky_relu; or your own: --activation mypkg.mod:MyAct)")
    typer.echo("")
    typer.echo("models (name, parameters with relu, task, default input, description):")
    for name, n, task, shape, description, o in zoo_rows["models"]:
        typer.echo(f"  {name:<12} {n:>11,}  {task:<14} {shape:<8} {description}{origin(o)}")
    from noisebench.registry import CORRUPTIONS

    typer.echo("")
    typer.echo("corruptions (name, acts on, parameters with defaults; severities 1-5 below; noisebench make corrupt list):")
    for e in CORRUPTIONS.entries():
        params = ", ".join(f"{k}={v!r}" for k, v in e.meta.get("params", {}).items()) or "-"
        sev = e.meta.get("severities") or {}
        origin = "" if e.builtin else f"  [{e.origin}]"
        typer.echo(f"  {e.name:<18} {e.meta.get('target', '?'):<7} {params}{origin}")
        if sev:
            levels = "; ".join("/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in sev[s].values())
                               for s in sorted(sev))
            typer.echo(f"  {'':<18} {'':<7} severities: {levels}")
