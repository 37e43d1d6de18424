"""noisebench: reproducible corrupted datasets and an activation-robustness benchmark harness."""

__version__ = "0.1.0"
