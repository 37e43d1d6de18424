"""Defaults shared by the CLI and the library that cost nothing to import (no numpy, torch or h5py):
the CLI's option declarations read them when `noisebench --help` builds its pages."""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUT = Path("datasets_cache")  # where dataset builds write (CLI --out and nb.build's out=)
