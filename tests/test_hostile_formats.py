"""Hostile input, part 3 (issue 13, classes 1 and 2): .npz sources, image folders and noisebench
HDF5 files whose content does not match what they claim. Refused at open time with one line;
conversions happen only where they are exact (documented in docs/BOUNDS.md and docs/IMAGES.md)."""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_image_folder  # noqa: E402
from test_reliability_bad_input import assert_one_line_error  # noqa: E402

from noisebench.errors import UserError  # noqa: E402

pytestmark = pytest.mark.timeout(60)
U8 = np.uint8


def _npz(path: Path, x_train=None, y_train=None, x_test=None, y_test=None, **extra) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (8, 4, 4, 3), dtype=U8) if x_train is None else x_train,
        "y_train": np.arange(8) % 4 if y_train is None else y_train,
        "x_test": rng.integers(0, 256, (4, 4, 4, 3), dtype=U8) if x_test is None else x_test,
        "y_test": np.arange(4) % 4 if y_test is None else y_test,
    }
    np.savez(path, **arrays, **extra)
    return path


def _lying_header(path: Path) -> Path:
    """x_train's .npy header claims (10**9, 32, 32, 3) while the member holds 48 bytes."""
    _npz(path)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 32, 32, 3)})
    members = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            members[n] = z.read(n)
    members["x_train.npy"] = buf.getvalue() + bytes(48)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return path


def _npy_renamed(path: Path) -> Path:
    np.save(path.with_suffix(".npy"), np.zeros((2, 2), U8))
    path.with_suffix(".npy").rename(path)
    return path


def _truncated(path: Path) -> Path:
    _npz(path)
    path.write_bytes(path.read_bytes()[:300])
    return path


NPZ = {
    "label 2**62": (dict(y_train=np.array([0, 1, 2, 3, 0, 1, 2, 2**62])), "at most 1000 classes"),
    "label 10**6": (dict(y_train=np.array([0, 1, 2, 3, 0, 1, 2, 10**6])), "at most 1000 classes"),
    "negative label": (dict(y_test=np.array([0, 1, -1, 3])), "negative label"),
    "labels with a gap (999 among 0..3)": (dict(y_train=np.array([0, 1, 2, 3, 0, 1, 2, 999])), "never occur"),
    "float labels": (dict(y_train=np.arange(8) % 4 * 1.0), "integer labels"),
    "2-D labels": (dict(y_train=np.zeros((8, 2), np.int64)), "1-D array"),
    "float64 x with fractions": (dict(x_train=np.full((8, 4, 4, 3), 100.5)), "fractional"),
    "float16 x in [0, 1]": (dict(x_train=np.full((8, 4, 4, 3), 0.5, np.float16)), r"\[0, 1\]"),
    "int16 x above 255": (dict(x_train=np.full((8, 4, 4, 3), 4000, np.int16)), "outside"),
    "NaN pixels": (dict(x_test=np.full((4, 4, 4, 3), np.nan)), "NaN"),
    "bool x": (dict(x_train=np.ones((8, 4, 4, 3), bool)), "uint8"),
    "5-channel images": (dict(x_train=np.zeros((8, 4, 4, 5), U8), x_test=np.zeros((4, 4, 4, 5), U8)), "5 channels"),
    "zero-size images": (dict(x_train=np.zeros((8, 0, 0, 3), U8), x_test=np.zeros((4, 0, 0, 3), U8)), "each side"),
    "images of 5000 px": (dict(x_train=np.zeros((8, 5000, 1), U8), x_test=np.zeros((4, 5000, 1), U8)), "each side"),
    "x and y lengths differ": (dict(y_train=np.arange(5) % 4), "labels"),
    "class names with escape": (dict(class_names=np.array(["a", "b\x1b[2J", "c", "d"])), "control characters"),
    "class names with newline": (dict(class_names=np.array(["a", "b\nc", "d", "e"])), "control characters"),
    "2000 class names": (dict(class_names=np.array([f"c{i}" for i in range(2000)])), "at most 1000"),
    "duplicate class names": (dict(class_names=np.array(["a", "a", "b", "c"])), "duplicates"),
    "object class names": (dict(class_names=np.array(["a", None, "b", "c"], dtype=object)), "never objects"),
}
def _many_members(path: Path) -> Path:
    _npz(path)
    with zipfile.ZipFile(path, "a") as z:
        for i in range(1500):
            z.writestr(f"junk{i}.npy", b"")
    return path


NPZ_FILES = {
    "1500 zip members": (_many_members, "members"),
    "header declares 10**9 images": (_lying_header, "declares shape"),
    ".npy renamed .npz": (_npy_renamed, "renamed"),
    "truncated zip": (_truncated, "not a readable"),
    "empty file": (lambda p: (p.write_bytes(b""), p)[1], "not a readable"),
    "text file": (lambda p: (p.write_text("x_train,y_train\n"), p)[1], "not a readable"),
}


@pytest.mark.parametrize("case", list(NPZ))
def test_hostile_npz_content(tmp_path, case):
    from noisebench.generators.sources.custom import load_npz

    arrays, msg = NPZ[case]
    p = _npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(UserError, match=msg) as e:
        load_npz(p)
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)


@pytest.mark.parametrize("case", list(NPZ_FILES))
def test_hostile_npz_file(cli, tmp_path, case):
    make, msg = NPZ_FILES[case]
    p = make(tmp_path / "d.npz")
    r = cli("make", "psi", "--level", "16", "--source", p, "--out", tmp_path / "o")
    assert_one_line_error(r)
    assert __import__("re").search(msg, r.err), r.err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.h5"))


def test_exact_npz_conversions_are_kept(tmp_path):
    """Whole-number float/int16 pixels in 0..255 and int8 labels convert exactly; nothing is clipped."""
    from noisebench.generators.sources.custom import load_npz

    x = np.random.default_rng(1).integers(0, 256, (8, 4, 4, 3))
    d = load_npz(_npz(tmp_path / "d.npz", x_train=x.astype(np.float32), y_train=(np.arange(8) % 4).astype(np.int8)))
    assert d.x_train.dtype == U8 and (d.x_train == x).all() and d.y_train.dtype == np.int64


# ------------------------------------------------------------------ image folders
def _png_bomb(p: Path) -> None:
    """A valid PNG header declaring 100000 x 100000 pixels, with almost no data."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
                  + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def _save(mode, arr=None, ext=".png", **kw):
    def make(p: Path):
        from PIL import Image

        im = Image.fromarray(arr) if arr is not None else Image.new(mode, (16, 12))
        if arr is not None and im.mode != mode:
            im = im.convert(mode)
        im.save(p.with_suffix(ext), **kw)
        if ext != ".png":
            p.unlink(missing_ok=True)
    return make


def _rgba(alpha: int):
    a = np.zeros((12, 16, 4), U8)
    a[..., 3] = alpha
    return _save("RGBA", a)


def _gif_two_frames(p: Path):
    from PIL import Image

    frames = [Image.new("RGB", (16, 12), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(p.with_suffix(".gif"), save_all=True, append_images=frames[1:])


def _palette_transparent(p: Path):
    from PIL import Image

    im = Image.new("P", (16, 12), 3)
    im.save(p, transparency=3)


NOISE = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=U8)
IMAGES = {
    "PNG decompression bomb (100000 x 100000)": (_png_bomb, "decompression bomb|each side"),
    "16-bit grey PNG": (_save("I;16", np.full((12, 16), 60000, np.uint16)), "16-bit"),
    "32-bit integer TIFF": (_save("I", np.full((12, 16), 70000, np.int32), ext=".tif"), "16-bit"),
    "float TIFF": (_save("F", np.full((12, 16), 0.5, np.float32), ext=".tif"), "16-bit"),
    "CMYK JPEG": (_save("CMYK", ext=".jpg"), "CMYK"),
    "transparent RGBA": (_rgba(0), "transparent"),
    "transparent LA": (_save("LA", np.zeros((12, 16, 2), U8)), "transparent"),
    "palette with transparency": (_palette_transparent, "transparency"),
    "animated GIF": (_gif_two_frames, "frames"),
    "truncated PNG": (lambda p: (_save("RGB", NOISE)(p), p.write_bytes(p.read_bytes()[:300])), "cannot read"),
    "empty file": (lambda p: p.write_bytes(b""), "cannot read"),
    "text named .png": (lambda p: p.write_text("not an image"), "cannot read"),
    "5000 px wide": (_save("L", np.zeros((1, 5000), U8)), "each side"),
}


@pytest.mark.parametrize("case", list(IMAGES))
def test_hostile_image_in_folder_source(cli, tmp_path, case):
    make, msg = IMAGES[case]
    root = write_image_folder(tmp_path / "f", 2)
    make(root / "train" / "dog" / "zz.png")
    r = cli("make", "psi", "--level", "16", "--source", root, "--out", tmp_path / "o")
    assert_one_line_error(r)
    assert __import__("re").search(msg, r.err), r.err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.h5"))


@pytest.mark.parametrize("mode", ["P", "1", "RGBA-opaque", "LA-opaque"])
def test_exactly_convertible_images_are_read(tmp_path, mode):
    """Palette, bilevel and fully opaque alpha images convert exactly (no value changes)."""
    from PIL import Image

    from noisebench.safety.images import read_image

    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=U8)
    p = tmp_path / "i.png"
    if mode == "P":
        im = Image.fromarray(rgb).quantize(16)
        im.save(p)
        want = np.asarray(im.convert("RGB"))
    elif mode == "1":
        Image.fromarray((rgb[..., 0] > 127).astype(U8) * 255).convert("1").save(p)
        want = ((rgb[..., 0] > 127) * 255).astype(U8)[..., None]
    else:
        base = rgb if mode == "RGBA-opaque" else rgb[..., :1]
        Image.fromarray(np.concatenate([base, np.full((12, 16, 1), 255, U8)], -1).squeeze()).save(p)
        want = base
    got = read_image(p, "src")
    assert got.dtype == U8 and got.shape == want.shape and (got == want).all()


@pytest.mark.parametrize("folder", ["ca\nt", "do\x1b[31mg", "tab\there"])
def test_class_folder_names_with_control_characters(tmp_path, folder):
    from noisebench.generators.sources.custom import load_image_folder

    root = write_image_folder(tmp_path / "f", 1, classes=("cat", folder))
    with pytest.raises(UserError, match="control characters"):
        load_image_folder(root)


def test_too_many_class_folders(tmp_path):
    from noisebench.generators.sources.custom import load_image_folder

    root = write_image_folder(tmp_path / "f", 1, classes=("a",))
    for i in range(1001):
        (root / "train" / f"c{i}").mkdir()
    with pytest.raises(UserError, match="more than 1000 class folders"):
        load_image_folder(root)


# ------------------------------------------------------------------ noisebench HDF5 files
@pytest.fixture(scope="module")
def tiny_h5(tmp_path_factory):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    return build(SynthParams(rows=70), tmp_path_factory.mktemp("h5"), workers=1)[0]


def _write(path: Path, x, y, task):
    from noisebench.format import DatasetWriter

    kind = "synth" if task == "regression" else "clean"
    with DatasetWriter(path, kind=kind, params={}, seed=0, task=task, attrs={"dataset": "t", "num_classes": 4}) as w:
        w.write("train/x", x)
        w.write("train/y", y)
    return path


I8 = np.arange(6) % 4
H5 = {
    "float16 tabular x": (np.zeros((6, 3), np.float16), np.zeros(6, np.float32), "regression", "float32 features"),
    "float64 tabular x": (np.zeros((6, 3)), np.zeros(6, np.float32), "regression", "float32 features"),
    "int8 labels": (np.zeros((6, 4, 4), U8), I8.astype(np.int8), "classification", "int64"),
    "float labels": (np.zeros((6, 4, 4), U8), I8.astype(np.float32), "classification", "int64"),
    "int64 regression targets": (np.zeros((6, 3), np.float32), I8.astype(np.int64), "regression", "float32"),
    "5-channel images": (np.zeros((6, 4, 4, 5), U8), I8, "classification", "C = 1 or 3"),
    "images 5000 px high": (np.zeros((6, 5000, 1), U8), I8, "classification", "outside 1..4096"),
    "int32 x": (np.zeros((6, 3), np.int32), I8, "classification", "uint8 images or float32"),
    "big-endian float32 x": (np.zeros((6, 3), ">f4"), np.zeros(6, np.float32), "regression", "float32 features"),
    "2-D y": (np.zeros((6, 4, 4), U8), np.zeros((6, 2), np.int64), "classification", "one target per sample"),
}


@pytest.mark.parametrize("case", list(H5))
def test_hdf5_with_unexpected_dtypes_refused_at_open(cli, tmp_path, case):
    from noisebench.format import open_file

    x, y, task, msg = H5[case]
    p = _write(tmp_path / "f.h5", x, y, task)
    with pytest.raises(UserError, match=msg):
        open_file(p)
    r = cli("train", "--data", p, "--epochs", "1", "--db", tmp_path / "r.db")
    assert_one_line_error(r)
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("version, msg", [(0, "not a valid version"), (-1, "not a valid version"), (3, "newer"),
                                          (2**40, "newer"), ("1", "must be an integer"), (1.5, "must be an integer")])
def test_bad_format_version(cli, tmp_path, tiny_h5, version, msg):
    import shutil

    from noisebench.format import open_file

    p = tmp_path / "v.h5"
    shutil.copy(tiny_h5, p)
    with h5py.File(p, "r+") as f:
        f.attrs["format_version"] = version
    with pytest.raises(UserError, match=msg):
        open_file(p)
    assert_one_line_error(cli("info", p))
