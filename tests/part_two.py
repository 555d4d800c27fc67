"""A database made by part two's code (8396ba0), with rows in every monitoring table, to upgrade.

``tests/fixtures/part_two.{sqlite,postgresql}.sql`` are dumps of one database per vendor that
part two's sixteen migrations made and ``tests/fixtures/part_two_rows.py`` filled (that file
says how to make them again). Loading a dump gives what an installation of part two has: its
tables, its rows, and ``django_migrations`` naming the sixteen migrations that
``monitoring/migrations/0001_squashed_part_two.py`` replaces. A test then runs today's
``manage.py migrate`` on it and reads the rows back: later migrations (teams, integrations)
prove with it that a part-two database upgrades with nothing lost.

The database is on the vendor of the running suite: a file under the test's tmp_path on
SQLite, a database of its own next to the test database on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from conftest import test_database_url

FIXTURES = Path(__file__).parent / "fixtures"


def manage(url: str, *args: str) -> str:
    """``manage.py <args>`` of today's code against the database at ``url``; its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DB_POOL_MAX_SIZE"}}
    env.update(ENVIRONMENT="development", DATABASE_URL=url, CHANNEL_LAYER_TYPE="memory", LOG_LEVEL="warning")
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def orm(url: str, code: str) -> Any:
    """Run ``code`` in ``manage.py shell`` on ``url``; it sets ``result``, which comes back from JSON."""
    script = f"import json\n{code}\nprint('RESULT=' + json.dumps(result, default=str))"
    out = manage(url, "shell", "--no-imports", "-c", script)
    return json.loads(out.split("RESULT=", 1)[1])


def _postgres_url(dbname: str) -> str:
    """The URL of database ``dbname`` on the test database's server."""
    return f"{test_database_url().rsplit('/', 1)[0]}/{dbname}"


@contextlib.contextmanager
def empty_database(tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database on the suite's vendor, dropped after; yields its DATABASE_URL."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
        return
    dbname = f"{connection.settings_dict['NAME']}_{name}"[:63]
    with psycopg.connect(_postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield _postgres_url(dbname)
    finally:
        with psycopg.connect(_postgres_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def load(url: str) -> None:
    """Fill the empty database at ``url`` from the part-two dump of its vendor."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            db.executescript((FIXTURES / "part_two.sqlite.sql").read_text())
        return
    # A plain pg_dump (psql's backslash lines taken out); psycopg sends a query without
    # parameters as one simple query, so the whole script runs in one call.
    with psycopg.connect(url, autocommit=True) as db:
        db.execute((FIXTURES / "part_two.postgresql.sql").read_text())


@contextlib.contextmanager
def part_two_database(tmp_path: Path) -> Iterator[str]:
    """A database as part two's code left it (not yet migrated by today's code); yields its URL."""
    with empty_database(tmp_path, "part_two") as url:
        load(url)
        yield url


def schema(url: str) -> dict[str, list[str]]:
    """The database's tables, columns, indexes and constraints, as comparable sorted text.

    Column order is left out: SQLite rebuilds a table to alter it and moves the altered column
    to the end, so databases with the same columns differ in order by their history alone.
    A unique constraint that Django named itself is named by its columns (CREATE TABLE calls
    it ``<table>_<column>_key``, ALTER TABLE ``<table>_<column>_<hash>_uniq``).
    """
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchall()
        found: dict[str, list[str]] = {"tables": [], "indexes": []}
        for kind, name, table, sql in rows:
            if kind == "table":
                found["tables"].append(f"{name}: {', '.join(sorted(_sqlite_table_parts(sql)))}")
            elif sql:  # automatic indexes (of UNIQUE, PRIMARY KEY) have no sql of their own
                found["indexes"].append(f"{table}: {sql}")
        return {key: sorted(values) for key, values in found.items()}
    with psycopg.connect(url) as db:
        columns = db.execute(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        constraints = db.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace"
        ).fetchall()
        indexes = db.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    found = {
        "columns": [" ".join(str(v) for v in row) for row in columns],
        "constraints": [f"{t} {_unhash(name)} {_uncast(definition)}" for t, name, definition in constraints],
        "indexes": [f"{t} {_uncast(definition.replace(name, _unhash(name)))}" for t, name, definition in indexes],
    }
    return {key: sorted(values) for key, values in found.items()}


def _unhash(name: str) -> str:
    return re.sub(r"(_[0-9a-f]{8}_uniq|_key)$", "_unique", name)


def _uncast(definition: str) -> str:
    """The definition without type casts and parentheses.

    PostgreSQL prints a condition as it parsed it, and parsing the printed form again (as a
    pg_dump restore does) can cast differently: ``status IN ('pending', 'deferred')`` comes back
    as ``(status)::text = ANY ((ARRAY['pending'::character varying, …])::text[])`` from the
    migration but ``ANY (ARRAY[('pending'::character varying)::text, …])`` from the dump.
    """
    return re.sub(r"::[a-z ]+(\[\])?|[()]", "", definition)


def _sqlite_table_parts(sql: str) -> list[str]:
    """The comma-separated parts inside CREATE TABLE's outer parentheses (commas inside nested ones stay)."""
    body = sql[sql.index("(") + 1 : sql.rindex(")")]
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return parts
