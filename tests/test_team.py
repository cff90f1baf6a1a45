"""A team on one PostgreSQL pipeline (SPEC §16), tried as the people it is for: a database owner with
CREATEROLE (not a superuser), a manager and two reps, each with a real login. Every rule is tried
through pipectl and directly with the rep's own login (psycopg, as psql would), since a rule only
the CLI keeps is no rule. (SQLite has no team: one file, one person.)"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pgteam
from conftest import POSTGRES, assert_error, ok, run

AT = "'2026-11-30T09:00:00Z'"


@pytest.fixture(scope="module")
def server() -> Iterator[pgteam.Server]:
    if not POSTGRES:
        pytest.skip("PostgreSQL: no server (set PIPECTL_TEST_POSTGRES)")
    yield from pgteam.server()


@pytest.mark.parametrize("name", ["", "1kim", "kim lee", 'kim"; DROP TABLE leads; --', "x" * 49])
def test_a_login_name_is_letters_digits_and_underscores(name: str) -> None:
    from pipectl.errors import PipectlError
    from pipectl.store.team import login_name

    with pytest.raises(PipectlError, match="cannot be a login"):
        login_name(name)
    assert login_name(" Kim_Lee2 ") == "kim_lee2"


def test_a_file_has_no_team() -> None:
    ok("add", "Solo")
    for args in (["team", "init"], ["team", "list"], ["team", "quota", "kim", "5"]):
        assert_error(run(*args), "a team shares a PostgreSQL database")


@pytest.fixture(scope="module")
def team(server: pgteam.Server) -> pgteam.Server:
    """The owner sets the team up through pipectl: init, a manager, two reps (Ann, Bob), quotas."""
    owner = server.url("owner")
    ok("--db", owner, "init")
    ok("--db", owner, "team", "init")
    for name, extra in (("mgr", ["--manager"]), ("ann", []), ("bob", [])):
        ok("--db", owner, "team", "add", server.role(name), *extra, "--password-stdin", input=f"{name}-pw\n")
    return server


def as_(server: pgteam.Server, login: str, *args: str, input: str | None = None) -> Any:
    return run("--db", server.url(login), *args, input=input)


def ok_as(server: pgteam.Server, login: str, *args: str) -> Any:
    result = as_(server, login, *args)
    assert result.exit_code == 0, result.stderr
    return result


def lead_of(server: pgteam.Server, login: str, name: str) -> int:
    return int(ok_as(server, login, "add", name).stdout)


def rows(server: pgteam.Server, sql: str, login: str | None = None) -> list[tuple[Any, ...]]:
    with server.connect(login) as conn:
        cursor = conn.execute(sql)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def refused_in_sql(server: pgteam.Server, login: str, sql: str) -> str:
    """What the server says when ``login`` runs ``sql`` itself (as psql would); '' when it changed no row."""
    import psycopg

    with server.connect(login) as conn:
        try:
            cursor = conn.execute(sql)
        except psycopg.Error as exc:
            return str(exc)
        return "" if cursor.rowcount == 0 else f"changed {cursor.rowcount} rows"


def test_init_is_the_owners_and_idempotent_and_list_shows_the_team(team: pgteam.Server) -> None:
    again = ok("--db", team.url("owner"), "team", "init").stdout
    assert "team rules installed" in again and "created group role" not in again
    assert_error(as_(team, "ann", "team", "init"), f"team init is for the pipeline's owner, {team.role('owner')}")
    listed = ok_as(team, "mgr", "team", "list", "--json").json()
    assert [(m["name"], m["role"]) for m in listed] == [
        (team.role("ann"), "rep"),
        (team.role("bob"), "rep"),
        (team.role("mgr"), "manager"),
    ]


def test_a_password_comes_from_stdin_or_a_prompt_never_argv_and_works_over_tcp(team: pgteam.Server) -> None:
    owner = team.url("owner")
    assert_error(run("--db", owner, "team", "add", team.role("cy")), "--password-stdin")
    ok("--db", owner, "team", "add", team.role("cy"), "--password-stdin", input="c/y#p?w@d\n")
    lead = int(ok("--db", team.url("cy", pgteam.encoded("c/y#p?w@d")), "add", "Over TCP").stdout)
    assert rows(team, f"SELECT owner FROM leads WHERE id = {lead}") == [(team.role("cy"),)]
    assert_error(run("--db", owner, "team", "add", team.role("cy"), "--password-stdin", input="x\n"), "exists")
    ok("--db", owner, "team", "remove", team.role("cy"), "--reassign-to", team.role("ann"))
    assert rows(team, f"SELECT owner FROM leads WHERE id = {lead}") == [(team.role("ann"),)]
    assert rows(team, f"SELECT count(*) FROM pg_roles WHERE rolname = '{team.role('cy')}'") == [(0,)]
    assert not any("c/y#p" in command for (command,) in rows(team, "SELECT command FROM events"))


def test_a_rep_changes_only_their_own_leads_through_pipectl(team: pgteam.Server) -> None:
    anns = lead_of(team, "ann", "Ann's deal")
    bobs = lead_of(team, "bob", "Bob's deal")
    before = rows(team, "SELECT * FROM leads ORDER BY id")
    bob = team.role("bob")
    for args in (
        ["edit", str(bobs), "--value", "5"],
        ["touch", str(bobs), "call"],
        ["note", str(bobs), "mine now"],
        ["advance", str(bobs)],
        ["won", str(bobs)],
        ["lost", str(bobs), "--reason", "price"],
        ["delete", str(bobs), "--yes"],
        ["merge", str(anns), str(bobs), "--yes", "--force"],
        ["edit", str(anns), "--owner", bob],
        ["add", "For Bob", "--owner", bob],
    ):
        result = as_(team, "ann", *args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "Error:" in result.stderr and "Traceback" not in result.stderr
        assert bob in result.stderr or "manager" in result.stderr, result.stderr
    assert rows(team, "SELECT * FROM leads ORDER BY id") == before
    ok_as(team, "ann", "touch", str(anns), "call")
    ok_as(team, "mgr", "edit", str(bobs), "--owner", team.role("ann"))
    ok_as(team, "ann", "note", str(bobs), "mine now")
    ok_as(team, "mgr", "edit", str(bobs), "--owner", bob)


def test_a_rep_changes_only_their_own_leads_in_sql(team: pgteam.Server) -> None:
    bobs = lead_of(team, "bob", "Bob's own")
    anns = lead_of(team, "ann", "Ann's own")
    for sql in (
        f"UPDATE leads SET value = 1 WHERE id = {bobs}",
        f"DELETE FROM leads WHERE id = {bobs}",
        f"UPDATE leads SET owner = '{team.role('ann')}' WHERE id = {bobs}",
        f"UPDATE leads SET owner = '{team.role('bob')}' WHERE id = {anns}",
        f"INSERT INTO leads (name, stage, created_at, updated_at, stage_entered_at, owner)"
        f" VALUES ('x', 'prospecting', {AT}, {AT}, {AT}, '{team.role('bob')}')",
        f"INSERT INTO touchpoints (lead_id, kind, at, created_at) VALUES ({bobs}, 'call', {AT}, {AT})",
        f"DELETE FROM touchpoints WHERE lead_id = {bobs}",
    ):
        message = refused_in_sql(team, "ann", sql)
        assert message == "" or "row-level security" in message, (sql, message)
    assert rows(team, f"SELECT owner, value FROM leads WHERE id IN ({bobs}, {anns}) ORDER BY id") == [
        (team.role("bob"), None),
        (team.role("ann"), None),
    ]
    assert refused_in_sql(team, "ann", f"UPDATE leads SET value = 100 WHERE id = {anns}") == "changed 1 rows"
    assert refused_in_sql(team, "mgr", f"UPDATE leads SET value = 100 WHERE id = {bobs}") == "changed 1 rows"
    name_default = rows(
        team,
        "INSERT INTO leads (name, stage, created_at, updated_at, stage_entered_at)"
        f" VALUES ('own by default', 'prospecting', {AT}, {AT}, {AT}) RETURNING owner",
        "ann",
    )
    assert name_default == [(team.role("ann"),)]


def test_the_log_cannot_lie_a_rep_neither_rewrites_nor_forges_it(team: pgteam.Server) -> None:
    lead_of(team, "ann", "Logged")
    before = rows(team, "SELECT * FROM events ORDER BY id")
    for sql in (
        "UPDATE events SET command = 'nothing happened'",
        "UPDATE events SET actor = 'someone'",
        "DELETE FROM events",
        "TRUNCATE events",
        "ALTER TABLE events DISABLE TRIGGER ALL",
        f"UPDATE events SET undone_by = 1 WHERE actor = '{team.role('bob')}'",
    ):
        message = refused_in_sql(team, "ann", sql)
        assert "permission denied" in message or "must be owner" in message or "only its own login" in message, (
            sql,
            message,
        )
    assert rows(team, "SELECT * FROM events ORDER BY id") == before
    forged = rows(
        team,
        "INSERT INTO events (batch, at, command, actor, type, data)"
        " VALUES (999999, '2020-01-01T00:00:00Z', 'forged', 'bob', 'note', '{}') RETURNING actor, at",
        "ann",
    )
    assert forged[0][0] == team.role("ann") and forged[0][1] > "2026-01-01"


def test_who_is_the_login_and_the_server_keeps_the_clock(team: pgteam.Server, tmp_path: Path) -> None:
    config = tmp_path / "ray.toml"
    config.write_text('owner = "ray"\n')
    result = run("--db", team.url("ann"), "--config", str(config), "add", "Says Ray")
    assert result.exit_code == 0 and "warning: you are " + team.role("ann") in result.stderr
    lead = int(result.stdout)
    assert rows(team, f"SELECT owner FROM leads WHERE id = {lead}") == [(team.role("ann"),)]
    actor, at = rows(team, f"SELECT actor, at FROM events WHERE lead_id = {lead}")[0]
    assert actor == team.role("ann") and at > "2026-12-01"  # the server's clock, not PIPECTL_NOW
    assert_error(as_(team, "ann", "--as-of", "2020-01-01", "note", str(lead), "backdated"), "--as-of")
    assert ok_as(team, "ann", "--as-of", "2020-01-01", "list").stdout  # reading in the past is fine


def test_undo_takes_the_logins_own_last_command(team: pgteam.Server) -> None:
    anns = lead_of(team, "ann", "Undo mine")
    bobs = lead_of(team, "bob", "Bob later")
    ok_as(team, "ann", "note", str(anns), "first")
    ok_as(team, "bob", "note", str(bobs), "his")
    assert "note" in ok_as(team, "ann", "undo").stdout
    assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {anns}") == [(0,)]
    assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {bobs}") == [(1,)]


def test_owner_must_name_a_known_rep_in_any_case(team: pgteam.Server) -> None:
    lead_of(team, "ann", "Case")
    shown = ok_as(team, "mgr", "list", "--owner", team.role("ANN").upper(), "--json").json()
    assert shown and {lead["owner"] for lead in shown} == {team.role("ann")}
    result = as_(team, "mgr", "list", "--owner", "rya")
    assert_error(result, "no one called 'rya' in this team")
    assert team.role("ann") in result.stderr and team.role("bob") in result.stderr


def test_review_yes_and_today_act_on_the_logins_own_leads(team: pgteam.Server) -> None:
    stale = {}
    for login in ("ann", "bob"):
        stale[login] = int(ok_as(team, login, "add", f"Old {login}", "--at", "2026-01-05").stdout)
    ok_as(team, "ann", "review", "--yes")
    status = dict(rows(team, f"SELECT id, status FROM leads WHERE id IN ({stale['ann']}, {stale['bob']})"))
    assert status == {stale["ann"]: "lost", stale["bob"]: "open"}
    today = ok_as(team, "ann", "today", "--json").json()
    assert {item["lead"]["owner"] for item in today} <= {team.role("ann")}
    assert_error(as_(team, "ann", "today", "--owner", team.role("bob")), "only a manager")
    everyone = ok_as(team, "mgr", "today", "--all", "--json").json()
    assert {item["lead"]["owner"] for item in everyone} > {team.role("ann")}


def test_visibility_own_hides_colleagues_leads_from_pipectl_and_sql(team: pgteam.Server) -> None:
    bobs = lead_of(team, "bob", "Hidden from Ann")
    ok("--db", team.url("owner"), "team", "visibility", "own")
    try:
        names = [lead["name"] for lead in ok_as(team, "ann", "list", "--json").json()]
        assert "Hidden from Ann" not in names
        assert rows(team, f"SELECT count(*) FROM leads WHERE id = {bobs}", "ann") == [(0,)]
        assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {bobs}", "ann") == [(0,)]
        assert "Hidden from Ann" in [lead["name"] for lead in ok_as(team, "mgr", "list", "--json").json()]
    finally:
        ok("--db", team.url("owner"), "team", "visibility", "all")


def test_quota_per_rep_in_the_report(team: pgteam.Server) -> None:
    ok("--db", team.url("owner"), "team", "quota", team.role("ann"), "1000")
    listed = {m["name"]: m["quota"] for m in ok_as(team, "mgr", "team", "list", "--json").json()}
    assert listed[team.role("ann")] == 1000 and listed[team.role("bob")] is None
    assert_error(as_(team, "ann", "team", "quota", team.role("ann"), "5"), "owner")
    lead_of(team, "bob", "For the report")
    groups = {g["group"]: g for g in ok_as(team, "mgr", "report", "--by", "owner", "--json").json()["groups"]}
    assert (groups[team.role("ann")]["quota"], groups[team.role("ann")]["quota_source"]) == (1000, "own")
    assert groups[team.role("bob")]["quota_source"] == "split"
    assert ok_as(team, "ann", "report", "--owner", team.role("ann"), "--json").json()["quota"] == 1000


def test_a_rep_backs_up_imports_and_checks(team: pgteam.Server, tmp_path: Path) -> None:
    ok_as(team, "ann", "backup", str(tmp_path / "copy.db"))
    csv = tmp_path / "in.csv"
    csv.write_text("name,company\nImported One,Acme\nImported Two,Beta\n")
    ok_as(team, "ann", "import", str(csv))
    owners = rows(team, "SELECT DISTINCT owner FROM leads WHERE name LIKE 'Imported%'")
    assert owners == [(team.role("ann"),)]
    csv.write_text(f"name,owner\nFor Bob,{team.role('bob')}\n")
    before = rows(team, "SELECT count(*) FROM leads")
    assert_error(as_(team, "ann", "import", str(csv)), "the team's rules do not let your login do that")
    assert rows(team, "SELECT count(*) FROM leads") == before
    result = as_(team, "ann", "doctor")
    assert "Traceback" not in result.stderr and "connection (a Unix socket" in result.stdout


def test_copy_force_onto_a_team_database_is_the_owners_backed_up_and_logged(
    team: pgteam.Server, tmp_path: Path
) -> None:
    source = tmp_path / "laptop.db"
    ok("--db", str(source), "add", "From a laptop")
    before = rows(team, "SELECT count(*) FROM leads")
    for login in ("ann", "mgr"):
        refused = run("--db", str(source), "copy", "--to", team.url(login), "--force")
        assert_error(refused, f"only its owner, {team.role('owner')}, can do it")
    assert rows(team, "SELECT count(*) FROM leads") == before
    events = rows(team, "SELECT count(*) FROM events")[0][0]
    done = ok("--db", str(source), "copy", "--to", team.url("owner"), "--force").stdout
    saved = tmp_path / "data" / "pipectl" / "backups" / "replaced-20261130T090000.db"
    assert f"saved what it replaces in {saved}" in done
    kept = sqlite3.connect(saved)
    assert kept.execute("SELECT count(*) FROM leads").fetchone() == before[0]
    assert kept.execute("SELECT count(*) FROM events").fetchone() == (events,)
    kept.close()
    assert rows(team, "SELECT name FROM leads") == [("From a laptop",)]
    (logged,) = rows(team, "SELECT type, actor, data FROM events WHERE type = 'copy'")
    assert logged[1] == team.role("owner") and json.loads(logged[2])["backup"] == str(saved)


def test_a_failed_action_in_review_yes_makes_the_exit_code_non_zero(
    team: pgteam.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipectl import actions
    from pipectl.errors import DatabaseError

    lead = int(ok_as(team, "bob", "add", "Will fail", "--at", "2026-01-05").stdout)

    def dropped(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("the database server refused: terminating connection due to administrator command")

    monkeypatch.setattr(actions, "close", dropped)
    result = as_(team, "bob", "review", "--yes")
    assert result.exit_code == 2 and f"failed #{lead}: the database server refused" in result.stderr
    assert "Error: " in result.stderr and f"failed (#{lead}" in result.stderr


def test_a_schema_upgrade_is_the_owners_and_a_rep_is_told_who_must_run_it(
    team: pgteam.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipectl import migrations

    # The pipeline is one migration behind, and that migration adds a table (as later ones may).
    rows(team, f"UPDATE schema_version SET version = {migrations.SCHEMA_VERSION - 1}")
    upgrade = "CREATE TABLE added_by_the_upgrade (x integer)"
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:-1], lambda db: db.run_script(upgrade)])
    for login in ("ann", "mgr"):
        result = as_(team, login, "list")
        assert_error(result, f"only its owner, {team.role('owner')}, can upgrade it: ask them to run `pipectl migrate`")
    assert rows(team, "SELECT version FROM schema_version") == [(migrations.SCHEMA_VERSION - 1,)]
    assert f"schema {migrations.SCHEMA_VERSION}, up to date" in ok("--db", team.url("owner"), "migrate").stdout
    assert ok_as(team, "ann", "list").exit_code == 0
    assert rows(team, "SELECT count(*) FROM added_by_the_upgrade", "ann") == [(0,)]


def test_a_rep_merges_deletes_and_undoes_their_own_leads_and_checks_the_pipeline(team: pgteam.Server) -> None:
    added = ok_as(team, "ann", "add", "Merge Keep", "--email", "keep@example.com", "--note", "one")
    assert "warning" not in added.stderr  # the config's owner is this machine's user (its default): no warning
    keep = int(added.stdout)
    other = int(ok_as(team, "ann", "add", "Merge Keep", "--note", "two").stdout)
    ok_as(team, "ann", "merge", str(keep), str(other), "--yes")
    assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {keep}") == [(2,)]
    assert "merge" in ok_as(team, "ann", "undo").stdout
    assert rows(team, f"SELECT count(*) FROM leads WHERE id = {other}") == [(1,)]
    ok_as(team, "ann", "delete", str(other), "--yes")
    assert "delete" in ok_as(team, "ann", "undo").stdout
    assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {other}") == [(1,)]
    fixed = as_(team, "ann", "doctor", "--fix")
    assert fixed.exit_code in (0, 1) and "Error" not in fixed.stderr, fixed.stderr


def test_a_rep_keeps_the_addresses_and_syncs_the_mail_of_their_own_leads(team: pgteam.Server, tmp_path: Path) -> None:
    from email.message import EmailMessage

    anns = int(ok_as(team, "ann", "add", "Mail Ann", "--email", "lead@ann-client.example").stdout)
    bobs = lead_of(team, "bob", "Mail Bob")
    ok_as(team, "ann", "edit", str(anns), "--add-email", "cfo@ann-client.example")
    refused = as_(team, "ann", "edit", str(bobs), "--add-email", "cfo@bob-client.example")
    assert refused.exit_code == 2 and "Error:" in refused.stderr and "Traceback" not in refused.stderr
    message = refused_in_sql(team, "ann", f"INSERT INTO lead_emails (email, lead_id) VALUES ('x@y.example', {bobs})")
    assert "row-level security" in message, message
    assert rows(team, "SELECT email, lead_id FROM lead_emails ORDER BY email") == [("cfo@ann-client.example", anns)]
    # her own mail about her own lead is logged through pipectl with her login
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "CFO <cfo@ann-client.example>", "ann@example.com", "Re: quote"
    mail["Message-ID"], mail["Date"] = "<q1@ann-client.example>", "Fri, 27 Nov 2026 10:00:00 +0000"
    mail.set_content("Yes, send it.")
    config = tmp_path / "config.toml"
    config.write_text('[mail]\nme = ["ann@example.com"]\n', encoding="utf-8")
    synced = run("--db", team.url("ann"), "--config", str(config), "sync", "mail", "-", input=mail.as_string())
    assert synced.exit_code == 0, synced.stderr
    assert rows(team, "SELECT lead_id, direction FROM touchpoints WHERE external_id = 'q1@ann-client.example'") == [
        (anns, "in")
    ]


def _log_as(server: pgteam.Server, login: str) -> str:
    """Everything ``login`` reads of the log through their own login (as psql would)."""
    return json.dumps(rows(server, "SELECT id, batch, command, actor, lead_id, type, data FROM events", login))


def _batches_since(server: pgteam.Server, last_id: int) -> list[tuple[str, int]]:
    """(actor, batch) of each command logged after event ``last_id``, in order (read by the superuser)."""
    logged = rows(server, f"SELECT actor, batch FROM events WHERE id > {last_id} ORDER BY id")
    return list(dict.fromkeys(logged))


def test_visibility_own_hides_colleagues_lead_data_in_the_log_and_undo_still_works(
    team: pgteam.Server, tmp_path: Path
) -> None:
    bobs = int(ok_as(team, "bob", "add", "Bob Secret Deal", "--email", "secret@bob.example").stdout)
    ok_as(team, "bob", "note", str(bobs), "bob's whispered note")
    ok_as(team, "bob", "edit", str(bobs), "--value", "777")
    gone = int(ok_as(team, "bob", "add", "Bob Deleted Co").stdout)
    ok_as(team, "bob", "delete", str(gone), "--yes")
    ok_as(team, "bob", "add", "Bob Undone Co")
    ok_as(team, "bob", "undo")  # its event quotes the command line it undid
    anns = lead_of(team, "ann", "Ann Visible Deal")
    secrets = ("Bob Secret Deal", "secret@bob.example", "whispered", "Bob Deleted Co", "Bob Undone Co")
    ok("--db", team.url("owner"), "team", "visibility", "own")
    try:
        seen = _log_as(team, "ann")
        assert "Ann Visible Deal" in seen and not [s for s in secrets if s in seen]
        assert all(s in _log_as(team, "mgr") for s in secrets)
        backup = tmp_path / "ann.db"
        ok_as(team, "ann", "backup", str(backup))
        copied = sqlite3.connect(backup)
        kept = json.dumps(copied.execute("SELECT * FROM events").fetchall())
        copied.close()
        assert "Ann Visible Deal" in kept and not [s for s in secrets if s in kept]
        for lead in (bobs, gone):
            assert as_(team, "ann", "show", str(lead)).exit_code == 2
        # her own undo reads her own events, a deleted lead's included
        ok_as(team, "ann", "delete", str(anns), "--yes")
        assert "delete" in ok_as(team, "ann", "undo").stdout
        ok_as(team, "ann", "note", str(anns), "mine")
        assert "note" in ok_as(team, "ann", "undo").stdout
        assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {anns}") == [(0,)]
        assert rows(team, f"SELECT name FROM leads WHERE id = {anns}") == [("Ann Visible Deal",)]
        assert rows(team, f"SELECT count(*) FROM touchpoints WHERE lead_id = {bobs}") == [(1,)]
    finally:
        ok("--db", team.url("owner"), "team", "visibility", "all")
    seen = _log_as(team, "ann")
    assert all(s in seen for s in secrets)


def test_interleaved_commands_of_two_reps_never_share_a_batch_and_each_undo_takes_its_own(
    team: pgteam.Server,
) -> None:
    ok("--db", team.url("owner"), "team", "visibility", "own")
    try:
        last_id = rows(team, "SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
        mine = {login: lead_of(team, login, f"Turns {login}") for login in ("ann", "bob")}
        for step in ("one", "two"):
            for login in ("ann", "bob"):
                ok_as(team, login, "note", str(mine[login]), f"{login} {step}")
        commands = _batches_since(team, last_id)
        assert [actor for actor, _ in commands] == [team.role(n) for n in ("ann", "bob") * 3]
        assert len({batch for _, batch in commands}) == len(commands) == 6
        # distinct in the whole log too: a rep who counted only the events they see would reuse a number
        assert rows(team, "SELECT batch FROM events GROUP BY batch HAVING count(DISTINCT actor) > 1") == []
        undone_before = rows(team, "SELECT id FROM events WHERE undone_by IS NOT NULL")
        assert "note" in ok_as(team, "bob", "undo").stdout
        assert "note" in ok_as(team, "ann", "undo").stdout
        undone = rows(team, "SELECT id FROM events WHERE undone_by IS NOT NULL")
        last_two = ", ".join(str(batch) for _, batch in commands[-2:])
        assert sorted(set(undone) - set(undone_before)) == rows(
            team, f"SELECT id FROM events WHERE batch IN ({last_two}) ORDER BY id"
        )
        for login in ("ann", "bob"):
            notes = rows(team, f"SELECT note FROM touchpoints WHERE lead_id = {mine[login]} ORDER BY id")
            assert notes == [(f"{login} one",)]
    finally:
        ok("--db", team.url("owner"), "team", "visibility", "all")


def test_team_init_and_a_copy_move_the_batch_numbers_past_the_log(team: pgteam.Server, tmp_path: Path) -> None:
    source = tmp_path / "far.db"
    ok("--db", str(source), "add", "Far ahead")
    with sqlite3.connect(source) as far:
        far.execute("UPDATE events SET batch = 1000000")
    ok("--db", str(source), "copy", "--to", team.url("owner"), "--force")
    (copied,) = rows(team, "SELECT batch FROM events WHERE type = 'copy'")
    assert copied[0] > 1000000
    for _ in range(2):
        last_id = rows(team, "SELECT MAX(id) FROM events")[0][0]
        lead_of(team, "ann", "After the copy")
        ((_, batch),) = _batches_since(team, last_id)
        assert batch > copied[0]
        copied = (batch,)
        ok("--db", team.url("owner"), "team", "init")  # again: never moves the numbers back
