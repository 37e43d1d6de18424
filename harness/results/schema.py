"""The results schema, declared once: every table and column of the results database with its
SQL type and meaning. The SQLite DDL (harness/results/db.py), the column lists that code reads
and writes, the CSV exports (harness/results/export.py) and the table in docs/RESULTS.md are all produced
from this declaration (a test checks that docs/RESULTS.md matches it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "Table", "TABLES", "ddl", "columns", "json_columns", "markdown"]


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # SQLite type and constraints
    meaning: str
    json: bool = False  # a JSON document in a TEXT column (decoded when read)


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple
    constraints: tuple = ()  # table constraints (composite primary keys)
    indexes: tuple = ()  # (index name, "col1, col2")


def C(name: str, sql: str, meaning: str, json: bool = False) -> Column:
    return Column(name, sql, meaning, json)


TABLES = (
    Table("meta", "database metadata (schema version)", (
        C("name", "TEXT PRIMARY KEY", "metadata key"),
        C("value", "TEXT NOT NULL", "metadata value"),
    )),
    Table("runs", "one row per run key (a trained configuration on one data file)", (
        C("key", "TEXT PRIMARY KEY", "run key: sha256 of the resolved configuration and the run identity"),
        C("status", "TEXT NOT NULL CHECK (status IN ('ok', 'null', 'failed'))",
          "ok; null (diverged: non-finite loss or chance accuracy); failed (an error, retried next time)"),
        C("null_cause", "TEXT", "why a null run was declared null"),
        C("error", "TEXT", "the error of a failed run (one line)"),
        C("model", "TEXT NOT NULL", "model name (registry)"),
        C("activation", "TEXT NOT NULL", "activation name, pkg.mod:Class or plug-in name"),
        C("data", "TEXT NOT NULL", "absolute path of the data file"),
        C("data_sha256", "TEXT NOT NULL", "digest of the data file's verified checksums"),
        C("role", "TEXT NOT NULL", "clean, dirty or single"),
        C("dataset", "TEXT", "dataset name of the file (cifar10, mnist, synth, ...)"),
        C("kind", "TEXT", "file kind (clean, psi, mnist-flip, synth, corrupt, ...)"),
        C("variant", "TEXT", "the file's variant attribute"),
        C("task", "TEXT", "classification or regression"),
        C("num_classes", "INTEGER", "classes of a classification file"),
        C("pair_key", "TEXT", "what pairs a clean file with its corrupted twins"),
        C("epochs", "INTEGER NOT NULL", "epochs asked for"),
        C("batch_size", "INTEGER NOT NULL", "batch size"),
        C("lr", "REAL NOT NULL", "learning rate (max LR of triangular/onecycle)"),
        C("optimizer", "TEXT NOT NULL", "adam, adamw or sgd"),
        C("lr_policy", "TEXT NOT NULL", "fixed, step, triangular or onecycle"),
        C("weight_decay", "REAL NOT NULL", "weight decay"),
        C("seed", "INTEGER NOT NULL", "seed of weights, data order and augmentation"),
        C("extra", "TEXT NOT NULL", "policy knobs and other settings ([key, value] pairs)", True),
        C("config", "TEXT NOT NULL", "the whole resolved RunConfig", True),
        C("data_info", "TEXT NOT NULL", "what the run read from the file (dataset, kind, splits, recipe, ...)", True),
        C("final", "TEXT NOT NULL", "final metrics: selected and last epoch values, activation parameters, "
                                    "checkpoints", True),
        C("metric", "TEXT", "name of the reported metric (selected_test_acc, selected_val_loss, ...)"),
        C("metric_value", "REAL", "value of the reported metric (NULL when not finite)"),
        C("epochs_done", "INTEGER", "epochs trained (fewer when a run was declared null)"),
        C("wall_s", "REAL", "wall-clock seconds of the run"),
        C("samples_per_s", "REAL", "training throughput"),
        C("device", "TEXT", "device the run trained on"),
        C("hostname", "TEXT", "machine the run trained on"),
        C("node", "TEXT", "executor node (local:HOST or a Ray node)"),
        C("code_version", "TEXT", "hash of noisebench's source files"),
        C("started_at", "REAL", "UNIX time the run started"),
        C("recorded_at", "REAL NOT NULL", "UNIX time the row was written"),
        C("identity", "TEXT NOT NULL DEFAULT '{}'", "run identity: code_version, git_commit, data_digest, "
                                                    "plugin_hashes, device_type, precision, compile, torch_version", True),
    ), indexes=(("runs_by_group", "dataset, model, activation, role"),)),
    Table("epochs", "per-epoch metrics of a run", (
        C("key", "TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE", "run key"),
        C("epoch", "INTEGER NOT NULL", "epoch number (1-based)"),
        C("lr", "REAL", "learning rate of the epoch's last step"),
        C("train_loss", "REAL", "mean training loss"),
        C("val_loss", "REAL", "validation loss"),
        C("val_acc", "REAL", "validation top-1 accuracy"),
        C("val_top3", "REAL", "validation top-3 accuracy"),
        C("test_loss", "REAL", "test loss (reported, never selected on)"),
        C("test_acc", "REAL", "test top-1 accuracy"),
        C("test_top3", "REAL", "test top-3 accuracy"),
        C("epoch_s", "REAL", "seconds of training in the epoch"),
        C("metrics", "TEXT NOT NULL", "every metric of the epoch", True),
    ), constraints=("PRIMARY KEY (key, epoch)",)),
    Table("evaluations", "test-time protocol: a run's selected weights (or an external model) evaluated on one "
          "test set and severity", (
        C("run_key", "TEXT NOT NULL", "the trained run (runs.key) or the evaluated model (external_models.key)"),
        C("protocol", "TEXT NOT NULL DEFAULT 'test-time'", "always test-time"),
        C("corruption", "TEXT NOT NULL", "corruption name, or clean"),
        C("severity", "INTEGER NOT NULL", "severity 1-5 (0: clean)"),
        C("set_file", "TEXT NOT NULL", "the test set's file"),
        C("set_sha256", "TEXT NOT NULL", "digest of the test set's checksums"),
        C("weights_sha256", "TEXT NOT NULL", "digest of the evaluated weights"),
        C("n", "INTEGER NOT NULL", "images evaluated"),
        C("acc", "REAL", "top-1 accuracy"),
        C("loss", "REAL", "loss"),
        C("top3", "REAL", "top-3 accuracy"),
        C("model", "TEXT NOT NULL", "model name"),
        C("activation", "TEXT NOT NULL", "activation name"),
        C("seed", "INTEGER NOT NULL", "the run's seed (0 for an external model)"),
        C("dataset", "TEXT", "dataset name"),
        C("clean_file", "TEXT NOT NULL", "the clean file the run trained on"),
        C("code_version", "TEXT", "hash of noisebench's source files"),
        C("identity", "TEXT NOT NULL DEFAULT '{}'", "the run identity", True),
        C("eval_s", "REAL", "seconds of the evaluation"),
        C("recorded_at", "REAL NOT NULL", "UNIX time the row was written"),
    ), constraints=("PRIMARY KEY (run_key, corruption, severity, set_sha256, weights_sha256)",),
        indexes=(("evaluations_by_group", "dataset, model, activation, corruption"),)),
    Table("external_models", "models noisebench did not train, evaluated with `noisebench evaluate` / nb.evaluate", (
        C("key", "TEXT PRIMARY KEY", "evaluation key: sha256 of the identity (weights, source, preprocessing, "
                                     "precision, device type, classes)"),
        C("name", "TEXT NOT NULL", "the label tables and exports show"),
        C("model_kind", "TEXT NOT NULL", "registered, factory or module (an nn.Module from Python)"),
        C("model", "TEXT NOT NULL", "registered model name, FILE.py:FUNCTION or the module's class"),
        C("activation", "TEXT", "activation of a registered model"),
        C("weights_file", "TEXT", "the weights file's name"),
        C("weights_sha256", "TEXT", "sha256 of the weights file (of the module's state dict when from Python)"),
        C("source_sha256", "TEXT", "sha256 of the model's source (factory file, registered model and activation "
                                   "code, module classes)"),
        C("preprocessing", "TEXT", "per-channel mean/std applied to inputs in [0, 1] (null: none)", True),
        C("precision", "TEXT", "fp32 or bf16-autocast"),
        C("device_type", "TEXT", "cpu or cuda"),
        C("dataset", "TEXT", "dataset name of the evaluated data"),
        C("clean_file", "TEXT", "the clean file the corrupted sets pair with (empty: none)"),
        C("code_version", "TEXT", "hash of noisebench's source files"),
        C("identity", "TEXT NOT NULL DEFAULT '{}'", "the whole identity the key is computed from", True),
        C("recorded_at", "REAL NOT NULL", "UNIX time the row was written"),
    )),
)

_BY_NAME = {t.name: t for t in TABLES}


def table_ddl(name: str) -> str:
    t = _BY_NAME[name]
    body = [f"    {c.name} {c.sql}" for c in t.columns] + [f"    {x}" for x in t.constraints]
    out = f"CREATE TABLE IF NOT EXISTS {t.name} (\n" + ",\n".join(body) + "\n);"
    for idx, cols in t.indexes:
        out += f"\nCREATE INDEX IF NOT EXISTS {idx} ON {t.name} ({cols});"
    return out


def ddl(names: tuple = ("meta", "runs", "epochs", "evaluations", "external_models")) -> str:
    return "\n".join(table_ddl(n) for n in names) + "\n"


def columns(table: str, skip: tuple = ()) -> tuple:
    return tuple(c.name for c in _BY_NAME[table].columns if c.name not in skip)


def json_columns(table: str) -> tuple:
    return tuple(c.name for c in _BY_NAME[table].columns if c.json)


def markdown() -> str:
    """The schema as the tables of docs/RESULTS.md."""
    parts = []
    for t in TABLES:
        parts += [f"### `{t.name}`: {t.meaning}", "", "| column | SQL type | meaning |", "|---|---|---|"]
        parts += [f"| `{c.name}` | `{c.sql}` | {c.meaning}{' (JSON)' if c.json else ''} |" for c in t.columns]
        if t.constraints:
            parts += ["", "Constraints: " + "; ".join(f"`{x}`" for x in t.constraints) + "."]
        parts.append("")
    return "\n".join(parts)


def write_page(path) -> None:
    """Regenerate the schema tables of docs/RESULTS.md (everything from the first table on) from TABLES:
    ``python -m noisebench.harness.results.schema docs/RESULTS.md``."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    head = text.split(f"### `{TABLES[0].name}`", 1)[0]
    p.write_text(head + markdown().rstrip("\n") + "\n")


if __name__ == "__main__":  # pragma: no cover
    import sys

    write_page(sys.argv[1] if len(sys.argv) > 1 else "docs/RESULTS.md")
