"""Upgrades: a database written by an earlier schema version migrates forward with every field kept, and
its leads are found as new ones are."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import assert_error, database, ok, query, run, snapshot
from pipectl import migrations
from pipectl.migrations import SCHEMA_VERSION
from pipectl.store import is_url, open_backend
from pipectl.store.backend import Backend

FIXTURE = Path(__file__).parent / "fixtures" / "schema-v1.db"


def test_fixture_is_schema_v1() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_v1_database_migrates_with_all_data_kept(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    leads = {lead["id"]: lead for lead in ok("--db", str(db), "list", "--status", "all", "--json").json()}
    assert sorted(leads) == [1, 2, 3]
    acme = leads[1]
    assert (acme["name"], acme["company"], acme["email"]) == ("山田 太郎", "Acme 株式会社", "taro@acme.jp")
    assert (acme["value"], acme["source"], acme["stage"], acme["status"]) == (1500000, "referral", "connecting", "open")
    assert acme["tags"] == ["hot", "jp", "enterprise"]
    assert (acme["touch_count"], acme["last_touch_at"]) == (5, "2026-10-26T11:00:00Z")
    assert (acme["next_action"], acme["next_action_due"]) == ("send pricing", "2026-10-08T23:59:59Z")
    assert (acme["created_at"], acme["stage_entered_at"]) == ("2026-10-01T09:00:00Z", "2026-10-08T11:00:00Z")
    # the new cadence fields are backfilled from the touchpoints: two attempts, then a reply
    assert (acme["attempts"], acme["last_reply_at"], acme["last_outbound_at"]) == (
        0,
        "2026-10-06T11:00:00Z",
        "2026-10-05T11:00:00Z",
    )
    globex = leads[2]
    assert (globex["status"], globex["lost_reason"], globex["phone"]) == ("lost", "no response", "+1 415 555 0100")
    assert (globex["attempts"], globex["last_chance_at"], globex["closed_at"]) == (
        3,
        "2026-10-20T11:00:00Z",
        "2026-10-30T11:00:00Z",
    )
    zoe = leads[3]
    assert (zoe["status"], zoe["value"], zoe["expected_close"], zoe["closed_at"]) == (
        "won",
        2000000,
        "2026-12-15",
        "2026-10-25T11:00:00Z",
    )
    timeline = ok("--db", str(db), "show", "1", "--json").json()["timeline"]
    assert [e["forced"] for e in timeline if e["type"] == "stage"] == [False, True]
    assert [e["note"] for e in timeline if e["type"] == "touchpoint" and e["note"]] == [
        "met at the fair",
        "left voicemail",
        "wants pricing",
        "asked for pricing in yen",
    ]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 19
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # history written before the upgrade still undoes
    assert "edit acme --value 1500000 --tag enterprise (1 change)" in ok("--db", str(db), "undo").stdout


def test_future_version_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    shutil.copy(FIXTURE, db)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before, data = db.read_bytes(), snapshot(db)
    assert_error(run("--db", str(db), "list"), "newer pipectl")
    assert_error(run("--db", str(db), "add", "X"), "newer pipectl")
    assert db.read_bytes() == before and snapshot(db) == data


def test_v1_leads_are_found_by_folded_text_after_the_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    assert ok("--db", str(db), "show", "山田太郎", "--json").json()["id"] == 1
    assert ok("--db", str(db), "show", "ＡＣＭＥ", "--json").json()["id"] == 1  # noqa: RUF001 (full-width on purpose)
    assert ok("--db", str(db), "show", "MÜLLER", "--json").json()["name"] == "Zoë Müller"


@pytest.mark.backends
def test_a_schema_4_pipeline_gets_its_search_column_filled(monkeypatch: pytest.MonkeyPatch) -> None:
    """On either backend, a pipeline made before the search column (more leads than one fill step
    takes) is migrated, and every lead is found by folded text."""
    with monkeypatch.context() as old:
        old.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        old.setattr(f"pipectl.store.{'postgres' if is_url(database()) else 'sqlite'}.SCHEMA_VERSION", 4)
        old.setattr(Backend, "read_currency", lambda self: None)  # schema 4 records none
        backend = open_backend(database(), create=True, currency="USD")
        names = [f"Lead {n}" for n in range(migrations.FILL_ROWS + 10)] + ["山田 太郎", "ÉLODIE Durand"]
        at = "2026-11-01T00:00:00Z"
        backend.insert_rows(
            "leads",
            ("name", "company", "stage", "created_at", "updated_at", "stage_entered_at"),
            [(name, "Acme 株式会社" if name == "山田 太郎" else None, "prospecting", at, at, at) for name in names],
        )
        assert backend.schema_version() == 4
        backend.close()
    assert ok("show", "山田　太郎", "--json").json()["name"] == "山田 太郎"
    assert ok("show", "acme株式会社", "--json").json()["name"] == "山田 太郎"
    assert ok("show", "élodie", "--json").json()["id"] == len(names)
    assert ok("show", "LEAD 5009", "--json").json()["name"] == "Lead 5009"
    # plain ASCII names (compared as they are) keep it NULL
    assert query("SELECT name, search FROM leads WHERE search IS NOT NULL ORDER BY id") == [
        ("山田 太郎", "山田 太郎\nacme 株式会社\n山田太郎\nacme株式会社"),
        ("ÉLODIE Durand", "élodie durand"),
    ]
