"""The database: public schema, pragmas, versioning, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from conftest import add, database, db_path, ok, query
from pipectl.migrations import SCHEMA_VERSION
from pipectl.store import Store

pytestmark = pytest.mark.backends


@pytest.mark.sqlite_only
def test_public_schema(tmp_path: Path) -> None:
    add("Jane")
    db = sqlite_utils.Database(db_path(tmp_path))
    assert {"leads", "touchpoints", "events"} <= set(db.table_names())
    assert list(db["leads"].columns_dict) == [
        "id",
        "name",
        "company",
        "email",
        "phone",
        "source",
        "value",
        "stage",
        "status",
        "owner",
        "tags",
        "created_at",
        "updated_at",
        "stage_entered_at",
        "last_touch_at",
        "touch_count",
        "next_action",
        "next_action_due",
        "expected_close",
        "snoozed_until",
        "qualified",
        "qualification_score",
        "lost_reason",
        "extra",
        "snooze_reason",
        "closed_at",
        "attempts",
        "last_outbound_at",
        "last_reply_at",
        "last_chance_at",
        "search",
        "source_id",
        "source_system",
    ]
    assert list(db["touchpoints"].columns_dict) == [
        "id",
        "lead_id",
        "kind",
        "direction",
        "outcome",
        "note",
        "at",
        "created_at",
        "external_id",
    ]
    assert list(db["lead_emails"].columns_dict) == ["email", "lead_id"]
    assert list(db["bounces"].columns_dict) == ["email", "at", "message_id"]
    assert list(db["events"].columns_dict) == [
        "id",
        "batch",
        "at",
        "command",
        "actor",
        "lead_id",
        "type",
        "data",
        "undone_by",
    ]
    indexes = {index.name for table in ("leads", "touchpoints", "events") for index in db[table].indexes}
    assert {"leads_status_entered", "touchpoints_lead_at", "events_batch", "events_lead"} <= indexes
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA page_size").fetchone()[0] == 16384  # a large import's checkpoint: half the time


def test_existing_emails_are_found_past_one_query_of_parameters(tmp_path: Path) -> None:
    taken = (0, 998, 999, 2400)
    for number in taken:
        add(f"Lead {number}", "--email", f"lead{number}@example.com")
    store = Store.open(database(), create=False, currency="USD")
    try:
        for size in (1, 2, 3, 5, 998, 999, 1000, 2500):
            asked = [f"lead{number}@example.com" for number in range(size)]
            assert store.existing_emails(asked) == {f"lead{n}@example.com" for n in taken if n < size}
    finally:
        store.close()


def test_mail_lookups_answer_past_one_query_of_parameters(tmp_path: Path) -> None:
    ids = [add(f"Lead {number}", "--email", f"lead{number}@example.com") for number in range(3)]
    ok("edit", str(ids[2]), "--add-email", "other@example.com")
    store = Store.open(database(), create=False, currency="USD")
    try:
        with store.transaction("test", None, "2026-11-30T09:00:00Z"):
            for lead_id in ids[1:]:
                found = store.get_lead(lead_id)
                assert found is not None
                store.opt_out(found, "2026-11-30T09:00:00Z", "test")
                store.mark_bounced(found, found.email or "", "2026-11-30T09:00:00Z", "<bounce@x>")
        many = [*range(10_000, 12_500), *ids]  # three queries' worth
        assert set(store.opted_out(many)) == set(ids[1:])
        assert store.other_emails_of(many) == {ids[2]: ["other@example.com"]}
        emails = [f"lead{number}@example.com" for number in range(2500)]
        assert set(store.bounces_of(emails)) == {"lead1@example.com", "lead2@example.com"}
    finally:
        store.close()


def test_rows_inserted_in_bulk_arrive_whole_and_in_order(tmp_path: Path) -> None:
    ok("init")
    store = Store.open(database(), create=False, currency="USD")
    sizes = (1, 2, 3, 1000, 1537, 2049)  # statements of 1,000 rows, then the rest row by row
    try:
        with store.transaction("test", None, "2026-11-30T09:00:00Z"):
            for size in sizes:
                rows = [(f"Lead {size}-{n}", "prospecting", "open", "now", "now", "now") for n in range(size)]
                store.db.insert_rows(
                    "leads", ("name", "stage", "status", "created_at", "updated_at", "stage_entered_at"), rows
                )
    finally:
        store.close()
    names = [row[0] for row in query("SELECT name FROM leads ORDER BY id")]
    assert names == [f"Lead {size}-{n}" for size in sizes for n in range(size)]


@pytest.mark.sqlite_only
def test_email_lookups_of_any_length_share_a_few_prepared_statements(tmp_path: Path) -> None:
    # One statement per length kept up to 128 prepared lists of up to 999 parameters: 10 MB more
    # memory in a large import, whose lookups have every length.
    add("Jane", "--email", "lead7@example.com")
    store = Store.open(database(), create=False, currency="USD")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        for size in range(1, 1200):
            assert store.existing_emails([f"lead{n}@example.com" for n in range(size)]) == (
                {"lead7@example.com"} if size > 7 else set()
            )
    finally:
        store.close()
    assert len({statement.count("@example.com") for statement in statements}) == 11  # 1, 2, 4 ... 512, 999


@pytest.mark.sqlite_only
def test_a_duplicate_without_email_is_found_by_the_partial_index(tmp_path: Path) -> None:
    # Before, SQLite scanned every lead without an email for each such row: importing 20,000 of them
    # into a pipeline holding 20,000 took 76 s instead of 0.6 s.
    add("Jane Doe", "--company", "Acme")
    store = Store.open(str(db_path(tmp_path)), create=False, currency="USD")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.duplicate_of(None, "JANE DOE", "acme") is not None
    assert store.duplicate_of(None, "Jane Doe", None) is None
    lookup = statements[0].replace("'JANE DOE'", "?").replace("'acme'", "?")
    plan = store.conn.execute("EXPLAIN QUERY PLAN " + lookup, ("", ""))
    assert "USING INDEX leads_name_company" in " ".join(row[-1] for row in plan)


def test_money_is_stored_in_hundredths(tmp_path: Path) -> None:
    add("Jane", "--value", "1,200.50")
    assert query("SELECT value FROM leads") == [(120050,)]


def test_every_change_is_in_the_event_log(tmp_path: Path) -> None:
    add("Jane", "--note", "hello")
    ok("touch", "1", "call")
    ok("advance", "1")
    rows = query("SELECT batch, type, command, actor FROM events ORDER BY id")
    assert rows == [
        (1, "create", "pipectl add Jane --note hello", "taro"),
        (1, "touch", "pipectl add Jane --note hello", "taro"),
        (2, "touch", "pipectl touch 1 call", "taro"),
        (3, "stage", "pipectl advance 1", "taro"),
    ]


@pytest.mark.sqlite_only
def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    env = {**os.environ, "PIPECTL_DB": str(tmp_path / "shared.db")}
    script = 'for i in $(seq 25); do {py} -m pipectl add "Lead $i-$1" >/dev/null || exit 1; done'
    procs = [subprocess.Popen(["bash", "-c", script.format(py=sys.executable), "x", str(n)], env=env) for n in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    conn = sqlite3.connect(tmp_path / "shared.db")
    assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] == 50
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
