"""Terminal injection (issue 13, class 9): attribute values, dataset names, paths and database fields
are echoed with their control characters escaped (one function, noisebench.safety.text.clean), by
info, verify, report and every one-line error."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import assert_one_line_error, copy_db, hostile_db, hostile_inputs  # noqa: E402,F401

from noisebench.safety.text import clean, has_control  # noqa: E402

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # anything but \n
HOSTILE = {
    "clear screen": "\x1b[2J\x1b[H",
    "window title (OSC)": "\x1b]0;pwned\x07",
    "C1 CSI": "\x9b31mred",
    "carriage return": "ok\rerror: forged",
    "backspace": "abc\x08\x08\x08xyz",
    "NUL": "a\x00b",
    "bidi override": "\u202etxt.exe",
    "newline": "line1\nerror: forged line",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_clean_escapes_control_characters(name):
    s = clean(HOSTILE[name])
    assert RAW.search(s) is None and "\n" not in s and "\\" in s
    assert has_control(HOSTILE[name])


def test_clean_keeps_printable_text_and_chosen_newlines():
    text = "ψ=16 · café 日本 [ok] ~"
    assert clean(text) == text and not has_control(text)
    assert clean("a\nb\rc", keep_newlines=True) == "a\nb\\x0dc"


def _hostile_file(path: Path, **attrs) -> Path:
    from noisebench.format import DatasetWriter

    extra = attrs.pop("_datasets", None) or []
    with DatasetWriter(path, kind="synth", task="regression", params=attrs.pop("params", {}), seed=0,
                       attrs=attrs) as w:
        for name in ["train/x", "train/y", "val/x", "val/y"] + extra:
            w.write(name, np.zeros((4, 2) if name.endswith("x") else (4,), np.float32))
    return path


def _terminal_safe(text: str) -> None:
    assert RAW.search(text) is None, repr(text)


@pytest.mark.parametrize("attr", ["dataset", "clean_reference", "params", "class_names"])
@pytest.mark.parametrize("payload", ["clear screen", "window title (OSC)", "carriage return", "newline"])
def test_info_escapes_attribute_values(cli, tmp_path, attr, payload):
    bad = HOSTILE[payload]
    value = {"params": {"k" + bad: "v" + bad}, "class_names": ["cat", bad]}.get(attr, "x" + bad)
    p = _hostile_file(tmp_path / "f.h5", **{attr: value})
    r = cli("info", p)
    assert r.code == 0, r.err
    _terminal_safe(r.out + r.err)
    if payload in ("newline", "carriage return"):
        assert "error: forged" not in [ln.strip() for ln in r.out.splitlines()]


def test_verify_escapes_dataset_names(cli, tmp_path):
    p = _hostile_file(tmp_path / "f.h5", _datasets=["truth/\x1b[2Jevil", "truth/a\rb"])
    r = cli("verify", p)
    assert r.code == 0, r.err
    _terminal_safe(r.out + r.err)
    assert "\\x1b[2Jevil" in r.out


def test_error_line_escapes_a_hostile_path(cli, tmp_path):
    r = cli("info", tmp_path / "no\x1b]0;pwned\x07such.h5")
    assert_one_line_error(r)
    _terminal_safe(r.err)
    assert "\\x1b" in r.err


def test_error_line_escapes_a_hostile_db_path(cli, tmp_path):
    r = cli("report", "--db", tmp_path / "x\x9b2J\ry.db")
    assert_one_line_error(r)
    _terminal_safe(r.err)


def test_error_from_a_hostile_attribute_is_escaped(cli, tmp_path):
    import h5py

    p = _hostile_file(tmp_path / "f.h5")
    with h5py.File(p, "r+") as f:
        f.attrs["kind"] = "\x1b[2Jevil\nerror: forged"
    r = cli("info", p)
    assert_one_line_error(r)
    _terminal_safe(r.err)


@pytest.mark.parametrize("name", ["a\x1b[2Jb", "tab\there", "new\nline", "\u202eexe"])
def test_dataset_names_with_control_characters_refused(cli, tmp_path, name):
    src = tmp_path / "x.npz"
    rng = np.random.default_rng(0)
    np.savez(src, x_train=rng.integers(0, 255, (24, 8, 8, 3), dtype=np.uint8), y_train=np.arange(24) % 4,
             x_test=rng.integers(0, 255, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 4)
    r = cli("make", "mnist", "--source", src, "--name", name, "--val-size", "4", "--out", tmp_path / "out")
    assert_one_line_error(r)
    _terminal_safe(r.err)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").glob("*.h5")) == []


def test_report_escapes_names_from_the_database(cli, hostile_db, tmp_path):
    from noisebench.harness.results.db import ResultsDB
    from noisebench.harness.run.data import RunResult

    db = copy_db(hostile_db, tmp_path / "r.db")
    with ResultsDB(db) as d:
        for row in d.runs():
            cfg = dict(row["config"], activation="relu\x1b[2J\x1b]0;pwned\x07")
            d.record(RunResult(key=row["key"] + "x", config=cfg, status="ok", final=row["final"],
                               data_info=row["data_info"], epochs=d.epochs(row["key"])))
    r = cli("report", "--db", db, "--out", tmp_path / "rep", "--no-plots")
    assert r.code == 0, r.err
    _terminal_safe(r.out + r.err)
    assert "\\x1b[2J" in r.out
