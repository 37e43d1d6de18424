"""`noisebench synth` when writing fails between the clean file and its dirty twin (here a file-size
limit the clean file fits under; a full disk takes the same path): neither file is left, never one
without the other."""

from __future__ import annotations

import resource
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import _temps, one_error_line, run_cli  # noqa: E402


def _limit(nbytes: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def _pair_or_nothing(out: Path) -> None:
    names = sorted(p.name for p in out.glob("*.h5")) if out.exists() else []
    assert names in ([], ["synth-2000-clean.h5", "synth-2000-dirty.h5"]), names
    assert not out.exists() or _temps(out) == []


@pytest.mark.parametrize("limit", [124 << 10, 128 << 10])  # the clean file (~120 KiB) fits, its dirty twin does not
def test_synth_file_size_limit_between_the_twins(tmp_path, limit):
    out = tmp_path / "out"
    r = run_cli("synth", "--rows", "2000", "--out", out, preexec_fn=_limit(limit))
    assert r.returncode == 2, (r.returncode, r.stderr)
    line = one_error_line(r.stderr)
    assert "File too large" in line and "synth-2000-dirty.h5" in line  # failed at the twin, after the clean file
    _pair_or_nothing(out)
    assert sorted(p.name for p in out.iterdir()) == []
