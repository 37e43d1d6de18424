"""ψ ("psi"): photon-limited Poisson noise of peak ψ, registered as an image corruption.

    y = clip(round(Poisson(ψ·x/255) · 255/ψ), 0, 255)

ψ plays the role of c in CIFAR-10-C's shot noise ``poisson(x·c)/c``; its severities 1-5 are
c = 500, 250, 100, 75, 50 (ψ = 64 lies between severities 4 and 5; ψ = 32, 16, 8 are harsher than
5). The paper set is ψ in {8, 16, 32, 64}. The exact sampler is ``PhotonNoise`` in
``poisson_photon.py``; file builds (``noisebench make psi --level 16``, which is ``noisebench make
corrupt psi --param level=16``) call it with per-block streams (the ψ file kind,
generators/builds/psi.py), and this entry draws one seed from ``rng`` for the same sampler.
"""

from __future__ import annotations

import numpy as np

from noisebench.corruptors.poisson_photon import PhotonNoise, validate_level
from noisebench.registry import register_corruption


@register_corruption(
    "psi", target="images", ranges={"level": (1e-3, 1e6)}, tag="psi",
    description="photon-limited Poisson noise of peak psi: clip(round(Poisson(psi*x/255)*255/psi))",
    reference="noisebench's definition of the psi-corrupted CIFAR-10 (docs/IMAGES.md)",
    level_label="ψ (photon count scale; lower = noisier)",  # the x-axis of reports' Δ-versus-level plots
    file_kind="psi",  # its files: cifar10-psi16.h5, kind "psi", the sampler's own streams (generators/builds/psi.py)
)
def psi(x: np.ndarray, rng: np.random.Generator, *, level: float = 16.0) -> np.ndarray:
    """x: uint8 (N, H, W, C) -> uint8 of the same shape; the paper set is level 8, 16, 32, 64."""
    seed = int(rng.integers(0, 2**63 - 1))
    return PhotonNoise(validate_level(level)).apply(np.ascontiguousarray(x, dtype=np.uint8), seed=seed, workers=1)
