"""Shared fixtures: every test runs against its own temporary data and config folders, at a fixed now."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipectl.cli import app

NOW = "2026-11-30T09:00:00Z"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point XDG folders at a temp dir, fix the clock, and run in UTC unless a test says otherwise."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
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
    return tmp_path / "data" / "pipectl" / "pipeline.db"


def snapshot(path: Path) -> list[str]:
    """Everything in a database, to assert that a failed command changed nothing."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_error(result: Result, text: str) -> None:
    """One ``Error:`` line on stderr naming the problem, exit 2, nothing on stdout."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert text.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr
