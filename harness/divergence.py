"""Null-run detection: a run that diverged is stopped early and recorded as null with its cause.

Two causes (docs/STUDIES.md §5):
- "non-finite loss": the training or validation loss became NaN or infinite;
- "chance accuracy": for classification with at least `min_epochs_total` epochs, validation top-1
  accuracy is at most 1/num_classes + margin after epoch `after_epoch` (1-based) or later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DivergencePolicy:
    margin: float = 0.02
    after_epoch: int = 2
    min_epochs_total: int = 3

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
        return None
