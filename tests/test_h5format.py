"""The HDF5 dataset format: atomic writes, checksums/verify, info, safe reading, torch access."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from noisebench.errors import UserError
from noisebench.format import DatasetWriter, open_file, verify
from noisebench.generators.synth.files import build
from noisebench.generators.synth.generator import SynthParams


@pytest.fixture(scope="module")
def synth_pair(tmp_path_factory):
    return build(SynthParams(rows=700, seed=0), tmp_path_factory.mktemp("fmt"))


def _write(path, force=False, fail_after=None, images=True):
    w = DatasetWriter(path, kind="clean", params={"a": 1}, seed=0, force=force, attrs={"num_classes": 10})
    with w:
        shape = (300, 8, 8, 3) if images else (300, 4)
        s = w.create("train/x", shape, np.uint8)
        for i in range(3):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("boom")
            s.append(np.full((100,) + shape[1:], i, np.uint8))
        w.write("train/y", np.arange(300, dtype=np.int64) % 10)
    return path


def test_root_attributes_and_layout(tmp_path):
    p = _write(tmp_path / "d.h5")
    with h5py.File(p, "r") as f:
        for a in ("format_version", "noisebench_version", "kind", "params", "seed", "created", "source", "checksums"):
            assert a in f.attrs
        x = f["train/x"]
        assert x.dtype == np.uint8 and x.chunks[0] == 256 and x.compression == "gzip"
        assert len(f["train/x"].attrs["sha256"]) == 64


def test_atomic_write_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        _write(tmp_path / "d.h5", fail_after=1)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_previous_file(tmp_path):
    p = _write(tmp_path / "d.h5")
    before = p.read_bytes()
    with pytest.raises(UserError, match="--force"):
        _write(p)
    with pytest.raises(RuntimeError):
        _write(p, force=True, fail_after=2)
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["d.h5"]


def test_output_path_is_a_directory(tmp_path):
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(UserError, match="directory"):
        _write(tmp_path / "d.h5", force=True)


def test_verify_passes_then_detects_modified_data(tmp_path, synth_pair):
    clean, _ = synth_pair
    assert all(status == "ok" for _, status, _ in verify(clean))
    copy = tmp_path / "copy.h5"
    shutil.copy(clean, copy)
    with h5py.File(copy, "r+") as f:
        f["train/y"][3] += 1.0
    bad = [(n, s) for n, s, _ in verify(copy) if s != "ok"]
    assert bad == [("train/y", "MISMATCH")]


def test_verify_detects_flipped_byte_on_disk(tmp_path, synth_pair):
    clean, _ = synth_pair
    copy = tmp_path / "copy.h5"
    shutil.copy(clean, copy)
    with h5py.File(copy, "r") as f:
        info = f["train/x"].id.get_chunk_info(0)
    raw = bytearray(copy.read_bytes())
    raw[info.byte_offset + info.size // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    statuses = {n: s for n, s, _ in verify(copy)}
    assert statuses["train/x"] == "MISMATCH"


def test_cli_verify_exit_codes(cli, tmp_path, synth_pair):
    clean, _ = synth_pair
    assert cli("verify", clean).code == 0
    copy = tmp_path / "copy.h5"
    shutil.copy(clean, copy)
    with h5py.File(copy, "r+") as f:
        f["val/x"][0, 0] = 42
    r = cli("verify", copy)
    assert r.code != 0 and r.err.startswith("error:")
    assert [line.split()[:2] for line in r.out.splitlines() if "MISMATCH" in line] == [["MISMATCH", "val/x"]]


@pytest.mark.parametrize("command", ["info", "verify"])
def test_non_noisebench_files_give_one_line(cli, tmp_path, command):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    for path, msg in ((text, "not an HDF5 file"), (plain, "not a noisebench dataset"), (tmp_path / "missing.h5", "no such file"), (tmp_path, "directory")):
        r = cli(command, path)
        assert r.code != 0 and msg in r.err, (path, r.err)
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_truncated_file_is_refused(cli, tmp_path, synth_pair):
    clean, _ = synth_pair
    cut = tmp_path / "cut.h5"
    cut.write_bytes(clean.read_bytes()[: clean.stat().st_size // 2])
    for command in ("info", "verify"):
        r = cli(command, cut)
        assert r.code != 0 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1


def test_external_link_is_never_followed(tmp_path, synth_pair):
    clean, _ = synth_pair
    evil = tmp_path / "evil.h5"
    shutil.copy(clean, evil)
    with h5py.File(evil, "r+") as f:
        del f["val/x"]
        f["val/x"] = h5py.ExternalLink(str(clean), "/val/x")
    with pytest.raises(UserError, match="external link"):
        open_file(evil)


def test_object_dtype_dataset_refused(tmp_path, synth_pair):
    clean, _ = synth_pair
    evil = tmp_path / "evil.h5"
    shutil.copy(clean, evil)
    with h5py.File(evil, "r+") as f:
        f.create_dataset("truth/names", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(UserError, match="unsupported type"):
        open_file(evil)


def test_torch_dataset_with_workers_and_load_split(synth_pair):
    import torch
    from torch.utils.data import DataLoader

    from noisebench.data.loaders import H5SplitDataset, load_split

    clean, _ = synth_pair
    ds = H5SplitDataset(clean, "val")
    assert len(ds) == 200
    xs, ys = [], []
    for xb, yb in DataLoader(ds, batch_size=64, num_workers=2):
        xs.append(xb)
        ys.append(yb)
    x_all, y_all = load_split(clean, "val")
    assert torch.equal(torch.cat(xs), x_all) and torch.equal(torch.cat(ys), y_all)
    assert len(H5SplitDataset(clean, "test")) == 200  # synth's held-out test split
    with pytest.raises(UserError, match="no split 'truth'"):
        H5SplitDataset(clean, "truth")


def test_image_dataset_item_is_float_chw(tmp_path):
    from noisebench.data.loaders import H5SplitDataset

    p = _write(tmp_path / "img.h5")
    x, y = H5SplitDataset(p, "train")[150]
    assert x.shape == (3, 8, 8) and x.dtype.is_floating_point and float(x.max()) == pytest.approx(1 / 255)
    assert int(y) == 0


@pytest.mark.parametrize("appends", [[2048, 2048, 904], [1000, 3000, 1000], [256] * 19 + [136], [5000]])
def test_parallel_deflated_chunks_read_back_identically(tmp_path, appends):
    """uint8 images take the thread-pool deflate + write_direct_chunk path when aligned; any
    mix of aligned and unaligned appends must store exactly the data (HDF5's own reader)."""
    rng = np.random.default_rng(0)
    x = (rng.poisson(4, (5000, 8, 8, 3)) * 16).clip(0, 255).astype(np.uint8)
    p = tmp_path / "d.h5"
    with DatasetWriter(p, kind="clean", params={}, seed=0) as w:
        s = w.create("train/x", x.shape, np.uint8)
        o = 0
        for n in appends:
            s.append(x[o : o + n])
            o += n
        w.write("train/y", np.zeros(5000, np.int64))
    with h5py.File(p, "r") as f:
        assert f["train/x"].compression == "gzip"
        np.testing.assert_array_equal(f["train/x"][...], x)
        stored = sum(f["train/x"].id.get_chunk_info(i).size for i in range(f["train/x"].id.get_num_chunks()))
        assert stored < x.nbytes / 2  # really compressed
    assert all(status == "ok" for _, status, _ in verify(p))
