"""`make corrupt` and `make cifar10-c` (ours and the official release layout) on tiny fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches, write_mnist_idx  # noqa: E402

from noisebench.format import open_file  # noqa: E402
from noisebench.generators.builds.corrupt import apply_corruption  # noqa: E402


@pytest.fixture
def src(tmp_path):
    return write_cifar10_batches(tmp_path / "raw", n_train=30, n_test=20)


def _args(src, out):
    return ["--source", str(src), "--no-verify", "--out", str(out)]


def _read(path, split="test"):
    with open_file(path) as f:
        return f.datasets[f"{split}/x"][()], f.datasets[f"{split}/y"][()], dict(f.meta)


def test_make_corrupt_severities_files_attrs_and_clean_twin(cli, src, tmp_path):
    out = tmp_path / "o"
    r = cli("make", "corrupt", "fog", "--severity", "1,3", *_args(src, out))
    assert r.code == 0, r.err
    names = sorted(p.name for p in out.glob("*.h5"))
    assert names == ["cifar10-fog-sev1.h5", "cifar10-fog-sev3.h5", "cifar10.h5"]
    cx, cy, cmeta = _read(out / "cifar10.h5")
    x3, y3, m = _read(out / "cifar10-fog-sev3.h5")
    assert m["kind"] == "corrupt" and m["corruption"] == "fog" and m["severity"] == 3
    assert "make_cifar_c.py" in m["reference"] and "rint" in m["rounding"]
    assert m["params"]["params"] == {"strength": 0.75, "decay": 2.5}
    assert m["clean_reference"] == "cifar10.h5" and m["pair_key"] == cmeta["pair_key"]
    assert np.array_equal(y3, cy)
    assert np.array_equal(x3, apply_corruption("fog", cx, severity=3, seed=0, stream=2))
    tx, _, _ = _read(out / "cifar10-fog-sev3.h5", "train")
    vx, vy, _ = _read(out / "cifar10-fog-sev3.h5", "val")
    cvx, cvy, _ = _read(out / "cifar10.h5", "val")  # the clean twin's val split: same images, corrupted
    assert tx.shape == (25, 32, 32, 3) and np.array_equal(vy, cvy)
    assert np.array_equal(vx, apply_corruption("fog", cvx, severity=3, seed=0, stream=3))
    r = cli("preview", str(out / "cifar10-fog-sev3.h5"), "--out", str(tmp_path / "p.png"), "--per-class", "1")
    assert r.code == 0 and "clean | noisy" in r.out
    # same seed -> same bytes; existing file without --force is refused
    r = cli("make", "corrupt", "fog", "--severity", "3", *_args(src, out))
    assert r.code != 0 and "--force" in r.err
    r = cli("make", "corrupt", "fog", "--severity", "3", "--force", *_args(src, out))
    assert r.code == 0
    assert np.array_equal(_read(out / "cifar10-fog-sev3.h5")[0], x3)
    r = cli("make", "corrupt", "fog", "--severity", "3", "--seed", "2", *_args(src, out))
    assert r.code == 0 and not np.array_equal(_read(out / "cifar10-fog-sev3-s2.h5")[0], x3)


def test_make_corrupt_with_params_and_errors(cli, src, tmp_path):
    out = tmp_path / "o"
    r = cli("make", "corrupt", "contrast", "--param", "c=0.2", *_args(src, out))
    assert r.code == 0, r.err
    x, _, m = _read(out / "cifar10-contrast-c0.2.h5")
    assert m["severity"] == 0 and m["params"]["params"] == {"c": 0.2}
    for bad, msg in ((["contrast", "--param", "c=0.2", "--severity", "1"], "not both"),
                     (["contrast", "--param", "d=1"], "no parameter d"),
                     (["contrast", "--param", "c=-3"], "within"),
                     (["contrast", "--param", "c"], "NAME=VALUE"),
                     (["contrast", "--severity", "6"], "1..5"),
                     (["jpeg_compression", "--param", "quality=5.5"], "integer"),
                     (["nosuch", "--severity", "1"], "unknown corruption"),
                     (["contrast"], "--severity")):
        r = cli("make", "corrupt", *bad, *_args(src, out))
        assert r.code != 0 and msg in r.err and r.err.startswith("error:"), (bad, r.err)
    r = cli("make", "corrupt", "contrast", "--param", "c=0.2", "--split-seed", "1", "--seed", "2", *_args(src, out))
    assert r.code == 0 and (out / "cifar10-contrast-c0.2-s2-split1.h5").exists() and (out / "cifar10-split1.h5").exists()
    r = cli("make", "corrupt", "contrast", "--severity", "1", "--val-size", "0", *_args(src, out))
    assert r.code != 0 and "--val-size" in r.err
    r = cli("make", "corrupt", "list")
    assert r.code == 0 and "shot_noise" in r.out and "5: c=50" in r.out


def test_shot_noise_severity_is_psi(cli, src, tmp_path):
    out = tmp_path / "o"
    assert cli("make", "corrupt", "shot_noise", "--severity", "5", *_args(src, out)).code == 0
    _, _, m = _read(out / "cifar10-shot_noise-sev5.h5")
    assert m["params"]["params"] == {"c": 50.0}


def test_plugin_corruption_builds(cli, src, tmp_path):
    import noisebench as nb
    from noisebench.registry import CORRUPTIONS

    @nb.register_corruption("invert_test", target="images", severities={1: {"k": 1.0}}, ranges={"k": (0.0, 1.0)},
                            reference="test")
    def invert_test(x, rng, *, k: float = 1.0):
        return (255 - x).astype(np.uint8) if k else x

    try:
        out = tmp_path / "o"
        r = cli("make", "corrupt", "invert_test", "--severity", "1", *_args(src, out))
        assert r.code == 0, r.err
        x, _, m = _read(out / "cifar10-invert_test-sev1.h5")
        cx, _, _ = _read(out / "cifar10.h5")
        assert np.array_equal(x, 255 - cx) and m["params"]["code"] != "builtin"
    finally:
        CORRUPTIONS.unregister("invert_test")


def test_cifar10_c_from_the_clean_file(cli, src, tmp_path):
    from noisebench.generators.builds.cifar10c import find_corrupted_sets

    out = tmp_path / "o"
    assert cli("make", "cifar10", *_args(src, out)).code == 0
    r = cli("make", "cifar10-c", "--corruptions", "gaussian_noise,pixelate", "--severity", "1,3", "--out", str(out))
    assert r.code == 0, r.err
    cx, cy, cm = _read(out / "cifar10.h5")
    x, y, m = _read(out / "cifar10-c-gaussian_noise.h5")
    assert m["kind"] == "corrupt-test" and m["origin"] == "noisebench"
    assert m["severities_json"] == [1, 3] and m["n_per_severity"] == 20
    assert m["clean_test_sha256"] == cm["checksums"]["test/x"] and m["clean_reference"] == "cifar10.h5"
    assert x.shape == (40, 32, 32, 3) and np.array_equal(y, np.tile(cy, 2))
    with open_file(out / "cifar10-c-gaussian_noise.h5") as f:
        assert f.splits == ["test"]
        assert np.array_equal(f.datasets["test/severity"][()], np.repeat([1, 3], 20))
    from noisebench.generators.builds.cifar10c import read_severity

    for k, s in enumerate((1, 3)):  # severity s == apply_corruption == the test split of `make corrupt`
        assert np.array_equal(x[k * 20 : (k + 1) * 20], apply_corruption("gaussian_noise", cx, severity=s, seed=0))
        xs, ys = read_severity(out / "cifar10-c-gaussian_noise.h5", s)
        assert np.array_equal(xs, x[k * 20 : (k + 1) * 20]) and np.array_equal(ys, cy)
    assert cli("make", "corrupt", "gaussian_noise", "--severity", "3", *_args(src, out)).code == 0
    assert np.array_equal(_read(out / "cifar10-gaussian_noise-sev3.h5")[0], x[20:])
    assert set(find_corrupted_sets(out / "cifar10.h5")) == {"gaussian_noise", "pixelate"}
    r = cli("make", "cifar10-c", "--corruptions", "pixelate", "--out", str(out))
    assert r.code != 0 and "--force" in r.err
    r = cli("make", "cifar10-c", "--corruptions", "nosuch", "--out", str(out))
    assert r.code != 0 and "unknown corruption" in r.err
    r = cli("make", "cifar10-c", "--out", str(tmp_path / "empty"))
    assert r.code != 0 and "make cifar10" in r.err
    r = cli("make", "cifar10-c", "--data", str(out / "cifar10-gaussian_noise-sev3.h5"), "--corruptions", "fog")
    assert r.code != 0 and "not a clean reference" in r.err


def _release(folder, clean_y, names=("fog", "gaussian_noise"), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    n = clean_y.shape[0]
    arrays = {}
    for nm in names:
        arrays[nm] = rng.integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8)
        np.save(folder / f"{nm}.npy", arrays[nm])
    np.save(folder / "labels.npy", np.tile(clean_y.astype(np.uint8), 5))
    return arrays


def test_cifar10_c_release_layout(cli, src, tmp_path):
    from noisebench.generators.builds.cifar10c import find_corrupted_sets

    out = tmp_path / "o"
    assert cli("make", "cifar10", *_args(src, out)).code == 0
    cx, cy, cm = _read(out / "cifar10.h5")
    arrays = _release(tmp_path / "CIFAR-10-C", cy)
    r = cli("make", "cifar10-c", "--release", str(tmp_path / "CIFAR-10-C"), "--out", str(out))
    assert r.code == 0, r.err
    x, y, m = _read(out / "cifar10-c-release-fog.h5")
    assert np.array_equal(x, arrays["fog"]) and np.array_equal(y, np.tile(cy, 5))
    assert m["origin"] == "release" and m["clean_test_sha256"] == cm["checksums"]["test/x"]
    assert m["severities_json"] == [1, 2, 3, 4, 5] and m["n_per_severity"] == 20
    with open_file(out / "cifar10-c-release-fog.h5") as f:
        assert np.array_equal(f.datasets["test/severity"][()], np.repeat(np.arange(1, 6), 20))
    assert set(find_corrupted_sets(out / "cifar10.h5", release=True)) == {"fog", "gaussian_noise"}
    # labels that are not the clean file's test labels: refused, nothing written
    bad = tmp_path / "bad"
    _release(bad, (cy + 1) % 10)
    r = cli("make", "cifar10-c", "--release", str(bad), "--out", str(tmp_path / "o2"), "--data", str(out / "cifar10.h5"))
    assert r.code != 0 and "labels" in r.err and not list((tmp_path / "o2").glob("*.h5"))
    # wrong shape
    worse = tmp_path / "worse"
    worse.mkdir()
    np.save(worse / "fog.npy", np.zeros((7, 32, 32, 3), np.uint8))
    np.save(worse / "labels.npy", np.zeros(10, np.uint8))
    r = cli("make", "cifar10-c", "--release", str(worse), "--out", str(tmp_path / "o3"))
    assert r.code != 0 and "expected uint8" in r.err
    r = cli("make", "cifar10-c", "--release", str(tmp_path / "nope"), "--out", str(tmp_path / "o3"))
    assert r.code != 0 and "not a folder" in r.err


def test_cifar10_c_on_grey_images_skips_what_needs_rgb(cli, tmp_path):
    src = write_mnist_idx(tmp_path / "raw", n_train=60, n_test=12)
    out = tmp_path / "o"
    assert cli("make", "mnist", "--source", str(src), "--no-verify", "--val-size", "6", "--out", str(out)).code == 0
    clean = out / "mnist.h5"
    r = cli("make", "cifar10-c", "--data", str(clean), "--corruptions", "saturate,fog", "--severity", "2")
    assert r.code != 0 and "RGB" in r.err and not list(out.glob("mnist-c-*.h5"))  # checked before writing
    r = cli("make", "cifar10-c", "--data", str(clean), "--severity", "2", "--workers", "1", "--corruptions", "all")
    assert r.code == 0, r.err
    assert "skipping saturate" in r.err
    made = sorted(p.name for p in out.glob("mnist-c-*.h5"))
    assert len(made) == 18 and "mnist-c-saturate.h5" not in made  # all 19 but saturate (RGB only)
    x, _, m = _read(out / "mnist-c-zoom_blur.h5")
    assert x.shape == (12, 28, 28, 1) and m["dataset"] == "mnist"


def test_cifar10_c_builds_the_benchmark_15_by_default_and_records_the_table(cli, src, tmp_path):
    from noisebench.corruptors.sets import BENCHMARK
    from noisebench.generators.builds.cifar10c import find_corrupted_sets

    out = tmp_path / "o"
    assert cli("make", "cifar10", *_args(src, out)).code == 0
    r = cli("make", "cifar10-c", "--severity", "2", "--workers", "1", "--out", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.glob("cifar10-c-*.h5")) == sorted(f"cifar10-c-{n}.h5" for n in BENCHMARK)
    _, _, m = _read(out / "cifar10-c-motion_blur.h5")
    assert m["constants"] == "cifar10-c" and m["params"]["params_by_severity"]["2"] == {"radius": 6, "sigma": 1.5}
    # another table: its own file name, attributes, card and rebuild command
    r = cli("make", "cifar10-c", "--corruptions", "shot_noise", "--constants", "imagenet-c", "--severity", "1",
            "--out", str(out))
    assert r.code == 0, r.err
    path = out / "cifar10-c-shot_noise-imagenet-c.h5"
    _, _, m = _read(path)
    assert m["constants"] == "imagenet-c" and m["params"]["params_by_severity"]["1"] == {"c": 60.0}
    assert find_corrupted_sets(out / "cifar10.h5")["shot_noise"].name == "cifar10-c-shot_noise.h5"
    assert find_corrupted_sets(out / "cifar10.h5", constants="imagenet-c") == {"shot_noise": path}
    assert cli("card", str(path)).code == 0
    card = path.with_name(path.stem + ".card.md").read_text()
    assert "Constant table: `imagenet-c`" in card and "make_imagenet_c.py" in card and "--constants imagenet-c" in card
    r = cli("make", "cifar10-c", "--corruptions", "fog", "--constants", "imagenet", "--out", str(out))
    assert r.code != 0 and "--constants must be one of" in r.err
    # make corrupt with a table other than CIFAR-10-C's: the table in the name and the card's known differences
    assert cli("make", "corrupt", "spatter", "--severity", "3", "--constants", "tiny-imagenet-c", *_args(src, out)).code == 0
    f = out / "cifar10-spatter-sev3-tiny-imagenet-c.h5"
    _, _, m = _read(f)
    assert m["constants"] == "tiny-imagenet-c" and m["params"]["params"]["gain"] == 0.6
    assert cli("card", str(f)).code == 0
    assert "Known differences from the original" in f.with_name(f.stem + ".card.md").read_text()
