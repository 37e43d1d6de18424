"""The results database (SQLite, WAL): one row per run key, its per-epoch metrics alongside.

Only drivers write here (the local robustness loop, the Ray driver); workers return RunResults.
Each `record()` is one transaction, so an interrupted grid leaves only complete runs behind.
`has(key)` is true for completed runs (status ok or null); failed runs are retried.
The `identity` column holds the run identity the key was computed from (a JSON object with
code_version, git_commit, data_digest, plugin_hashes, device_type, precision, compile,
torch_version); rows written before it existed read back with an empty identity.

The `evaluations` table holds the test-time protocol (harness/testtime/protocol.py): the selected weights of
a run evaluated on one test set at one severity — clean (corruption "clean", severity 0) or a
test-only corrupted set — keyed by (run_key, corruption, severity, set_sha256, weights_sha256).
It is created in older databases on first write; read-only views of databases that predate it
read no evaluations. Train-time tables never read it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

from noisebench.errors import UserError
from noisebench.harness.results import schema as results_schema
from noisebench.harness.results.guard import check_db_path, connect_target, stamp
from noisebench.harness.results.pending import ingest as ingest_pending
from noisebench.harness.results.pending import save as save_pending
from noisebench.harness.run.data import RunResult
from noisebench.safety.outputs import disk_error

SCHEMA_VERSION = 1
DEFAULT_DB = Path("results/noisebench.db")

_SCHEMA = results_schema.ddl()  # every table and column is declared once, in harness/results/schema.py

RUN_COLUMNS = results_schema.columns("runs")
EPOCH_COLUMNS = results_schema.columns("epochs", skip=("key", "epoch", "metrics"))
_JSON_COLUMNS = results_schema.json_columns("runs")
EVAL_COLUMNS = results_schema.columns("evaluations")
EXT_COLUMNS = results_schema.columns("external_models")
_EXT_JSON = results_schema.json_columns("external_models")


def _num(v: Any) -> float | None:
    """SQLite REAL for a metric; NaN/inf are kept in the JSON column, stored as NULL here."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _dumps(o: Any) -> str:
    # NaN/Infinity are valid in Python's json; keep them (a null run's loss is data).
    return json.dumps(o, sort_keys=True)


class ResultsDB:
    def __init__(self, path: str | Path = DEFAULT_DB, readonly: bool = False):
        self.path = Path(path)
        check_db_path(self.path, readonly)  # ours, a regular file, writable: checked before SQLite opens it
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create folder for --db {self.path}: {e.strerror or e}") from None
        try:
            target, uri = connect_target(self.path, readonly)
            self.conn = sqlite3.connect(target, timeout=60, isolation_level=None, uri=uri)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout = 60000")
            if not readonly:
                stamp(self.conn)
                self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.executescript(_SCHEMA)
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
                self._migrate()
            v = self.conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            why = disk_error(e) or (str(e) if isinstance(e, sqlite3.OperationalError) else None)
            raise UserError(f"cannot open {self.path}: {why}" if why else
                            f"{self.path} is not a noisebench results database ({e})") from None
        version = str(v[0]).strip() if v is not None and v[0] is not None else ""
        if not (version.isascii() and version.isdigit()) or len(version) > 6:  # not a schema number: damaged or not ours
            self.close()
            raise UserError(f"{self.path}: damaged results database: schema_version is {version[:40] or 'missing'!r}, "
                            f"not a number (this noisebench writes {SCHEMA_VERSION}); restore it or use another --db")
        if int(version) > SCHEMA_VERSION:
            self.close()
            raise UserError(f"{self.path}: results database schema {version} is not supported by this noisebench")
        if not readonly:
            ingest_pending(self)

    # -- writing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Bring an older database up to date in place (added columns are NULL for old rows)."""
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}
        if "node" not in cols:
            self.conn.execute("ALTER TABLE runs ADD COLUMN node TEXT")
        if "identity" not in cols:  # older rows: empty identity (their keys predate it)
            self.conn.execute("ALTER TABLE runs ADD COLUMN identity TEXT NOT NULL DEFAULT '{}'")

    def record(self, result: RunResult, node: str | None = None) -> None:
        """Insert or replace the run `result.key` and its epochs, in one transaction.

        `node` says where it trained (a Ray node "IP/node-id", or "local:HOSTNAME"; default: the hostname).
        If the database cannot take it (full disk, I/O error, ...), the result is kept as a pending JSON
        file, recorded on the next start, and a UserError says where it is.
        """
        try:
            self._record_now(result, node)
        except (sqlite3.Error, OSError) as e:
            kept = save_pending(self.path, result.to_dict(), node)
            why = disk_error(e) or " ".join(str(e).split())
            if kept is None:  # nowhere on disk either: the last copy goes to stdout, as one JSON line
                print(json.dumps({"pending_result": result.to_dict(), "node": node}, sort_keys=True), flush=True)
            where = (f"its result is kept in {kept} and will be recorded the next time {self.path} is opened"
                     if kept else "no file could hold its result either, so it was printed on stdout as JSON")
            raise UserError(f"could not record run {result.key[:12]} in {self.path} ({why}); {where}") from None

    def _record_now(self, result: RunResult, node: str | None = None) -> None:
        cfg = result.config
        info = result.data_info or {}
        final = result.final or {}
        row = {
            "key": result.key, "status": result.status, "null_cause": result.null_cause, "error": result.error,
            "model": cfg["model"], "activation": cfg["activation"], "data": cfg["data"],
            "data_sha256": cfg["data_sha256"], "role": cfg["role"], "dataset": info.get("dataset"),
            "kind": info.get("kind"), "variant": info.get("variant"), "task": info.get("task"),
            "num_classes": info.get("num_classes"), "pair_key": info.get("pair_key"), "epochs": cfg["epochs"],
            "batch_size": cfg["batch_size"], "lr": cfg["lr"], "optimizer": cfg["optimizer"],
            "lr_policy": cfg["lr_policy"], "weight_decay": cfg["weight_decay"], "seed": cfg["seed"],
            "extra": _dumps(cfg.get("extra", [])), "config": _dumps(cfg), "data_info": _dumps(info),
            "final": _dumps(final), "metric": final.get("metric"), "metric_value": _num(final.get("metric_value")),
            "epochs_done": final.get("epochs_done", len(result.epochs)), "wall_s": result.wall_s,
            "samples_per_s": _num(final.get("samples_per_s")), "device": result.device, "hostname": result.hostname,
            "node": node or f"local:{result.hostname}", "code_version": result.code_version, "started_at": result.started_at, "recorded_at": time.time(),
            "identity": _dumps(getattr(result, "identity", None) or {}),
        }
        cols = ", ".join(RUN_COLUMNS)
        marks = ", ".join("?" for _ in RUN_COLUMNS)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM epochs WHERE key = ?", (result.key,))
            c.execute(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})", [row[k] for k in RUN_COLUMNS])
            for e in result.epochs:
                c.execute(
                    f"INSERT INTO epochs (key, epoch, {', '.join(EPOCH_COLUMNS)}, metrics) VALUES (?, ?, {', '.join('?' for _ in EPOCH_COLUMNS)}, ?)",
                    [result.key, int(e["epoch"])] + [_num(e.get(k)) for k in EPOCH_COLUMNS] + [_dumps(e)],
                )
            c.execute("COMMIT")
        except BaseException:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite may have rolled back already (full disk)
                pass
            raise

    # -- reading -----------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        """True if `key` completed (ok or null); failed runs count as not done, so they are retried."""
        r = self.conn.execute("SELECT 1 FROM runs WHERE key = ? AND status IN ('ok', 'null')", (key,)).fetchone()
        return r is not None

    def status(self, key: str) -> str | None:
        r = self.conn.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
        return r[0] if r else None

    def runs(self, **filters) -> list[dict]:
        """Runs as dicts (JSON columns decoded); filters are column=value or column=[values]."""
        where, args = [], []
        for k, v in filters.items():
            if k not in RUN_COLUMNS:
                raise ValueError(f"unknown runs column {k!r}")
            if isinstance(v, (list, tuple, set)):
                v = list(v)
                where.append(f"{k} IN ({', '.join('?' for _ in v)})")
                args.extend(v)
            elif v is None:
                where.append(f"{k} IS NULL")
            else:
                where.append(f"{k} = ?")
                args.append(v)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY recorded_at, key"
        out = []
        for r in self.conn.execute(sql, args):
            d = dict(r)
            for k in _JSON_COLUMNS:
                if k not in d:  # a read-only view of a database that predates the column
                    d[k] = {} if k == "identity" else None
                    continue
                d[k] = json.loads(d[k]) if d[k] is not None else ({} if k == "identity" else None)
            out.append(d)
        return out

    def epochs(self, key: str) -> list[dict]:
        """Per-epoch metric dicts of one run, in epoch order."""
        rows = self.conn.execute("SELECT metrics FROM epochs WHERE key = ? ORDER BY epoch", (key,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- test-time evaluations ------------------------------------------------------------------
    def record_evaluation(self, row: dict) -> None:
        """Insert or replace one evaluation (EVAL_COLUMNS; `identity` a dict, `recorded_at` filled in)."""
        r = dict(row, recorded_at=row.get("recorded_at") or time.time())
        r["identity"] = _dumps(r.get("identity") or {})
        for k in ("acc", "loss", "top3"):
            r[k] = _num(r.get(k))
        r.setdefault("protocol", "test-time")
        vals = [r.get(k) for k in EVAL_COLUMNS]
        self.conn.execute(f"INSERT OR REPLACE INTO evaluations ({', '.join(EVAL_COLUMNS)}) "
                          f"VALUES ({', '.join('?' for _ in EVAL_COLUMNS)})", vals)

    def has_evaluation(self, run_key: str, corruption: str, severity: int, set_sha256: str, weights_sha256: str) -> bool:
        if not self._has_table("evaluations"):
            return False
        r = self.conn.execute(
            "SELECT 1 FROM evaluations WHERE run_key = ? AND corruption = ? AND severity = ? AND set_sha256 = ? "
            "AND weights_sha256 = ?", (run_key, corruption, int(severity), set_sha256, weights_sha256)).fetchone()
        return r is not None

    def evaluations(self, **filters) -> list[dict]:
        """Evaluations as dicts (identity decoded); filters are column=value or column=[values]."""
        if not self._has_table("evaluations"):
            return []
        where, args = [], []
        for k, v in filters.items():
            if k not in EVAL_COLUMNS:
                raise ValueError(f"unknown evaluations column {k!r}")
            v = list(v) if isinstance(v, (list, tuple, set)) else [v]
            where.append(f"{k} IN ({', '.join('?' for _ in v)})")
            args.extend(v)
        sql = ("SELECT * FROM evaluations" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY recorded_at, run_key, corruption, severity")
        out = []
        for r in self.conn.execute(sql, args):
            d = dict(r)
            d["identity"] = json.loads(d["identity"]) if d.get("identity") else {}
            out.append(d)
        return out

    # -- external models (noisebench evaluate) ------------------------------------------------------
    def record_external_model(self, row: dict) -> None:
        """Insert or replace one evaluated model (EXT_COLUMNS; JSON columns as Python objects)."""
        r = dict(row, recorded_at=row.get("recorded_at") or time.time())
        for k in _EXT_JSON:
            r[k] = _dumps(r.get(k) if r.get(k) is not None else ({} if k == "identity" else None))
        self.conn.execute(f"INSERT OR REPLACE INTO external_models ({', '.join(EXT_COLUMNS)}) "
                          f"VALUES ({', '.join('?' for _ in EXT_COLUMNS)})", [r.get(k) for k in EXT_COLUMNS])

    def external_models(self, **filters) -> list[dict]:
        """Evaluated external models as dicts (JSON decoded); filters are column=value."""
        if not self._has_table("external_models"):
            return []
        bad = [k for k in filters if k not in EXT_COLUMNS]
        if bad:
            raise ValueError(f"unknown external_models column {bad[0]!r}")
        where = " AND ".join(f"{k} = ?" for k in filters)
        rows = self.conn.execute("SELECT * FROM external_models" + (f" WHERE {where}" if where else "")
                                 + " ORDER BY recorded_at, key", list(filters.values())).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for k in _EXT_JSON:
                d[k] = json.loads(d[k]) if d.get(k) else ({} if k == "identity" else None)
            out.append(d)
        return out

    def _has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
