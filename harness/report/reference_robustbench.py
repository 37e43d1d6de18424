"""Published reference numbers: RobustBench's standard (non-robust) WideResNet-28-10 on CIFAR-10
(model `Standard`, corruptions leaderboard; Croce et al., *RobustBench*, NeurIPS 2021 Datasets and
Benchmarks), evaluated on the official CIFAR-10-C files: 94.78 % clean, 73.46 % mean over the 15
corruptions × 5 severities. Top-1 accuracy in % per corruption, severities 1..5, as RobustBench
publishes them (model_info/cifar10/corruptions/unaggregated_results.csv).

Usable as `--reference robustbench-standard` for CE / mCE (ImageNet-C's normalisation, here by this
model's errors instead of AlexNet's); comparable only with evaluations on the official files.
"""

from __future__ import annotations

NAME = "robustbench-standard"
CLEAN_ACC = 94.78
MEAN_ACC = 73.46
ACC = {
    "gaussian_noise": (77.78, 57.88, 39.19, 32.61, 27.67),
    "shot_noise": (85.04, 75.73, 53.49, 45.35, 34.29),
    "impulse_noise": (82.89, 69.05, 57.37, 40.11, 27.08),
    "defocus_blur": (94.58, 93.38, 88.98, 77.44, 53.06),
    "glass_blur": (53.43, 55.75, 56.95, 43.19, 45.68),
    "motion_blur": (90.29, 83.85, 74.40, 74.83, 65.25),
    "zoom_blur": (87.71, 84.55, 77.48, 70.29, 57.98),
    "snow": (89.91, 80.43, 83.65, 80.51, 74.93),
    "frost": (89.55, 83.50, 72.61, 70.86, 58.70),
    "fog": (94.51, 93.56, 92.29, 89.59, 73.99),
    "brightness": (94.75, 94.38, 93.78, 92.81, 90.70),
    "contrast": (94.27, 92.16, 89.72, 83.59, 53.31),
    "elastic_transform": (90.47, 90.22, 85.86, 78.94, 73.41),
    "pixelate": (91.95, 86.04, 80.02, 60.35, 41.55),
    "jpeg_compression": (86.36, 79.65, 77.96, 74.15, 69.70),
}


def cells() -> dict:
    """{(corruption, severity): accuracy in [0, 1]}."""
    return {(c, s + 1): v / 100 for c, vals in ACC.items() for s, v in enumerate(vals)}
