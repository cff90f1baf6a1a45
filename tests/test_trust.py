"""Trust: concurrent writers, killed processes, and doctor. Real processes against one database.

Rerun the crash test with more rounds: PIPECTL_KILL_ROUNDS=100 pytest tests/test_trust.py -k killed
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import add, database, db_path, ok, query, run

# One worker: many commands in one Python process, each opening its own connection and transaction
# exactly as a separate `pipectl` process would (starting 1,600 interpreters would only test patience).
WORKER = """
import sys
import typer
from pipectl.cli import app

command = typer.main.get_command(app)
name, count = sys.argv[1], int(sys.argv[2])

def run(*args):
    try:
        command.main(list(args))
    except SystemExit as exc:
        if exc.code:
            sys.exit(f"{args} exited {exc.code}")

for i in range(count):
    run("add", f"{name} {i}", "--email", f"{name}-{i}@example.com")
    run("touch", f"{name}-{i}@example.com", "call", "--outcome", "no-answer")
    print(f"ACK {name}-{i}", flush=True)
if sys.argv[3:] == ["undo"]:  # one more change, then undo it while the others go on writing
    run("note", f"{name}-0@example.com", "to be undone")
    run("undo")
"""


def env_for(db: Path | str) -> dict[str, str]:
    return {**os.environ, "PIPECTL_DB": str(db)}


def count(db: Path | str, sql: str) -> int:
    return int(query(sql, db)[0][0])


def big_csv(path: Path, rows: int, domain: str = "import.test") -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("Name,Email,Company,Amount\n")
        for number in range(rows):
            out.write(f"Imported {number},imp{number}@{domain},Company {number % 300},{number}\n")
    return path


@pytest.mark.backends
def test_eight_writers_an_import_and_a_review_at_once(tmp_path: Path, backend: str) -> None:
    """Eight reps (each their own owner) add and touch 100 leads each; on the team's server each then
    undoes a last note while the others write, and their undo reverts their own note, nobody else's
    change (a SQLite file is one rep's: its undo reverts the last change, whoever made it)."""
    shared = backend == "postgres"
    db = database()
    env = env_for(db)
    ok("--db", db, "init")
    source = big_csv(tmp_path / "batch.csv", 3000)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, f"w{n}", "100", *(["undo"] if shared else [])],
            env={**env, "USER": f"w{n}", "XDG_CONFIG_HOME": str(tmp_path / f"w{n}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    time.sleep(0.5)
    others = [
        subprocess.Popen(
            [sys.executable, "-m", "pipectl", "import", str(source)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            ["bash", "-c", f"for i in 1 2 3; do {sys.executable} -m pipectl review --yes || exit 1; done"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    for number, process in enumerate(workers + others):
        output, errors = process.communicate(timeout=600)
        assert process.returncode == 0, errors
        assert "locked" not in errors
        if shared and number < len(workers):
            assert f"undid: pipectl note w{number}-0@example.com 'to be undone'" in output
    assert count(db, "SELECT count(*) FROM leads WHERE email LIKE 'w%@example.com'") == 800
    assert count(db, "SELECT count(*) FROM leads WHERE email LIKE '%@import.test'") == 3000
    assert count(db, "SELECT count(*) FROM touchpoints WHERE kind = 'call'") == 800
    assert count(db, "SELECT count(*) FROM touchpoints WHERE kind = 'note'") == 0
    assert count(db, "SELECT count(*) FROM leads WHERE touch_count <> 1 AND email LIKE 'w%'") == 0
    assert count(db, "SELECT count(DISTINCT owner) FROM leads WHERE email LIKE 'w%'") == 8
    assert ok("--db", db, "doctor").stdout.count("ok ") >= 5  # the database's own integrity check among them


def test_killed_imports_and_adds_lose_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    env = env_for(db)
    ok("--db", str(db), "init")
    rounds = int(os.environ.get("PIPECTL_KILL_ROUNDS", "20"))
    rng = random.Random(5)
    acknowledged: list[str] = []
    for number in range(rounds):
        source = big_csv(tmp_path / f"big{number}.csv", 40_000, f"round{number}.test")  # each round its own leads
        importer = subprocess.Popen(
            [sys.executable, "-m", "pipectl", "import", str(source)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        adder = subprocess.Popen(
            [sys.executable, "-c", WORKER, f"r{number}", "1000"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(rng.uniform(0.1, 1.5))
        importer.send_signal(signal.SIGKILL)
        adder.send_signal(signal.SIGKILL)
        importer.wait()
        output, _ = adder.communicate()
        acknowledged += [line.split()[1] for line in output.splitlines() if line.startswith("ACK ")]
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        imported = conn.execute(f"SELECT count(*) FROM leads WHERE email LIKE '%@round{number}.test'").fetchone()[0]
        assert imported in (0, 40_000), f"round {number}: a partial import of {imported} rows"
        emails = {row[0] for row in conn.execute("SELECT email FROM leads WHERE email LIKE 'r%@example.com'")}
        conn.close()
        missing = [key for key in acknowledged if f"{key}@example.com" not in emails]
        assert not missing, f"round {number}: acknowledged adds lost: {missing[:5]}"
    assert acknowledged, "no add was acknowledged in any round: the test killed too early to mean anything"


def test_undo_twice_and_nothing_left() -> None:
    add("One")
    ok("touch", "one", "call")
    ok("undo")
    ok("undo")
    assert ok("undo").stdout.strip() == "nothing to undo"
    assert ok("list", "--json").json() == []


def test_doctor_finds_and_fixes_drift(tmp_path: Path) -> None:
    add("Jane", "--note", "hello")
    ok("touch", "jane", "call", "--outcome", "no-answer")
    assert run("doctor").exit_code == 0
    conn = sqlite3.connect(db_path(tmp_path))
    conn.execute("UPDATE leads SET touch_count = 7, attempts = 3")
    conn.execute("DROP INDEX touchpoints_lead_at")
    conn.commit()
    conn.close()
    result = run("doctor")
    assert result.exit_code == 1
    assert "#1: touch_count is 7, should be 2, attempts is 3, should be 1" in result.stdout
    assert "index touchpoints_lead_at is missing" in result.stdout and "fix: pipectl doctor --fix" in result.stdout
    ok("doctor", "--fix")
    assert run("doctor").exit_code == 0
    lead = ok("show", "jane", "--json").json()
    assert (lead["touch_count"], lead["attempts"]) == (2, 1)


def test_doctor_reports_config_problems_and_unknown_stages(tmp_path: Path) -> None:
    add("Jane", "--stage", "closing")
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[[stages]]\nname = "new"\nprobability = 0.1\nmax_days = 9\nmax_open = 9\n'
        '[qualification]\nchecklist = "missing.toml"\n',
        encoding="utf-8",
    )
    result = run("doctor")
    assert result.exit_code == 1
    assert "1 open leads in 'closing', which the config does not have" in result.stdout
    assert "missing.toml" in result.stdout and "does not exist" in result.stdout
