"""Reading mail over IMAP (pipectl.mail.imap) against a real Dovecot server (tests/dovecot.py), started once
for the module: first and incremental reads, a renumbered folder, bodies fetched only when asked, flags
left alone, and each failure a user can meet, as one line without the password."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dovecot
from dovecot import PASSWORD, USER, Dovecot
from pipectl.errors import NotFound, PipectlError
from pipectl.mail.imap import FolderState, ImapUrl, connect, parse_url
from pipectl.mail.record import MailRecord

ME = "taro@example.co.jp"
LEAD = "sato@client.example"


@pytest.fixture
def server(imap_server: Dovecot) -> Dovecot:
    return imap_server


def message(number: int, sender: str = LEAD, to: str = ME) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Sato Hanako <{sender}>"
    mail["To"] = to
    mail["Subject"] = f"Quote {number}"
    mail["Date"] = f"Mon, 30 Nov 2026 {number:02d}:00:00 +0900"
    mail["Message-ID"] = f"<{number}.{sender}>"
    mail.set_content(f"Hello, this is message {number}.\n\n> quoted history\n")
    return mail.as_bytes()


def mailbox(server: Dovecot, folder: str, numbers: range, recreate: bool = False) -> None:
    """Put messages ``numbers`` into ``folder`` (created when missing, deleted first when ``recreate``), as
    a mail program would, and wait until the server has logged that session."""
    offset = server.log_offset()
    client = server.client()
    if recreate:
        client.delete_folder(folder)
    if not client.folder_exists(folder):
        client.create_folder(folder)
    for number in numbers:
        client.append(folder, message(number))
    client.logout()
    server.sessions_after(offset, 1)


def read(
    url: str, names: list[str], state: dict[str, FolderState], batch: int = 200
) -> tuple[dict[str, list[MailRecord]], dict[str, FolderState]]:
    """What a sync run sees: the records of each folder, and the states it would store."""
    records: dict[str, list[MailRecord]] = {}
    states = dict(state)
    with connect(parse_url(url)) as session:
        for folder in session.folders(names, state, batch):
            records[folder.name] = list(folder.records())
            states[folder.name] = folder.state
    return records, states


def subjects(records: list[MailRecord]) -> list[str]:
    return [record.subject for record in records]


def uidvalidity(server: Dovecot, folder: str) -> int:
    client = server.client()
    status = client.folder_status(folder, ["UIDVALIDITY"])
    client.logout()
    return int(status[b"UIDVALIDITY"])


def test_first_read_of_inbox_and_sent(server: Dovecot) -> None:
    mailbox(server, "INBOX", range(1, 3))
    client = server.client()
    client.create_folder("Sent")
    client.append("Sent", message(3, sender=ME, to=LEAD))
    client.logout()

    records, states = read(server.url("INBOX"), ["INBOX", "Sent"], {})

    assert subjects(records["INBOX"]) == ["Quote 1", "Quote 2"]
    first = records["INBOX"][0]
    assert (first.message_id, first.from_address, first.from_name, first.to) == (
        f"1.{LEAD}",
        LEAD,
        "Sato Hanako",
        (ME,),
    )
    assert first.date == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert (
        first.source
        == f"imaps://{USER}@127.0.0.1:{server.imaps_port}/INBOX;UIDVALIDITY={states['INBOX'].uidvalidity}/;UID=1"
    )
    assert [(r.from_address, r.to) for r in records["Sent"]] == [(ME, (LEAD,))]
    assert states == {
        "INBOX": FolderState(uidvalidity(server, "INBOX"), 2),
        "Sent": FolderState(uidvalidity(server, "Sent"), 1),
    }


def test_a_second_run_reads_only_what_came_since(server: Dovecot) -> None:
    mailbox(server, "Incremental", range(1, 4))
    before = server.log_offset()
    _, states = read(server.url(), ["Incremental"], {})
    server.sessions_after(before, 1)  # the first read's session is in the log (it is written a moment later)

    offset = server.log_offset()
    records, unchanged = read(server.url(), ["Incremental"], states)
    assert records == {"Incremental": []}
    assert unchanged == states
    assert server.sessions_after(offset, 1) == [(0, 0)]  # not one header fetched

    mailbox(server, "Incremental", range(4, 6))
    records, states = read(server.url(), ["Incremental"], states)
    assert subjects(records["Incremental"]) == ["Quote 4", "Quote 5"]
    assert states["Incremental"].last_uid == 5


def test_a_renumbered_folder_is_read_again_from_the_start(server: Dovecot) -> None:
    mailbox(server, "Renumbered", range(1, 3))
    _, before = read(server.url(), ["Renumbered"], {})
    mailbox(server, "Renumbered", range(1, 4), recreate=True)

    with connect(parse_url(server.url())) as session:
        folder = next(session.folders(["Renumbered"], before))
        assert folder.resync
        assert subjects(list(folder.records())) == ["Quote 1", "Quote 2", "Quote 3"]
        after = folder.state
    assert after.uidvalidity != before["Renumbered"].uidvalidity
    assert after == FolderState(uidvalidity(server, "Renumbered"), 3)


def test_a_message_without_date_or_message_id(server: Dovecot) -> None:
    mailbox(server, "Bare", range(0))
    client = server.client()
    arrived = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    client.append("Bare", f"From: {LEAD}\r\nTo: {ME}\r\nSubject: no id\r\n\r\nHello\r\n".encode(), msg_time=arrived)
    client.logout()
    [record] = read(server.url(), ["Bare"], {})[0]["Bare"]
    assert record.date == arrived  # the server's INTERNALDATE, when no Date header says when it was written
    assert record.message_id.startswith("sha256:")


def test_a_folder_named_in_japanese(server: Dovecot) -> None:
    mailbox(server, "送信済み", range(1, 2))
    records, states = read(server.url("%E9%80%81%E4%BF%A1%E6%B8%88%E3%81%BF"), ["送信済み"], {})
    assert parse_url(server.url("%E9%80%81%E4%BF%A1%E6%B8%88%E3%81%BF")).folder == "送信済み"
    assert subjects(records["送信済み"]) == ["Quote 1"]
    assert states["送信済み"].last_uid == 1


def test_the_body_is_fetched_only_for_the_record_asked(server: Dovecot) -> None:
    mailbox(server, "Bodies", range(1, 4))
    offset = server.log_offset()
    with connect(parse_url(server.url())) as session:
        records = list(next(session.folders(["Bodies"], {})).records())
        assert records[1].text() == "Hello, this is message 2."
    header_fetches, body_fetches = server.sessions_after(offset, 1)[0]
    assert (header_fetches, body_fetches) == (3, 1)


def test_a_body_asked_for_while_another_folder_is_read(server: Dovecot) -> None:
    mailbox(server, "Early", range(1, 2))
    mailbox(server, "Later", range(2, 4))
    with connect(parse_url(server.url())) as session:
        folders = session.folders(["Early", "Later"], {}, batch=1)
        [early] = list(next(folders).records())
        later = next(folders).records()
        texts = [next(later).text(), early.text(), next(later).text()]
    assert texts == ["Hello, this is message 2.", "Hello, this is message 1.", "Hello, this is message 3."]


def test_reading_leaves_the_flags_alone(server: Dovecot) -> None:
    mailbox(server, "Unread", range(1, 3))
    with connect(parse_url(server.url())) as session:
        for record in next(session.folders(["Unread"], {})).records():
            record.body()
    client = server.client()
    client.select_folder("Unread", readonly=True)
    flags = client.get_flags(client.search())
    client.logout()
    assert flags and all(b"\\Seen" not in set(found) for found in flags.values())


def test_starttls_on_the_plain_port(server: Dovecot) -> None:
    mailbox(server, "Plain", range(1, 2))
    offset = server.log_offset()
    records, _ = read(server.url(scheme="imap"), ["Plain"], {})
    server.sessions_after(offset, 1)
    logins = [line for line in server.log_since(offset).splitlines() if "Login: user=<taro>" in line]
    assert subjects(records["Plain"]) == ["Quote 1"]
    assert logins and all(", TLS," in line for line in logins)


def test_a_dropped_connection_keeps_the_state_at_what_was_handled(server: Dovecot) -> None:
    mailbox(server, "Dropped", range(1, 6))
    with connect(parse_url(server.url())) as session:
        folder = next(session.folders(["Dropped"], {}, batch=2))
        records = folder.records()
        handled = [next(records), next(records)]
        server.kick()
        with pytest.raises(PipectlError) as error:
            next(records)  # the second record is done with; the next batch cannot come
        state = folder.state
        with pytest.raises(PipectlError):
            handled[0].body()
    assert "the connection was lost while reading Dropped" in error.value.message
    assert state.last_uid == 2

    records_after, _ = read(server.url(), ["Dropped"], {"Dropped": state})
    assert subjects(records_after["Dropped"]) == ["Quote 3", "Quote 4", "Quote 5"]


def test_a_failure_while_handling_a_record_leaves_it_unacknowledged(server: Dovecot) -> None:
    mailbox(server, "Handled", range(1, 4))
    with connect(parse_url(server.url())) as session:
        folder = next(session.folders(["Handled"], {}))
        for record in folder.records():
            if record.subject == "Quote 2":
                break  # as if logging it failed
        assert folder.state.last_uid == 1


def test_a_wrong_password_is_refused_without_showing_it(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPECTL_IMAP_PASSWORD", "Wrong-pw-4711")
    with pytest.raises(PipectlError) as error:
        connect(parse_url(server.url()))
    message = error.value.message
    assert message.startswith(f"imaps://taro@127.0.0.1:{server.imaps_port}: login refused for taro")
    assert "Wrong-pw-4711" not in message and "\n" not in message


def test_an_unreachable_port(server: Dovecot) -> None:
    port = dovecot.free_ports(1)[0]
    with pytest.raises(PipectlError, match=rf"^imaps://taro@127.0.0.1:{port}: cannot connect \(Connection refused\)$"):
        connect(parse_url(f"imaps://taro@127.0.0.1:{port}/INBOX"))


def test_an_untrusted_certificate(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(PipectlError) as error:
        connect(parse_url(server.url()))
    assert "TLS certificate is not trusted" in error.value.message
    assert "set SSL_CERT_FILE" in error.value.message


def test_tls_to_a_port_that_does_not_speak_it(server: Dovecot) -> None:
    with pytest.raises(PipectlError, match=rf"^imaps://taro@127.0.0.1:{server.imap_port}: TLS failed \("):
        connect(parse_url(f"imaps://taro@127.0.0.1:{server.imap_port}/INBOX"))


def test_an_unknown_folder_stops_the_run_before_anything_is_read(server: Dovecot) -> None:
    with connect(parse_url(server.url())) as session:
        folders = session.folders(["INBOX", "Archive"], {})
        with pytest.raises(NotFound) as error:
            next(folders)
    assert error.value.message.startswith(
        f"imaps://taro@127.0.0.1:{server.imaps_port}: no folder 'Archive'; its folders: "
    )
    assert "INBOX" in error.value.message


def test_netrc_gives_the_password_and_the_login(
    server: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("PIPECTL_IMAP_PASSWORD")
    url = f"imaps://127.0.0.1:{server.imaps_port}/INBOX"  # no user: the netrc login is used
    with connect(parse_url(url)) as session:
        assert session.account == f"imaps://taro@127.0.0.1:{server.imaps_port}"

    with pytest.raises(PipectlError, match=r"no password: set PIPECTL_IMAP_PASSWORD, or add 'machine 127.0.0.1 login"):
        connect(parse_url(f"imaps://hanako@127.0.0.1:{server.imaps_port}/INBOX"))  # the entry is taro's


def test_no_password_anywhere(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPECTL_IMAP_PASSWORD")
    with pytest.raises(PipectlError, match=r"no password: set PIPECTL_IMAP_PASSWORD"):
        connect(parse_url(server.url()))


def test_a_netrc_that_cannot_be_parsed_is_named_without_its_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.com login taro password two words-Secret\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("PIPECTL_IMAP_PASSWORD", raising=False)
    with pytest.raises(PipectlError) as error:
        connect(parse_url("imaps://taro@example.com/INBOX"))
    assert "not a valid .netrc file" in error.value.message
    assert "Secret" not in error.value.message


def test_url_forms() -> None:
    assert parse_url("imaps://taro@mail.example.com/INBOX") == ImapUrl(
        "imaps", "taro", "mail.example.com", 993, "INBOX"
    )
    assert parse_url("IMAP://taro%40example.com@[::1]:1143/Sent%20Items") == ImapUrl(
        "imap", "taro@example.com", "::1", 1143, "Sent Items"
    )
    assert parse_url("imaps://taro@mail.example.com").folder is None
    assert str(parse_url("imaps://taro%40example.com@[::1]/INBOX")) == "imaps://taro%40example.com@[::1]:993"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("https://taro@mail.example.com/INBOX", "must start with imaps:// or imap://"),
        ("mail.example.com", "must start with imaps:// or imap://"),
        ("imaps:///INBOX", "names no host"),
        ("imaps://taro@:993/INBOX", "names no host"),
        ("imaps://taro@mail.example.com:99999/INBOX", "bad port or host"),
        ("imaps://taro@mail.example.com:0/INBOX", "bad port or host"),
        ("imaps://taro@mail.example.com/INBOX?x=1", "?query or #fragment"),
    ],
)
def test_bad_urls(text: str, problem: str) -> None:
    with pytest.raises(PipectlError, match=rf"^the IMAP URL .*{re.escape(problem)}"):
        parse_url(text)


@given(password=st.text(min_size=1))
def test_a_password_in_the_url_is_refused_with_a_message_that_does_not_depend_on_it(password: str) -> None:
    with pytest.raises(PipectlError) as error:
        parse_url(f"imaps://taro:{quote(password, safe='')}@mail.example.com/INBOX")
    assert error.value.message == (
        "the IMAP URL holds a password: remove it (a URL is seen in shell history and process lists) "
        "and set PIPECTL_IMAP_PASSWORD or put it in ~/.netrc"
    )


@given(
    user=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1),
    folder=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1),
    port=st.integers(1, 65535),
)
def test_a_url_round_trips(user: str, folder: str, port: int) -> None:
    url = ImapUrl("imaps", user, "mail.example.com", port, folder)
    assert parse_url(f"{url}/{quote(folder, safe='')}") == url


@given(text=st.one_of(st.text(), st.text().map(lambda rest: "imaps://" + rest)))
def test_any_text_is_a_url_or_one_error(text: str) -> None:
    try:
        url = parse_url(text)
    except PipectlError as error:
        assert error.message.startswith("the IMAP URL ")
    else:
        assert url.scheme in ("imap", "imaps") and url.host and 1 <= url.port <= 65535
