"""Shared fixtures: every test runs against its own temporary data and config folders, at a fixed now.

Backends: a test module marked ``pytestmark = pytest.mark.backends`` runs each of its tests twice,
on SQLite and on PostgreSQL (a test marked ``sqlite_only`` or ``postgres_only`` once). The
PostgreSQL runs need a server: ``PIPECTL_TEST_POSTGRES`` names a database URL (``.ci/postgres start``
makes one and prints it); each test gets a schema of its own there, dropped afterwards. Without it
those runs are skipped, saying so.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from pipectl.cli import app

# The real IMAP server's fixtures (dovecot_server, imap_server), for the modules that ask for them.
pytest_plugins = ["dovecot"]
NOW = "2026-11-30T09:00:00Z"
POSTGRES = os.environ.get("PIPECTL_TEST_POSTGRES")
_SCHEMAS = itertools.count(1)


def pytest_report_header() -> str:
    if POSTGRES:
        return "backends: sqlite, postgres (PIPECTL_TEST_POSTGRES)"
    return "backends: sqlite only; the PostgreSQL runs are skipped: set PIPECTL_TEST_POSTGRES (see README)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not POSTGRES:
        terminalreporter.write_line("PostgreSQL backend not tested: no server (set PIPECTL_TEST_POSTGRES; see README)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marks = {
        name for name in ("backends", "sqlite_only", "postgres_only") if metafunc.definition.get_closest_marker(name)
    }
    if "postgres_only" in marks:
        metafunc.parametrize("backend", ["postgres"], indirect=True)
    elif "backends" in marks and "sqlite_only" not in marks:
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> Iterator[str]:
    """The database the test's commands use: SQLite in the data folder, or a fresh PostgreSQL schema."""
    name = getattr(request, "param", "sqlite")
    if name == "postgres":
        if not POSTGRES:
            pytest.skip("PostgreSQL backend: no server configured (set PIPECTL_TEST_POSTGRES; see README)")
        schema = f"test_{os.getpid()}_{next(_SCHEMAS)}"
        _server().execute(f"CREATE SCHEMA {schema}")
        monkeypatch.setenv("PIPECTL_DB", in_schema(POSTGRES, schema))
        yield name
        _server().execute(f"DROP SCHEMA {schema} CASCADE")
    else:
        yield name


def in_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections work in ``schema`` (their search_path)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def _server() -> Any:
    """One connection to the test server for making and dropping schemas."""
    global _connection
    if _connection is None:
        import psycopg

        _connection = psycopg.connect(POSTGRES, autocommit=True)
    return _connection


_connection: Any = None


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point XDG folders at a temp dir, fix the clock, and run in UTC unless a test says otherwise."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PIPECTL_NOW", NOW)
    monkeypatch.setenv("USER", "taro")
    monkeypatch.setenv("TZ", "UTC")
    for name in ("PIPECTL_DB", "PIPECTL_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    time.tzset()
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def ok(*args: str, input: str | None = None) -> Result:
    """Run a command that must succeed."""
    result = run(*args, input=input)
    assert result.exit_code == 0, result.stderr
    return result


def add(*args: str) -> int:
    """Add a lead, return its id."""
    return int(ok("add", *args).stdout)


def db_path(tmp_path: Path) -> Path:
    """The SQLite file of a test's default database."""
    return tmp_path / "data" / "pipectl" / "pipeline.db"


def database() -> str:
    """The test's database, whichever backend: what `--db` would name."""
    return os.environ.get("PIPECTL_DB") or str(Path(os.environ["XDG_DATA_HOME"]) / "pipectl" / "pipeline.db")


def query(sql: str, db: str | Path | None = None) -> list[tuple[Any, ...]]:
    """The rows ``sql`` (no parameters) reads from a database (a path or URL; by default the test's
    own), whichever backend."""
    location = str(db) if db is not None else database()
    if "://" in location:
        import psycopg

        conn: Any = psycopg.connect(location)
    else:
        conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def snapshot(db: str | Path | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a database (a path or URL; by default the test's own), whichever
    backend, to assert that a failed command changed nothing."""
    location = str(db) if db is not None else database()
    if "://" in location:
        tables = ["leads", "touchpoints", "events", "schema_version"]
        tables += ["lead_emails", "bounces", "mail_seen", "imap_folders"]
    elif Path(location).exists():
        tables = [row[0] for row in query("SELECT name FROM sqlite_master WHERE type = 'table'", location)]
        tables.append("pragma_user_version")
    else:
        return {}
    return {table: sorted(query(f"SELECT * FROM {table}", location), key=repr) for table in tables}


def assert_error(result: Result, text: str) -> None:
    """One ``Error:`` line on stderr naming the problem, exit 2, nothing on stdout."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert text.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr
