"""`noisebench card`: a Markdown dataset card (and Croissant JSON-LD) written next to a noisebench file.

The card is derived from the file itself (`dataset_facts.describe`) plus what noisebench knows
about its source dataset and corruption (`dataset_sources`), so every kind gets a card and new
attributes are listed without code changes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from noisebench.errors import UserError
from noisebench.format.spec import FILE_KINDS
from noisebench.share.croissant import croissant_jsonld
from noisebench.share.facts import class_names, describe
from noisebench.share.files import atomic_write_bytes, check_new_path
from noisebench.share.provenance import build_command, corruption_lines, params_json, source_info

# Root attributes rendered in their own sections; every other attribute goes to "Other attributes".
SHOWN = {"noisebench_format", "format_version", "noisebench_version", "kind", "variant", "task", "params", "seed",
         "created", "source", "pair_key", "checksums", "dataset", "num_classes", "class_names", "clean_reference",
         "psi", "corruption", "flip_mode", "nominal_rate", "realized_rate", "n_flipped", "confusion_matrix", "transition_matrix",
         "published_rate", "realized_rate_all", "noise_type"}
MAX_MATRIX_SIDE = 20
MAX_CLASS_ROWS = 200


def _fmt(v) -> str:
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}"
    return str(v)


def _matrix(rows: list, fmt=_fmt) -> list[str]:
    k = len(rows)
    out = ["| true \\ stored | " + " | ".join(str(j) for j in range(k)) + " |", "|---" * (k + 1) + "|"]
    out += [f"| **{i}** | " + " | ".join(fmt(v) for v in r) + " |" for i, r in enumerate(rows)]
    return out


def _stats_lines(facts: dict) -> list[str]:
    st = facts["stats"]
    out: list[str] = []
    ln = st.get("label_noise")
    if ln:
        out += [f"- training labels flipped: **{ln['n_flipped']} of {ln['n_train']}**, realized rate "
                f"**{ln['realized_rate']:.4f}** ("
                + (f"published {ln['published_rate']}" if ln.get("published_rate") is not None
                   else f"nominal {ln.get('nominal_rate')}")
                + "), recounted from `train/y` vs `truth/clean_labels`."]
        cm = ln.get("confusion_matrix")
        if cm and len(cm) <= MAX_MATRIX_SIDE:
            out += ["", "Realized confusion matrix (rows = true train label, columns = stored label, counts):", ""]
            out += _matrix(cm)
        tm = ln.get("transition_matrix")
        if tm and len(tm) <= MAX_MATRIX_SIDE and ln.get("mode") in ("matrix", "human"):
            out += ["", "Transition matrix T (rows = true class, probabilities):", ""] + _matrix(tm, lambda v: f"{v:.3g}")
    ps = st.get("psi")
    if ps and not ps.get("reference") and ps.get("psi") is None:
        out += [f"- PSNR against the clean images: not measured ({ps.get('reference_missing')})."]
    elif ps:
        ref = ps.get("reference")
        out += [f"- PSNR of the noisy images against {ref}:" if ref else
                f"- PSNR against the clean images: not measured ({ps.get('reference_missing')}); "
                "predicted values below are computed from the noisy pixels and the definition:"]
        out += ["", "| split | PSNR (dB) | MSE | predicted PSNR (dB) |", "|---|---|---|---|"]
        for s, e in ps["splits"].items():
            out.append(f"| {s} | {_fmt(e.get('psnr_db', '-'))} | {_fmt(e.get('mse', '-'))} | "
                       f"{_fmt(e.get('predicted_psnr_db', '-'))} |")
        out += ["", "PSNR = 10·log10(255² / MSE) over all pixels of the split"
                + ("; predicted MSE = 255·mean(y)/ψ (the Poisson variance, ignoring clipping and rounding)."
                   if ps.get("psi") is not None else ".")]
    sy = st.get("synth")
    if sy:
        hf = sy.get("hidden_functions") or {}
        ids = hf.get("function_ids")
        forms = hf.get("function_formulas") or []
        if ids is not None:
            out += ["- hidden function of each column: " + ", ".join(
                f"x{j}: {forms[i] if isinstance(i, int) and i < len(forms) else i}" for j, i in enumerate(ids))]
        if hf.get("constants") is not None:
            out += ["- constants C0..C10: " + ", ".join(f"{c:.6g}" for c in hf["constants"])]
        if "n_dirty_rows" in sy:
            out += [f"- dirty training rows: {sy['n_dirty_rows']}; std of the stored offsets: "
                    f"{_fmt(sy.get('offsets_std', float('nan')))}"]
        out += ["- everything needed to recompute y is in `truth/` attribute `hidden_functions_json`."]
    return out or ["None measured: the file carries no corruption (or none this version can measure)."]


def _load_snippet(facts: dict) -> list[str]:
    name = facts["file_name"]
    s = next(iter(facts["splits"]))
    shp = facts["splits"][s]
    return ["```python", "import h5py",
            f'with h5py.File("{name}", "r") as f:',
            f'    x, y = f["{s}/x"][:], f["{s}/y"][:]  # {shp["x"]["dtype"]} {tuple(shp["x"]["shape"])}, '
            f'{shp["y"]["dtype"]} {tuple(shp["y"]["shape"])}', "```", "",
            "With noisebench installed, `noisebench.data.loaders.H5SplitDataset(path, split)` is a PyTorch Dataset and "
            "`noisebench verify FILE` re-checks every checksum. Images are uint8 NHWC."]


def render_card(facts: dict, src: dict) -> str:
    m = facts["meta"]
    kind = facts["kind"]
    title = (FILE_KINDS[kind].title if kind in FILE_KINDS else "noisebench dataset of kind {kind}").format(
        src=src["title"], variant=m.get("variant", "?"), kind=kind, corruption=m.get("corruption", kind))
    names = class_names(facts)
    L = [f"# {facts['stem']}: {title}", "",
         f"A noisebench dataset file (`{facts['file_name']}`, HDF5, format version {m.get('format_version')}), "
         f"built by noisebench {m.get('noisebench_version', '?')} on {m.get('created', '?')}. Task: {facts['task']}; "
         f"role: {m.get('variant', '?')} variant of a clean-vs-corrupted comparison.", "",
         "| | |", "|---|---|", f"| kind | `{kind}` |", f"| variant | {m.get('variant', '?')} |",
         f"| source dataset | {src['title']} |", f"| seed | {m.get('seed')} |",
         f"| size | {facts['size_bytes']} bytes |", f"| file sha256 | `{facts['sha256']}` |",
         f"| pair key | `{m.get('pair_key', '')}` (files with the same key share splits and sample order) |"]
    if m.get("clean_reference"):
        L.append(f"| clean twin | `{m['clean_reference']}` |")
    L += ["", "## Corruption", ""] + corruption_lines(facts)
    L += ["", "Generating parameters, as recorded in the file (`params`):", "", "```json", params_json(facts), "```"]
    L += ["", "## Source data", "", f"- dataset: **{src['title']}**" + (f" ({src['url']})" if src.get("url") else ""),
          f"- license: {src['license']}" + (f" <{src['license_url']}>" if src.get("license_url") else "")]
    if src.get("citation"):
        L.append(f"- cite: {src['citation']}")
    if src.get("provenance"):
        L.append("- provenance recorded in the file: `" + json.dumps(src["provenance"], sort_keys=True) + "`")
    if src.get("bibtex"):
        L += ["", "```bibtex", src["bibtex"], "```"]
    L += ["", "## Splits and fields", "", "| split | samples | x | y |", "|---|---|---|---|"]
    for s, e in facts["splits"].items():
        L.append(f"| {s} | {e['n']} | {e['x']['dtype']} {tuple(e['x']['shape'])} | {e['y']['dtype']} {tuple(e['y']['shape'])} |")
    truth = [n for n in facts["datasets"] if n.startswith("truth/")]
    if truth:
        L += ["", "Ground truth a model must not see (`truth/`):", ""]
        L += [f"- `{n}`: {facts['datasets'][n]['dtype']} {tuple(facts['datasets'][n]['shape'])}" for n in truth]
    for g, attrs in facts["groups"].items():
        if "description" in attrs:
            L.append(f"- `{g}/`: {attrs['description']}")
    if names:
        L += ["", "## Classes", "", "| label | name |", "|---|---|"]
        L += [f"| {i} | {n} |" for i, n in enumerate(names[:MAX_CLASS_ROWS])]
        if len(names) > MAX_CLASS_ROWS:
            L.append(f"| ... | ({len(names) - MAX_CLASS_ROWS} more) |")
    L += ["", "## Realized noise statistics", ""] + _stats_lines(facts)
    other = {k: v for k, v in m.items() if k not in SHOWN}
    if other:
        L += ["", "## Other attributes", ""]
        L += [f"- `{k}`: `{json.dumps(v, sort_keys=True, default=str)[:2000]}`" for k, v in sorted(other.items())]
    L += ["", "## Checksums", "", f"Whole file: sha256 `{facts['sha256']}` ({facts['size_bytes']} bytes). "
          "Each dataset (sha256 of its values in C order, little-endian, in its stored dtype):", "",
          "| dataset | dtype | shape | sha256 |", "|---|---|---|---|"]
    L += [f"| `{n}` | {d['dtype']} | {tuple(d['shape'])} | `{d['sha256'] or 'not recorded'}` |"
          for n, d in facts["datasets"].items()]
    L += ["", "## How to load it", ""] + _load_snippet(facts)
    L += ["", "## How it was built", "", "```sh", build_command(facts), "```", "",
          f"Same command, same seed and same source ⇒ identical dataset checksums. Fetch and verify a published "
          f"copy with `noisebench get URL --sha256 {facts['sha256']}`.",
          "", "## Intended use and limitations", "",
          "- Intended for measuring how models (e.g. activation functions) degrade between this file and its clean "
          "twin. Model selection belongs on val (or a split of train), never on test.",
          "- The corruption is synthetic and defined exactly above; it is not a measurement of real sensor or "
          "annotation noise. Anything under `truth/` must not be given to the model being evaluated.",
          "- The source dataset's license and citation apply to these derived data."]
    return "\n".join(L) + "\n"


def card_paths(file: Path, out: Path | None) -> tuple[Path, Path]:
    file = Path(file)
    folder = Path(out) if out is not None else file.parent
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file; give a folder")
    return folder / f"{file.stem}.card.md", folder / f"{file.stem}.croissant.json"


def write_card(file: Path, out: Path | None = None, force: bool = False, license: str | None = None,
               cite: str | None = None, url: str | None = None) -> tuple[Path, Path]:
    """Write `<stem>.card.md` and `<stem>.croissant.json`; refuses existing outputs unless `force`."""

    card_p, cr_p = card_paths(file, out)
    for p in (card_p, cr_p):  # both checked before anything is read or written
        check_new_path(p, force)
    facts = describe(file)
    src = source_info(facts, license, cite)
    text = render_card(facts, src)
    doc = croissant_jsonld(facts, src, url=url)
    atomic_write_bytes(card_p, text.encode("utf-8"))
    atomic_write_bytes(cr_p, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return card_p, cr_p
