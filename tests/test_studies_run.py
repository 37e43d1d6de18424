"""Every study preset end to end, offline: datasets built from tiny official-format fixtures (--source),
a smoke grid (--subset, 1 epoch, 1 seed; one activation for the CNN presets), the report with the
published numbers beside ours; a second invocation trains nothing (resume) and rewrites the report."""

from __future__ import annotations

import csv

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("studies_run")]  # one worker: the tests share a module fixture and build on each other

# preset -> (source, extra flags, runs of the smoke grid)
SMOKE = {
    "synth-robustness": (None, ["--subset", "64"], 7 * 2),
    "mnist-flip-robustness": ("mnist", ["--subset", "20", "--activation", "relu,tanh"], 2 * 2),
    "psi-resnet18": ("cifar", ["--subset", "10", "--activation", "relu"], 2 * 5),
    "mish-benchmark": ("cifar", ["--subset", "10", "--activation", "relu"], 3 + 1),
    "lr-sweep": ("cifar", ["--subset", "10", "--activation", "relu"], 3 * 5),
    "fastai-baselines": ("cifar", ["--subset", "10"], 4),
    "cifar10n-robustness": ("cifar", ["--subset", "10", "--activation", "relu"], 3),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from official_format_fixtures import cifar10n_arrays, write_cifar10_batches, write_cifar_n, write_mnist_idx

    root = tmp_path_factory.mktemp("studies")
    env = {"root": root, "cifar": write_cifar10_batches(root / "src", 40, 20),
           "mnist": write_mnist_idx(root / "src", 60, 20), "data": root / "data", "db": root / "r.db"}
    from noisebench.generators.sources.cifar10 import load_cifar10

    (env["data"] / "raw" / "cifar-n").mkdir(parents=True)  # where cifar10n-robustness looks for the label file
    write_cifar_n(env["data"] / "raw" / "cifar-n" / "CIFAR-10_human.pt",
                  cifar10n_arrays(load_cifar10(env["cifar"], verify=False).y_train))
    return env


@pytest.mark.parametrize("name", list(SMOKE))
def test_preset_runs_end_to_end_offline(cli, env, name):
    src, flags, n = SMOKE[name]
    out = env["root"] / "reports" / name
    args = ["study", name, "--data-dir", env["data"], "--db", env["db"], "--out", out, "--epochs", "1", "--seeds", "1",
            *flags] + (["--source", env[src], "--no-verify"] if src else [])
    r = cli(*args)  # as the README shows it: report with figures
    assert r.code == 0, r.err + r.out
    assert f"study {name}: {n} runs" in r.out and " 0 failed)" in r.out  # (runs another preset shares are reused)
    md = (out / "report.md").read_text()
    assert md.startswith(f"# Study {name}") and f"{n} of {n} runs of the study" in md
    rep = list(csv.DictReader(open(out / "reported.csv")))
    if name in ("synth-robustness", "cifar10n-robustness"):  # no published accuracies for these settings
        assert rep == [] and "No published numbers" in md
        if name == "cifar10n-robustness":
            assert "| cifar10n-aggre |" in md and "| cifar10n-worst |" in md
    else:
        assert "## Reported: " in md and rep
        ours = [x for x in rep if x["n"] == "1"]
        assert ours and all(x["reported_inside_ci95"] == "" for x in ours)  # one seed: no CI, never "inside"
        assert all(abs(float(x["diff"]) - (float(x["mean"]) - float(x["reported"]))) < 1e-12 for x in ours)
    axis = {"lr-sweep": "lr", "mish-benchmark": "model", "fastai-baselines": "model"}.get(name, "data")
    assert list(out.glob("layout_*.png")) and list(out.glob(f"by_{axis}_*.svg")) and list(out.glob("curves_*.pdf"))
    again = cli(*args, "--no-plots")  # resumable: the same command trains nothing and rewrites its own report
    assert again.code == 0 and f"0 runs trained (0 ok, 0 null, 0 failed), {n} already in" in again.out
    dry = cli("study", name, "--dry-run", "--no-measure", "--data-dir", env["data"], "--db", env["db"],
              "--epochs", "1", "--seeds", "1", *flags)
    assert f"{n} runs: {n} already in" in dry.out


def test_report_folder_of_another_study_is_not_replaced(cli, env):
    other = env["root"] / "reports" / "synth-robustness"
    if not (other / "report.md").exists():
        pytest.skip("needs the synth-robustness run above")
    r = cli("study", "mnist-flip-robustness", "--data-dir", env["data"], "--db", env["db"], "--out", other,
            "--source", env["mnist"], "--no-verify", "--epochs", "1", "--seeds", "1", "--subset", "20")
    assert r.code != 0 and "already holds a report" in r.err


def test_testtime_preset_offline(cli, env, tmp_path):
    """cifar100-c-testtime through its report: the shipped preset with two corruptions and two severities
    (the full set is 15 corruptions x 5 severities; its plan is checked in test_studies.py)."""
    from official_format_fixtures import write_cifar100_python

    from noisebench.harness.studies.preset import PRESET_DIR

    text = (PRESET_DIR / "cifar100-c-testtime.toml").read_text()
    assert 'protocol = "test-time"' in text and 'corruptions = "all"' in text
    small = tmp_path / "tt.toml"
    small.write_text(text.replace('corruptions = "all"', 'corruptions = "fog,contrast"')
                     .replace("severities = [1, 2, 3, 4, 5]", "severities = [1, 5]"))
    src = write_cifar100_python(tmp_path / "src", 60, 20)
    out = tmp_path / "rep"
    args = ["study", small, "--data-dir", tmp_path / "data", "--db", tmp_path / "tt.db", "--out", out, "--epochs", "1",
            "--seeds", "1", "--subset", "10", "--activation", "relu,mish", "--source", src, "--no-verify"]
    r = cli(*args)
    assert r.code == 0, r.err + r.out
    assert "2 runs trained" in r.out and "evaluations recorded" in r.out
    md = (out / "report.md").read_text()
    assert md.startswith("# Study cifar100-c-testtime") and "| activation | clean acc | mean corruption acc" in md
    assert "| mish |" in md and "fog · 5" in md and (tmp_path / "data" / "cifar100-c-fog.h5").exists()
    assert (out / "testtime_scores.csv").exists()
    again = cli(*args)  # resumable: nothing trained or evaluated again
    assert again.code == 0 and "0 runs trained, 2 reused" in again.out and "0 evaluations recorded" in again.out
