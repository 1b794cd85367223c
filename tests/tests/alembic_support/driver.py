"""Runs the conformance cases of `alembic_conformance.rs` through Alembic and revchain.

Reads a JSON object on stdin: {"revchain": <path of the revchain binary>, "cases": [case]},
where a case is {"alembic": <Alembic project dir>, "revchain_dir": <migrations dir>,
"alembic_db": <SQLite file>, "revchain_db": <SQLite file>, "commands": [[op, target], ...]}.
Each command runs through Alembic's command API (the functions its CLI calls) on one file
and through the revchain binary on the other; after each, both files are read back.
Prints one JSON list: per case, per command, {"alembic": outcome, "revchain": outcome}, an
outcome being {"ok", "error", "warnings", "rows", "tables"}.
"""

import json
import sqlite3
import subprocess
import sys
import warnings

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event

def read_state(path, version_table, column):
    db = sqlite3.connect(path)
    try:
        names = {
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        rows = []
        if version_table in names:
            rows = sorted(r[0] for r in db.execute(f"SELECT {column} FROM {version_table}"))
        tables = sorted(n[2:] for n in names if n.startswith("t_"))
        return rows, tables
    finally:
        db.close()


def transactional_engine(path):
    # pysqlite commits DDL on its own; BEGIN explicitly so that a refused command leaves
    # the file as it was (SQLAlchemy's documented recipe).
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine


def run_alembic(config, engine, op, target):
    outcome = {"ok": True, "error": "", "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                if op == "upgrade":
                    command.upgrade(config, target)
                elif op == "downgrade":
                    command.downgrade(config, target)
                else:
                    command.stamp(config, target)
        except Exception as e:  # noqa: BLE001 - any refusal is an outcome
            outcome["ok"] = False
            outcome["error"] = f"{type(e).__name__}: {e}"
    outcome["warnings"] = [str(w.message) for w in caught]
    return outcome


def run_revchain(binary, directory, db, op, target):
    args = [binary, "--dir", directory, "--database-url", f"sqlite://{db}?mode=rwc", op, target]
    done = subprocess.run(args, capture_output=True, text=True, env={"RUST_LOG": "error"})
    return {
        "ok": done.returncode == 0,
        "error": done.stderr.strip() if done.returncode != 0 else "",
        "warnings": [],
        "code": done.returncode,
    }


def run_case(binary, case):
    config = Config()
    config.set_main_option("script_location", case["alembic"])
    engine = transactional_engine(case["alembic_db"])
    results = []
    try:
        for op, target in case["commands"]:
            a = run_alembic(config, engine, op, target)
            a["rows"], a["tables"] = read_state(case["alembic_db"], "alembic_version", "version_num")
            r = run_revchain(binary, case["revchain_dir"], case["revchain_db"], op, target)
            r["rows"], r["tables"] = read_state(case["revchain_db"], "revchain_version", "revision")
            results.append({"alembic": a, "revchain": r})
    finally:
        engine.dispose()
    return results


def main():
    request = json.load(sys.stdin)
    out = [run_case(request["revchain"], case) for case in request["cases"]]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
