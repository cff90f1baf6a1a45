"""The demo works from any folder, on a throwaway database, never touching the user's data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import db_path, ok, run


def test_demo_shows_a_pipeline_and_leaves_nothing(tmp_path: Path) -> None:
    result = ok("demo")
    for heading in ("== The board", "== pipectl review", "== pipectl today", "== pipectl report"):
        assert heading in result.stdout
    assert "prospecting (10)" in result.stdout and "closing (5)" in result.stdout
    assert "verdict:" in result.stdout and "stale deals" in result.stdout
    assert not db_path(tmp_path).exists()


def test_demo_keep(tmp_path: Path) -> None:
    kept = tmp_path / "demo.db"
    ok("demo", "--keep", str(kept))
    conn = sqlite3.connect(kept)
    assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] == 52
    assert conn.execute("SELECT count(*) FROM touchpoints").fetchone()[0] > 100
    statuses = dict(conn.execute("SELECT status, count(*) FROM leads GROUP BY status").fetchall())
    assert statuses == {"open": 30, "won": 12, "lost": 7, "disqualified": 3}
    acme = ok("--db", str(kept), "show", "acme", "--json").json()
    assert acme["status"] == "won" and len(acme["timeline"]) > 4
    assert run("demo", "--keep", str(kept)).exit_code == 2  # never overwrites


def test_demo_runs_from_another_folder_as_installed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pipectl", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Acme" in result.stdout or "Globex" in result.stdout
