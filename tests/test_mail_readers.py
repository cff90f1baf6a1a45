"""The mail readers on real client mail (tests/mail/): each kind of PATH, what a record holds, what is read
when, and the errors a user sees. Property tests write messages with the standard library's own Maildir
and mbox writers and read them back."""

from __future__ import annotations

import io
import mailbox
import re
import shutil
import string
import tempfile
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipectl.errors import PipectlError
from pipectl.mail import MailRecord, kind_of, read
from pipectl.mail.record import hashed_id, normalise_message_id, parse_date

MAIL = Path(__file__).parent / "mail"


def one(path: Path | str) -> MailRecord:
    records = list(read(str(path)))
    assert len(records) == 1
    return records[0]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("Maildir", "maildir"),
        ("inbox.mbox", "mbox"),
        ("takeout.mbox", "mbox"),
        ("thunderbird.eml", "eml"),
        (".", "eml-folder"),
    ],
)
def test_kind_of_a_path(path: str, kind: str) -> None:
    assert kind_of(str(MAIL / path)) == kind
    assert kind_of("-") == "stdin"


def test_kind_of_a_file_by_its_content(tmp_path: Path) -> None:
    message = tmp_path / "12345"  # an MH or notmuch file: a message without the .eml suffix
    message.write_bytes((MAIL / "mutt.eml").read_bytes())
    empty = tmp_path / "Sent"  # Thunderbird keeps an empty folder as an empty file
    empty.write_bytes(b"")
    assert kind_of(str(message)) == "eml"
    assert kind_of(str(empty)) == "mbox"
    assert list(read(str(empty))) == []


def test_a_thunderbird_reply() -> None:
    record = one(MAIL / "thunderbird.eml")
    assert record.message_id == "6f2c1a9e-3b1d-4c77-9d0e-5a8b2f1e7c44@acme.example"
    assert record.date == datetime(2026, 11, 30, 9, 12, 45, tzinfo=UTC)
    assert (record.from_address, record.from_name) == ("hanako.sato@acme.example", "Hanako Sato")
    assert record.to == ("taro@example.co.jp",)  # lowercased
    assert record.cc == ("ops@acme.example",)
    assert record.subject == "Re: Pilot for the Osaka warehouse"
    assert record.in_reply_to == "20261127031500.GA1234@example.co.jp"
    assert record.references == ("20261127031500.GA1234@example.co.jp",)
    assert record.reasons == frozenset() and record.reason is None
    assert record.name is None and record.source == str(MAIL / "thunderbird.eml")


def test_an_outlook_message_folded_message_id_and_quoted_cc() -> None:
    record = one(MAIL / "outlook.eml")
    assert record.message_id == "DM6PR11MB43219F2E3B7C1A0D5E6F7A8BC1234@DM6PR11MB4321.namprd11.prod.outlook.com"
    assert record.cc == ("wei.li@globex.example", "procurement@globex.example")
    assert record.date == datetime(2026, 11, 30, 14, 3, 9, tzinfo=UTC)


def test_a_japanese_message_decodes_its_encoded_words() -> None:
    record = one(MAIL / "japanese_iso2022jp.eml")
    assert record.from_name == "鈴木 花子\uff08㈱サンプル商事\uff09"  # ㈱: an NEC character, as Outlook writes it
    assert record.from_address == "hanako.suzuki@sample-shoji.example"
    assert record.subject == "Re: お見積りの件"
    assert record.date == datetime(2026, 11, 30, 1, 5, tzinfo=UTC)


def test_raw_shift_jis_headers_are_decoded() -> None:
    record = one(MAIL / "japanese_sjis_raw.eml")
    assert record.subject == "配信停止のお願い"
    assert record.from_name == "配信 担当"
    assert record.text() == "今後のメール配信を停止してください。①"  # ① is cp932, not plain Shift_JIS


def test_raw_iso_2022_jp_header_without_encoded_words() -> None:
    raw = b"From: taro@example.co.jp\nSubject: " + "見積り".encode("iso2022_jp") + b"\nMessage-ID: <a@b>\n\nx\n"
    record = next(read("-", stdin=io.BytesIO(raw)))
    assert record.subject == "見積り"


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        ("=?shift_jis?B?h0CHig==?= =?UTF-8?Q?caf=C3=A9?=", "①㈱café"),  # cp932 under the Shift_JIS label
        ("=?ISO-2022-JP?B?GyRCLWotIRsoQg==?=", "㈱①"),  # NEC characters in ISO-2022-JP
        ("=?x-unknown?Q?caf=C3=A9_ok?=", "café ok"),  # a label Python does not know: the usual guesses
        ("=?utf-8*en?Q?hello?=", "hello"),  # RFC 2231 language tag
        ("=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="),  # not base64: kept as written
    ],
)
def test_encoded_words_in_any_charset(header: str, subject: str) -> None:
    raw = f"From: a@b.example\nSubject: {header}\nMessage-ID: <a@b>\n\nx\n".encode()
    assert one_stdin(raw).subject == subject


def test_an_encoded_display_name_with_a_comma_stays_one_address() -> None:
    raw = b"From: =?utf-8?q?Sato=2C_Hanako?= <h@acme.example>\nTo: a@b.example, =?utf-8?b?5bGx55Sw?= <Y@B.example>\n\n"
    record = one_stdin(raw)
    assert (record.from_name, record.from_address) == ("Sato, Hanako", "h@acme.example")
    assert record.to == ("a@b.example", "y@b.example")


_NAMES = st.text(alphabet=string.ascii_letters + " .-'", max_size=15)
_PLAIN = st.builds(
    "{}@{}".format,
    st.from_regex(r"[a-z][a-z0-9.+_-]{0,8}", fullmatch=True),
    st.sampled_from(["acme.example", "Globex.Example"]),
)
_MAILBOXES = st.one_of(
    _PLAIN,
    st.builds("{} <{}>".format, _NAMES, _PLAIN),
    st.builds('"{}, Jr." <{}>'.format, _NAMES, _PLAIN),
    st.builds("{} (Comment)".format, _PLAIN),
    st.just("undisclosed-recipients:;"),
)


@given(st.lists(_MAILBOXES, min_size=1, max_size=4).map(", ".join))
def test_address_lists_read_as_the_standard_parser_reads_them(value: str) -> None:
    record = one_stdin(f"From: {value}\nTo: {value}\nMessage-ID: <a@b>\n\n".encode())
    expected = [(" ".join(name.split()), address.lower()) for name, address in getaddresses([value]) if "@" in address]
    assert record.to == tuple(address for _, address in expected)
    assert (record.from_name, record.from_address) == (expected[0] if expected else ("", ""))


def test_a_maildir_reads_new_and_cur_with_names_for_the_next_run() -> None:
    records = list(read(str(MAIL / "Maildir")))
    assert [r.message_id for r in records] == ["maildir-cur@acme.example", "maildir-new@mail.gmail.com"]
    assert [r.name for r in records] == [
        "1733123456.M123P4567.mail.example.co.jp,S=517,W=531",  # without ":2,S"
        "1733123999.M456P4567.mail.example.co.jp,S=455",
    ]
    # A malformed Date falls back to the time the topmost Received header gives.
    assert records[1].date == datetime(2024, 12, 2, 7, 19, 59, tzinfo=UTC)


def test_a_maildir_skips_the_names_already_read() -> None:
    first = list(read(str(MAIL / "Maildir")))
    again = list(read(str(MAIL / "Maildir"), skip_names={first[0].name or ""}))
    assert [r.message_id for r in again] == ["maildir-new@mail.gmail.com"]


def test_a_skipped_maildir_file_is_not_opened(tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    shutil.copytree(MAIL / "Maildir", folder)
    (folder / "tmp").mkdir(exist_ok=True)
    garbage = folder / "cur" / "1733124000.M1P1.host,S=3:2,S"
    garbage.mkdir()  # not a file: reading it would fail
    records = list(read(str(folder), skip_names={"1733124000.M1P1.host,S=3"}))
    assert len(records) == 2


def test_a_maildir_message_without_any_date_gets_its_delivery_time(tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    (folder / "new" / "1796029200.M1P2.host").write_bytes(b"From: a@b.example\nMessage-ID: <x@y>\n\nhi\n")
    assert one(folder).date == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_an_mbox_reads_each_message_and_unquotes_from_lines() -> None:
    records = list(read(str(MAIL / "inbox.mbox")))
    assert [r.message_id for r in records] == [
        "mbox-1@acme.example",
        "mbox-2@globex.example",
        "mbox-3@mail.example.co.jp",
    ]
    assert [r.source for r in records] == [f"{MAIL / 'inbox.mbox'}#{n}" for n in (1, 2, 3)]
    assert records[0].body() == "Line one.\nFrom the warehouse team: the dock is free on Tuesday.\n"
    assert records[1].body() == "Second body.\n"  # the blank line before the next separator is not the body's
    assert records[2].reason == "bounce"


def test_a_gmail_takeout_mbox_with_crlf_and_no_date() -> None:
    record = one(MAIL / "takeout.mbox")
    assert record.subject == "Takeout message"
    assert record.date == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # from the separator line
    assert record.body() == "Body of the takeout message.\n>From a quoted quoted line.\n"


def test_an_mbox_body_line_starting_with_from_after_text_is_not_a_separator(tmp_path: Path) -> None:
    mbox = tmp_path / "sent"
    mbox.write_bytes(
        b"From - Mon Nov 30 09:00:00 2026\nMessage-ID: <a@x>\nSubject: one\n\nHello\nFrom here on it is one message.\n"
    )
    record = one(mbox)
    assert record.body() == "Hello\nFrom here on it is one message.\n"


def test_a_folder_of_eml_files_is_read_recursively(tmp_path: Path) -> None:
    (tmp_path / "2026" / "11").mkdir(parents=True)
    shutil.copy(MAIL / "gmail.eml", tmp_path / "2026" / "11" / "Re Demo.EML")
    shutil.copy(MAIL / "mutt.eml", tmp_path / "a.eml")
    (tmp_path / "notes.txt").write_text("not mail")
    records = list(read(str(tmp_path)))
    # A folder's own files first, then its subfolders, each in name order.
    assert [r.subject for r in records] == ["Re: Integration questions", "Re: Demo next week?"]


def test_stdin_is_one_message() -> None:
    record = one_stdin((MAIL / "apple_mail.eml").read_bytes())
    assert record.source == "-"
    assert record.message_id == "A1F3C9E2-7B4D-4E8A-9C1F-2D5E6B7A8C90@initech.example"
    assert record.text() == "Looks good to me \u2014 legal will sign on Thursday."


def one_stdin(data: bytes) -> MailRecord:
    records = list(read("-", stdin=io.BytesIO(data)))
    assert len(records) == 1
    return records[0]


def test_the_body_is_read_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(b"From: a@b.example\nMessage-ID: <m@b.example>\nSubject: s\n\nfirst body\n")
    record = one(path)
    path.write_bytes(b"From: a@b.example\nMessage-ID: <m@b.example>\nSubject: s\n\nsecond body\n")
    assert record.text() == "second body"


def test_a_message_without_message_id_is_known_by_a_stable_hash(tmp_path: Path) -> None:
    eml = one(MAIL / "no_message_id.eml")
    assert eml.message_id.startswith("sha256:") and "@" not in eml.message_id
    # The same message in an mbox (another client's copy, with CRLF) has the same id.
    data = (MAIL / "no_message_id.eml").read_bytes().replace(b"\n", b"\r\n")
    (tmp_path / "copy.mbox").write_bytes(b"From - Mon Nov 30 09:00:00 2026\r\n" + data)
    assert one(tmp_path / "copy.mbox").message_id == eml.message_id
    assert one_stdin(data.replace(b"pricing for 10", b"pricing for 20")).message_id != eml.message_id


def test_hashed_id_ignores_whitespace_and_depends_on_each_part() -> None:
    base = hashed_id("Mon, 30 Nov 2026", "a@b", "Hi", "body\n")
    assert hashed_id("Mon,  30 Nov 2026", "a@b", "Hi", "body\r\n") == base
    assert hashed_id("Mon, 30 Nov 2026", "a@b", "Hi!", "body") != base
    assert hashed_id("Mon, 30 Nov 2026", "c@b", "Hi", "body") != base


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<ABC.123@mail.gmail.com>", "ABC.123@mail.gmail.com"),
        ("\n <x@y>", "x@y"),
        ("< x@y >", "x@y"),
        ("<x@y> (added by postmaster@example.org)", "x@y"),
        ("bare-id@host.example", "bare-id@host.example"),
        ("", None),
        ("not an id", None),
        ("<>", None),
    ],
)
def test_normalise_message_id(value: str, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 30 Nov 2026 18:00:00 +0900", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        ("30 Nov 2026 09:00 GMT", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        ("Mon, 30 Nov 2026 09:00:00 -0000", datetime(2026, 11, 30, 9, tzinfo=UTC)),  # zone unknown: UTC
        ("Mon, 30 Nov 2026 00:05:12 -0800 (PST)", datetime(2026, 11, 30, 8, 5, 12, tzinfo=UTC)),
        ("Mon Nov 30 09:00:00 2026", datetime(2026, 11, 30, 9, tzinfo=UTC)),  # an mbox separator's asctime
        ("garbage", None),
        ("", None),
        ("Mon, 30 Nov 1601 09:00:00 +0000", None),
        ("Mon, 30 Nov 3026 09:00:00 +0000", None),
        ("30 Nov 26 09:00 +0000", datetime(2026, 11, 30, 9, tzinfo=UTC)),  # RFC 5322 obsolete two-digit year
        ("Mon, 31 Feb 2026 09:00:00 +0000", None),
        ("Mon, 30 Nov 2026 25:61:00 +0000", None),
    ],
)
def test_parse_date(value: str, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_a_missing_path_is_one_clear_error() -> None:
    with pytest.raises(PipectlError, match=r"nowhere/inbox: no such file or folder; expected a Maildir folder"):
        read("nowhere/inbox")


def test_a_file_that_is_not_mail_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("\ufeffname,email\nAcme,a@acme.example\n")
    with pytest.raises(PipectlError, match=r"leads.csv: not a mailbox; expected a Maildir folder \(with cur/"):
        read(str(path))


def test_an_unreadable_file_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.mbox"
    path.write_bytes(b"")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # the tests run as root, where chmod 000 does not refuse
    with pytest.raises(PipectlError, match=r"x.mbox: cannot read it \(Permission denied\)$"):
        read(str(path))


def test_a_folder_without_mail_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.eml").mkdir()
    with pytest.raises(PipectlError, match=r"no \.eml files in it, and not a Maildir"):
        list(read(str(tmp_path / "dir.eml")))


def test_empty_stdin_is_refused() -> None:
    with pytest.raises(PipectlError, match=r"-: nothing on stdin; expected one message"):
        list(read("-", stdin=io.BytesIO(b"\n")))


_WORDS = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40).filter(
    lambda text: text.strip() != ""
)
_LOCAL = st.text(alphabet=string.ascii_lowercase + string.digits + "._+-", min_size=1, max_size=12).filter(
    lambda local: not local.startswith(".") and not local.endswith(".") and ".." not in local
)
_ADDRESSES = st.builds(lambda local, domain: f"{local}@{domain}.example", _LOCAL, st.sampled_from(["acme", "globex"]))
_IDS = st.text(alphabet=string.ascii_letters + string.digits + ".-_$", min_size=1, max_size=30)

# Bodies with lines an mbox must quote ("From ") as well as any text. Not ">From " lines: the standard
# library writes mboxo, where a written ">From " and a quoted "From " look the same (the reader takes
# them as quoted, as mboxrd and most mbox files mean them).
_BODIES = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["From here on", "From", "plain", ""]), max_size=6).map("\n".join),
).filter(lambda body: not re.search(r"^>+From ", body, re.MULTILINE))


@st.composite
def messages(draw: st.DrawFn) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(draw(_WORDS), addr_spec=draw(_ADDRESSES))
    message["To"] = [Address(addr_spec=address) for address in draw(st.lists(_ADDRESSES, min_size=1, max_size=3))]
    message["Subject"] = draw(_WORDS)
    message["Date"] = format_datetime(datetime(2026, 11, 30, 9, draw(st.integers(0, 59)), tzinfo=UTC))
    message["Message-ID"] = f"<{draw(_IDS)}@example.co.jp>"
    message.set_content(draw(_BODIES))
    return message


def _same(record: MailRecord, message: EmailMessage) -> None:
    assert record.message_id == str(message["Message-ID"]).strip("<>")
    assert record.subject == " ".join(str(message["Subject"]).split())
    assert record.from_address == message["From"].addresses[0].addr_spec
    assert record.from_name == " ".join(message["From"].addresses[0].display_name.split())
    assert record.to == tuple(address.addr_spec for address in message["To"].addresses)
    assert record.date == datetime(2026, 11, 30, 9, message["Date"].datetime.minute, tzinfo=UTC)


@settings(max_examples=40, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4))
def test_messages_written_to_a_maildir_are_read_back(written: list[EmailMessage]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        _maildir_round_trip(Path(scratch) / "Maildir", written)


def _maildir_round_trip(folder: Path, written: list[EmailMessage]) -> None:
    box = mailbox.Maildir(folder)
    keys = [box.add(message) for message in written]
    box.close()
    records = {record.name: record for record in read(str(folder))}
    for key, message in zip(keys, written, strict=True):
        _same(records[key], message)


@settings(max_examples=40, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4))
def test_messages_written_to_an_mbox_are_read_back(written: list[EmailMessage]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        _mbox_round_trip(Path(scratch) / "mbox", written)


def _mbox_round_trip(path: Path, written: list[EmailMessage]) -> None:
    box = mailbox.mbox(path)
    for message in written:
        box.add(message)
    box.close()
    records = list(read(str(path)))
    assert len(records) == len(written)
    for record, message in zip(records, written, strict=True):
        _same(record, message)
        body = message.get_content()
        assert record.body().replace("\r\n", "\n").rstrip("\n") == body.replace("\r\n", "\n").rstrip("\n")


_HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "References",
        "In-Reply-To",
        "Auto-Submitted",
        "List-Id",
        "Received",
        "X-Other",
    ]
)
_HEADER_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            'multipart/report; report-type=delivery-status; boundary="b"',
            "multipart/mixed",
            "text/html; charset=x-bad",
            "text/plain; charset=iso-2022-jp",
            "base64",
            "quoted-printable",
            "=?utf-8?b?5bGx?=",
            "<a@b>",
            "a@b, <c@d>",
            'attachment; filename="a"',
            ";;;",
            "<",
            '"',
            "Mon, 99 Foo 2026",
        ]
    ),
)
_BODY_LINES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "--b",
            "--b--",
            "Content-Type: message/delivery-status",
            "Action: failed",
            "Final-Recipient: rfc822; x@y",
            "> quoted",
            "<html><blockquote>",
            "",
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=8), st.lists(_BODY_LINES, max_size=12))
# A bounce whose From the email package's address parser cannot read (it raised IndexError).
@example([("From", "<"), ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')], [])
def test_any_message_reads_without_a_crash(headers: list[tuple[str, str]], body: list[str]) -> None:
    raw = "".join(f"{name}: {value}\n" for name, value in headers) + "\n" + "\n".join(body)
    data = raw.encode("utf-8", "surrogateescape")
    if not data.strip():
        return
    record = one_stdin(data)
    assert isinstance(record.text(), str) and isinstance(record.snippet(), str)
    assert isinstance(record.bounced_addresses(), tuple) and isinstance(record.asks_to_unsubscribe(), bool)
