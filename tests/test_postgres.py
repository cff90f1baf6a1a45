"""The team backend's own behaviour: connecting, refusing, copying pipelines between backends, undo per
owner. (Every other command's tests run on PostgreSQL too: see conftest.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import NOW, POSTGRES, add, assert_error, database, in_schema, ok, query, run, snapshot

pytestmark = pytest.mark.backends
on_postgres = pytest.mark.postgres_only


def server_port() -> str:
    assert POSTGRES
    return parse_qs(urlsplit(POSTGRES).query)["port"][0]


def exports(db: str) -> str:
    return ok("--db", db, "export", "--format", "jsonl", "--touchpoints").stdout


@pytest.mark.sqlite_only
def test_sqlite_users_never_load_psycopg(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom pipectl.cli import main\nsys.argv = ['pipectl', 'add', 'Kim']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('psycopg' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["1", "False"]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresq://rep@db/sales", "unknown database URL scheme 'postgresq'"),
        ("mysql://rep@db/sales", "unknown database URL scheme 'mysql'"),
    ],
)
def test_a_url_that_is_not_postgresql_is_refused(url: str, message: str) -> None:
    assert_error(run("--db", url, "list"), message)


@on_postgres
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://rep:s3cret-pw@127.0.0.1:1/sales", "connection refused"),
        ("postgresql://pipectl_rep:s3cret-pw@127.0.0.1:{port}/pipectl_test", "password authentication failed"),
        ("postgresql://postgres@/no_such_db?host={host}&port={port}", 'database "no_such_db" does not exist'),
        ("postgresql://rep:s3cret-pw@[127.0.0.1/sales", "ipv6"),
        ("postgresql://rep@127.0.0.1:1/sales?password=s3cret-pw", "connection refused"),
    ],
)
def test_connection_problems_are_one_error_line_without_the_password(url: str, message: str) -> None:
    assert POSTGRES
    host = parse_qs(urlsplit(POSTGRES).query)["host"][0]
    result = run("--db", url.format(port=server_port(), host=host), "list")
    assert_error(result, "cannot connect to postgresql://")
    assert message.lower() in result.stderr.lower()
    assert "s3cret-pw" not in result.stderr
    assert ("***" in result.stderr) == ("s3cret-pw" in url)


@on_postgres
def test_a_schema_from_a_newer_pipectl_is_refused_untouched() -> None:
    add("Kim")
    import psycopg

    with psycopg.connect(database(), autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    before = snapshot()
    assert_error(run("add", "Lee"), "written by a newer pipectl (schema 99")
    assert snapshot() == before


@on_postgres
def test_tables_named_like_pipectls_are_not_taken_over() -> None:
    import psycopg

    with psycopg.connect(database(), autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (id int)")
    assert_error(run("init"), "has tables named like pipectl's; it was not touched")
    assert query("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()") == [(1,)]


@on_postgres
def test_undo_on_the_team_database_is_per_owner_and_never_throws_away_a_colleagues_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "kim")
    kims = add("Lead of Kim")
    monkeypatch.setenv("USER", "lee")
    lees = add("Lead of Lee")
    monkeypatch.setenv("USER", "kim")
    assert "undid: pipectl add 'Lead of Kim'" in ok("undo").stdout
    assert [lead["id"] for lead in ok("list", "--json").json()] == [lees]
    ok("touch", str(lees), "call", "--outcome", "reached")
    monkeypatch.setenv("USER", "lee")
    ok("note", str(lees), "left a voicemail")
    monkeypatch.setenv("USER", "kim")
    before = snapshot()
    assert_error(run("undo"), f"lead #{lees} was changed since by lee (`pipectl note {lees} 'left a voicemail'`)")
    assert snapshot() == before
    assert kims != lees


@on_postgres
def test_copy_solo_to_team_and_back_keeps_every_lead_touchpoint_and_event(tmp_path: Path) -> None:
    solo = str(tmp_path / "solo.db")
    ok("demo", "--keep", solo)
    ok("--db", solo, "add", "Gone")
    ok("--db", solo, "undo")  # the highest id was handed out: the team pipeline must not reuse it
    team = database()
    copied = ok("--db", solo, "copy", "--to", team).stdout
    assert copied.startswith("copied 52 leads, ") and "solo.db to postgresql://" in copied
    assert exports(team) == exports(solo)
    assert query("SELECT count(*) FROM events") == [(len(query("SELECT id FROM events", solo)),)]
    assert add("First on the team") == 54

    assert_error(run("--db", solo, "copy", "--to", team), "already holds 53 leads: --force replaces them")
    back = str(tmp_path / "back.db")
    ok("copy", "--from", team, "--to", back)
    assert exports(back) == exports(team)
    assert ok("--db", back, "undo").stdout.startswith("undid: pipectl add 'First on the team'")

    ok("--db", solo, "copy", "--to", team, "--force")
    assert exports(team) == exports(solo)


@on_postgres
def test_a_copy_that_fails_leaves_no_target_behind(tmp_path: Path) -> None:
    add("Kim")
    target = tmp_path / "out.db"
    assert_error(run("copy", "--from", "postgresql://rep@127.0.0.1:1/x", "--to", str(target)), "cannot connect")
    assert not target.exists()
    assert_error(run("copy", "--to", database()), "is the pipeline being copied")


@on_postgres
def test_backup_of_the_team_pipeline_is_a_sqlite_file(tmp_path: Path) -> None:
    add("Kim", "--note", "met at the fair", "--at", NOW)
    target = tmp_path / "team.db"
    assert ok("backup", str(target)).stdout.startswith("backed up postgresql://")
    assert target.stat().st_mode & 0o777 == 0o600
    assert exports(str(target)) == exports(database())
    assert_error(run("backup", str(target)), "exists")


@on_postgres
def test_doctor_and_init_on_the_server() -> None:
    assert "created database postgresql://" in ok("init").stdout
    assert "kept database postgresql://" in ok("init").stdout
    add("Kim")
    report = ok("doctor").stdout
    assert "file permissions" not in report and report.count("ok ") >= 5


@on_postgres
@pytest.mark.parametrize("how", ["PGPASSFILE", "PGPASSWORD"])
def test_a_rep_signs_in_with_the_pgpass_file_or_the_environment_and_works_with_the_granted_rights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The owner creates the schema and grants a rep's role what the README's roles section says; the
    rep (the role .ci/postgres makes) signs in with a password pipectl never stores, and works."""
    ok("init")
    schema = query("SELECT current_schema()")[0][0]
    import psycopg

    with psycopg.connect(database(), autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO pipectl_rep")
        conn.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON leads, touchpoints, events, lead_emails, bounces, mail_seen,"
            " imap_folders TO pipectl_rep"
        )
        conn.execute("GRANT SELECT ON settings TO pipectl_rep")
        conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO pipectl_rep")
        conn.execute("GRANT SELECT ON schema_version TO pipectl_rep")
    port = server_port()
    if how == "PGPASSFILE":
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{port}:pipectl_test:pipectl_rep:rep-secret\n")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    else:
        monkeypatch.setenv("PGPASSWORD", "rep-secret")
    rep = in_schema(f"postgresql://pipectl_rep@127.0.0.1:{port}/pipectl_test", schema)
    lead = int(ok("--db", rep, "add", "Kim Lee", "--note", "met at the fair").stdout)
    ok("--db", rep, "touch", str(lead), "call")
    assert ok("--db", rep, "undo").stdout.startswith("undid: pipectl --db ")
    assert [row["name"] for row in ok("list", "--json").json()] == ["Kim Lee"]
    ok("--db", rep.replace("pipectl_rep@", "pipectl_rep:rep-secret@"), "note", str(lead), "from a URL with a password")
    commands = [row[0] for row in query("SELECT command FROM events")]
    assert "pipectl_rep:***@" in commands[-1] and not any("rep-secret" in command for command in commands)
    config = (tmp_path / "config" / "pipectl" / "config.toml").read_text()
    assert "rep-secret" not in config and "postgresql" not in config


@on_postgres
def test_a_connection_the_server_drops_mid_command_fails_with_why_and_writes_nothing() -> None:
    import psycopg

    from pipectl.errors import DatabaseError
    from pipectl.store import Store

    add("Kim")
    before = snapshot()
    store = Store.open(database(), create=False, currency="USD")
    pid = store.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with pytest.raises(DatabaseError) as failure, store.transaction("pipectl test", "taro", NOW):
        store.record_import({"file": "x.csv"})
        with psycopg.connect(database(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        store.record_import({"file": "y.csv"})
    assert failure.value.message == "the database server refused: terminating connection due to administrator command"
    assert snapshot() == before


@on_postgres
def test_a_writer_waits_for_the_one_before_it_within_a_timeout_and_other_schemas_never_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipectl.store import Store, postgres

    add("Kim")
    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_S", 1)
    holder = Store.open(database(), create=False, currency="USD")
    with holder.transaction("pipectl test", "taro", NOW):
        holder.record_import({"file": "slow.csv"})  # holds the write lock, as a long import would
        before = snapshot()
        assert_error(run("add", "Lee"), "the pipeline is busy: another pipectl has been writing to it for 1 s")
        assert snapshot() == before
        assert [lead["name"] for lead in ok("list", "--json").json()] == ["Kim"]  # reading never waits
        import psycopg

        assert POSTGRES
        schema = f"other_{os.getpid()}"
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
            try:
                other = in_schema(POSTGRES, schema)
                assert ok("--db", other, "add", "Another team's lead").stdout == "1\n"
            finally:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
    assert add("Lee") == 2
    holder.close()
