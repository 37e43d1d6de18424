"""`noisebench card`: dataset card content for every kind, Croissant JSON-LD validated with mlcroissant."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from share_fixtures import build_share_files  # noqa: E402

KINDS = ["cifar10", "cifar10-psi16", "mnist", "mnist-flip0.1", "synth-clean", "synth-dirty", "lab", "lab-psi8"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build_share_files(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def cards(files, tmp_path_factory):
    """Cards of every kind written by the CLI into one folder: {key: (card text, croissant dict, path)}."""
    from noisebench.cli import main

    out = tmp_path_factory.mktemp("cards")
    res = {}
    for k in KINDS:
        try:
            main(["card", str(files[k]), "--out", str(out)])
        except SystemExit as e:
            assert e.code in (0, None), k
        stem = Path(files[k]).stem
        res[k] = ((out / f"{stem}.card.md").read_text(), json.loads((out / f"{stem}.croissant.json").read_text()),
                  out / f"{stem}.croissant.json")
    return res


def _sha(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def test_every_kind_states_the_common_facts(files, cards):
    for k in KINDS:
        text, doc, _ = cards[k]
        with h5py.File(files[k], "r") as f:
            checksums = json.loads(f.attrs["checksums"])
            seed = int(f.attrs["seed"])
            kind = f.attrs["kind"]
            shapes = {s: f[f"{s}/x"].shape for s in ("train", "val", "test") if f"{s}/x" in f}
        assert f"| kind | `{kind}` |" in text and f"| seed | {seed} |" in text, k
        assert _sha(files[k]) in text, k  # whole-file sha256
        for name, digest in checksums.items():  # every dataset checksum, in a row naming it
            assert f"| `{name}` |" in text and digest in text, (k, name)
        for s, shape in shapes.items():
            assert f"| {s} | {shape[0]} |" in text and str(tuple(shape)) in text, (k, s)
        assert "## How to load it" in text and f'h5py.File("{Path(files[k]).name}", "r")' in text
        assert "```sh\nnoisebench " in text, k  # the build command
        assert doc["distribution"][0]["sha256"] == _sha(files[k])


def test_load_snippet_runs(files, cards, monkeypatch):
    text = cards["cifar10-psi16"][0]
    code = text.split("## How to load it")[1].split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) == 3
    monkeypatch.chdir(Path(files["cifar10-psi16"]).parent)
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - the card's own snippet
    assert ns["x"].shape == (25, 32, 32, 3) and ns["y"].shape == (25,)  # 30 training images, 5 carved into val


def test_psi_card_definition_severity_and_psnr(files, cards):
    text = cards["cifar10-psi16"][0]
    assert "y = clip(round(Poisson(ψ · x / 255) · 255 / ψ), 0, 255)" in text
    assert "c = 500, 250, 100, 75, 50" in text and "**ψ = 16**: harsher than CIFAR-10-C shot-noise severity 5" in text
    assert "Krizhevsky" in text and "Learning Multiple Layers of Features from Tiny Images" in text
    assert "noisebench make psi --level 16 --seed 0" in text
    # PSNR against the clean twin, recomputed here from the two files
    with h5py.File(files["cifar10-psi16"], "r") as a, h5py.File(files["cifar10"], "r") as b:
        d = a["train/x"][:].astype(np.float64) - b["train/x"][:].astype(np.float64)
    psnr = 10 * np.log10(255**2 / np.mean(d**2))
    assert "against clean twin cifar10.h5" in text
    row = next(line for line in text.splitlines() if line.startswith("| train |") and "dB" not in line and "." in line)
    assert f"{psnr:.4g}" in row


def test_psi_card_without_twin_says_so_and_predicts(files, tmp_path):
    from noisebench.share.card import write_card

    lone = tmp_path / "cifar10-psi16.h5"
    shutil.copy(files["cifar10-psi16"], lone)
    card, _ = write_card(lone)
    text = card.read_text()
    assert "not measured (clean twin cifar10.h5 is not next to the file)" in text
    assert "predicted PSNR" in text


def test_flip_card_realized_rate_and_confusion(files, cards):
    text = cards["mnist-flip0.1"][0]
    with h5py.File(files["mnist-flip0.1"], "r") as f:
        clean, noisy = f["truth/clean_labels"][:], f["train/y"][:]
    n_flip = int((clean != noisy).sum())
    assert f"**{n_flip} of {len(clean)}**" in text and f"**{n_flip / len(clean):.4f}** (nominal 0.1)" in text
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (clean, noisy), 1)
    for i in range(10):
        assert f"| **{i}** | " + " | ".join(str(v) for v in cm[i]) + " |" in text
    assert "from the other 9 classes" in text and "CC BY-SA 3.0" in text and "LeCun" in text
    assert "noisebench make mnist-flip --rate 0.1 --mode symmetric" in text


def test_synth_card_hidden_functions(files, cards):
    text = cards["synth-dirty"][0]
    with h5py.File(files["synth-dirty"], "r") as f:
        hf = json.loads(f["truth"].attrs["hidden_functions_json"])
        n_dirty = f["truth/dirty_rows"].shape[0]
    forms = hf["function_formulas"]
    assert "x0: " + forms[hf["function_ids"][0]] in text
    assert f"{hf['constants'][0]:.6g}" in text and f"dirty training rows: {n_dirty}" in text
    assert "noisebench synth --rows 140 --cols 6 --dirty-frac 0.1 --sigma 0.5 --seed 3" in text
    assert "This is the clean variant" in cards["synth-clean"][0]
    assert "x0: " + forms[hf["function_ids"][0]] in cards["synth-clean"][0]  # truth/ holds only attributes there


def test_clean_and_custom_cards(cards):
    assert "None: this is the clean reference" in cards["cifar10"][0]
    assert "noisebench make cifar10" in cards["cifar10"][0]
    lab = cards["lab-psi8"][0]
    assert "| 2 | cow |" in lab and "not recorded (ask the data owner)" not in lab  # full license text, not the short one
    assert "its license and citation are not recorded in the file" in lab
    assert "--source PATH/TO/lab.npz --name lab" in lab and "--level 8 --seed 2" in lab


def test_unknown_attributes_appear_generically(files, tmp_path):
    """Attributes the card code does not know (e.g. from a newer format) are still listed."""
    from noisebench.share.card import write_card

    p = tmp_path / "extra.h5"
    shutil.copy(files["cifar10"], p)
    with h5py.File(p, "a") as f:
        f.attrs["split"] = json.dumps({"val_size": 5, "rule": "stratified"})
        f.attrs["source_fingerprint"] = "abc123"
    text = write_card(p)[0].read_text()
    assert "## Other attributes" in text and "`source_fingerprint`: `\"abc123\"`" in text
    assert '"rule": "stratified"' in text


def test_card_refuses_overwrite_and_writes_next_to_data(files, tmp_path, cli):
    p = tmp_path / "mnist.h5"
    shutil.copy(files["mnist"], p)
    r = cli("card", p)
    assert r.code == 0 and (tmp_path / "mnist.card.md").is_file() and (tmp_path / "mnist.croissant.json").is_file()
    before = (tmp_path / "mnist.card.md").read_text()
    (tmp_path / "mnist.card.md").write_text("mine")
    r = cli("card", p)
    assert r.code != 0 and r.err.startswith("error:") and "--force" in r.err and len(r.err.strip().splitlines()) == 1
    assert (tmp_path / "mnist.card.md").read_text() == "mine"
    assert cli("card", p, "--force").code == 0 and (tmp_path / "mnist.card.md").read_text() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["mnist.card.md", "mnist.croissant.json", "mnist.h5"]
    r = cli("card", tmp_path / "missing.h5")
    assert r.code != 0 and "no such file" in r.err
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    r = cli("card", tmp_path / "junk.h5")
    assert r.code != 0 and "not an HDF5 file" in r.err and not (tmp_path / "junk.card.md").exists()


def test_license_and_url_overrides(files, tmp_path):
    from noisebench.share.card import write_card

    card, cr = write_card(files["synth-dirty"], out=tmp_path, license="CC-BY-4.0", url="https://example.org/s.h5")
    doc = json.loads(cr.read_text())
    assert doc["license"] == "CC-BY-4.0" and doc["distribution"][0]["contentUrl"] == "https://example.org/s.h5"
    assert "- license: CC-BY-4.0" in card.read_text()


def test_croissant_structure(cards):
    _, doc, _ = cards["mnist-flip0.1"]
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.0" and doc["@type"] == "sc:Dataset"
    dist = doc["distribution"][0]
    assert dist["@type"] == "cr:FileObject" and dist["encodingFormat"] == "application/x-hdf5"
    rs = {r["@id"]: r for r in doc["recordSet"]}
    assert [d["splits/name"] for d in rs["splits"]["data"]] == ["train", "val", "test"]
    assert rs["splits"]["dataType"] == "cr:Split"
    x = next(f for f in rs["train"]["field"] if f["@id"] == "train/x")
    assert x["dataType"] == "sc:Integer" and "(28, 28, 1)" in x["description"]
    assert x["source"]["extract"]["column"] == "train/x"
    y = next(f for f in rs["val"]["field"] if f["@id"] == "val/y")
    assert y["references"]["field"]["@id"] == "classes/label"
    assert [d["classes/name"] for d in rs["classes"]["data"]][:3] == ["0", "1", "2"]
    assert {f["@id"] for f in rs["truth"]["field"]} >= {"truth/clean_labels", "truth/flip_mask"}
    synth = {r["@id"]: r for r in cards["synth-dirty"][1]["recordSet"]}
    assert "classes" not in synth and synth["train"]["field"][0]["dataType"] == "sc:Float"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_croissant_validates_with_mlcroissant(cards):
    mlc = pytest.importorskip("mlcroissant", reason="mlcroissant not installed (pip install 'noisebench[share]')")
    for k in KINDS:
        ds = mlc.Dataset(jsonld=str(cards[k][2]))  # raises ValidationError on an invalid document
        assert not ds.metadata.ctx.issues.errors, k
        assert not ds.metadata.ctx.issues.warnings, (k, ds.metadata.ctx.issues.warnings)
        assert [r.name for r in ds.metadata.record_sets][:1] == ["splits"]


def test_registered_source_supplies_license_and_citation(files, tmp_path):
    from noisebench.registry import SOURCES, register_source
    from noisebench.share.card import write_card

    @register_source("lab", license="CC-BY-4.0 (lab terms)", citation="Lab et al. 2026, Our images.",
                     url="https://lab.example/data")
    def lab_loader():  # pragma: no cover - only its metadata is used
        return None

    try:
        card, cr = write_card(files["lab-psi8"], out=tmp_path)
    finally:
        SOURCES.unregister("lab")
    text = card.read_text()
    assert "- license: CC-BY-4.0 (lab terms)" in text and "- cite: Lab et al. 2026, Our images." in text
    assert "(https://lab.example/data)" in text
    doc = json.loads(cr.read_text())
    assert doc["license"] == "CC-BY-4.0 (lab terms)" and doc["citeAs"] == "Lab et al. 2026, Our images."


def test_registered_corruption_is_described_from_the_registry(files):
    """Files of kinds this module has no text for (e.g. a plug-in corruption) are described from the registry."""
    import copy

    from noisebench.registry import CORRUPTIONS, register_corruption
    from noisebench.share.card import render_card
    from noisebench.share.facts import describe
    from noisebench.share.provenance import build_command, corruption_lines, source_info

    @register_corruption("sharetest_noise", target="images", severities={1: {"amount": 0.1}, 2: {"amount": 0.3}},
                         description="adds test noise", reference="tests/test_share_card.py")
    def sharetest_noise(x, rng, *, amount: float = 0.1):  # pragma: no cover - only its metadata is used
        return x

    try:
        facts = copy.deepcopy(describe(files["cifar10-psi16"], with_file_hash=False))
        facts["kind"] = facts["meta"]["kind"] = "corrupt"
        facts["meta"]["corruption"], facts["meta"]["severity"] = "sharetest_noise", 2
        lines = "\n".join(corruption_lines(facts))
        assert "Registered corruption `sharetest_noise` (images): adds test noise." in lines
        assert "**Severity 2.**" in lines and "| 2 | 0.3 |" in lines and "`amount` = 0.1" in lines
        assert build_command(facts).startswith("noisebench make corrupt sharetest_noise --severity 2 --seed 0")
        text = render_card(facts, source_info(facts))
        assert text.startswith("# cifar10-psi16: sharetest_noise-corrupted copy of CIFAR-10")
        assert "`sharetest_noise`" in text and "## Other attributes" in text
    finally:
        CORRUPTIONS.unregister("sharetest_noise")
