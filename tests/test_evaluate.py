"""`noisebench evaluate` / `nb.evaluate`: a model noisebench did not train (here: the saved weights of a tiny
test-time study), scored through the CLI and the Python API on the same sets; the accuracies equal those
the test-time protocol recorded for the same weights; the refusals are one line; report and the
RobustBench-style export read the evaluations back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches  # noqa: E402

from noisebench.harness.results.db import ResultsDB  # noqa: E402

TINY_MODEL = """
from torch import nn
import noisebench as nb

@nb.register_model("evcnn", task="classification", default_input=(3, 32, 32))
def evcnn(act, in_shape, num_outputs):
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), act(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_outputs))
"""
FACTORY = """
from torch import nn

def build(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ELU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))

def wide():
    return build(8)

def declared():
    m = build()
    m.preprocessing = {"mean": MEAN, "std": STD}
    return m

def not_a_module():
    return {"weights": 1}
"""
SETS = ["--corruptions", "gaussian_noise,fog", "--severity", "1,3"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny test-time study (one seed of evcnn/elu, its own baseline) with its saved weights."""
    import noisebench.registry.plugins as plugins
    from noisebench.cli import main
    from noisebench.generators.builds.images import build_clean_images
    from noisebench.generators.sources.cifar10 import load_cifar10
    from noisebench.registry import MODELS
    from noisebench.registry.plugins import ENV_VAR, load_plugin

    tmp = tmp_path_factory.mktemp("ev")
    src = write_cifar10_batches(tmp / "src", n_train=40, n_test=16)
    clean = build_clean_images(load_cifar10(src, verify=False), tmp / "data")
    loaded, env = dict(plugins._loaded), os.environ.pop(ENV_VAR, None)
    (tmp / "evplug.py").write_text(TINY_MODEL)
    load_plugin(tmp / "evplug.py")
    db = tmp / "r.db"
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--protocol", "test-time", "--data", str(clean), "--db", str(db), *SETS, "--activation",
              "elu", "--baseline", "elu", "--seeds", "1", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--model", "evcnn"])
    assert e.value.code == 0
    with ResultsDB(db) as d:
        run = [r for r in d.runs() if r["activation"] == "elu"][0]
        recorded = {(x["corruption"], x["severity"]): x["acc"] for x in d.evaluations(run_key=run["key"])}
    weights = tmp / "checkpoints" / run["key"][:2] / run["key"] / "selected.pt"
    import torch

    plain = tmp / "evcnn_elu.pt"
    torch.save(torch.load(weights, weights_only=True)["state_dict"], plain)  # a plain state dict, as users save one
    (tmp / "mynet.py").write_text(FACTORY)
    yield {"clean": clean, "db": db, "src": src, "recorded": recorded, "weights": plain, "selected": weights, "tmp": tmp,
           "factory": tmp / "mynet.py"}
    MODELS.unregister("evcnn")
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    os.environ.pop(ENV_VAR, None)  # factory files loaded like plug-ins are forgotten too
    if env is not None:
        os.environ[ENV_VAR] = env


def _accs(db, name):
    with ResultsDB(db) as d:
        (m,) = d.external_models(name=name)
        return m, {(x["corruption"], x["severity"]): x["acc"] for x in d.evaluations(run_key=m["key"])}


def test_registered_model_through_the_cli_equals_the_test_time_protocol(cli, study, tmp_path):
    db = tmp_path / "e.db"
    args = ["evaluate", "--model", "evcnn", "--activation", "elu", "--weights", study["weights"], "--data",
            study["clean"], *SETS, "--db", db, "--device", "cpu"]
    r = cli(*args)
    assert r.code == 0, r.err
    assert "evcnn/elu" in r.out and "5 evaluations recorded" in r.out
    m, acc = _accs(db, "evcnn/elu")
    assert acc == study["recorded"]  # same weights, same sets, same engine: equal to the last bit
    assert m["model_kind"] == "registered" and m["precision"] == "fp32" and m["preprocessing"]["mean"]
    assert m["weights_sha256"] and m["source_sha256"] and m["weights_file"] == "evcnn_elu.pt"
    # rerun: nothing evaluated again; the run's own selected.pt is accepted too, under its own weights hash
    r = cli(*args)
    assert r.code == 0 and "0 evaluations recorded" in r.out and "5 already there" in r.out
    import shutil

    shutil.copy(study["weights"], tmp_path / "renamed.pt")  # the weights' content keys them, not the file's name
    r = cli(*args[:6], tmp_path / "renamed.pt", *args[7:])
    assert r.code == 0 and "0 evaluations recorded" in r.out and "5 already there" in r.out
    r = cli(*args[:6], study["selected"], *args[7:], "--name", "from-run")
    assert r.code == 0, r.err
    assert _accs(db, "from-run")[1] == study["recorded"]


def test_python_api_in_memory_module_and_factory_file(study, tmp_path):
    import torch

    import noisebench as nb
    from noisebench.harness.activations.resolve import resolve_activation
    from noisebench.harness.models import build_model
    from noisebench.harness.testtime.sets import train_statistics

    model = build_model("evcnn", resolve_activation("elu"), (3, 32, 32), 10)
    model.load_state_dict(torch.load(study["weights"], weights_only=True))
    stats = train_statistics(study["clean"])
    res = nb.evaluate(model, data=study["clean"], corruptions=["gaussian_noise", "fog"], severity=[1, 3],
                      normalize=(stats["mean"], stats["std"]), device="cpu", quiet=True)
    got = {(r["set"], r["severity"]): r["acc"] for r in res}
    assert got == study["recorded"]
    assert res.clean_acc == study["recorded"][("clean", 0)] and res.corruptions == ["gaussian_noise", "fog"]
    cells = [v for k, v in study["recorded"].items() if k[1]]
    assert res.mean_corruption_acc == pytest.approx(sum(cells) / len(cells))
    # CE / mCE against RobustBench's standard WRN-28-10 (its published accuracies), by hand
    from noisebench.api.evaluate import _reference, summarize
    from noisebench.harness.report import reference_robustbench as rb

    rbs = summarize(res.name, res.key, res.rows, _reference("robustbench-standard", None))
    ce = {c: sum(1 - got[(c, s)] for s in (1, 3)) / sum(1 - rb.ACC[c][s - 1] / 100 for s in (1, 3))
          for c in ("gaussian_noise", "fog")}
    assert rbs.ce == pytest.approx(ce) and rbs.mce == pytest.approx(sum(ce.values()) / 2)
    # the same through a transform instead of normalize
    mean, std = torch.tensor(stats["mean"])[None, :, None, None], torch.tensor(stats["std"])[None, :, None, None]
    res_t = nb.evaluate(model, data=study["clean"], corruptions="gaussian_noise,fog", severity=[1, 3],
                        transform=lambda x: (x - mean) / std, device="cpu", quiet=True)
    assert [r["acc"] for r in res_t] == pytest.approx([r["acc"] for r in res], abs=1e-12)
    # a factory file with the same weights, stored in a database; its source hash is part of the key
    db = tmp_path / "f.db"
    res_f = nb.evaluate(f"{study['factory']}:build", data=study["clean"], corruptions="gaussian_noise,fog",
                        severity=[1, 3], weights=study["weights"], normalize=(stats["mean"], stats["std"]), db=db,
                        device="cpu", quiet=True, reference=res)
    assert {(r["set"], r["severity"]): r["acc"] for r in res_f} == study["recorded"]
    assert res_f.mce == pytest.approx(1.0) and res_f.reference == res.name  # the same model as its own reference
    m, _ = _accs(db, "mynet:build")
    assert m["model_kind"] == "factory" and m["model"] == "mynet.py:build"
    from noisebench.safety.inputs import file_digest

    assert m["source_sha256"] == file_digest(study["factory"], "sha256")
    # declared preprocessing (a module attribute) is used when --normalize is not given
    src = study["factory"].read_text().replace("MEAN", repr(stats["mean"])).replace("STD", repr(stats["std"]))
    decl = tmp_path / "decl.py"
    decl.write_text(src)
    res_d = nb.evaluate(f"{decl}:declared", data=study["clean"], weights=study["weights"], device="cpu", quiet=True)
    assert res_d.clean_acc == study["recorded"][("clean", 0)]


def test_refusals_are_one_line(cli, study, tmp_path):
    import torch

    base = ["evaluate", "--data", study["clean"], "--db", tmp_path / "x.db", "--device", "cpu", "--quiet"]
    fac = study["factory"]
    r = cli(*base, "--model", f"{fac}:wide", "--weights", study["weights"])
    assert r.code != 0 and r.err.count("\n") == 1
    assert r.err.startswith("error: ") and "first mismatched key '0.weight'" in r.err and "[4, 3, 3, 3]" in r.err
    whole = tmp_path / "whole.pt"
    from noisebench.registry.plugins import load_plugin

    torch.save(sys.modules[load_plugin(fac)].build(), whole)  # a pickled module, not a state dict
    r = cli(*base, "--model", f"{fac}:build", "--weights", whole)
    assert r.code != 0 and r.err.count("\n") == 1 and "not a plain state dict" in r.err
    lst = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], lst)
    r = cli(*base, "--model", f"{fac}:build", "--weights", lst)
    assert r.code != 0 and r.err.count("\n") == 1 and "not a plain state dict" in r.err
    r = cli(*base, "--model", f"{fac}:not_a_module")
    assert r.code != 0 and r.err.count("\n") == 1 and "returned dict, not a torch.nn.Module" in r.err
    r = cli(*base, "--model", "evcnn", "--activation", "elu")
    assert r.code != 0 and "needs --weights" in r.err
    r = cli(*base, "--model", f"{fac}:build", "--corruptions", "no_such_thing")
    assert r.code != 0 and r.err.count("\n") == 1 and "unknown corruption" in r.err
    r = cli(*base, "--model", f"{fac}:build", "--precision", "fp16")
    assert r.code != 0 and r.err.count("\n") == 1 and "--precision must be one of" in r.err
    assert not (tmp_path / "x.db").exists()  # refused before the database is opened
    r = cli(*base, "--model", f"{fac}:build", *SETS, "--reference", "nobody")
    assert r.code != 0 and r.err.count("\n") == 1 and "--reference nobody" in r.err


RB_KEYS = {"link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue", "architecture",
           "eps", "clean_acc", "reported", "corruptions_acc", "corruptions_acc_3d", "unreliable", "footnote"}


def test_report_beside_trained_models_and_robustbench_json(cli, study, tmp_path):
    import csv
    import shutil

    db = tmp_path / "r.db"
    shutil.copy(study["db"], db)  # the trained study's database: evaluated models join it
    common = ["--data", study["clean"], *SETS, "--db", db, "--device", "cpu", "--quiet"]
    r = cli("evaluate", "--model", "evcnn", "--activation", "elu", "--weights", study["weights"], "--name", "ext-net",
            *common)
    assert r.code == 0, r.err
    r = cli("report", "--db", db, "--out", tmp_path / "rep", "--reference", "evcnn/elu (trainde)")
    assert r.code != 0 and r.err.count("\n") == 1 and "is not a column" in r.err
    r = cli("report", "--db", db, "--out", tmp_path / "rep", "--reference", "evcnn/elu (trained)")
    assert r.code == 0, r.err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "evaluated models beside trained ones" in md and "| ext-net |" in md and "| evcnn/elu (trained) |" in md
    # the evaluated copy of the trained weights scores exactly like its run: mCE 100 % against it
    row = next(line for line in md.splitlines() if line.startswith("| ext-net |"))
    assert "100.0 (n = 1)" in row
    assert any(p.name.startswith("testtime_heatmap_evaluated-") for p in (tmp_path / "rep").iterdir())
    # RobustBench's leaderboard JSON, read back
    r = cli("export", "--format", "robustbench-json", "--db", db, "--out", tmp_path / "x")
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "x" / "robustbench" / "cifar10" / "corruptions" / "ext-net__ours.json").read_text())
    assert RB_KEYS <= set(doc) and doc["name"] == "ext-net" and doc["architecture"] == "evcnn"
    rec = study["recorded"]
    cells = [v for k, v in rec.items() if k[1]]
    assert doc["clean_acc"] == f"{100 * rec[('clean', 0)]:.2f}"
    assert doc["corruptions_acc"] == f"{100 * sum(cells) / len(cells):.2f}"
    assert doc["noisebench"]["complete_benchmark"] is False and doc["noisebench"]["severities"] == [1, 3]
    assert doc["noisebench"]["accuracy"]["fog/3"] == pytest.approx(100 * rec[("fog", 3)])
    rows = list(csv.reader(open(tmp_path / "x" / "robustbench" / "cifar10" / "corruptions" /
                                "unaggregated_results__ours.csv")))
    assert rows[0] == ["", "gaussian_noise", "gaussian_noise", "fog", "fog"] and rows[1] == ["", "1", "3", "1", "3"]
    assert rows[2][0] == "ext-net" and float(rows[2][3]) == rec[("fog", 1)]
    # a database holding only evaluated models reports them too
    only = tmp_path / "only.db"
    r = cli("evaluate", "--model", f"{study['factory']}:build", "--weights", study["weights"],
            *common[:-5], "--db", only, "--device", "cpu", "--quiet")
    assert r.code == 0, r.err
    r = cli("report", "--db", only, "--out", tmp_path / "rep2", "--no-plots")
    assert r.code == 0, r.err
    assert "| mynet:build |" in (tmp_path / "rep2" / "report.md").read_text() and "n/a" in r.out


def test_other_test_sets_psi_and_a_corrupted_set(cli, study, tmp_path):
    """--datasets: a ψ file's test split (one set, severity 0) and a `make cifar10-c` set at the asked severity."""
    import noisebench as nb
    from noisebench.harness.testtime.sets import train_statistics

    psi = tmp_path / "cifar10-psi8.h5"
    assert psi in nb.build("psi", level=8, source=study["src"], out=tmp_path, val_size=6, no_verify=True)
    fog = study["clean"].parent / "cifar10-c-fog.h5"
    st = train_statistics(study["clean"])
    db = tmp_path / "d.db"
    r = cli("evaluate", "--model", f"{study['factory']}:build", "--weights", study["weights"], "--datasets", psi,
            "--datasets", fog, "--severity", "3", "--normalize", ",".join(map(str, st["mean"])),
            ",".join(map(str, st["std"])), "--db", db, "--device", "cpu", "--precision", "fp32")
    assert r.code == 0, r.err
    assert "[2/2]" in r.out and "img/s" in r.out  # progress lines (not a terminal)
    _, acc = _accs(db, "mynet:build")
    assert set(acc) == {("cifar10-psi8", 0), ("fog", 3)} and acc[("fog", 3)] == study["recorded"][("fog", 3)]
    r = cli("report", "--db", db, "--out", tmp_path / "rep", "--no-plots")  # figures: the test above
    assert r.code == 0, r.err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "other test sets" in md and "| cifar10-psi8 · 0 |" in md and "| fog · 3 |" in md
