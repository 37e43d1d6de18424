"""Results that could not be recorded (full disk, I/O error, locked or read-only database) are kept
as JSON files and recorded the next time the database is opened for writing.

A finished run is never lost: `save` writes the run to `DB.pending/KEY.TIME.json` next to the
database (or, if that fails too, to `$TMPDIR/noisebench-pending/`), and `ingest` records every
pending file belonging to the database and removes it once its transaction committed.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

from noisebench.harness.run.data import RunResult
from noisebench.safety.outputs import write_bytes
from noisebench.safety.text import clean

MAX_PENDING_BYTES = 64 << 20  # a run's JSON is kilobytes; refuse absurd files


def pending_dir(db_path: Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".pending")


def fallback_dir() -> Path:
    return Path(tempfile.gettempdir()) / "noisebench-pending"


def save(db_path: Path, result_dict: dict, node: str | None) -> Path | None:
    """Keep one result; returns the file written, or None if no location could hold it."""

    payload = json.dumps({"db": str(Path(db_path).resolve()), "node": node, "result": result_dict},
                         sort_keys=True).encode()
    name = f"{str(result_dict.get('key', 'run'))[:64]}.{time.time_ns()}.json"
    for folder in (pending_dir(db_path), fallback_dir()):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            return write_bytes(folder / name, payload, force=False, what="pending result")
        except Exception:  # noqa: BLE001 - try the next location
            continue
    return None


def _files(db_path: Path) -> list[Path]:
    me = str(Path(db_path).resolve())
    out = []
    for folder in (pending_dir(db_path), fallback_dir()):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.name.startswith(".") or p.suffix != ".json":
                continue
            if folder == fallback_dir():
                try:
                    if _load(p).get("db") != me:
                        continue
                except (OSError, ValueError):
                    continue
            out.append(p)
    return out


def _load(p: Path) -> dict:
    st = os.lstat(p)
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_PENDING_BYTES:
        raise ValueError(f"{p}: not a regular file of bounded size")
    d = json.loads(p.read_text())
    if not isinstance(d, dict) or not isinstance(d.get("result"), dict):
        raise ValueError(f"{p}: not a pending result")
    return d


def ingest(db) -> int:
    """Record every pending result of `db` (a ResultsDB open for writing); returns how many."""

    done = 0
    for p in _files(db.path):
        try:
            d = _load(p)
            res = RunResult.from_dict(d["result"])
        except (OSError, ValueError, TypeError, KeyError) as e:
            print(f"warning: skipping pending result {clean(p)} ({clean(e)})", file=sys.stderr)
            continue
        try:
            db._record_now(res, d.get("node"))
        except Exception as e:  # noqa: BLE001 - still cannot record: keep the file for next time
            print(f"warning: pending results in {clean(p.parent)} still cannot be recorded ({clean(e)}); kept",
                  file=sys.stderr)
            break
        try:
            p.unlink()
        except OSError:
            pass
        done += 1
    if done:
        print(f"note: recorded {done} pending result(s) kept from an earlier failed write into {clean(db.path)}",
              file=sys.stderr)
    return done
