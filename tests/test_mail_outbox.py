"""The messages pipectl sends (pipectl.mail.outbox, pipectl.mail.headers): property tests that any display name
and subject come back exactly as given, in well-formed header lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipectl.errors import PipectlError
from pipectl.mail import outbox
from pipectl.mail.headers import display_name, one_line

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Names and subjects as reps write them, and worse: Latin, Japanese, emoji, words longer than a line, runs of
# spaces, specials, encoded-word look-alikes, control characters; any Unicode but lone surrogates.
_WORDS = st.sampled_from(
    [
        *("Hanako", "鈴木", "花子", "株式会社ACME", "Müller", "O'Brien", "Doe,", '"Jane"', "a\\b", "J.", "🙂"),
        *("👩\u200d💻", "=?utf-8?q?x?=", "x" * 90, "鈴木" * 40, "https://example.com/" + "a" * 80, "\u3000", "\t"),
        *("e\u0301", ""),
    ]
)
_ANY = st.characters(exclude_categories=("Cs",))
_TEXT = st.one_of(
    st.lists(st.one_of(_WORDS, st.text(_ANY, max_size=8)), max_size=10).map(" ".join),
    st.lists(_WORDS, max_size=10).map("  ".join),
    st.text(_ANY, max_size=120),
)
_SENDERS = st.sampled_from(["山田 太郎 <taro@example.co.jp>", "Taro Yamada <taro@example.co.jp>", "taro@example.co.jp"])
_EW = re.compile(rb"=\?[^?\s]+\?[bqBQ]\?[^?\s]*\?=")


def _well_formed(head: bytes) -> None:
    """Header lines a reader takes as they are: ASCII, none only whitespace, none over 998 octets, none over
    78 unless it has nowhere to fold (one word), encoded-words in a Subject at most 75 characters."""
    lines = head.split(b"\r\n")
    assert head.isascii()
    for line in lines:
        assert line.strip(), lines  # a line of only whitespace would end the header block
        assert len(line) <= 998
        word = line.partition(b":")[2] if line[:1].isalpha() else line
        assert len(line) <= 78 or b" " not in word.strip(), line
    subject = [line for line in lines if line.startswith(b"Subject:")]
    for line in lines[lines.index(subject[0]) :]:
        if line is not subject[0] and not line[:1].isspace():
            break
        assert all(len(word) <= 75 for word in _EW.findall(line)), line


@given(_SENDERS, _TEXT, _TEXT, st.booleans(), st.booleans())
@example(
    "山田 太郎 <taro@example.co.jp>", "鈴木" * 50, "Müller 鈴木 " * 12, True, False
)  # long name; a space at a fold
@example("taro@example.co.jp", "x" * 90 + " " + "x" * 90, "see https://example.com/" + "a" * 100 + " ok", False, True)
@example("taro@example.co.jp", "  two  spaces  ", "  two  spaces  ", False, False)
def test_any_name_and_subject_come_back_exactly_in_well_formed_lines(
    sender: str, name: str, subject: str, campaign: bool, html: bool
) -> None:
    try:
        message = outbox.build(
            sender, (name, "lead@client.example"), subject, "Hello\n", NOW, campaign, "<p>Hello</p>" if html else None
        )
    except PipectlError as exc:  # a name is one encoded-word, and it must fit in a line of 998
        assert "the To header cannot be written" in exc.message and len(display_name(name).encode()) > 700
        return
    raw = outbox.as_bytes(message, "\r\n")
    head, _, _ = raw.partition(b"\r\n\r\n")
    _well_formed(head)
    back = message_from_bytes(raw, policy=policy.default)
    assert str(back["Subject"]) == one_line(subject) == str(message["Subject"])
    [to] = back["To"].addresses
    assert (to.display_name, to.addr_spec) == (display_name(name), "lead@client.example")
    assert (
        str(back["From"].addresses[0].display_name) in sender
        and back.get_body(("plain",)).get_content().rstrip() == "Hello"
    )
    assert [key for key, _ in back.items()] == [key for key, _ in message.items()]


def test_a_line_break_is_a_space_and_a_name_has_its_spaces_as_a_phrase_reads_them() -> None:
    name, subject = " 鈴木\u3000花子 \t Jane\r\nDoe ", "a\nb\u2028c  d\t"
    message = outbox.build("taro@example.co.jp", (name, "j@x.example"), subject, "Hi", NOW)
    back = message_from_bytes(outbox.as_bytes(message), policy=policy.default)
    assert (str(back["Subject"]), back["To"].addresses[0].display_name) == ("a b c  d\t", "鈴木\u3000花子 Jane Doe")


def test_short_ascii_headers_are_written_as_they_are_and_a_domain_in_idna() -> None:
    message = outbox.build("Taro <taro@example.co.jp>", ("Jane Doe", "jane@bücher.example"), "Hi Jane", "x", NOW)
    head = outbox.as_bytes(message).split(b"\n\n")[0].decode("ascii")
    assert "From: Taro <taro@example.co.jp>\nTo: Jane Doe <jane@xn--bcher-kva.example>\nSubject: Hi Jane\n" in head


def test_a_name_too_long_for_any_line_is_an_error_not_a_broken_message() -> None:
    with pytest.raises(PipectlError, match="the To header cannot be written"):
        outbox.build("taro@example.co.jp", ("鈴" * 300, "j@x.example"), "Hi", "x", NOW)
