"""Tiny files of every dataset kind for the sharing tests (card, get, export-data), built with the real builders."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import build_tiny_image_files, write_npz  # noqa: E402


def build_share_files(tmpdir) -> dict:
    """{'cifar10', 'cifar10-psi16', 'mnist', 'mnist-flip0.1', 'synth-clean', 'synth-dirty', 'lab', 'lab-psi8', 'out'}."""
    from noisebench.generators.builds.images import build_psi
    from noisebench.generators.sources.custom import load_npz
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    tmpdir = Path(tmpdir)
    paths = build_tiny_image_files(tmpdir, n_cifar_train=30, n_cifar_test=10, n_mnist_train=60, n_mnist_test=12)
    out = paths["out"]
    clean, dirty = build(SynthParams(rows=140, cols=6, dirty_frac=0.1, sigma=0.5, seed=3), out)
    paths["synth-clean"], paths["synth-dirty"] = clean, dirty
    import numpy as np

    npz = write_npz(tmpdir / "lab.npz", n_train=24, n_test=8, shape=(8, 8, 3), k=4)
    with np.load(npz) as z:
        arrays = dict(z)
    np.savez(npz, **arrays, class_names=np.array(["ant", "bee", "cow", "dog"]))
    data = load_npz(npz)
    made = build_psi(data, [8], out, seed=2, workers=1, with_clean=True)
    paths["lab"], paths["lab-psi8"] = out / "lab.h5", made[-1]
    return paths
