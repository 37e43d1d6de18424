"""Hostile and unlucky users of the outputs (issue 13, classes 5, 8 and 11): real concurrent
processes racing for one output, file names that must differ for distinct parameters, symbolic
links planted at output names, resumable multi-level builds, and commands that must validate
before they create anything."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import (  # noqa: E402,F401
    _assert_no_partial_files,
    _snapshot,
    _temps,
    assert_one_line_error,
    hostile_db,
    hostile_inputs,
    one_error_line,
    racers,
)
from official_format_fixtures import write_cifar10_batches  # noqa: E402

from noisebench.safety.outputs import OutputExists, create_temp, place  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ---------------------------------------------------------------- 5. concurrent writers
def test_two_synth_builds_race_exactly_one_wins(tmp_path):
    out = tmp_path / "out"
    r = racers(tmp_path, [["synth", "--rows", "2000", "--out", out]] * 2)
    codes = sorted(x.returncode for x in r)
    assert codes[0] == 0 and codes[1] != 0, [(x.returncode, x.stderr) for x in r]
    loser = next(x for x in r if x.returncode != 0)
    assert "already exists" in one_error_line(loser.stderr) or "another writer" in loser.stderr
    assert sorted(p.name for p in out.iterdir()) == ["synth-2000-clean.h5", "synth-2000-dirty.h5"]
    _assert_no_partial_files(out)


def test_two_psi_builds_of_different_levels_share_the_clean_twin(data, tmp_path):
    """Both need the missing clean reference: one builds it, the other uses it; both levels succeed."""
    out = tmp_path / "out"
    common = ["--source", data["cifar"], "--no-verify", "--workers", "1", "--out", out]
    r = racers(tmp_path, [["make", "psi", "--level", "16", *common], ["make", "psi", "--level", "8", *common]])
    assert [x.returncode for x in r] == [0, 0], [x.stderr for x in r]
    assert sorted(p.name for p in out.glob("*.h5")) == ["cifar10-psi16.h5", "cifar10-psi8.h5", "cifar10.h5"]
    assert _temps(out) == []
    _assert_no_partial_files(out)


def _place_worker(final: str, barrier, results, i: int) -> None:
    tmp = create_temp(Path(final))
    tmp.write_bytes(f"writer {i}".encode())
    barrier.wait()
    try:
        place(tmp, Path(final), force=False)
        results.put((i, "won"))
    except OutputExists:
        results.put((i, "lost"))


@pytest.mark.parametrize("n", [2, 4])
def test_exclusive_placement_has_exactly_one_winner(tmp_path, n):
    ctx = mp.get_context("fork")
    final = tmp_path / "out.bin"
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_place_worker, args=(str(final), barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    got = dict(results.get(timeout=5) for _ in range(n))
    winners = [i for i, v in got.items() if v == "won"]
    assert len(winners) == 1 and final.read_bytes() == f"writer {winners[0]}".encode()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.bin"], "losers' temp files are removed"


def test_forced_placement_replaces(tmp_path):
    final = tmp_path / "f.bin"
    final.write_bytes(b"old")
    tmp = create_temp(final)
    tmp.write_bytes(b"new")
    with pytest.raises(OutputExists):
        place(tmp, final, force=False)
    assert final.read_bytes() == b"old" and not tmp.exists()
    tmp = create_temp(final)
    tmp.write_bytes(b"new")
    place(tmp, final, force=True)
    assert final.read_bytes() == b"new" and not tmp.exists()


# ---------------------------------------------------------------- 5. names encode parameters exactly
@pytest.mark.parametrize("level,name", [(16, "16"), (8.0, "8"), (64, "64"), (12.5, "12.5"), (0.5, "0.5"),
                                        (1e6, "1000000"), (16.00000000001, "16.00000000001"),
                                        (1 / 3, "0.3333333333333333")])
def test_psi_level_names(level, name):
    from noisebench.corruptors.poisson_photon import format_level

    assert format_level(level) == name and float(format_level(level)) == float(level)


@pytest.mark.parametrize("a,b", [(16, 16.00000000001), (0.1, 0.1 + 2 ** -56), (12.5, 12.500000000000002)])
def test_distinct_levels_distinct_names(a, b):
    from noisebench.corruptors.poisson_photon import format_level

    assert a != b and format_level(a) != format_level(b)


@pytest.mark.parametrize("rate,name", [(0.1, "0.1"), (0.0, "0"), (1.0, "1"), (0.25, "0.25"),
                                       (0.1000000000001, "0.1000000000001"), (1 / 3, "0.3333333333333333")])
def test_flip_rate_names(rate, name):
    from noisebench.corruptors.label_flip import format_rate

    assert format_rate(rate) == name and float(name) == rate


def test_psi_levels_beyond_printed_precision_get_two_files(cli, data, tmp_path):
    r = cli("make", "psi", "--level", "16", "--level", "16.00000000001", "--source", data["cifar"], "--no-verify",
            "--workers", "1", "--out", tmp_path)
    assert r.code == 0, r.err
    assert {"cifar10-psi16.h5", "cifar10-psi16.00000000001.h5"} <= {p.name for p in tmp_path.glob("*.h5")}


def test_flip_rates_beyond_printed_precision_get_two_files(cli, data, tmp_path):
    for rate in ("0.1", "0.1000000000001"):
        r = cli("make", "mnist-flip", "--rate", rate, "--val-size", "12", "--source", data["mnist"], "--no-verify",
                "--out", tmp_path)
        assert r.code == 0, r.err
    assert {"mnist-flip0.1.h5", "mnist-flip0.1000000000001.h5"} <= {p.name for p in tmp_path.glob("*.h5")}


# ---------------------------------------------------------------- 8. symbolic links at output names
@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("which", ["clean", "dirty"])
def test_synth_refuses_a_symlink_at_the_output_name(cli, tmp_path, force, which):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / f"synth-2000-{which}.h5").symlink_to(victim)
    r = cli("synth", "--rows", "2000", "--out", out, *(["--force"] if force else []))
    assert_one_line_error(r)
    assert "symbolic link" in r.err
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == [f"synth-2000-{which}.h5"]


def test_synth_refuses_a_dangling_symlink(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere" / "planted.h5"
    (out / "synth-2000-clean.h5").symlink_to(target)
    r = cli("synth", "--rows", "2000", "--out", out, "--force")
    assert_one_line_error(r)
    assert not target.exists() and not target.parent.exists()


def test_temp_file_never_written_through_a_planted_symlink(tmp_path, monkeypatch):
    """A symlink planted at the next temp name is skipped (O_EXCL|O_NOFOLLOW), its target untouched."""
    from noisebench.safety import outputs as safe_output

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    tokens = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(safe_output.secrets, "token_hex", lambda n: next(tokens))
    final = tmp_path / "x.h5"
    planted = safe_output.temp_name(final).with_name(f".x.h5.{os.getpid()}@{safe_output.host()}.aaaaaaaa.tmp")
    planted.symlink_to(victim)
    tmp = create_temp(final)
    assert tmp.name.endswith(".bbbbbbbb.tmp") and not tmp.is_symlink()
    tmp.write_bytes(b"new")
    place(tmp, final, force=False)
    assert victim.read_bytes() == b"keep" and final.read_bytes() == b"new"


def test_psi_refuses_a_symlinked_level_and_keeps_its_target(cli, data, tmp_path):
    victim = tmp_path / "victim.h5"
    victim.write_bytes(b"not yours")
    out = tmp_path / "out"
    out.mkdir()
    (out / "cifar10-psi8.h5").symlink_to(victim)
    r = cli("make", "psi", "--level", "8", "--source", data["cifar"], "--no-verify", "--out", out, "--force")
    assert_one_line_error(r)
    assert victim.read_bytes() == b"not yours" and not (out / "cifar10-psi8.h5").resolve() == out / "cifar10-psi8.h5"


@pytest.fixture(scope="module")
def report_db(hostile_db):
    return hostile_db


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("name", ["report.md", "summary.csv"])
def test_report_refuses_symlink_at_an_output_name(cli, report_db, tmp_path, name, force):
    out = tmp_path / "rep"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / name).symlink_to(victim)
    r = cli("report", "--db", report_db, "--out", out, "--no-plots", *(["--force"] if force else []))
    assert_one_line_error(r)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == [name], "nothing placed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "victim"], "staging removed"


def test_report_force_rewrites_its_own_files_and_leaves_no_staging(cli, report_db, tmp_path):
    out = tmp_path / "rep"
    assert cli("report", "--db", report_db, "--out", out, "--no-plots").code == 0
    r = cli("report", "--db", report_db, "--out", out, "--no-plots")
    assert_one_line_error(r)  # a report is never replaced without --force
    r = cli("report", "--db", report_db, "--out", out, "--no-plots", "--force")
    assert r.code == 0, r.err
    assert "report.md" in {p.name for p in out.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_report_removes_a_killed_reports_staging_folder(cli, report_db, tmp_path):
    from noisebench.safety.outputs import host

    out = tmp_path / "rep"
    dead = mp.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    stale = tmp_path / f".rep.{dead.pid}@{host()}.deadbeef.tmp"
    stale.mkdir()
    (stale / "report.md").write_text("half")
    assert cli("report", "--db", report_db, "--out", out, "--no-plots").code == 0
    assert not stale.exists()


# ---------------------------------------------------------------- 11. lr-find --plot, grid, resumable psi
def _lr(data, plot, *extra):
    return ["lr-find", "--data", data["dirty"], "--iters", "12", "--device", "cpu", "--plot", plot, *extra]


def test_lr_find_refuses_an_existing_plot_before_sweeping(cli, data, tmp_path):
    plot = tmp_path / "lr.png"
    plot.write_bytes(b"mine")
    r = cli(*_lr(data, plot))
    assert_one_line_error(r)
    assert "--force" in r.err and plot.read_bytes() == b"mine" and "suggested" not in r.out


def test_lr_find_refuses_a_symlinked_plot_even_with_force(cli, data, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    (tmp_path / "lr.png").symlink_to(victim)
    r = cli(*_lr(data, tmp_path / "lr.png", "--force"))
    assert_one_line_error(r)
    assert victim.read_bytes() == b"mine"


def test_lr_find_refuses_an_unknown_plot_type(cli, data, tmp_path):
    r = cli(*_lr(data, tmp_path / "lr.exe"))
    assert_one_line_error(r)
    assert list(tmp_path.iterdir()) == []


def test_lr_find_force_replaces_the_plot(cli, data, tmp_path):
    plot = tmp_path / "lr.png"
    plot.write_bytes(b"old")
    r = cli(*_lr(data, plot, "--force"))
    assert r.code == 0, r.err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["lr.png"]


@pytest.mark.parametrize("bad", [["--activation", "no_such_activation"], ["--model", "resnet18"],
                                 ["--lr", "nan"], ["--epochs", "0"]])
def test_grid_validates_before_creating_its_database(cli, data, tmp_path, bad):
    db = tmp_path / "g.db"
    r = cli("grid", "--data", data["dirty"], *bad, "--db", db)
    assert_one_line_error(r)
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_grid_with_a_missing_data_file_creates_no_database(cli, tmp_path):
    db = tmp_path / "g.db"
    r = cli("grid", "--data", tmp_path / "missing.h5", "--db", db)
    assert_one_line_error(r)
    assert not db.exists()


def test_psi_rerun_keeps_finished_levels(cli, data, tmp_path):
    args = ["make", "psi", "--source", data["cifar"], "--no-verify", "--workers", "1", "--out", tmp_path]
    assert cli(*args, "--level", "16").code == 0
    before = os.stat(tmp_path / "cifar10-psi16.h5")
    r = cli(*args, "--level", "16", "--level", "8")
    assert r.code == 0, r.err
    assert "kept" in r.err and "cifar10-psi16.h5" in r.err
    after = os.stat(tmp_path / "cifar10-psi16.h5")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns), "the finished level is not redone"
    assert (tmp_path / "cifar10-psi8.h5").exists() and "cifar10-psi16.h5" not in r.out


def test_psi_rerun_refuses_a_level_built_from_another_source(cli, data, tmp_path):
    other = write_cifar10_batches(tmp_path / "other", 50, 20, seed=7)
    out = tmp_path / "out"
    assert cli("make", "psi", "--level", "16", "--source", other, "--no-verify", "--out", out).code == 0
    snap = _snapshot(out)
    r = cli("make", "psi", "--level", "16", "--level", "8", "--source", data["cifar"], "--no-verify", "--out", out)
    assert_one_line_error(r)
    assert "--force" in r.err and _snapshot(out) == snap
