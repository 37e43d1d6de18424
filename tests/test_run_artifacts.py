"""Checkpoints (selected and last weights, keyed by run identity) and learned activation parameters."""

from __future__ import annotations

from pathlib import Path

import torch

from noisebench.harness.results.db import ResultsDB

torch.set_num_threads(1)


def test_checkpoints_and_activation_params(cli, tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=300), tmp_path)
    db = tmp_path / "res" / "r.db"
    r = cli("train", "--data", dirty, "--activation", "tact", "--epochs", "3", "--db", db, "--save-checkpoint")
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        (run,) = d.runs()
    f = run["final"]
    ap = f["activation_params"]
    assert set(ap) == {"alpha", "beta"} and ap["alpha"]["n"] == 2 and len(ap["alpha"]["values"]) == 2  # two sites
    ck = f["checkpoints"]
    sel, last = Path(ck["selected"]), Path(ck["last"])
    assert sel.parent == tmp_path / "res" / "checkpoints" / run["key"][:2] / run["key"]
    s = torch.load(sel, weights_only=True)
    l = torch.load(last, weights_only=True)
    assert s["epoch"] == f["selected_epoch"] and l["epoch"] == 3 and s["key"] == run["key"]
    # the saved last weights are the model whose learned alpha the run recorded
    alphas = sorted(float(v) for k, v in l["state_dict"].items() if k.endswith("alpha"))
    assert alphas == sorted(ap["alpha"]["values"])
    # a relu run has no learned parameters and writes no checkpoints without the flag
    assert cli("train", "--data", dirty, "--activation", "relu", "--epochs", "1", "--db", db).code == 0
    with ResultsDB(db) as d:
        relu = [x for x in d.runs() if x["activation"] == "relu"][0]
    assert relu["final"]["activation_params"] == {} and "checkpoints" not in relu["final"]
    rep = cli("report", "--db", db, "--out", tmp_path / "rep", "--no-plots")
    assert rep.code == 0, rep.err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Learned activation parameters" in md and "tact alpha" in md and "n = 1" in md


def test_selected_checkpoint_is_the_best_val_epoch():
    from noisebench.harness.run.artifacts import BestWeights

    m = torch.nn.Linear(2, 1)
    b = BestWeights("classification")
    for epoch, acc in [(1, 0.5), (2, 0.7), (3, 0.7), (4, 0.6)]:
        with torch.no_grad():
            m.weight.fill_(epoch)
        b.update(m, {"epoch": epoch, "val_acc": acc})
    assert b.epoch == 2 and float(b.state["weight"][0, 0]) == 2.0  # earliest on ties, never test
    r = BestWeights("regression")
    for epoch, loss in [(1, 3.0), (2, float("nan")), (3, 1.0)]:
        r.update(m, {"epoch": epoch, "val_loss": loss})
    assert r.epoch == 3
