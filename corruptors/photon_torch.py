"""ψ-corruption drawn with torch (`torch.poisson`), on a GPU or on the CPU.

The same definition as `poisson_photon.PhotonNoise` (y = clip(rint(Poisson(ψ·x/255)·255/ψ), 0, 255),
round half to even), the same per-block layout (blocks of BLOCK_IMAGES images, each with its own
random stream derived from SeedSequence(seed, spawn_key=(stream, block[, level])), but another sampler:

* on CUDA, torch.poisson uses cuRAND's Poisson sampler (Philox streams); it is exact for
  λ ≤ 4000 and a normal approximation above, so levels ψ > 4000 are refused on CUDA;
* on the CPU, torch.poisson is exact for every λ (product of uniforms for small λ, transformed
  rejection for λ ≥ 10) on torch's CPU generator. The tests check this code path statistically
  (mean, variance and a chi-square against the Poisson pmf per intensity).

Files built this way are a different (equally valid) draw from the table sampler's: their bytes
differ from `--device cpu` builds and between CUDA and CPU torch builds, and may differ between
torch versions. The sampler used is recorded in each file's params (`sampler`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from noisebench.corruptors.poisson_photon import BLOCK_IMAGES, level_stream_key, validate_level
from noisebench.errors import UserError

# torch is imported inside the functions: the corruption registry imports every module of this package
# (`noisebench zoo`, `make corrupt list`), and listing corruptions must not load torch.

CUDA_EXACT_MAX_LAMBDA = 4000.0  # cuRAND's curand_poisson switches to a normal approximation above


def resolve_torch_device(name: str):
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {name!r}; use cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {name!r}; use cpu or cuda[:N]")
    return dev


def block_seed(seed: int, stream: int, block: int, level_key: int | None = None) -> int:
    """The 63-bit torch seed of one block's random stream (the level joins the key with independent levels)."""
    key = (stream, block) if level_key is None else (stream, block, level_key)
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(2, np.uint32)
    return (int(state[0]) | (int(state[1]) << 32)) & ((1 << 63) - 1)


class TorchPhotonNoise:
    """`PhotonNoise` with torch.poisson on `device`: `apply_block`, `iter_blocks`, `apply`."""

    def __init__(self, psi: float, device: str = "cpu", independent_stream: bool = False):
        self.psi = validate_level(psi)
        self.level_key = level_stream_key(self.psi) if independent_stream else None
        self.device = resolve_torch_device(device)
        if self.device.type == "cuda" and self.psi > CUDA_EXACT_MAX_LAMBDA:
            raise UserError(f"--level {self.psi:g} is above {CUDA_EXACT_MAX_LAMBDA:g}, where the CUDA Poisson sampler "
                            "is only a normal approximation; build it with --device cpu")

    @property
    def sampler(self) -> str:
        import torch

        kind = ("cuRAND Philox streams, exact for lambda <= 4000" if self.device.type == "cuda"
                else "torch CPU generator, exact")
        return f"torch.poisson on {self.device.type} ({kind}; torch {torch.__version__})"

    def apply_block(self, x: np.ndarray, seed: int, stream: int, block: int) -> np.ndarray:
        import torch

        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)).to(self.device, non_blocking=True)
        gen = torch.Generator(device=self.device).manual_seed(block_seed(seed, stream, block, self.level_key))
        lam = xt.to(torch.float64) * (self.psi / 255.0)
        k = torch.poisson(lam, generator=gen)
        y = torch.clamp(torch.round(k * (255.0 / self.psi)), 0, 255).to(torch.uint8)  # round: half to even
        return y.cpu().numpy()

    def iter_blocks(self, x: np.ndarray, seed: int, stream: int, workers: int | None = None,
                    blocks_per_job: int = 4) -> Iterator[np.ndarray]:
        """Yield the corrupted images in order, block by block (`workers` is accepted and ignored:
        the device does the parallel work)."""
        n = x.shape[0]
        for b in range((n + BLOCK_IMAGES - 1) // BLOCK_IMAGES):
            yield self.apply_block(x[b * BLOCK_IMAGES : (b + 1) * BLOCK_IMAGES], seed, stream, b)

    def apply(self, x: np.ndarray, seed: int = 0, stream: int = 0) -> np.ndarray:
        parts = list(self.iter_blocks(x, seed, stream))
        return np.concatenate(parts) if parts else np.empty_like(x, dtype=np.uint8)
