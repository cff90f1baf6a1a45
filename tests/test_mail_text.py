"""The new text of a message as each client writes a reply, HTML turned into text, charsets, the snippet a
note keeps, and the address form sync compares in; property tests for the cutter and the address form."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl.mail import comparable, new_text, read, snippet
from pipectl.mail.charsets import decode_bytes
from pipectl.mail.text import body_text, html_to_text

MAIL = Path(__file__).parent / "mail"


@pytest.mark.parametrize(
    ("fixture", "text"),
    [
        (
            "thunderbird.eml",  # format=flowed, "-- " signature, "On ... wrote:" and the quote below
            "Hi Taro,\n\nThanks for the numbers. We can start the pilot on 14 December if the\n"
            "pricing holds for 20 seats.\n\nBest,\nHanako",
        ),
        ("gmail.eml", "Tuesday at 3 pm works for us. I'll bring our CTO.\n\nKenji"),  # the wrapped attribution
        (
            "outlook.eml",  # quoted-printable, the "____" rule and From:/Sent: block above the history
            "Hello Taro,\n\nWe\u2019ve reviewed the quote internally. Could you send a version with a three\u2011year"
            " term and the support tier broken out?\n\nKind regards,\nMichael Brown\n"
            "Procurement Manager | Globex Corporation",
        ),
        ("apple_mail.eml", "Looks good to me \u2014 legal will sign on Thursday."),  # "Sent from my iPhone"
        ("mutt.eml", "SAML, through Okta.\n\nThree sites, about 400 users in total."),  # answers between quotes
        (
            "japanese_iso2022jp.eml",
            "山田様\n\nお世話になっております。鈴木です。\n"
            "見積書を拝見しました。\n①導入時期\u3000②ライセンス数\nについて、来週の打ち合わせで詳細を伺えますでしょうか。\n\n"
            "よろしくお願いいたします。",
        ),
        (
            "exchange_ooo.eml",
            "I am out of the office until 7 December with limited access to email.\n"
            "For urgent matters please contact sales@contoso.example.",
        ),  # base64, CRLF
    ],
)
def test_the_new_text_of_real_replies(fixture: str, text: str) -> None:
    (record,) = read(str(MAIL / fixture))
    assert record.text() == text


def test_the_html_part_gives_the_same_new_text_as_the_plain_part() -> None:
    for fixture in ("gmail.eml", "outlook.eml"):
        (record,) = read(str(MAIL / fixture))
        html = record.message.get_body(preferencelist=("html",))
        assert html is not None
        words = new_text(html_to_text(html.get_content())).split()
        assert words[:12] == record.text().split()[:12], fixture


def test_a_message_with_html_only() -> None:
    raw = (
        b"From: a@b.example\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        b"<html><head><title>t</title><style>p {color: red}</style></head><body>"
        b"<p>Yes &amp; thanks,<br>Mika</p><script>var x = 1;</script>"
        b"<table><tr><td>Mika Ito</td><td>CTO</td></tr></table>"
        b'<div class="gmail_quote">On Mon, Taro wrote:<blockquote>old text</blockquote></div></body></html>'
    )
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    assert body_text(message) == "Yes & thanks,\nMika\nMika Ito CTO\nOn Mon, Taro wrote:\n> old text"
    assert new_text(body_text(message)) == "Yes & thanks,\nMika\nMika Ito CTO"


def test_a_message_without_text() -> None:
    raw = b"From: a@b.example\nMIME-Version: 1.0\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBO\n"
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    assert body_text(message) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.\n\n-----Original Message-----\nFrom: Taro\nSent: Monday\n\nold", "Yes."),
        ("Yes.\n\n-----元のメッセージ-----\n差出人: 山田\n送信日時: 2026年11月30日 9:00\n\n古い", "Yes."),
        ("Yes.\n\n差出人: 山田 太郎 <taro@example.co.jp>\n送信日時: 2026年11月30日 9:00\n宛先: a@b", "Yes."),
        ("Yes.\n\nFrom: Taro Yamada <taro@example.co.jp>\nDate: Monday, 30 November 2026\nSubject: x", "Yes."),
        ("Yes.\n\n---------- Forwarded message ---------\nFrom: a", "Yes."),
        ("FYI\n\nBegin forwarded message:\n\nFrom: a", "FYI"),
        ("Yes.\n\nOn 11/30/26 9:00 AM, Taro Yamada wrote:\nno quote marks below\n", "Yes."),
        ("はい。\n\n2026/11/30 9:00、山田 太郎 <taro@example.co.jp>のメール:\n\n> 古い", "はい。"),
        ("はい。\n\nOn 2026/11/30 9:00, 山田太郎 wrote:\n> 古い", "はい。"),
        ("はい。\n\n山田太郎 さんは書きました:\n> 古い", "はい。"),
        ("Oui.\n\nLe lun. 30 nov. 2026 à 09:00, Taro Yamada <taro@example.co.jp> a écrit :\n> x", "Oui."),
        ("Ja.\n\nAm 30.11.2026 um 09:00 schrieb Taro Yamada:\n> x", "Ja."),
        ("OK\n\nSent from my Galaxy", "OK"),
        ("OK\n\nGet Outlook for iOS", "OK"),
        ("OK\n\niPhoneから送信", "OK"),
        ("OK\n--\nTaro", "OK"),
        ("From: the warehouse we ship weekly.\nThat is all.", "From: the warehouse we ship weekly.\nThat is all."),
        ("One\n\n\n\nTwo\r\n   \r\nThree  ", "One\n\nTwo\n\nThree"),
        ("   > quoted with indent\nkept", "kept"),
        ("", ""),
    ],
)
def test_new_text(text: str, expected: str) -> None:
    assert new_text(text) == expected


_LINES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["> quoted", ">", "  >> deep", "-- ", "On Mon, A wrote:", "Sent from my iPhone", ""]),
)


@given(st.lists(_LINES, max_size=20).map("\n".join))
def test_new_text_never_keeps_a_quoted_line(text: str) -> None:
    result = new_text(text)
    assert not any(line.lstrip().startswith(">") for line in result.split("\n"))
    assert "\n\n\n" not in result and result == result.strip()


@given(st.text(max_size=400), st.integers(min_value=0, max_value=300))
def test_snippet_is_one_line_of_at_most_limit_characters(text: str, limit: int) -> None:
    result = snippet(text, limit)
    assert len(result) <= limit
    assert not re.search(r"\s\s|\n", result) and result == result.strip()
    assert " ".join(text.split()).startswith(result)


def test_snippet_of_a_record_is_the_note_text() -> None:
    (record,) = read(str(MAIL / "thunderbird.eml"))
    assert record.snippet(40) == "Hi Taro, Thanks for the numbers. We can"
    assert record.snippet() == (
        "Hi Taro, Thanks for the numbers. We can start the pilot on 14 December if the pricing holds for 20"
        " seats. Best, Hanako"
    )


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        ("①②".encode("cp932"), "Shift_JIS", "①②"),  # Windows wrote cp932 under the Shift_JIS label
        ("半角ｶﾅ".encode("iso2022_jp_ext"), "ISO-2022-JP", "半角ｶﾅ"),
        ("日本語".encode("euc_jp"), None, "日本語"),
        ("Grüße".encode(), "us-ascii", "Grüße"),  # 8-bit UTF-8 mislabelled as ASCII
        ("café €".encode("cp1252"), "iso-8859-1", "café €"),
        (b"ok", "x-unknown-charset", "ok"),
        ("見積".encode("iso2022_jp"), "utf-8", "見積"),  # JIS escapes whatever the label says
        (b"\x1b$B-!-j\x1b(B No.", "iso-2022-jp", "①㈱ No."),  # NEC row 13, as Windows writes ISO-2022-JP
        (b"\x1b(I12\x1b(B", "iso-2022-jp", "ｱｲ"),  # half-width katakana
        (b"\x1b$(Dxx\x1b(B", "iso-2022-jp", "\x1b$(Dxx\x1b(B"),  # JIS X 0212: not read, kept as written
        (b"\x1b\xc2\x80\n", "utf-8", "\x1b\x80\n"),  # an escape in 8-bit text is not ISO-2022-JP
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, text: str) -> None:
    assert decode_bytes(data, charset) == text


@given(st.binary(max_size=200), st.sampled_from([None, "utf-8", "shift_jis", "iso-2022-jp", "nonsense"]))
def test_decode_bytes_never_raises(data: bytes, charset: str | None) -> None:
    assert isinstance(decode_bytes(data, charset), str)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Taro@Example.co.jp", "taro@example.co.jp"),
        ("taro+crm@example.co.jp", "taro@example.co.jp"),
        (" <Taro+News+Dec@Example.COM> ", "taro@example.com"),
        ("+tag@example.com", "+tag@example.com"),  # no base to keep: left whole
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_comparable(address: str, expected: str) -> None:
    assert comparable(address) == expected


@given(st.text(max_size=40))
def test_comparable_is_idempotent(address: str) -> None:
    once = comparable(address)
    assert comparable(once) == once


@given(
    st.text(alphabet="abcdefgXYZ0129._-", min_size=1, max_size=10),
    st.text(alphabet="abcXYZ-_0", max_size=8),
    st.sampled_from(["Example.com", "acme.EXAMPLE"]),
)
def test_comparable_ignores_case_and_tag(local: str, tag: str, domain: str) -> None:
    assert comparable(f"{local}+{tag}@{domain}") == comparable(f"{local.upper()}@{domain.lower()}")
