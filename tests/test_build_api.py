"""nb.build(kind, **options): exactly the options of the matching CLI command, validated once;
the CLI commands are layers over it (the same files, comma lists where flags repeat)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from official_format_fixtures import write_cifar10_batches, write_mnist_idx

import noisebench as nb
from noisebench.api.build import build_kinds, build_options
from noisebench.errors import UserError

COMMANDS = {"synth": ("synth",), "psi": ("make", "psi"), "cifar10": ("make", "cifar10"), "mnist": ("make", "mnist"),
            "mnist-flip": ("make", "mnist-flip"), "corrupt": ("make", "corrupt"), "cifar10-c": ("make", "cifar10-c"),
            "cifar100": ("make", "cifar100"), "cifar100-c": ("make", "cifar100-c"),
            "fashion-mnist": ("make", "fashion-mnist"), "svhn": ("make", "svhn"), "cifar10n": ("make", "cifar10n"),
            "cifar100n": ("make", "cifar100n")}


def _click_command(path):
    import typer

    from noisebench.cli import _load_commands, app

    _load_commands()
    cmd = typer.main.get_command(app)
    for part in path:
        cmd = cmd.commands[part]
    return cmd


def _plain(v):
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple)):  # a repeatable flag's default: the same as its comma list
        return ",".join(map(str, v))
    return v


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_build_takes_exactly_the_cli_options(kind):
    cmd = _click_command(COMMANDS[kind])
    cli = {p.name: p for p in cmd.params}
    api = build_options(kind)
    assert set(cli) == set(api), f"{kind}: only CLI {set(cli) - set(api)}, only nb.build {set(api) - set(cli)}"
    for name, p in cli.items():
        if p.required:
            assert api[name] is inspect.Parameter.empty, name
        else:
            default = p.default if not (p.multiple and p.default in ((), [])) else None
            assert _plain(default) == _plain(api[name]), f"{kind} {name}: CLI {p.default!r} vs nb.build {api[name]!r}"


def test_every_build_kind_is_a_command():
    assert sorted(build_kinds()) == sorted(COMMANDS)


def test_unknown_option_and_kind_are_refused_before_work(tmp_path):
    with pytest.raises(UserError, match=r"unknown option\(s\) levle \(did you mean level\?\)"):
        nb.build("psi", levle=16, out=tmp_path)
    with pytest.raises(UserError, match="unknown build kind"):
        nb.build("pis")
    with pytest.raises(UserError, match="needs name"):
        nb.build("corrupt", severity="1")
    with pytest.raises(UserError, match="--level takes numbers"):
        nb.build("psi", level="8,x", out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_synth_build_matches_the_cli(tmp_path, cli):
    paths = nb.build("synth", rows=200, seed=3, out=tmp_path / "api")
    assert [p.name for p in paths] == ["synth-200-s3-clean.h5", "synth-200-s3-dirty.h5"] and "dirty" in paths.note
    r = cli("synth", "--rows", "200", "--seed", "3", "--out", tmp_path / "cli")
    assert r.code == 0, r.err
    from noisebench.format import open_file

    for p in paths:
        with open_file(p) as a, open_file(tmp_path / "cli" / p.name) as b:
            assert a.meta["checksums"] == b.meta["checksums"]


def test_psi_levels_as_comma_list_and_repeated_flag(tmp_path, cli):
    src = write_cifar10_batches(tmp_path / "src", n_train=30, n_test=10)
    paths = nb.build("psi", level="8,16", source=src, no_verify=True, workers=1, out=tmp_path / "api")
    assert sorted(p.name for p in paths) == ["cifar10-psi16.h5", "cifar10-psi8.h5", "cifar10.h5"]  # + clean twin
    r1 = cli("make", "psi", "--level", "8,16", "--source", src, "--no-verify", "--workers", "1", "--out", tmp_path / "a")
    r2 = cli("make", "psi", "--level", "8", "--level", "16", "--source", src, "--no-verify", "--workers", "1",
             "--out", tmp_path / "b")
    assert r1.code == 0 and r2.code == 0, r1.err + r2.err
    assert sorted(p.name for p in (tmp_path / "a").glob("*psi*")) == sorted(p.name for p in (tmp_path / "b").glob("*psi*")) \
        == ["cifar10-psi16.h5", "cifar10-psi8.h5"]
    r = cli("make", "psi", "--level", "8,16", "--source", src, "--no-verify", "--out", tmp_path / "a")
    assert r.code != 0 and "--force" in r.err  # nothing overwritten without --force, as before


def test_info_prints_unicode_and_percentages(tmp_path, cli):
    import json

    import h5py

    paths = nb.build("synth", rows=100, out=tmp_path)
    r = cli("info", paths[1])
    assert r.code == 0 and "dirty_frac=0.1 (10%)" in r.out, r.out
    with h5py.File(paths[1], "r+") as f:  # a source description with non-ASCII text
        f.attrs["source"] = json.dumps({"name": "ψ-noise § 2, café"})
    r = cli("info", paths[1])
    assert r.code == 0 and '"ψ-noise § 2, café"' in r.out and "\\u00" not in r.out, r.out
    src = write_mnist_idx(tmp_path / "src", n_train=60, n_test=10)
    flip = nb.build("mnist-flip", rate=0.25, source=src, no_verify=True, out=tmp_path / "m")
    r = cli("info", flip[-1])
    assert "flip rate: nominal 25%, realized " in r.out and "rate=0.25 (25%)" in r.out, r.out
    with h5py.File(paths[1], "r+") as f:  # ... but never terminal controls
        f.attrs["source"] = json.dumps({"name": "ψ\x1b[2J\u202e"})
    r = cli("info", paths[1])
    assert "ψ\\u001b[2J\\u202e" in r.out and "\x1b" not in r.out and "\u202e" not in r.out, r.out


def test_repeated_flags_equal_comma_lists(tmp_path, cli):
    dirty = nb.build("synth", rows=60, out=tmp_path)[1]
    a = cli("grid", "--data", dirty, "--activation", "relu,elu", "--lr", "1e-3,1e-2", "--seeds", "1", "--dry-run",
            "--db", tmp_path / "g.db")
    b = cli("grid", "--data", dirty, "--activation", "relu", "--activation", "elu", "--lr", "1e-3", "--lr", "1e-2",
            "--seeds", "1", "--dry-run", "--db", tmp_path / "g.db")
    assert a.code == 0 and a.out == b.out and "8 runs" in a.out, a.out + a.err  # 2 acts x 2 lrs x clean/dirty


def _all_commands():
    import typer

    from noisebench.cli import _load_commands, app

    _load_commands()
    stack = [("noisebench", typer.main.get_command(app))]
    while stack:
        name, cmd = stack.pop()
        yield name, cmd
        stack += [(f"{name} {n}", c) for n, c in getattr(cmd, "commands", {}).items()]


def test_help_code_and_docs_are_self_contained():
    """No reference to documents users do not have (a source-study 'SPEC', files outside the repository)."""
    root = Path(__file__).resolve().parents[1]
    bad = re.compile(r"\bSPEC\b|\.\./shared|shared/SPEC")
    files = [p for d in ("noisebench", "harness", "generators", "corruptors", "docs", "examples")
             for p in (root / d).rglob("*") if p.suffix in (".py", ".md", ".toml")] + [root / "README.md"]
    assert len(files) > 50
    hits = [f"{p.relative_to(root)}:{i}" for p in files for i, line in enumerate(p.read_text("utf-8").splitlines(), 1)
            if bad.search(line)]
    assert not hits, hits
    for name, cmd in _all_commands():
        texts = [cmd.help or "", cmd.epilog or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        assert not any(bad.search(t) for t in texts), name
