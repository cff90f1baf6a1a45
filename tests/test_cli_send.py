"""Mail out (SPEC §13) through the CLI: `send`, `campaign`, `optout`, `templates` and `review --yes`, against a
real SMTP server on loopback (tests/smtpd.py: STARTTLS and AUTH), a fake sendmail command and a drafts
Maildir; asserting on what the server received and on the database."""

from __future__ import annotations

import os
import signal
import smtpd
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from smtpd import PASSWORD, USER, Received, Server

import pytest

from conftest import add, assert_error, database, ok, query, run, snapshot
from pipectl import cli
from pipectl.dates import show
from pipectl.mail import outbox
from pipectl.store import Store

pytestmark = pytest.mark.backends

SENDER = "山田 太郎 <taro@example.co.jp>"
INTRO = "Subject: $first_name, a note about $company\n\nHi $first_name,\n\nShall we talk about $company?\n\n$owner\n"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Server]:
    with smtpd.running() as running:
        yield running


@pytest.fixture
def server(smtp_server: Server, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> Server:
    """The server, emptied, trusted, and the password given the documented way (~/.netrc kept out)."""
    smtp_server.received.clear()
    smtp_server.on_message = None
    smtp_server.busy = True
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_server.cert))
    monkeypatch.setenv("PIPECTL_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("NETRC", str(isolated / "no-netrc"))
    return smtp_server


def folder(isolated: Path) -> Path:
    return isolated / "config" / "pipectl"


def configure(isolated: Path, send: str) -> None:
    (folder(isolated) / "templates").mkdir(parents=True, exist_ok=True)
    (folder(isolated) / "config.toml").write_text(
        f'owner = "taro"\n[send]\nfrom = "{SENDER}"\n{send}\n', encoding="utf-8"
    )
    (folder(isolated) / "templates" / "intro.txt").write_text(INTRO, encoding="utf-8")


def smtp(isolated: Path, server: Server, extra: str = "") -> None:
    configure(isolated, f'method = "smtp"\nhost = "127.0.0.1"\nport = {server.port}\nuser = "{USER}"\n{extra}')


def touchpoints(lead: int) -> list[dict[str, object]]:
    return [entry for entry in ok("show", str(lead), "--json").json()["timeline"] if entry["type"] == "touchpoint"]


def test_send_over_smtp_is_well_formed_logged_and_schedules_like_a_typed_touch(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("鈴木 花子", "--company", "株式会社ACME", "--email", "hanako@acme.example")
    typed = add("Typed Twin", "--company", "Acme", "--email", "twin@acme.example")
    result = ok("send", str(lead), "--template", "intro")
    assert f"sent 'intro' to #{lead}" in result.stdout
    [got] = server.received
    assert (got.sender, got.recipients) == ("taro@example.co.jp", ["hanako@acme.example"])
    raw = got.message.as_bytes()
    assert b"=?utf-8?" in raw.lower() and "鈴木".encode() not in raw.split(b"\n\n")[0]  # RFC 2047 headers
    message = got.message
    assert str(message["Subject"]) == "鈴木, a note about 株式会社ACME"
    assert str(message["From"]) == SENDER and "hanako@acme.example" in str(message["To"])
    assert message["Date"] and str(message["Message-ID"]).endswith("@example.co.jp>")
    assert message["List-Unsubscribe"] is None and message.get_content_type() == "text/plain"
    assert "Shall we talk about 株式会社ACME?" in message.get_content()
    [point] = touchpoints(lead)
    assert (point["kind"], point["direction"], point["outcome"]) == ("email", "out", "sent")
    assert point["note"] == "鈴木, a note about 株式会社ACME"
    assert query("SELECT external_id FROM touchpoints") == [(str(message["Message-ID"]),)]
    ok("touch", str(typed), "email")
    sent, touched = (ok("show", str(ref), "--json").json() for ref in (lead, typed))
    for key in ("attempts", "touch_count", "next_action", "next_action_due", "last_outbound_at", "cadence"):
        assert sent[key] == touched[key], key
    assert sent["next_action"] and sent["attempts"] == 1


def test_a_long_japanese_and_latin_subject_and_name_arrive_exactly_in_well_formed_lines(
    isolated: Path, server: Server
) -> None:
    smtp(isolated, server)
    subject = (
        "Müller 鈴木 $company のご案内: Müller 鈴木 about https://example.com/" + "campaign-" * 10
        + " for $first_name  (two spaces)"
    )  # fmt: skip
    (folder(isolated) / "templates" / "long.txt").write_text(f"Subject: {subject}\n\nHi\n", encoding="utf-8")
    name = "鈴木 花子 Müller-Lüdenscheidt " + "長" * 30
    lead = add(name, "--company", "株式会社ACMEホールディングス", "--email", "hanako@acme.example")
    ok("send", str(lead), "--template", "long")
    [got] = server.received
    expected = subject.replace("$company", "株式会社ACMEホールディングス").replace("$first_name", "鈴木")
    assert str(got.message["Subject"]) == expected and touchpoints(lead)[0]["note"] == expected
    assert got.message["To"].addresses[0].display_name == name
    head = got.raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert all(line.strip() and len(line) <= 998 for line in head)  # no line of only whitespace ends the head
    # over 78 only the name, one encoded-word (two would read with a space between in Python before 3.14)
    [long] = [line for line in head if len(line) > 78]
    assert long.startswith(b"To: =?utf-8?") and long.endswith(b"?=") and b" " not in long[4:]


def test_dry_run_shows_the_message_and_sends_nothing(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    before = snapshot()
    result = ok("send", str(lead), "--template", "intro", "--dry-run")
    assert "Subject: Jane, a note about Acme" in result.stdout and "Hi Jane," in result.stdout
    assert server.received == [] and snapshot() == before


HTML = "<html><body><p>Hi $first_name,</p><p>Shall we talk about <b>$company</b>?</p></body></html>\n"


def test_a_template_with_an_html_file_sends_both_parts_with_its_values_escaped(isolated: Path, server: Server) -> None:
    smtp(isolated, server, 'footer = "Smith & Sons\\n1-2-3 Chiyoda"')
    (folder(isolated) / "templates" / "intro.html").write_text(HTML, encoding="utf-8")
    assert ok("templates").stdout.splitlines() == ["intro  $first_name $company $owner  (and intro.html)"]
    lead = add("Jane Doe", "--company", "Smith & <Sons>", "--email", "jane@acme.example", "--tag", "x")
    ok("send", str(lead), "--template", "intro")
    other = add("Bob Roe", "--company", "Acme", "--email", "bob@acme.example", "--tag", "y")
    ok("campaign", "dec-y", "--template", "intro", "--tag", "y")
    single, campaign = (item.message for item in server.received)
    for message in (single, campaign):
        assert message.get_content_type() == "multipart/alternative"
        text, html = message.iter_parts()
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    text, html = single.iter_parts()
    assert "Smith & <Sons>?" in text.get_content()
    assert "<b>Smith &amp; &lt;Sons&gt;</b>?" in html.get_content() and "<hr>" not in html.get_content()
    text, html = campaign.iter_parts()
    assert text.get_content().replace("\r\n", "\n").rstrip().endswith("-- \nSmith & Sons\n1-2-3 Chiyoda")
    body = html.get_content()
    assert '<p style="font-size:smaller">Smith &amp; Sons<br>1-2-3 Chiyoda</p>' in body
    assert body.index("1-2-3 Chiyoda") < body.index("</body>") and str(campaign["List-Unsubscribe"])
    assert [point["note"] for point in touchpoints(other)] == ["Bob, a note about Acme"]


def test_a_placeholder_only_the_html_part_uses_must_be_filled_too(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    (folder(isolated) / "templates" / "intro.html").write_text("<p>$value</p>", encoding="utf-8")
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    before = snapshot()
    assert_error(run("send", str(lead), "--template", "intro"), "template 'intro': $value cannot be filled")
    assert server.received == [] and snapshot() == before
    ok("edit", str(lead), "--value", "5000")
    ok("send", str(lead), "--template", "intro")
    [got] = server.received
    assert "<p>5,000.00</p>" in got.message.get_body(("html",)).get_content()


def test_template_errors_name_the_problem_and_send_nothing(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--email", "jane@acme.example")  # no company: $company cannot be filled
    nobody = add("No Address", "--company", "Acme")
    before = snapshot()
    assert_error(run("send", str(lead), "--template", "intro"), "template 'intro': $company cannot be filled")
    assert_error(run("send", str(lead), "--template", "nope"), "no template 'nope'")
    (folder(isolated) / "templates" / "bad.txt").write_text("Hello $name\n", encoding="utf-8")
    assert_error(run("send", str(lead), "--template", "bad"), "must start with a 'Subject: ...' line")
    assert_error(run("send", str(nobody), "--template", "intro"), "has no address")
    assert server.received == [] and snapshot() == before


def test_templates_lists_each_with_its_placeholders(isolated: Path) -> None:
    configure(isolated, "")
    (folder(isolated) / "templates" / "bad.txt").write_text("no subject\n", encoding="utf-8")
    lines = ok("templates").stdout.splitlines()
    assert lines[0].startswith("bad  (unusable:")
    assert lines[1] == "intro  $first_name $company $owner"


def test_refused_login_and_recipients(isolated: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "reject@acme.example")
    before = snapshot()
    assert_error(run("send", str(lead), "--template", "intro"), "the server refused reject@acme.example: 550")
    assert snapshot() == before and query("SELECT COUNT(*) FROM outbox") == [(0,)]
    monkeypatch.setenv("PIPECTL_SMTP_PASSWORD", "wrong-Password-9")
    result = run("send", str(lead), "--template", "intro")
    assert_error(result, f"refused the login of '{USER}'")
    assert "wrong-Password-9" not in result.stderr and snapshot() == before
    monkeypatch.delenv("PIPECTL_SMTP_PASSWORD")
    assert_error(run("send", str(lead), "--template", "intro"), "no password: set PIPECTL_SMTP_PASSWORD")


def test_unreachable_server_is_one_error_line(isolated: Path, server: Server) -> None:
    configure(isolated, f'method = "smtp"\nhost = "127.0.0.1"\nport = {smtpd.free_ports(1)[0]}')
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    assert_error(run("send", str(lead), "--template", "intro"), "cannot be reached")


def test_config_refuses_a_password_without_repeating_it(isolated: Path) -> None:
    configure(isolated, 'method = "sendmail"\npassword = "hunter2-Secret"')
    result = run("templates")
    assert_error(result, "send.password is not read from the config")
    assert "hunter2" not in result.stderr


def mark_bounced(email: str, lead: int) -> None:
    store = Store.open(database(), create=False, currency="USD")
    with store.transaction("sync mail", "taro", "2026-11-29T09:00:00Z"):
        found = store.get_lead(lead)
        assert found is not None
        store.mark_bounced(found, email, "2026-11-29T09:00:00Z", "<bounce@x>")
    store.close()


def campaign_leads() -> dict[str, int]:
    ids = {name: add(name, "--company", "Acme", "--email", f"{name}@acme.example", "--tag", "webinar")
           for name in ("ann", "bob", "cyd", "dan")}  # fmt: skip
    ids["closed"] = add("closed", "--company", "Acme", "--email", "closed@acme.example", "--tag", "webinar")
    ok("lost", str(ids["closed"]), "--reason", "budget")
    ids["none"] = add("none", "--company", "Acme", "--tag", "webinar")
    ids["opted"] = add("opted", "--company", "Acme", "--email", "opted@acme.example", "--tag", "webinar")
    ok("optout", str(ids["opted"]))
    ids["bouncing"] = add("bouncing", "--company", "Acme", "--email", "bouncing@acme.example", "--tag", "webinar")
    mark_bounced("bouncing@acme.example", ids["bouncing"])
    add("other", "--company", "Acme", "--email", "other@acme.example")  # not tagged
    return ids


def test_campaign_skips_marks_its_mail_and_runs_again_without_doubles(isolated: Path, server: Server) -> None:
    smtp(isolated, server, 'footer = "ACME K.K., 1-2-3 Chiyoda, Tokyo"')
    ids = campaign_leads()
    dry = ok("campaign", "webinar-dec", "--template", "intro", "--tag", "webinar", "--dry-run")
    assert dry.stdout.count("would send:") == 4 and server.received == []
    result = ok("campaign", "webinar-dec", "--template", "intro", "--tag", "webinar")
    assert "sent: 4; skipped bouncing: 1, closed: 1, no address: 1, opted out: 1" in result.stderr
    assert sorted(server.to()) == [f"{name}@acme.example" for name in ("ann", "bob", "cyd", "dan")]
    for item in server.received:
        assert str(item.message["List-Unsubscribe"]) == "<mailto:taro@example.co.jp?subject=unsubscribe>"
        assert (
            item.message.get_content().replace("\r\n", "\n").rstrip().endswith("-- \nACME K.K., 1-2-3 Chiyoda, Tokyo")
        )
    assert [point["outcome"] for point in touchpoints(ids["ann"])] == ["sent"]
    again = ok("campaign", "webinar-dec", "--template", "intro", "--tag", "webinar")
    assert "sent: 0; skipped already reached: 4" in again.stderr and len(server.received) == 4
    undone = ok("undo")
    assert (
        "undid: pipectl campaign webinar-dec" in undone.stdout and "mail already sent cannot be unsent" in undone.stderr
    )
    assert touchpoints(ids["ann"]) == []


def test_campaign_json_says_per_lead_what_was_sent_skipped_and_refused(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    ids = campaign_leads()
    ids["reject"] = add("reject", "--company", "Acme", "--email", "reject@acme.example", "--tag", "webinar")
    ids["nameless"] = add("nameless", "--email", "nameless@acme.example", "--tag", "webinar")  # no $company
    dry = ok("campaign", "w", "--template", "intro", "--tag", "webinar", "--dry-run", "--json")
    assert dry.stderr == "" and server.received == []
    planned = dry.json()
    assert (planned["campaign"], planned["template"], planned["dry_run"]) == ("w", "intro", True)
    would = [entry["lead_id"] for entry in planned["sent"]]
    assert would == [ids[name] for name in ("ann", "bob", "cyd", "dan", "reject")]
    assert {entry["message_id"] for entry in planned["sent"]} == {None}
    result = ok("campaign", "w", "--template", "intro", "--tag", "webinar", "--json")
    assert result.stderr == ""
    done = result.json()
    assert done["dry_run"] is False and done["counts"] == {"sent": 4, "skipped": 4, "failed": 2}
    assert done["skipped_by_reason"] == {"closed": 1, "no address": 1, "bouncing": 1, "opted out": 1}
    first = done["sent"][0]
    assert first == {
        "lead_id": ids["ann"],
        "name": "ann",
        "company": "Acme",
        "address": "ann@acme.example",
        "subject": "ann, a note about Acme",
        "message_id": str(server.received[0].message["Message-ID"]),
    }
    assert query(f"SELECT external_id FROM touchpoints WHERE lead_id = {ids['ann']}") == [(first["message_id"],)]
    assert {(entry["lead_id"], entry["reason"]) for entry in done["skipped"]} == {
        (ids["closed"], "closed"),
        (ids["none"], "no address"),
        (ids["bouncing"], "bouncing"),
        (ids["opted"], "opted out"),
    }
    failed = {entry["lead_id"]: entry["error"] for entry in done["failed"]}
    assert failed[ids["reject"]].startswith("the server refused reject@acme.example: 550")
    assert failed[ids["nameless"]].startswith("template 'intro': $company cannot be filled")
    assert (done["left"], done["resume_at"]) == (0, None)
    again = ok("campaign", "w", "--template", "intro", "--tag", "webinar", "--json").json()
    assert again["counts"] == {"sent": 0, "skipped": 8, "failed": 2} and len(server.received) == 4
    assert again["skipped_by_reason"]["already reached"] == 4


def test_send_json(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    dry = ok("send", str(lead), "--template", "intro", "--dry-run", "--json").json()
    assert (dry["dry_run"], dry["lead_id"], dry["message_id"], dry["subject"]) == (
        True,
        lead,
        None,
        "Jane, a note about Acme",
    )
    assert "Hi Jane," in dry["message"] and dry["lead"]["attempts"] == 0 and server.received == []
    sent = ok("send", str(lead), "--template", "intro", "--json").json()
    assert sent["message_id"] == str(server.received[0].message["Message-ID"]) and sent["message"] is None
    assert (sent["address"], sent["template"]) == ("jane@acme.example", "intro")
    assert sent["lead"]["attempts"] == 1 and sent["lead"]["next_action"]  # the cadence's next step, as logged
    shown = ok("show", str(lead), "--json").json()
    assert sent["lead"] == {key: shown[key] for key in sent["lead"]}


def test_campaign_rejections_5xx_logged_nothing_4xx_retried_next_run(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    good = add("good", "--company", "Acme", "--email", "good@acme.example")
    bad = add("bad", "--company", "Acme", "--email", "reject@acme.example")
    busy = add("busy", "--company", "Acme", "--email", "later@acme.example")
    result = ok("campaign", "intro-1", "--template", "intro")
    assert f"not sent: #{bad} bad (Acme): the server refused reject@acme.example: 550" in result.stderr
    assert "451" in result.stderr and "tried again on the next run" in result.stderr
    assert touchpoints(bad) == [] and touchpoints(busy) == [] and len(touchpoints(good)) == 1
    server.busy = False
    ok("campaign", "intro-1", "--template", "intro")
    assert Counter(server.to()) == {"good@acme.example": 1, "later@acme.example": 1}
    assert len(touchpoints(busy)) == 1


def test_daily_limit_stops_and_says_how_many_are_left(isolated: Path, server: Server) -> None:
    smtp(isolated, server, "max_per_day = 2")
    for name in ("ann", "bob", "cyd"):
        add(name, "--company", "Acme", "--email", f"{name}@acme.example")
    result = ok("campaign", "c", "--template", "intro")
    assert "sent: 2" in result.stderr
    assert "stopped at [send] max_per_day: 1 left; run it again after" in result.stderr
    assert len(server.received) == 2


def killed_at(server: Server, received: int, *args: str) -> None:
    """Run ``pipectl ARGS`` and SIGKILL it once the server has ``received`` messages, before it answers
    the last one: that message was received, but the run never heard so."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipectl", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )

    def kill(item: Received) -> None:
        if len(server.received) == received:
            process.send_signal(signal.SIGKILL)
            process.wait()

    server.on_message = kill
    try:
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        server.on_message = None


def test_a_campaign_killed_mid_way_sends_nobody_twice(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    names = [f"lead{number}" for number in range(6)]
    ids = {name: add(name, "--company", "Acme", "--email", f"{name}@acme.example") for name in names}
    killed_at(server, 3, "campaign", "k", "--template", "intro")
    result = ok("campaign", "k", "--template", "intro")
    assert Counter(server.to()) == {f"{name}@acme.example": 1 for name in names}
    # the third was received, but the run was killed before it heard so: not sent again, not logged, listed
    assert f"#{ids['lead2']} lead2 (Acme)" in result.stderr and "Sent folder" in result.stderr
    assert [len(touchpoints(ids[name])) for name in names] == [1, 1, 0, 1, 1, 1]
    assert query(f"SELECT state FROM outbox WHERE lead_id = {ids['lead2']}") == [("sending",)]
    assert_error(run("send", str(ids["lead2"]), "--template", "intro"), "lead2 (Acme): a run killed at")
    # the rep found it in the Sent folder and logged it: settled, reached, no longer listed
    ok("touch", str(ids["lead2"]), "email")
    again = ok("campaign", "k", "--template", "intro")
    assert "sent: 0; skipped already reached: 6" in again.stderr and "Sent folder" not in again.stderr
    assert len(server.received) == 6


def test_a_connection_dropped_mid_campaign_is_one_error_and_leaves_only_that_lead_unsure(
    isolated: Path, server: Server
) -> None:
    smtp(isolated, server)
    ids = {name: add(name, "--company", "Acme", "--email", f"{name}@acme.example") for name in ("ann", "bob")}
    ids["cyd"] = add("cyd", "--company", "Acme", "--email", "drop-cyd@acme.example")
    ids["dan"] = add("dan", "--company", "Acme", "--email", "dan@acme.example")
    result = run("campaign", "c", "--template", "intro")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    *progress, error = result.stderr.strip().splitlines()  # a line per lead sent, then the error
    assert [line.split(" #")[0] for line in progress] == ["sent:", "sent:"] and error.startswith("Error: ")
    assert f"SMTP server 127.0.0.1:{server.port} broke while handing over the message to drop-cyd" in error
    assert "(SMTPServerDisconnected: Connection unexpectedly closed)" in result.stderr
    assert f"whether 'cyd, a note about Acme' reached #{ids['cyd']} cyd (Acme) cannot be known" in result.stderr
    assert f"`pipectl touch {ids['cyd']} email`" in result.stderr
    assert error.endswith(
        "; the 2 messages sent before it were logged; run the campaign again to go on where it stopped"
    )
    assert server.to() == ["ann@acme.example", "bob@acme.example", "drop-cyd@acme.example"]
    assert [len(touchpoints(ids[name])) for name in ("ann", "bob", "cyd", "dan")] == [1, 1, 0, 0]
    assert query("SELECT lead_id, state FROM outbox ORDER BY lead_id") == [
        (ids["ann"], "sent"),
        (ids["bob"], "sent"),
        (ids["cyd"], "sending"),
    ]
    again = ok("campaign", "c", "--template", "intro")  # on where it stopped, passing the unsure one by
    assert "sent: 1; skipped already reached: 2, handed over when killed: 1" in again.stderr
    assert Counter(server.to()) == {f"{name}@acme.example": 1 for name in ("ann", "bob", "drop-cyd", "dan")}


def test_a_connection_dropped_during_send_is_one_error(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "drop-jane@acme.example")
    result = run("send", str(lead), "--template", "intro")
    assert_error(result, "broke while handing over the message to drop-jane@acme.example")
    assert "cannot be known, so it is not logged" in result.stderr and "sent before" not in result.stderr
    assert query("SELECT state FROM outbox") == [("sending",)] and touchpoints(lead) == []
    assert_error(run("send", str(lead), "--template", "intro"), "Jane Doe (Acme): a run killed at")


def test_a_server_that_stops_answering_during_data_leaves_the_message_unsure(server: Server) -> None:
    hand = outbox.Smtp("127.0.0.1", server.port, USER, timeout=2)
    message = outbox.build(SENDER, ("Jane", "jane@acme.example"), "Hi", "Hi", datetime.now(UTC))
    answer = threading.Event()
    server.on_message = lambda item: answer.wait(10)  # received, then no answer within the client's timeout
    try:
        with pytest.raises(
            outbox.Lost, match=r"broke while handing over the message to jane@acme.example \(.*timed out"
        ):
            hand.hand_over(message, "taro@example.co.jp", "jane@acme.example")
    finally:
        answer.set()
    hand.close()
    assert server.to() == ["jane@acme.example"]


def test_ctrl_c_mid_campaign_says_what_was_sent_and_what_is_unsure(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    names = [f"lead{number}" for number in range(5)]
    ids = {name: add(name, "--company", "Acme", "--email", f"{name}@acme.example") for name in names}
    # Ctrl-C's signal reaches the run as at a terminal, even where the tests run as a background job
    # (which starts with SIGINT ignored, and passes that on).
    at_a_terminal = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
    run_pipectl = f"{at_a_terminal} runpy.run_module('pipectl', run_name='__main__')"
    process = subprocess.Popen(
        [sys.executable, "-c", run_pipectl, "campaign", "k", "--template", "intro"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
        text=True,
    )

    def interrupt(item: Received) -> None:
        if len(server.received) == 3:
            process.send_signal(signal.SIGINT)  # while the run waits for the answer to the third message
            time.sleep(1)

    server.on_message = interrupt
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        server.on_message = None
    assert process.returncode == 130 and "Traceback" not in stderr and "nothing was changed" not in stderr
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("Error: interrupted; ")
    assert f"whether 'lead2, a note about Acme' reached #{ids['lead2']} lead2 (Acme) cannot be known" in error
    assert "; the 2 messages sent before it were logged; run the campaign again to go on where it stopped" in error
    assert [len(touchpoints(ids[name])) for name in names] == [1, 1, 0, 0, 0]
    assert query(f"SELECT state FROM outbox WHERE lead_id = {ids['lead2']}") == [("sending",)]
    again = ok("campaign", "k", "--template", "intro")
    assert "sent: 2; skipped already reached: 2, handed over when killed: 1" in again.stderr
    assert Counter(server.to()) == {f"{name}@acme.example": 1 for name in names}


def test_a_send_killed_mid_hand_over_is_refused_until_the_rep_settles_it(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    killed_at(server, 1, "send", str(lead), "--template", "intro")
    assert query("SELECT lead_id, subject, state, at FROM outbox") == [
        (lead, "Jane, a note about Acme", "sending", "2026-11-30T09:00:00Z")
    ]
    before = snapshot()
    for args in ((), ("--dry-run",)):
        result = run("send", str(lead), "--template", "intro", *args)
        assert_error(result, f"#{lead} Jane Doe (Acme): a run killed at {show('2026-11-30T09:00:00Z')}")
        assert "'Jane, a note about Acme'" in result.stderr and "look in your Sent folder" in result.stderr
        assert f"`pipectl touch {lead} email`" in result.stderr
        assert f"`pipectl send {lead} --template intro --resend`" in result.stderr
    assert len(server.received) == 1 and snapshot() == before and touchpoints(lead) == []
    # it did not go (say): --resend sends it, logs it, and the lead is settled
    ok("send", str(lead), "--template", "intro", "--resend")
    assert server.to() == ["jane@acme.example"] * 2
    assert [point["outcome"] for point in touchpoints(lead)] == ["sent"]
    ok("send", str(lead), "--template", "intro")
    assert len(server.received) == 3


def test_an_unsettled_hand_over_logged_by_hand_is_settled(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    killed_at(server, 1, "send", str(lead), "--template", "intro")
    # not another campaign's either, until settled
    result = ok("campaign", "other", "--template", "intro")
    assert "sent: 0; skipped handed over when killed: 1" in result.stderr and len(server.received) == 1
    ok("touch", str(lead), "email", "--note", "found it in Sent")
    ok("send", str(lead), "--template", "intro")
    assert len(server.received) == 2
    ok("undo")  # the message sent now; then the touch: unsettled again
    ok("undo")
    assert_error(run("send", str(lead), "--template", "intro"), "a run killed at")
    assert len(server.received) == 2


def test_optout_show_send_undo(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    assert ok("optout", str(lead)).stdout.strip() == f"#{lead} Jane Doe (Acme) opted out"
    assert ok("show", str(lead), "--json").json()["opted_out"] == "2026-11-30T09:00:00Z"
    assert "pipectl sends it no mail" in ok("show", str(lead)).stdout
    assert_error(run("send", str(lead), "--template", "intro"), "opted out: pipectl sends it nothing")
    ok("undo")
    assert ok("show", str(lead), "--json").json()["opted_out"] is None
    ok("send", str(lead), "--template", "intro")
    assert server.to() == ["jane@acme.example"]


def test_an_optout_stays_with_the_person_when_their_lead_is_merged(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    keep = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    other = add("J. Doe", "--company", "Acme", "--email", "jdoe@acme.example")
    ok("optout", str(other))
    ok("merge", str(keep), str(other), "--yes", "--force")
    assert ok("show", str(keep), "--json").json()["opted_out"] == "2026-11-30T09:00:00Z"
    assert_error(run("send", str(keep), "--template", "intro"), "opted out: pipectl sends it nothing")
    ok("undo")
    assert ok("show", str(other), "--json").json()["opted_out"] == "2026-11-30T09:00:00Z"
    assert ok("show", str(keep), "--json").json()["opted_out"] is None
    ok("send", str(keep), "--template", "intro")
    assert server.to() == ["jane@acme.example"]


def test_sendmail_command(isolated: Path, tmp_path: Path) -> None:
    script = tmp_path / "fake-sendmail"
    out = tmp_path / "got.eml"
    script.write_text(f'#!/bin/sh\n[ "$1" = "-t" ] || exit 64\ncat > "{out}"\n', encoding="utf-8")
    script.chmod(0o755)
    configure(isolated, f'method = "sendmail"\ncommand = "{script} -t"')
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    ok("send", str(lead), "--template", "intro")
    message = message_from_bytes(out.read_bytes(), policy=policy.default)
    assert "jane@acme.example" in str(message["To"]) and str(message["Subject"]) == "Jane, a note about Acme"
    assert len(touchpoints(lead)) == 1
    script.write_text("#!/bin/sh\necho 'msmtp: account default not found' >&2\nexit 78\n", encoding="utf-8")
    before = snapshot()
    assert_error(run("send", str(lead), "--template", "intro"), "exited with 78 for jane@acme.example: msmtp:")
    assert snapshot() == before


def test_a_sendmail_command_that_hangs_leaves_its_message_unsure(
    isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake-sendmail"
    script.write_text("#!/bin/sh\ncat > /dev/null\nexec sleep 30\n", encoding="utf-8")
    script.chmod(0o755)
    configure(isolated, f'method = "sendmail"\ncommand = "{script} -t"')
    monkeypatch.setattr(outbox, "TIMEOUT", 0.1)
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    assert_error(run("send", str(lead), "--template", "intro"), "did not finish in 0.4 s with the message to jane")
    # It had the message when it was stopped: it may have sent it, so it is never sent again unasked.
    assert query("SELECT state FROM outbox") == [("sending",)] and touchpoints(lead) == []
    assert_error(run("send", str(lead), "--template", "intro"), "look in your Sent folder")


def test_drafts_maildir(isolated: Path, tmp_path: Path) -> None:
    drafts = tmp_path / "Drafts"
    configure(isolated, f'method = "drafts"\nfolder = "{drafts}"')
    lead = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.example")
    assert_error(run("send", str(lead), "--template", "intro"), "is not a Maildir")
    for part in ("cur", "new", "tmp"):
        (drafts / part).mkdir(parents=True)
    ok("send", str(lead), "--template", "intro")
    [draft] = list((drafts / "cur").iterdir())
    assert draft.name.endswith(":2,D") and list((drafts / "tmp").iterdir()) == []
    assert b"Subject: Jane, a note about Acme" in draft.read_bytes()


def chance_lead() -> int:
    lead = add("Chance Lee", "--company", "Acme", "--email", "chance@acme.example", "--at", "2026-11-01T09:00:00Z")
    for day in ("01", "04", "08", "13", "19"):
        ok("touch", str(lead), "call", "--outcome", "no-answer", "--at", f"2026-11-{day}T10:00:00Z")
    return lead


def test_review_yes_without_a_method_logs_nothing_and_lists_send_by_hand(isolated: Path) -> None:
    configure(isolated, "")
    lead = chance_lead()
    before = snapshot()
    result = ok("review", "--yes")
    assert "last chance sent: 0" in result.stderr
    assert "send by hand (no [send] method" in result.stderr and f"#{lead} Chance Lee" in result.stderr
    assert snapshot() == before


def test_review_yes_sends_the_last_chance_then_logs_it(isolated: Path, server: Server) -> None:
    smtp(isolated, server)
    lead = chance_lead()
    result = ok("review", "--yes")
    assert "last chance sent: 1" in result.stderr
    [got] = server.received
    assert str(got.message["Subject"]) == "Should I close your file?" and "Hi Chance," in got.message.get_content()
    shown = ok("show", str(lead), "--json").json()
    assert shown["last_chance_at"] == "2026-11-30T09:00:00Z"
    assert touchpoints(lead)[-1]["outcome"] == "last-chance"
    assert shown["next_action"] == "close-out decision: no reply to the last chance"


def test_review_never_sends_a_last_chance_twice_after_a_kill(
    isolated: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp(isolated, server)
    lead = chance_lead()
    killed_at(server, 1, "review", "--yes")
    before = snapshot()
    result = ok("review", "--yes")
    assert "last chance sent: 0" in result.stderr and len(server.received) == 1
    assert "check your Sent folder" in result.stderr
    assert "`touch LEAD email` (`--outcome last-chance` if it was the last chance)" in result.stderr
    assert f"#{lead} Chance Lee ('Should I close your file?', {show('2026-11-30T09:00:00Z')})" in result.stderr
    assert snapshot() == before and ok("show", str(lead), "--json").json()["last_chance_at"] is None
    # --apply says so and asks; no: nothing sent; yes: sent again, logged, settled
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    asked = ok("review", "--apply", input="\nn\n")  # first the overdue next step: skipped
    assert "it may have gone (look in your Sent folder)" in asked.stdout and "Send it again" in asked.stdout
    assert len(server.received) == 1 and snapshot() == before
    ok("review", "--apply", input="\ny\n")
    assert server.to() == ["chance@acme.example"] * 2
    assert touchpoints(lead)[-1]["outcome"] == "last-chance"
    assert query("SELECT state FROM outbox ORDER BY state") == [("sending",), ("sent",)]


def test_a_synced_request_to_unsubscribe_opts_the_lead_out(isolated: Path, tmp_path: Path) -> None:
    configure(isolated, '[mail]\nme = ["taro@example.co.jp"]')
    lead = add("Sato", "--company", "Client", "--email", "sato@client.example")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sato@client.example", "taro@example.co.jp", "配信停止"
    mail["Date"], mail["Message-ID"] = "Mon, 23 Nov 2026 10:00:00 +0900", "<stop@client.example>"
    mail.set_content("今後のご連絡は不要です。\n")
    eml = tmp_path / "stop.eml"
    eml.write_bytes(mail.as_bytes())
    ok("sync", "mail", str(eml), "--dry-run")
    assert ok("show", str(lead), "--json").json()["opted_out"] is None
    ok("sync", "mail", str(eml))
    assert ok("show", str(lead), "--json").json()["opted_out"] == "2026-11-30T09:00:00Z"
    assert_error(run("send", str(lead), "--template", "intro", "--dry-run"), "opted out")
    ok("undo")
    assert ok("show", str(lead), "--json").json()["opted_out"] is None


def test_pace_waits_over_the_minute_limit_and_fills_the_day() -> None:
    from pipectl.send import Pace

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(per_minute=2, per_day=4, sent_today=1, clock=lambda: now[0], sleep=sleep)
    settled: list[float] = []  # what was handed over is logged before a wait, not after
    for _ in range(3):
        assert not pace.day_full()
        pace.wait(before_sleep=lambda: settled.append(now[0]))
        now[0] += 1
    assert slept == [58.0]  # the third in a minute waits until the first is a minute old
    assert settled == [2.0]
    assert pace.day_full()
    assert Pace(per_minute=0, per_day=0, sent_today=10**6).day_full() is False
