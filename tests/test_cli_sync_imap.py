"""`pipectl sync imap` through the CLI against a real Dovecot (tests/dovecot.py): the first sync, an
incremental one after new mail, a renumbered folder read again without duplicates, a connection dropped
half way (what was committed stays, the next run goes on without duplicates or losses), undo, and the
errors a user meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import add, assert_error, ok, query, run, snapshot
from dovecot import PASSWORD, Dovecot
from pipectl import sync
from pipectl.mail import MailRecord
from pipectl.store import Store
from test_imap import LEAD, ME, mailbox, message


@pytest.fixture
def server(imap_server: Dovecot, isolated: Path) -> Dovecot:
    config = isolated / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[mail]\nme = ["{ME}"]\n', encoding="utf-8")
    add("Sato Hanako", "--email", LEAD)
    return imap_server


def imap(server: Dovecot, folder: str, *args: str) -> dict:  # type: ignore[type-arg]
    return ok("sync", "imap", server.url(folder), *args, "--json").json()  # type: ignore[no-any-return]


def notes() -> list[str]:
    return [row[0] for row in query("SELECT note FROM touchpoints ORDER BY at")]


def test_first_sync_then_only_what_came_since(server: Dovecot) -> None:
    mailbox(server, "First", range(1, 4))
    client = server.client()
    client.create_folder("FirstSent")
    client.append("FirstSent", message(4, sender=ME, to=LEAD))
    client.logout()
    summary = imap(server, "First", "--folder", "FirstSent")
    assert (summary["read"], summary["logged"], summary["matched_leads"]) == (4, 4, 1)
    assert [n.split(":")[0] for n in notes()] == ["Quote 1", "Quote 2", "Quote 3", "Quote 4"]
    assert ok("show", "sato", "--json").json()["attempts"] == 1  # the last one was sent, unanswered
    assert imap(server, "First", "--folder", "FirstSent")["read"] == 0
    mailbox(server, "First", range(5, 7))
    again = imap(server, "First", "--folder", "FirstSent")
    assert (again["read"], again["logged"]) == (2, 2)
    assert len(notes()) == 6


def test_a_renumbered_folder_is_read_again_without_duplicates(server: Dovecot) -> None:
    mailbox(server, "Renum", range(1, 3))
    assert imap(server, "Renum")["logged"] == 2
    mailbox(server, "Renum", range(1, 4), recreate=True)  # a new UIDVALIDITY
    summary = imap(server, "Renum")
    assert (summary["read"], summary["logged"], summary["skipped"]) == (3, 1, {"already logged": 2})
    assert len(notes()) == 3


def test_a_dropped_connection_keeps_what_was_committed(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox(server, "Drop", range(1, 6))
    monkeypatch.setattr(sync, "CHUNK", 2)
    handle = sync._Sync.one

    def one(self: sync._Sync, store: Store, record: MailRecord) -> None:
        if record.subject == "Quote 3":
            server.kick()  # the body of message 3 cannot be fetched any more
        handle(self, store, record)

    monkeypatch.setattr(sync._Sync, "one", one)
    result = run("sync", "imap", server.url("Drop"))
    assert result.exit_code == 2 and "the connection was lost" in result.stderr and PASSWORD not in result.stderr
    assert len(notes()) == 2  # the first chunk was committed
    (state,) = query("SELECT last_uid FROM imap_folders")
    assert state == (1,)  # never ahead of what was logged (message 2 was not acknowledged yet)
    monkeypatch.setattr(sync._Sync, "one", handle)
    summary = imap(server, "Drop")
    assert (summary["logged"], summary["skipped"]) == (3, {"already logged": 1})
    assert [n.split(":")[0] for n in notes()] == [f"Quote {n}" for n in range(1, 6)]


def test_undo_forgets_what_the_sync_read(server: Dovecot) -> None:
    mailbox(server, "Undo", range(1, 3))
    assert imap(server, "Undo")["logged"] == 2
    ok("undo")
    assert notes() == [] and query("SELECT count(*) FROM imap_folders") == [(0,)]
    assert imap(server, "Undo")["logged"] == 2


def test_dry_run_and_errors(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox(server, "Dry", range(1, 2))
    before = snapshot()
    assert imap(server, "Dry", "--dry-run")["logged"] == 1
    assert snapshot() == before
    assert_error(run("sync", "imap", server.url("Nowhere")), "no folder 'Nowhere'")
    monkeypatch.setenv("PIPECTL_IMAP_PASSWORD", "Wrong-pw-4711")
    result = run("sync", "imap", server.url("Dry"))
    assert_error(result, "login")
    assert "Wrong-pw-4711" not in result.stderr
    assert_error(run("sync", "imap", "imaps://taro:pw@127.0.0.1/INBOX"), "holds a password")
    assert snapshot() == before
