"""Null-run detection: a run that diverged is stopped early and recorded as null with its cause.

Three causes (docs/PROTOCOL.md, "null run"):
- "non-finite loss": the training or validation loss became NaN or infinite;
- "chance accuracy": for classification with at least `min_epochs_total` epochs, validation top-1
  accuracy is at most 1/num_classes + margin after epoch `after_epoch` (1-based) or later;
- "worse than the mean": for regression with at least `min_epochs_total` epochs, the validation MSE
  is above `mean_mse` (the validation MSE of predicting the training targets' mean, a model with no
  input at all) after epoch `after_epoch` or later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DivergencePolicy:
    margin: float = 0.02
    after_epoch: int = 2
    min_epochs_total: int = 3
    mean_mse: float | None = None  # regression: val MSE of the constant prediction mean(y_train)

    def check(self, epoch: int, total_epochs: int, metrics: dict, num_classes: int | None) -> str | None:
        """Return the null cause after `epoch` (1-based), or None if the run looks healthy."""
        for k in ("train_loss", "val_loss"):
            v = metrics.get(k)
            if v is not None and not math.isfinite(v):
                return f"non-finite {k.replace('_', ' ')} at epoch {epoch}"
        acc = metrics.get("val_acc")
        if (
            num_classes
            and acc is not None
            and total_epochs >= self.min_epochs_total
            and epoch >= self.after_epoch
            and acc <= 1.0 / num_classes + self.margin
        ):
            return f"chance accuracy at epoch {epoch} (val top-1 {acc:.3f} <= 1/{num_classes} + {self.margin:g})"
        mse = metrics.get("val_loss")
        if (
            not num_classes
            and self.mean_mse is not None
            and mse is not None
            and total_epochs >= self.min_epochs_total
            and epoch >= self.after_epoch
            and mse > self.mean_mse
        ):
            return (f"worse than the mean at epoch {epoch} (val MSE {mse:.4g} > {self.mean_mse:.4g}, "
                    "the val MSE of predicting the training mean)")
        return None


def mean_predictor_mse(y_train, y_val) -> float:
    """Val MSE of predicting mean(y_train) for every row (float64; torch tensors or arrays)."""
    import numpy as np

    yt = np.asarray(y_train.detach().cpu() if hasattr(y_train, "detach") else y_train, dtype=np.float64)
    yv = np.asarray(y_val.detach().cpu() if hasattr(y_val, "detach") else y_val, dtype=np.float64)
    return float(np.mean(np.square(yv.reshape(-1) - yt.mean())))
