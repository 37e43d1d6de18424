"""Where a report is written, under which names, and how.

* Names are complete: a report folder is named after its study (datasets, models, activations,
  epochs, LRs, LR policies, plus a short hash of every data file and setting in it), and each figure
  after its data file(s) and setting (model, activations, epochs, LR, policy, optimizer, batch size,
  weight decay, other knobs). Two reports that differ in any of these never share a name.
* Nothing is overwritten without `force`: a folder that already holds a report (its `report.json`
  manifest or `report.md`) or any file of the same name is refused in one line.
* Writes are atomic: everything is first written into a hidden staging folder next to the target;
  only a complete report is moved in (one rename when the folder is new), so an error or Ctrl-C
  leaves the previous report as it was. With `force`, files of the previous report (listed in its
  manifest) that the new one does not have are removed; other files in the folder are left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from noisebench.errors import UserError
from noisebench.safety.outputs import create_temp, discard, remove_stale_temps

MANIFEST = "report.json"
REPORTS_DIR = Path("results/reports")


def slug(s: str, limit: int = 80) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(s)).strip("_")[:limit] or "x"


def sha6(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _num(v) -> str:
    return f"{float(v):g}"


def values_tag(values, noun: str, fmt=str, limit: int = 4, max_len: int = 48) -> str:
    """'a-b-c' for a few values; '12<noun>-<hash>' when there are many (the hash keeps the name unique)."""
    vals = sorted({fmt(v) for v in values})
    tag = "-".join(slug(v) for v in vals)
    if len(vals) > limit or len(tag) > max_len:
        return f"{len(vals)}{noun}-{sha6(vals)}"
    return tag


def acts_tag(acts) -> str:
    return values_tag(acts, "acts")


def setting_tag(setting, acts) -> str:
    """Every training-setting field and the activation set, e.g. mlp_elu-relu_e5_lr0.001_triangular_adam_bs128_wd0."""
    s = dict(setting)
    parts = [slug(s["model"]), acts_tag(acts), f"e{s['epochs']}", f"lr{_num(s['lr'])}", slug(s["lr_policy"]),
             slug(s["optimizer"]), f"bs{s['batch_size']}", f"wd{_num(s['weight_decay'])}"]
    extra = s.get("extra")
    if extra not in (None, "[]", [], ()):
        parts.append(f"x{sha6(extra)}")
    return "_".join(parts)


def study_name(rd) -> str:
    """A folder name naming every axis of the report that varies: data, model, activations, epochs, LR,
    policy; the trailing hash covers all files and settings (so two studies never share a folder)."""
    gs = rd.groups
    settings = [dict(g.setting) for g in gs]
    parts = [values_tag({g.dataset for g in gs}, "data"), values_tag({s["model"] for s in settings}, "models"),
             acts_tag(rd.activations), "e" + values_tag({s["epochs"] for s in settings}, "epochs"),
             "lr" + values_tag({s["lr"] for s in settings}, "lrs", fmt=_num),
             values_tag({s["lr_policy"] for s in settings}, "policies")]
    h = sha6(sorted({(g.dataset, g.file, json.dumps(g.setting)) for g in gs}) + [rd.activations, rd.baseline])
    return "_".join(parts + [f"h{h}"])


def holds_report(out: Path) -> bool:
    return (out / MANIFEST).is_file() or (out / "report.md").is_file()


def check_target(out: Path, force: bool) -> None:
    """Refuse early (before any work) to write over a previous report."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if out.is_dir() and holds_report(out) and not force:
        raise UserError(f"{out} already holds a report; pass --force to replace it, or choose another --out")


class Staging:
    """A hidden folder next to `out` that collects the report's files; `commit()` moves them in."""

    def __init__(self, out: Path, force: bool):
        self.out, self.force = Path(out), force
        check_target(self.out, force)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.out)  # staging folders a SIGKILLed report left behind
            self.dir = create_temp(self.out, directory=True)  # .NAME.PID@HOST.X.tmp, removed on any exit path
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.dir, 0o777 & ~umask)  # mkdtemp makes it 0700; the report folder gets the usual mode
        except OSError as e:
            raise UserError(f"cannot write the report next to {self.out}: {e.strerror or e}") from None

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        discard(self.dir)

    def path(self, name: str) -> Path:
        return self.dir / name

    def commit(self, manifest: dict) -> list[Path]:
        """Write the manifest, then move every staged file into `out`; return the final paths."""
        names = sorted(p.name for p in self.dir.iterdir() if p.is_file() and p.name != MANIFEST)
        tmp = self.dir / MANIFEST
        tmp.write_text(json.dumps(manifest | {"files": names}, indent=2, sort_keys=True) + "\n")
        if not self.out.exists():
            os.replace(self.dir, self.out)
            return [self.out / n for n in names]
        check_target(self.out, self.force)
        odd = [n for n in names + [MANIFEST] if (self.out / n).is_symlink()
               or ((self.out / n).exists() and not (self.out / n).is_file())]
        if odd:  # never replace a link, a folder or a device planted at a report file's name
            raise UserError(f"{self.out / odd[0]} is not a regular file; remove it or choose another --out")
        clash = [n for n in names + [MANIFEST] if (self.out / n).exists()]
        if clash and not self.force:
            raise UserError(f"{self.out / clash[0]} exists; pass --force to replace it, or choose another --out")
        old = _previous_files(self.out)
        for n in names + [MANIFEST]:
            os.replace(self.dir / n, self.out / n)
        for n in sorted(set(old) - set(names)):
            p = self.out / n
            if p.is_file() and p.parent == self.out:
                p.unlink()
        return [self.out / n for n in names]


def _previous_files(out: Path) -> list[str]:
    try:
        files = json.loads((out / MANIFEST).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and "/" not in f and "\\" not in f and f not in ("", ".", "..")]
