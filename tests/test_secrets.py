"""Secrets and transport (SPEC §16): a password never reaches the event log, a backup, a message or
`doctor`, whatever the form of the connection; a remote server is asked for TLS."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pgteam
from conftest import POSTGRES, run
from pipectl.store import is_url
from pipectl.store.backend import encoded, redact, secrets
from pipectl.store.postgres import is_local, tls

PASSWORD = pgteam.OWNER_PASSWORD


@pytest.mark.parametrize(
    ("source", "password"),
    [
        ("postgresql://kim:s3cret@db/sales", "s3cret"),
        ("--db=postgresql://kim:s3cret@db/sales", "s3cret"),
        ("postgresql://kim:a/b#c?d@e@db:5432/sales?sslmode=require", "a/b#c?d@e"),
        ("postgresql://kim@db/sales?sslmode=require&password=s3cret", "s3cret"),
        ("host=db dbname=sales user=kim password=s3cret", "s3cret"),
        ("host=db password='two words' dbname=sales", "two words"),
        ("postgresql://kim:p%40ssword@db/sales", "p@ssword"),
    ],
)
def test_every_written_form_of_a_password_is_found_and_redacted(source: str, password: str) -> None:
    assert password in secrets(source)
    message = f"cannot connect to {source}; typed {password}, sent {encoded(source)}"
    assert password not in redact(message, source)
    assert "***" in redact(message, source)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).filter(str.strip))
def test_any_password_typed_in_a_url_is_redacted_as_typed_and_as_encoded(password: str) -> None:
    url = f"postgresql://kim:{password}@db.example/sales"
    shown = redact(f"--db={url} and {encoded(url)}", url)
    assert shown == "--db=postgresql://kim:***@db.example/sales and postgresql://kim:***@db.example/sales"


def test_an_unencoded_password_is_encoded_for_libpq_and_a_clean_url_is_left_alone() -> None:
    assert encoded("postgresql://kim:a/b#c@db/sales") == "postgresql://kim:a%2Fb%23c@db/sales"
    assert (
        encoded("postgresql://kim:s3cret@db/sales?sslmode=disable")
        == "postgresql://kim:s3cret@db/sales?sslmode=disable"
    )
    assert encoded("postgresql://kim@db/sales") == "postgresql://kim@db/sales"


def test_libpq_key_value_strings_are_servers_and_file_names_are_not() -> None:
    assert is_url("host=db dbname=sales") and is_url(" dbname=sales") and is_url("postgresql://db/sales")
    assert not is_url("pipeline.db") and not is_url("/tmp/hostile=1.db") and not is_url("notes=x.db")


@pytest.mark.parametrize(
    ("conninfo", "options"),
    [
        ("postgresql://kim@db.example.com/sales", {"sslmode": "require"}),
        ("host=10.1.2.3 dbname=sales", {"sslmode": "require"}),
        ("postgresql://kim@db.example.com/sales?sslmode=disable", {}),
        ("postgresql://kim@db.example.com/sales?sslmode=verify-full", {}),
        ("postgresql://kim@localhost/sales", {}),
        ("postgresql://kim@127.0.0.1:5432/sales", {}),
        ("postgresql://kim@[::1]/sales", {}),
        ("postgresql://kim@/sales?host=/run/postgresql", {}),
        ("postgresql://kim@localhost,db.example.com/sales", {"sslmode": "require"}),
    ],
)
def test_only_a_remote_host_without_an_sslmode_is_asked_for_tls(
    conninfo: str, options: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.delenv("PGHOST", raising=False)
    assert tls(conninfo) == options


def test_the_environment_s_sslmode_or_host_is_heeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.example.com")
    assert tls("dbname=sales") == {"sslmode": "require"}
    monkeypatch.setenv("PGSSLMODE", "disable")
    assert tls("dbname=sales") == {}
    assert is_local("127.8.0.1") and is_local("/tmp") and not is_local("192.168.1.2")


def test_a_remote_server_without_tls_is_refused_rather_than_spoken_to_in_plaintext(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """127.0.0.2 is loopback to the network but not to a name check; pretend it is remote."""
    from pipectl.store import postgres

    monkeypatch.setattr(postgres, "is_local", lambda host: False)
    result = run("--db", "postgresql://kim:s3cret@127.0.0.1:1/sales", "list")
    assert result.exit_code == 2 and "s3cret" not in result.stderr
    assert "cannot connect to postgresql://kim:***@127.0.0.1:1/sales" in result.stderr


# --- on a real server, with a real password ---------------------------------------------------------------

on_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL: no server (set PIPECTL_TEST_POSTGRES)")


@pytest.fixture(scope="module")
def server() -> Iterator[pgteam.Server]:
    yield from pgteam.server()


def _forms(server: pgteam.Server) -> list[list[str]]:
    """The owner's connection written every way a user may write it, each as the global options."""
    quoted = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    conninfo = (
        f"host=127.0.0.1 port={server.port} dbname={server.database} user={server.role('owner')} password='{quoted}'"
    )
    return [
        ["--db", server.url("owner", PASSWORD)],
        [f"--db={server.url('owner', PASSWORD)}"],
        [f"--db={server.url('owner', pgteam.encoded(PASSWORD))}"],
        ["--db", conninfo],
        [f"--db={conninfo}"],
    ]


def _leaks(text: str) -> bool:
    return any(form in text for form in (PASSWORD, pgteam.encoded(PASSWORD), "p@ss w%rd", "o/wn#er"))


@on_postgres
def test_no_form_of_the_password_reaches_the_log_a_backup_any_output_or_doctor(
    server: pgteam.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for number, options in enumerate(_forms(server)):
        for args in (["add", f"Lead {number}"], ["list"], ["doctor"], ["note", "1", "hello"], ["show", "99"]):
            result = run(*options, *args)
            outputs.append(result.stdout + result.stderr)
            assert result.exit_code in (0, 1, 2) and "Traceback" not in result.stderr
        assert run(*options, "backup", str(tmp_path / f"b{number}.db")).exit_code == 0
    monkeypatch.setenv("PIPECTL_DB", server.url("owner", PASSWORD))
    outputs += [run("add", "From the environment").stdout, run("doctor").stdout]
    outputs += [run("--db", server.url("owner", PASSWORD + "x"), "list").stderr]
    assert "Lead 4" in run("list").stdout and "password authentication failed" in outputs[-1]
    assert not any(_leaks(output) for output in outputs), [o for o in outputs if _leaks(o)]
    with server.connect() as conn:
        logged = [row[0] for row in conn.execute("SELECT command FROM events")]
    assert len(logged) >= 11 and not any(_leaks(command) for command in logged)
    assert any("--db=postgresql://" in command and ":***@" in command for command in logged)
    assert any("host=127.0.0.1" in command and "password=" in command and "***" in command for command in logged)
    for number in range(5):
        backup = sqlite3.connect(tmp_path / f"b{number}.db")
        dump = "\n".join(backup.iterdump())
        backup.close()
        assert "From" not in dump or number < 5
        assert not _leaks(dump)
    assert "connection (plaintext to 127.0.0.1)" in outputs[2] or "connection (TLS to 127.0.0.1)" in outputs[2]
    assert "connection (a Unix socket on this machine)" in run("--db", server.url("owner"), "doctor").stdout


@on_postgres
def test_doctor_warns_when_the_connection_crosses_a_network_in_plaintext(
    server: pgteam.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server is on loopback: pretend it is not, and that the user chose plaintext."""
    from pipectl.store import postgres

    url = server.url("owner", PASSWORD) + "?sslmode=disable"
    run("--db", url, "add", "Someone")
    assert "ok       connection (plaintext to 127.0.0.1)" in run("--db", url, "doctor").stdout
    monkeypatch.setattr(postgres, "is_local", lambda host: False)
    report = run("--db", url, "doctor")
    assert report.exit_code == 1
    assert "PROBLEM  connection (plaintext to 127.0.0.1)" in report.stdout
    assert "add sslmode=require (or verify-full) to the database URL" in report.stdout
    assert not _leaks(report.stdout + report.stderr)
