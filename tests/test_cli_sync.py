"""`pipectl sync mail` through the CLI, on both backends: a corpus built with the email package plus the real
client mail of tests/mail/; direction, replies resetting the cadence, what is skipped and why, bounces,
dedupe across folders and runs, --new-leads, --dry-run, undo, the reading state; and a lead's other
addresses (`edit --add-email / --remove-email`)."""

from __future__ import annotations

import mailbox
import shutil
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import add, assert_error, ok, query, run, snapshot

pytestmark = pytest.mark.backends

MAIL = Path(__file__).parent / "mail"
ME = "taro@example.co.jp"


@pytest.fixture(autouse=True)
def config(isolated: Path) -> Path:
    path = isolated / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'owner = "taro"\n[mail]\nme = ["{ME}", "taro@example.com"]\n', encoding="utf-8")
    return path


def message(
    sender: str,
    to: str,
    subject: str = "Quote",
    body: str = "Thanks, let us talk on Friday.\n\n> earlier mail\n",
    date: str = "Mon, 23 Nov 2026 10:00:00 +0900",
    message_id: str | None = "<m1@example.co.jp>",
    cc: str | None = None,
    **headers: str,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    if cc:
        mail["Cc"] = cc
    mail["Subject"] = subject
    mail["Date"] = date
    if message_id:
        mail["Message-ID"] = message_id
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


def maildir(path: Path, *messages: EmailMessage) -> str:
    box = mailbox.Maildir(str(path), create=True)
    for mail in messages:
        box.add(mail)
    return str(path)


def sync(*args: str) -> dict:  # type: ignore[type-arg]
    return ok("sync", "mail", *args, "--json").json()  # type: ignore[no-any-return]


def lead(ref: str) -> dict:  # type: ignore[type-arg]
    return ok("show", ref, "--json").json()  # type: ignore[no-any-return]


def emails(ref: str) -> list[tuple[str, str]]:
    return [(t["direction"], t["note"]) for t in lead(ref)["timeline"] if t["type"] == "touchpoint"]


def test_inbound_is_a_reply_that_resets_the_attempts(tmp_path: Path) -> None:
    add("Sato", "--email", "sato@client.example")
    for _ in range(3):
        ok("touch", "sato", "email", "--at", "2026-11-20")
    assert lead("sato")["attempts"] == 3
    box = maildir(tmp_path / "INBOX", message("Sato Hanako <Sato@Client.example>", f"Taro <{ME}>"))
    summary = sync(box)
    assert (summary["read"], summary["logged"], summary["matched_leads"]) == (1, 1, 1)
    shown = lead("sato")
    assert shown["attempts"] == 0 and shown["last_reply_at"] == "2026-11-23T01:00:00Z"
    (point,) = [t for t in shown["timeline"] if t["type"] == "touchpoint" and t["direction"] == "in"]
    assert point["outcome"] == "replied" and point["at"] == "2026-11-23T01:00:00Z"
    assert point["note"] == "Quote: Thanks, let us talk on Friday."  # quoted history cut


def test_outbound_to_three_leads_is_three_touchpoints_once(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        add(name.upper(), "--email", f"{name}@client.example")
    add("D", "--email", "d@other.example")
    sent = message(f"Taro <{ME}>", "a@client.example, B <b+crm@client.example>", cc="c@client.example")
    inbox = maildir(tmp_path / "INBOX", sent)
    sent_box = maildir(tmp_path / "Sent", sent)
    summary = sync(inbox, sent_box)
    assert (summary["read"], summary["logged"], summary["matched_leads"]) == (2, 3, 3)
    assert summary["skipped"] == {"already logged": 1}
    for ref in ("a@client.example", "b@client.example", "c@client.example"):
        assert [d for d, _ in emails(ref)] == ["out"]
        assert lead(ref)["attempts"] == 1
    assert emails("d@other.example") == []
    again = sync(inbox, sent_box)
    assert (again["read"], again["logged"]) == (0, 0)  # the Maildir file names are remembered
    assert query("SELECT count(*) FROM touchpoints WHERE external_id = 'm1@example.co.jp'") == [(3,)]


def test_the_same_message_through_stdin_twice_is_logged_once() -> None:
    add("Sato", "--email", "sato@client.example")
    raw = message("sato@client.example", ME).as_string()
    assert ok("sync", "mail", "-", "--json", input=raw).json()["logged"] == 1
    assert ok("sync", "mail", "-", "--json", input=raw).json()["skipped"] == {"already logged": 1}
    assert len(emails("sato")) == 1


def test_auto_replies_lists_and_unknown_senders_are_skipped_and_never_reset_the_cadence(tmp_path: Path) -> None:
    add("Sato", "--email", "sato@client.example")
    ok("touch", "sato", "email", "--at", "2026-11-20")
    box = maildir(
        tmp_path / "INBOX",
        message("sato@client.example", ME, "Out of office", message_id="<a1@x>", Auto_Submitted="auto-replied"),
        message("sato@client.example", ME, "Automatic reply: Quote", message_id="<a2@x>", Return_Path="<>"),
        message("sato@client.example", ME, "News", message_id="<a3@x>", List_Id="<news.client.example>"),
        message("sato@client.example", ME, "Digest", message_id="<a4@x>", Precedence="bulk"),
        message("someone@else.example", ME, "Hello", message_id="<a5@x>"),
        message(ME, "friend@else.example", "Lunch", message_id="<a6@x>"),
    )
    summary = sync(box)
    assert summary["logged"] == 0
    assert summary["skipped"] == {"auto-reply": 3, "list": 1, "not about a lead": 1, "unknown sender": 1}
    assert lead("sato")["attempts"] == 1


def test_a_bounce_marks_the_address_and_the_review_says_bad_email() -> None:
    add("John Doe", "--email", "j.doe@gone.example")
    add("Buyer", "--email", "old@closed-shop.example")
    ok("edit", "buyer", "--add-email", "buyer@closed-shop.example")
    summary = ok("sync", "mail", str(MAIL / "postfix_bounce.eml"), str(MAIL / "exim_bounce.eml"), "--json").json()
    assert summary["skipped"] == {"bounce": 2} and summary["logged"] == 0
    assert summary["bounced"] == ["j.doe@gone.example", "buyer@closed-shop.example"]
    (address,) = lead("john")["emails"]
    assert address["email"] == "j.doe@gone.example" and address["bounced_at"] and address["bounce"]
    assert "bouncing since" in ok("show", "john").stdout
    findings = ok("review", "--json").json()["findings"]
    bad = [(f["kind"], f["lead_id"]) for f in findings if f["kind"] == "bad_email"]
    assert bad == [("bad_email", 1)]  # the buyer's main address still works
    ok("undo")
    assert lead("john")["emails"][0]["bounced_at"] is None


def test_new_leads_from_unknown_senders(tmp_path: Path) -> None:
    add("Someone", "--email", "someone@else.example")
    box = maildir(
        tmp_path / "inquiries",
        message("Kenji Watanabe <kenji@gmail.com>", ME, "Pricing?", message_id="<n1@x>"),
        message('"Suzuki, Hanako" <hanako@sample-shoji.example>', ME, "見積もり", message_id="<n2@x>"),
        message(
            "hanako@sample-shoji.example", ME, "Re: 見積もり", message_id="<n3@x>", date="Tue, 24 Nov 2026 01:00 Z"
        ),
    )
    assert sorted(sync(box, "--dry-run", "--new-leads")["new_leads"])[0] == "Kenji Watanabe <kenji@gmail.com>"
    summary = sync(box, "--new-leads")
    assert (summary["logged"], len(summary["new_leads"])) == (3, 2)
    kenji, hanako = lead("kenji@gmail.com"), lead("hanako@sample-shoji.example")
    assert (kenji["name"], kenji["company"], kenji["source"]) == ("Kenji Watanabe", None, "email")
    assert kenji["created_at"] == "2026-11-23T01:00:00Z"
    # whichever of her two messages is read first, the lead has her name and the first one's date
    assert (hanako["name"], hanako["company"]) == ("Suzuki, Hanako", "sample-shoji.example")
    assert hanako["created_at"] == "2026-11-23T01:00:00Z"
    assert len(emails("hanako@sample-shoji.example")) == 2


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    add("Sato", "--email", "sato@client.example")
    box = maildir(tmp_path / "INBOX", message("sato@client.example", ME))
    before = snapshot()
    result = ok("sync", "mail", box, "--dry-run", "--new-leads")
    assert "would log: #1 email in" in result.stdout and "read 1 message, would log 1 for 1 lead" in result.stdout
    assert snapshot() == before
    assert sync(box)["logged"] == 1  # not even the file names were remembered


def test_undo_removes_what_a_sync_logged_and_a_rerun_logs_it_again(tmp_path: Path) -> None:
    add("Sato", "--email", "sato@client.example", "--next", "call", "--due", "2026-12-10")
    box = maildir(tmp_path / "INBOX", message("sato@client.example", ME))
    before = lead("sato")
    assert sync(box)["logged"] == 1
    assert "undid: pipectl sync mail" in ok("undo").stdout
    after = lead("sato")
    assert (after["touch_count"], after["next_action"], after["attempts"]) == (0, before["next_action"], 0)
    assert sync(box)["logged"] == 1


def test_store_text_false_keeps_the_subject_alone(tmp_path: Path, config: Path) -> None:
    config.write_text(f'[mail]\nme = ["{ME}"]\nstore_text = false\n', encoding="utf-8")
    add("Sato", "--email", "sato@client.example")
    sync(maildir(tmp_path / "INBOX", message("sato@client.example", ME, "Secret terms", "the price is 42")))
    assert emails("sato") == [("in", "Secret terms")]


def test_real_client_mail(tmp_path: Path) -> None:
    add("Hanako Suzuki", "--email", "hanako.suzuki@sample-shoji.example")
    add("Michael", "--email", "michael.brown@globex.example")
    add("Sato", "--email", "hanako.sato@acme.example")
    add("Forms", "--email", "forms@legacy-site.example")
    folder = tmp_path / "eml"
    shutil.copytree(MAIL, folder, ignore=shutil.ignore_patterns("Maildir", "*.mbox"))
    summary = sync(str(folder))
    assert summary["logged"] == 4 and summary["warnings"] == []
    (japanese,) = emails("hanako.suzuki@sample-shoji.example")
    assert japanese == ("in", japanese[1])
    assert japanese[1].startswith("Re: お見積りの件: 山田様 お世話になっております。鈴木です。")
    (html,) = emails("michael")
    assert html[1].startswith("RE: Quote for 50 seats: Hello Taro, We\u2019ve reviewed the quote internally.")
    assert "<" not in html[1]
    (no_id,) = emails("forms")
    assert no_id[0] == "in"
    assert query("SELECT external_id FROM touchpoints WHERE external_id LIKE 'sha256:%'") != []
    assert sync(str(folder))["skipped"].get("already logged") == 4


def test_a_broken_date_falls_back_to_the_file_time(tmp_path: Path) -> None:
    add("Sato", "--email", "sato@client.example")
    box = maildir(tmp_path / "INBOX", message("sato@client.example", ME, date="not a date"))
    sync(box)
    (point,) = [t for t in lead("sato")["timeline"] if t["type"] == "touchpoint"]
    assert point["at"][:4] == time.strftime("%Y", time.gmtime())


def test_bad_input(tmp_path: Path, config: Path) -> None:
    add("Sato", "--email", "sato@client.example")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02binary")
    before = snapshot()
    assert_error(run("sync", "mail", str(binary)), "not a mailbox")
    assert_error(run("sync", "mail", str(tmp_path / "missing")), "no such file")
    no_from = "To: taro@example.co.jp\nSubject: x\nDate: Mon, 23 Nov 2026 10:00:00 +0900\n\nbody\n"
    assert_error(run("sync", "mail", "-", input=no_from), "no From header")
    assert snapshot() == before
    box = maildir(tmp_path / "INBOX", message("sato@client.example", ME), message("", ME, message_id="<nofrom@x>"))
    result = ok("sync", "mail", box)
    assert "logged 1" in result.stdout and "warning:" in result.stderr and "no From header" in result.stderr
    config.write_text('owner = "taro"\n', encoding="utf-8")
    assert_error(run("sync", "mail", box), "[mail] me")


def test_other_addresses() -> None:
    acme = add("Ken", "--email", "ken@acme.co.jp")
    other = add("Other", "--email", "other@else.example")
    ok("edit", "ken", "--add-email", "CFO@acme.co.jp", "--add-email", "ceo@acme.co.jp")
    assert lead("cfo@acme.co.jp")["id"] == acme
    assert [e["email"] for e in lead("ken")["emails"]] == ["ken@acme.co.jp", "ceo@acme.co.jp", "cfo@acme.co.jp"]
    assert_error(run("edit", "other", "--add-email", "cfo@acme.co.jp"), "already has the email")
    assert_error(run("add", "X", "--email", "ceo@acme.co.jp"), "already has the email")
    assert_error(run("edit", "ken", "--remove-email", "nobody@acme.co.jp"), "has no other address")
    ok("edit", "ken", "--remove-email", "ceo@acme.co.jp")
    ok("edit", "ken", "--email", "cfo@acme.co.jp")  # an other address becomes the main one
    assert [e["email"] for e in lead("ken")["emails"]] == ["cfo@acme.co.jp"]
    ok("undo")
    ok("undo")
    assert [e["email"] for e in lead("ken")["emails"]] == ["ken@acme.co.jp", "ceo@acme.co.jp", "cfo@acme.co.jp"]
    ok("merge", str(other), "ken", "--yes", "--force")
    merged = ["other@else.example", "ceo@acme.co.jp", "cfo@acme.co.jp", "ken@acme.co.jp"]  # Ken's main one too
    assert [e["email"] for e in lead(str(other))["emails"]] == merged
    ok("undo")
    assert lead("cfo@acme.co.jp")["id"] == acme
    ok("delete", "ken", "--yes")
    assert_error(run("show", "cfo@acme.co.jp"), "no lead")
    ok("undo")
    assert lead("cfo@acme.co.jp")["id"] == acme


def test_what_real_clients_send_that_the_headers_alone_do_not_settle() -> None:
    add("Sophie", "--email", "sophie@initech.example")
    add("Michael", "--email", "michael.brown@globex.example")
    add("Lena", "--email", "lena.fischer@stark.example")
    ok("edit", "lena", "--add-email", "lena.old@stark.example")
    for ref in ("sophie", "michael", "lena"):
        ok("touch", ref, "email", "--at", "2026-11-20")
    names = ("icloud_vacation", "exchange_ooo_plain", "precedence_bulk", "gmail_old_bounce", "garbage_in_reply_to")
    summary = sync(*(str(MAIL / f"{name}.eml") for name in names))
    assert summary["skipped"] == {"auto-reply": 3, "bounce": 1}
    assert summary["bounced"] == ["lena.old@stark.example"]
    assert [lead(ref)["attempts"] for ref in ("sophie", "michael")] == [1, 1]  # an auto-reply is no reply
    assert lead("lena")["attempts"] == 0  # a reply with a garbage In-Reply-To is still a reply
    assert [e["bounced_at"] is not None for e in lead("lena")["emails"]] == [False, True]
    assert not [f for f in ok("review", "--json").json()["findings"] if f["kind"] == "bad_email"]


def test_copy_keeps_other_addresses_bounces_and_what_was_read(tmp_path: Path) -> None:
    add("John Doe", "--email", "j.doe@gone.example")
    ok("edit", "john", "--add-email", "john@new.example")
    box = maildir(tmp_path / "INBOX", message("john@new.example", ME))
    sync(box, str(MAIL / "postfix_bounce.eml"))
    target = str(tmp_path / "copy.db")
    ok("copy", "--to", target)
    for table in ("lead_emails", "bounces", "mail_seen"):
        assert query(f"SELECT count(*) FROM {table}", target) == query(f"SELECT count(*) FROM {table}") == [(1,)]
    assert ok("--db", target, "sync", "mail", box, "--json").json()["read"] == 0


def test_a_killed_maildir_sync_keeps_what_it_committed_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipectl import sync as sync_module

    add("Sato", "--email", "sato@client.example")
    box = maildir(
        tmp_path / "INBOX",
        *(message("sato@client.example", ME, f"Mail {n}", message_id=f"<k{n}@x>") for n in range(5)),
    )
    monkeypatch.setattr(sync_module, "CHUNK", 2)
    handle = sync_module._Sync.one
    calls = 0

    def one(self: sync_module._Sync, store: object, record: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt  # killed while the second chunk is being written
        handle(self, store, record)  # type: ignore[arg-type]

    monkeypatch.setattr(sync_module._Sync, "one", one)
    assert run("sync", "mail", box).exit_code == 130
    assert len(emails("sato")) == 2 and query("SELECT count(*) FROM mail_seen") == [(2,)]
    monkeypatch.setattr(sync_module._Sync, "one", handle)
    summary = sync(box)
    assert (summary["read"], summary["logged"]) == (3, 3)
    assert sorted(note for _, note in emails("sato")) == [f"Mail {n}: Thanks, let us talk on Friday." for n in range(5)]
