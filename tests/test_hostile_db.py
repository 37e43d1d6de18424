"""Results databases that are not ours, not files, read-only or full (issue 13, classes 6 and 8):
refused unchanged before SQLite opens them; a finished run that cannot be recorded is kept and
recorded on the next start."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import ENV, ROOT, assert_one_line_error, hostile_inputs, needs_mount, remount, tmpfs  # noqa: E402,F401

from noisebench.harness.results.guard import APPLICATION_ID  # noqa: E402


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def _result(data, n_epochs: int = 40, activation: str = "relu"):
    from noisebench.harness.plan.expand import config_from_recipe
    from noisebench.harness.plan.pairs import file_meta
    from noisebench.harness.run.data import RunResult
    from noisebench.harness.run.recipes import recipe_for

    cfg = config_from_recipe(data["dirty"], "dirty", recipe_for(file_meta(data["dirty"])), activation, 0, "cpu")
    epochs = [{"epoch": i + 1, "lr": 1e-3, "train_loss": 1.0 / (i + 1), "val_loss": 1.0 / (i + 2)} for i in range(n_epochs)]
    return RunResult(key=cfg.key(), config=cfg.to_dict(), status="ok", epochs=epochs,
                     final={"metric": "val_loss", "metric_value": 0.5, "val_loss": 0.5, "epochs_done": n_epochs},
                     wall_s=1.0, device="cpu", hostname="h", data_info={"dataset": "synth", "task": "regression"})


def _commands(data, db):
    d = str(data["dirty"])
    return {
        "robustness": ["robustness", "--data", d, "--seeds", "1", "--epochs", "1", "--device", "cpu", "--db", db],
        "grid": ["grid", "--data", d, "--epochs", "1", "--device", "cpu", "--db", db],
        "train": ["train", "--data", d, "--epochs", "1", "--device", "cpu", "--db", db],
        "report": ["report", "--db", db, "--out", str(Path(db).parent / "rep"), "--no-plots"],
    }


def _foreign(path: Path, app_id: int = 0x46524E44, wal: bool = False) -> bytes:
    with sqlite3.connect(path) as c:
        if app_id:
            c.execute(f"PRAGMA application_id = {app_id}")
        if wal:
            c.execute("PRAGMA journal_mode = WAL")
        c.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        c.execute("INSERT INTO contacts VALUES ('ada', '123')")
    c.close()
    return path.read_bytes()


def _side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path)


@pytest.mark.parametrize("command", ["robustness", "grid", "train", "report"])
def test_foreign_database_refused_byte_identical(cli, data, tmp_path, command):
    db = tmp_path / "theirs.db"
    before = _foreign(db)
    r = cli(*_commands(data, db)[command])
    assert_one_line_error(r)
    assert "not a noisebench results database" in r.err
    assert db.read_bytes() == before and _side_files(db) == []


@pytest.mark.parametrize("kind", ["no application id", "wal mode", "text file", "random bytes", "sqlite header only"])
def test_other_files_as_database_refused_unchanged(cli, data, tmp_path, kind):
    db = tmp_path / "x.db"
    if kind == "no application id":
        before = _foreign(db, app_id=0)
    elif kind == "wal mode":
        before = _foreign(db, wal=True)
    elif kind == "text file":
        db.write_text("name,phone\nada,123\n")
        before = db.read_bytes()
    elif kind == "random bytes":
        db.write_bytes(os.urandom(4096))
        before = db.read_bytes()
    else:
        db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
        before = db.read_bytes()
    r = cli(*_commands(data, db)["robustness"])
    assert_one_line_error(r)
    assert db.read_bytes() == before and _side_files(db) == []


@pytest.mark.parametrize("command", ["robustness", "grid", "train", "report"])
def test_dev_null_as_database_refused(cli, data, command):
    before = set(os.listdir("/dev"))
    r = cli(*_commands(data, "/dev/null")[command])
    assert_one_line_error(r)
    assert "regular file" in r.err
    assert set(os.listdir("/dev")) == before and not os.path.exists("/dev/null-journal")


def test_fifo_as_database_refused_without_hanging(cli, data, tmp_path):
    fifo = tmp_path / "db.fifo"
    os.mkfifo(fifo)
    signal.alarm(20)  # a blocking open would hang the test: fail it instead
    try:
        r = cli(*_commands(data, fifo)["robustness"])
    finally:
        signal.alarm(0)
    assert_one_line_error(r)
    assert "FIFO" in r.err and _side_files(fifo) == []


def test_directory_as_database_refused(cli, data, tmp_path):
    r = cli(*_commands(data, tmp_path)["robustness"])
    assert_one_line_error(r)
    assert "folder" in r.err and list(tmp_path.iterdir()) == []


def test_symlinked_database_refused_for_writing_allowed_for_reading(cli, data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    real = tmp_path / "real.db"
    with ResultsDB(real) as d:
        d.record(_result(data))
    link = tmp_path / "link.db"
    link.symlink_to(real)
    before = real.read_bytes()
    r = cli(*_commands(data, link)["robustness"])
    assert_one_line_error(r)
    assert "symbolic link" in r.err and real.read_bytes() == before
    r = cli("report", "--db", link, "--out", tmp_path / "rep", "--no-plots")
    assert r.code == 0, r.err


def test_new_database_is_stamped_and_reopened(data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    db = tmp_path / "r.db"
    with ResultsDB(db) as d:
        d.record(_result(data))
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    with ResultsDB(db, readonly=True) as d:
        assert d.count() == 1


def test_unstamped_noisebench_database_is_adopted(data, tmp_path):
    """Databases made before the stamp existed hold only noisebench's tables: accepted, then stamped."""
    from noisebench.harness.results.db import _SCHEMA, ResultsDB

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.executescript(_SCHEMA)
        c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    c.close()
    with ResultsDB(db) as d:
        d.record(_result(data))
        assert d.count() == 1
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_empty_file_becomes_a_new_database(data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    db = tmp_path / "empty.db"
    db.touch()
    with ResultsDB(db) as d:
        d.record(_result(data))
        assert d.count() == 1


@needs_mount
def test_read_only_database_reported_in_one_line(cli, data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    with tmpfs(tmp_path / "m", 1 << 20) as m:
        with ResultsDB(m / "r.db") as d:
            d.record(_result(data))
        remount(m, readonly=True)
        r = cli(*_commands(data, m / "r.db")["robustness"])
        assert_one_line_error(r)
        assert "read-only" in r.err
        r = cli(*_commands(data, m / "new.db")["robustness"])
        assert_one_line_error(r)
        assert "read-only" in r.err
        r = cli("report", "--db", m / "r.db", "--out", tmp_path / "rep", "--no-plots")
        assert r.code == 0, r.err  # reading still works


# ---------------------------------------------------------------- a finished run is never lost
_RECORD = """
import json, resource, signal, sys
from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run.data import RunResult
db, res, limit = sys.argv[1], RunResult.from_dict(json.load(open(sys.argv[2]))), int(sys.argv[3])
d = ResultsDB(db)
if limit < 0:  # the disk fills up while the run trains
    with open(db + ".filler", "wb") as f:
        try:
            while True:
                f.write(bytes(65536))
                f.flush()
        except OSError:
            pass
elif limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    d.record(res)
    print("recorded")
except UserError as e:
    print("error: " + str(e))
"""


def _record_in_subprocess(db: Path, res, limit: int, env=None, work: Path | None = None) -> str:
    rj = (work or db.parent) / "result.json"
    rj.write_text(json.dumps(res.to_dict()))
    p = subprocess.run([sys.executable, "-c", _RECORD, str(db), str(rj), str(limit)], capture_output=True, text=True,
                       env=env or ENV, cwd=ROOT, timeout=60)
    rj.unlink()
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    return p.stdout.strip()


def test_file_size_limit_keeps_the_result_pending_then_records_it(data, tmp_path):
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.results.pending import pending_dir

    db = tmp_path / "r.db"
    ResultsDB(db).close()
    res = _result(data, n_epochs=40)  # its JSON fits under the limit, the database's transaction does not
    out = _record_in_subprocess(db, res, limit=8192)
    assert out.startswith("error: could not record run") and "kept in" in out, out
    kept = list(pending_dir(db).glob("*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["result"]["key"] == res.key
    with ResultsDB(db) as d:  # the next start records it and removes the file
        assert d.has(res.key) and len(d.epochs(res.key)) == 40
    assert list(pending_dir(db).glob("*.json")) == []


@needs_mount
def test_full_disk_keeps_the_result_elsewhere_then_records_it(data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    spare = tmp_path / "spare"
    spare.mkdir()
    env = dict(ENV, TMPDIR=str(spare))
    res = _result(data, n_epochs=40)
    with tmpfs(tmp_path / "m", 256 << 10) as m:
        ResultsDB(m / "r.db").close()
        out = _record_in_subprocess(m / "r.db", res, limit=-1, env=env, work=tmp_path)
        filler = m / "r.db.filler"
        assert filler.exists()
        assert out.startswith("error: could not record run") and "No space left on device" in out, out
        assert str(spare) in out
        kept = list((spare / "noisebench-pending").glob("*.json"))
        assert len(kept) == 1, out
        filler.unlink()
        os.environ["TMPDIR"], old = str(spare), os.environ.get("TMPDIR")
        import tempfile

        tempfile.tempdir = None
        try:
            with ResultsDB(m / "r.db") as d:
                assert d.has(res.key)
        finally:
            if old is None:
                del os.environ["TMPDIR"]
            else:
                os.environ["TMPDIR"] = old
            tempfile.tempdir = None
        assert list((spare / "noisebench-pending").glob("*.json")) == []


@pytest.mark.parametrize("bad", ["not json", "symlink", "wrong shape"])
def test_damaged_pending_files_are_skipped_not_fatal(data, tmp_path, capsys, bad):
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.results.pending import pending_dir

    db = tmp_path / "r.db"
    pend = pending_dir(db)
    pend.mkdir()
    p = pend / "x.1.json"
    if bad == "not json":
        p.write_text("{nope")
    elif bad == "symlink":
        (tmp_path / "elsewhere.json").write_text(json.dumps({"result": _result(data).to_dict()}))
        p.symlink_to(tmp_path / "elsewhere.json")
    else:
        p.write_text(json.dumps({"result": {"no": "fields"}}))
    with ResultsDB(db) as d:
        assert d.count() == 0
    assert "skipping pending result" in capsys.readouterr().err


def test_result_printed_when_no_file_can_hold_it(data, tmp_path):
    from noisebench.harness.results.db import ResultsDB

    db = tmp_path / "r.db"
    ResultsDB(db).close()
    res = _result(data, n_epochs=300)  # neither the database nor any JSON file fits under 8 KiB
    out = _record_in_subprocess(db, res, limit=8192, env=dict(ENV, TMPDIR=str(tmp_path)))
    first, last = out.splitlines()[0], out.splitlines()[-1]
    assert json.loads(first)["pending_result"]["key"] == res.key
    assert last.startswith("error: could not record run") and "printed on stdout" in last
