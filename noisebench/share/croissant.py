"""MLCommons Croissant 1.0 JSON-LD for a noisebench file (written by `noisebench card`).

One `cr:FileObject` (the HDF5 file, with its sha256) and record sets described from the file:
a `cr:Split` record set listing its splits, one record set per split with fields `x` and `y`
(HDF5 dataset paths as the `extract.column`, dtypes mapped to schema.org types, per-record
shapes in each field's description), the class names as an inline record set that `y`
references, and the `truth/` datasets. Croissant 1.0 has no array-shape property, so shapes are
stated in the descriptions. Validated with the `mlcroissant` package in the tests.
"""

from __future__ import annotations

import re

from noisebench.share.facts import class_names

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source",
    "subField": "cr:subField", "transform": "cr:transform", "samplingRate": "cr:samplingRate",
    "equivalentProperty": "cr:equivalentProperty",
}
SPLIT_URLS = {"train": "cr:TrainingSplit", "val": "cr:ValidationSplit", "test": "cr:TestSplit"}
FILE_ID = "hdf5-file"


def data_type(dtype: str) -> str:
    if dtype.startswith(("uint", "int")):
        return "sc:Integer"
    if dtype.startswith("float"):
        return "sc:Float"
    if dtype == "bool":
        return "sc:Boolean"
    return "sc:Text"


def _safe_id(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./-]", "_", s) or "x"


def _field(rs: str, name: str, dset_path: str, d: dict, what: str, refs: str | None = None) -> dict:
    per_record = tuple(d["shape"][1:])
    shape = f"each record a {d['dtype']} array of shape {per_record}" if per_record else f"each record a {d['dtype']} scalar"
    f = {"@type": "cr:Field", "@id": f"{rs}/{name}", "name": f"{rs}/{name}",
         "description": f"{what}; HDF5 dataset `{dset_path}`, {d['dtype']} {tuple(d['shape'])} "
                        f"({shape}); sha256 of its values {d.get('sha256') or 'not recorded'}.",
         "dataType": data_type(d["dtype"]),
         "source": {"fileObject": {"@id": FILE_ID}, "extract": {"column": dset_path}}}
    if refs:
        f["references"] = {"field": {"@id": refs}}
    return f


def croissant_jsonld(facts: dict, src: dict, url: str | None = None) -> dict:
    m = facts["meta"]
    name = _safe_id(facts["stem"])
    names = class_names(facts)
    image = any(len(e["x"]["shape"]) >= 3 for e in facts["splits"].values())
    desc = (f"noisebench dataset `{facts['file_name']}`: kind {facts['kind']} ({m.get('variant', '?')} variant), "
            f"task {facts['task']}, derived from {src['title']}, seed {m.get('seed')}. Parameters: "
            f"{m.get('params')}. See the dataset card `{facts['stem']}.card.md` for the exact corruption definition.")
    doc: dict = {
        "@context": CONTEXT, "@type": "sc:Dataset", "name": name, "description": desc,
        "conformsTo": CONFORMS_TO, "license": src.get("license_url") or src["license_short"],
        "url": url or facts["file_name"], "version": "1.0.0",
        "datePublished": str(m.get("created", ""))[:10] or None,
        "citeAs": src.get("bibtex") or src.get("citation")
        or f"{facts['stem']}: a noisebench dataset derived from {src['title']} (cite the data owner's publication)",
        "keywords": ["noisebench", facts["kind"], facts["task"], "robustness", "noisy data"],
        "isAccessibleForFree": True,
        "distribution": [{
            "@type": "cr:FileObject", "@id": FILE_ID, "name": facts["file_name"],
            "description": "The noisebench HDF5 file (format version %s); `noisebench verify` re-checks the "
                           "per-dataset checksums recorded inside it." % m.get("format_version"),
            "contentUrl": url or facts["file_name"], "contentSize": f"{facts['size_bytes']} B",
            "encodingFormat": "application/x-hdf5", "sha256": facts["sha256"]}],
    }
    doc = {k: v for k, v in doc.items() if v is not None}
    record_sets = [{
        "@type": "cr:RecordSet", "@id": "splits", "name": "splits", "dataType": "cr:Split",
        "description": "The splits of this file; each has a record set of the same name.",
        "key": {"@id": "splits/name"},
        "field": [{"@type": "cr:Field", "@id": "splits/name", "name": "splits/name", "dataType": "sc:Text"},
                  {"@type": "cr:Field", "@id": "splits/url", "name": "splits/url", "dataType": "sc:URL"}],
        "data": [{"splits/name": s, "splits/url": SPLIT_URLS.get(s, f"cr:{s}")} for s in facts["splits"]],
    }]
    label_ref = None
    if names:
        label_ref = "classes/label"
        record_sets.append({
            "@type": "cr:RecordSet", "@id": "classes", "name": "classes", "dataType": "sc:Enumeration",
            "description": "Class index (the stored label) and its name.", "key": {"@id": "classes/label"},
            "field": [{"@type": "cr:Field", "@id": "classes/label", "name": "classes/label", "dataType": "sc:Integer"},
                      {"@type": "cr:Field", "@id": "classes/name", "name": "classes/name", "dataType": "sc:Text"}],
            "data": [{"classes/label": i, "classes/name": n} for i, n in enumerate(names)],
        })
    for s, e in facts["splits"].items():
        xw = "image, uint8 pixels in NHWC layout" if image else "input features"
        yw = "class label" if names else ("regression target" if facts["task"] == "regression" else "target")
        record_sets.append({
            "@type": "cr:RecordSet", "@id": s, "name": s,
            "description": f"The {s} split ({e['n']} records; split `{SPLIT_URLS.get(s, s)}` in `splits`).",
            "field": [_field(s, "x", f"{s}/x", e["x"], xw), _field(s, "y", f"{s}/y", e["y"], yw, label_ref)],
        })
    truth = {n: d for n, d in facts["datasets"].items() if n.startswith("truth/")}
    if truth:
        record_sets.append({
            "@type": "cr:RecordSet", "@id": "truth", "name": "truth",
            "description": "Ground truth of the corruption (not model input). "
                           + "; ".join(str(a.get("description", "")) for a in facts["groups"].values() if a.get("description")),
            "field": [_field("truth", _safe_id(n[len("truth/"):]), n, d, "ground truth") for n, d in truth.items()],
        })
    doc["recordSet"] = record_sets
    return doc
