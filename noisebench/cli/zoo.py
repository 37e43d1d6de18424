"""CLI: `zoo` -- list the activation functions and models that `--activation` / `--model` accept, the
corruptions and the data sources (`make ... --source`)."""

from __future__ import annotations

import typer

from noisebench.cli import app


@app.command(epilog="Example: noisebench zoo")
def zoo():
    """List activations (with their own trainable parameter count), models (with their parameter
    count using relu at the default input shape), corruptions (with their parameters and
    severities) and data sources (with their default model and augmentation), plug-ins included
    (noisebench --plugin FILE zoo).

    Any nn.Module class also works as an activation: --activation mypkg.mod:MyAct.
    """
    from noisebench.harness.zoo_catalog import rows

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
    from noisebench.registry import SOURCES

    typer.echo("")
    typer.echo("sources (name, official files, default model, augmentation, description; make ... --source PATH):")
    for e in SOURCES.entries():
        recipe = e.meta.get("recipe") or {}
        official = "official" if e.meta.get("official") else "-"
        origin = "" if e.builtin else f"  [{e.origin}]"
        typer.echo(f"  {e.name:<18} {official:<8} {recipe.get('model', '(by image size)'):<16} "
                   f"{e.meta.get('augment', 'none'):<9} {e.description}{origin}")
