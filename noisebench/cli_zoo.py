"""CLI: `zoo` -- list the activation functions and models that `--activation` / `--model` accept."""

from __future__ import annotations

import typer

from noisebench.cli import app


def _param_count(build) -> int:
    """Parameters of a module built on the meta device (no memory, no RNG use, fast)."""
    import torch

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@app.command(epilog="Example: noisebench zoo")
def zoo():
    """List activations (with their own trainable parameter count) and models (with their parameter
    count using relu at the default input shape).

    Any nn.Module class also works as an activation: --activation mypkg.mod:MyAct.
    """
    from noisebench.harness.activations import ACTIVATIONS
    from noisebench.harness.models import MODELS, build_model

    typer.echo("activations (name, trainable parameters, formula):")
    for name, spec in ACTIVATIONS.items():
        typer.echo(f"  {name:<11} {_param_count(spec.factory):>3}  {spec.description}")
    typer.echo("  (aliases: silu -> swish, leakyrelu -> leaky_relu; or your own: --activation mypkg.mod:MyAct)")
    typer.echo("")
    typer.echo("models (name, parameters with relu, task, default input, description):")
    for name, spec in MODELS.items():
        outputs = 1 if spec.task == "regression" else 10
        n = _param_count(lambda: build_model(name, "relu", spec.default_input, outputs))
        shape = "x".join(str(s) for s in spec.default_input)
        typer.echo(f"  {name:<12} {n:>11,}  {spec.task:<14} {shape:<8} {spec.description}")
