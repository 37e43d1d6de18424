"""Untrusted compressed sources are inflated only as far as their own header allows: a small idx.gz
that expands to hundreds of megabytes is refused after the bytes its header announces."""

from __future__ import annotations

import gzip
import struct
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_mnist_idx  # noqa: E402


def test_idx_gzip_bomb_is_refused_at_the_announced_size(cli, tmp_path):
    d = write_mnist_idx(tmp_path / "src", 20, 10)
    r = cli("make", "mnist", "--source", d, "--no-verify", "--val-size", "3", "--out", tmp_path / "ok")
    assert r.code == 0, r.err  # the genuine files build (and every module the command needs is imported)
    bomb = d / "t10k-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as g:  # announces 10 images of 28x28, holds 300 MB
        g.write(struct.pack(">IIII", 2051, 10, 28, 28))
        for _ in range(300):
            g.write(bytes(1 << 20))
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        r = cli("make", "mnist", "--source", d, "--no-verify", "--out", tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.code == 2 and "7856 bytes its idx header announces" in r.err and len(r.err.strip().splitlines()) == 1
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB held while refusing a 300 MB inflation"
    assert not (tmp_path / "out" / "mnist.h5").exists()
    # a header that announces more than the idx cap is refused before its data is inflated
    with gzip.open(bomb, "wb") as g:
        g.write(struct.pack(">IIII", 2051, 5_000_000, 4096, 4096))
    r = cli("make", "mnist", "--source", d, "--no-verify", "--out", tmp_path / "out")
    assert r.code == 2 and "header announces" in r.err and "larger than" in r.err
