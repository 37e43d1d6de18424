"""CLI: `lr-find`, the LR range test (thin over harness/run/lr_finder.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from noisebench.cli import app
from noisebench.errors import UserError
from noisebench.safety.text import clean


@app.command("lr-find", epilog="Example: noisebench lr-find --model resnet18_tv --data datasets_cache/cifar10-psi16.h5 --plot lr_find.png")
def lr_find_cmd(
    data: Path = typer.Option(..., "--data", help="A noisebench HDF5 file."),
    model: Optional[str] = typer.Option(None, help="Model (default: the dataset's recipe)."),
    activation: str = typer.Option("relu", help="Activation name or pkg.module:Class."),
    optimizer: Optional[str] = typer.Option(None, help="adam, adamw or sgd (default: recipe)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: recipe)."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (default: recipe)."),
    start_lr: float = typer.Option(1e-7, help="First LR of the sweep."),
    end_lr: float = typer.Option(10.0, help="Last LR of the sweep."),
    iters: int = typer.Option(100, help="Steps in the sweep (exponentially spaced LRs)."),
    seed: int = typer.Option(0, help="Seed of the weights and data order."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    plot: Optional[Path] = typer.Option(None, help="Save the loss-vs-LR plot here (PNG; .pdf/.svg by suffix)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --plot file."),
):
    """LR range test: exponential LR sweep, smoothed loss, suggestion at the steepest descent."""
    from noisebench.harness.plan.expand import config_from_recipe
    from noisebench.harness.plan.pairs import file_meta
    from noisebench.harness.run.checks import preflight
    from noisebench.harness.run.data import data_role
    from noisebench.harness.run.lr_finder import lr_find
    from noisebench.harness.run.lr_finder import plot as plot_lr
    from noisebench.harness.run.recipes import RECIPES, recipe_for
    from noisebench.safety import bounds

    bounds.check_lr(start_lr, "--start-lr")
    bounds.check_lr(end_lr, "--end-lr")
    bounds.check_int(iters, "--iters", 1, bounds.MAX_LR_FIND_ITERS)
    bounds.check_seed(seed)
    meta = file_meta(data)
    try:
        recipe = recipe_for(meta)
    except UserError:
        if model is None:
            raise
        recipe = RECIPES["cifar10"]
    recipe = recipe.with_overrides(model=model, optimizer=optimizer, batch_size=batch_size, weight_decay=weight_decay,
                                   lr=start_lr, lr_policy="fixed", epochs=1)
    cfg = config_from_recipe(data, data_role(meta), recipe, activation, seed, device)
    preflight(cfg)
    plot_format = _check_plot_path(plot, force) if plot is not None else None  # before the sweep
    res = lr_find(cfg, start_lr, end_lr, iters, progress=True)
    if res.suggestion is None:
        raise UserError(f"the loss diverged too early to suggest an LR ({len(res.lrs)} finite steps); lower --start-lr or raise --iters")
    typer.echo(f"suggested LR (steepest descent of the smoothed loss): {res.suggestion:.3g}  "
               f"(swept {res.lrs[0]:.1e} .. {res.lrs[-1]:.1e} in {len(res.lrs)} steps; minimum smoothed loss at "
               f"{res.lrs[int(min(range(len(res.smoothed)), key=res.smoothed.__getitem__))]:.3g})")
    if plot is not None:
        from noisebench.safety.outputs import atomic_output

        with atomic_output(plot, force, what="plot") as tmp:  # exclusive without --force; never through a symlink
            plot_lr(res, tmp, title=f"LR range test: {cfg.model}/{cfg.activation} on {Path(cfg.data).name}",
                    fmt=plot_format)
        typer.echo(clean(f"wrote {plot}"))


def _check_plot_path(plot: Path, force: bool) -> str:
    """Refuse a bad --plot before any work; returns the image format its suffix names."""
    from matplotlib.backend_bases import FigureCanvasBase

    from noisebench.safety.outputs import check_final

    fmt = plot.suffix.lower().lstrip(".") or "png"
    if fmt not in FigureCanvasBase.get_supported_filetypes():
        raise UserError(f"--plot {plot}: unsupported image type .{fmt} (use .png, .pdf or .svg)")
    check_final(plot, force, what="--plot")
    folder = plot.parent if str(plot.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--plot {plot}: cannot create folder {folder} ({e.strerror or e})") from None
    return fmt
