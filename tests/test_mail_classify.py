"""The classifier on real client mail (tests/mail/): which messages sync skips and why, the failed
addresses a bounce names, and the unsubscribe requests; each header rule of the table on its own."""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from pipectl.mail import REASONS, asks_to_unsubscribe, bounced_addresses, classify, read
from pipectl.mail.classify import RULES, main_reason

MAIL = Path(__file__).parent / "mail"


@pytest.mark.parametrize(
    ("fixture", "reason", "bounced", "unsubscribe"),
    [
        ("thunderbird.eml", None, (), False),
        ("gmail.eml", None, (), False),
        ("outlook.eml", None, (), False),
        ("apple_mail.eml", None, (), False),
        ("mutt.eml", None, (), False),
        ("japanese_iso2022jp.eml", None, (), False),
        ("japanese_sjis_raw.eml", None, (), True),
        ("no_message_id.eml", None, (), False),
        ("sales_tool.eml", None, (), False),  # List-Unsubscribe alone is not a list
        ("remove_me.eml", None, (), True),
        ("postfix_bounce.eml", "bounce", ("j.doe@gone.example",), False),
        ("exim_bounce.eml", "bounce", ("buyer@closed-shop.example",), False),
        ("gmail_dsn.eml", "bounce", ("nobody@typo-domain.example",), False),
        ("exchange_ooo.eml", "auto-reply", (), False),
        ("gmail_vacation.eml", "auto-reply", (), False),
        ("mailman.eml", "list", (), False),
        ("google_groups.eml", "list", (), False),  # its footer says "unsubscribe", but below the "-- " line
        ("icloud_vacation.eml", "auto-reply", (), False),  # X-Apple-Action only
        ("exchange_ooo_plain.eml", "auto-reply", (), False),  # an empty Return-Path and the subject only
        ("gmail_old_bounce.eml", "bounce", ("lena.old@stark.example",), False),  # plain text, X-Failed-Recipients
        ("precedence_bulk.eml", "auto-reply", (), False),  # a newsletter with no List-Id
        ("garbage_in_reply_to.eml", None, (), False),
    ],
)
def test_real_mail(fixture: str, reason: str | None, bounced: tuple[str, ...], unsubscribe: bool) -> None:
    (record,) = read(str(MAIL / fixture))
    assert record.reason == reason
    assert record.bounced_addresses() == bounced
    assert record.asks_to_unsubscribe() is unsubscribe


def message(raw: str) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw.encode())
    assert isinstance(parsed, EmailMessage)
    return parsed


HEADER_CASES: list[tuple[str, str, set[str]]] = [
    ("Auto-Submitted", "auto-replied", {"auto-reply"}),
    ("Auto-Submitted", "auto-generated", {"auto-reply"}),
    ("Auto-Submitted", "auto-notified; owner-email=a@b.example", {"auto-reply"}),
    ("Auto-Submitted", "No", set()),
    ("Auto-Submitted", "no (a person wrote this)", set()),
    ("X-Autoreply", "yes", {"auto-reply"}),
    ("X-Autorespond", "Out of office", {"auto-reply"}),
    ("Precedence", "bulk", {"auto-reply"}),
    ("Precedence", "Junk", {"auto-reply"}),
    ("Precedence", "auto_reply", {"auto-reply"}),
    ("Precedence", "list", {"list"}),
    ("Precedence", "first-class", set()),
    ("X-MS-Exchange-Inbox-Rules-Loop", "Lead@Acme.example", {"auto-reply"}),  # the sender's out of office
    ("X-MS-Exchange-Inbox-Rules-Loop", "taro@example.co.jp", set()),  # the rep's rule redirected it
    ("List-Id", "<sales.lists.example.org>", {"list"}),
    ("LIST-ID", "Sales <sales.lists.example.org>", {"list"}),
    ("List-Unsubscribe", "<mailto:leave@example.org>", set()),
    ("List-Post", "<mailto:sales@lists.example.org>", set()),
    ("X-Failed-Recipients", "a@b.example", {"bounce"}),
    ("From", "MAILER-DAEMON@mx.example.org (Mail Delivery System)", {"bounce"}),
    ("From", "Mail Delivery Subsystem <mailer-daemon@googlemail.com>", {"bounce"}),
    ("From", "postmaster@example.org", {"bounce"}),
    ("From", "Postmaster General <pm@example.org>", set()),
    ("From", "notpostmaster@example.org", set()),
    ("Content-Type", 'multipart/report; report-type="delivery-status"; boundary="b"', {"bounce"}),
    ("Content-Type", "multipart/report;\n\treport-type=delivery-status", {"bounce"}),
    ("Content-Type", "multipart/report; report-type=disposition-notification", set()),  # a read receipt
    ("Content-Type", "multipart/mixed", set()),
    ("X-Auto-Response-Suppress", "All", set()),  # Outlook asks others not to auto-reply to it
    ("Return-Path", "<>", {"auto-reply"}),  # Exchange's out of office, without Auto-Submitted
    ("Return-Path", "< >", {"auto-reply"}),
    ("Return-Path", "<lead@acme.example>", set()),
    ("X-Apple-Action", "VACATION", {"auto-reply"}),  # iCloud
    ("X-Apple-Action", "forward", set()),
    ("Subject", "Automatic reply: Quote for 50 seats", {"auto-reply"}),  # Outlook
    ("Subject", "Out of Office: Quote", {"auto-reply"}),
    ("Subject", "[Auto-Reply] Quote", {"auto-reply"}),
    ("Subject", "Autoreply: Quote", {"auto-reply"}),
    ("Subject", "自動応答: お見積りの件", {"auto-reply"}),
    ("Subject", "=?UTF-8?B?6Ieq5YuV5b+c562UOiDjgYropovnqY3jgorjga7ku7Y=?=", {"auto-reply"}),  # encoded 自動応答
    ("Subject", "=?ISO-2022-JP?B?GyRCSVQ6XxsoQg==?=: 12/28-1/5", {"auto-reply"}),  # encoded 不在
    ("Subject", "【不在】年末年始のお知らせ", {"auto-reply"}),
    ("Subject", "Re: Out of office next week?", set()),  # a person's reply about it
    ("Subject", "About my automatic reply settings", set()),
    ("Subject", "不動産の件", set()),
]


@pytest.mark.parametrize(("header", "value", "reasons"), HEADER_CASES)
def test_each_header_rule(header: str, value: str, reasons: set[str]) -> None:
    sender = [] if header == "From" else [("From", "Lead <lead@acme.example>")]
    assert classify([(header, value), ("Subject", "hello"), *sender]) == reasons


def test_every_rule_of_the_table_is_tested() -> None:
    tested = {header.lower() for header, _, reasons in HEADER_CASES if reasons}
    assert {rule.header.lower() for rule in RULES} <= tested
    assert {rule.reason for rule in RULES} == set(REASONS)


def test_the_most_telling_reason_wins() -> None:
    reasons = classify([("From", "MAILER-DAEMON@lists.example.org"), ("List-Id", "<x>"), ("Precedence", "bulk")])
    assert reasons == {"bounce", "list", "auto-reply"}
    assert main_reason(reasons) == "bounce"
    assert main_reason(frozenset({"list", "auto-reply"})) == "auto-reply"
    assert main_reason(frozenset()) is None


def test_a_delayed_notice_names_no_failed_address() -> None:
    delayed = message(
        "From: MAILER-DAEMON@mx.example.org\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="b"\n\n--b\nContent-Type: text/plain\n\nStill trying to deliver to late@slow.example.\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; late@slow.example\nAction: delayed\nStatus: 4.4.7\n\n--b--\n"
    )
    assert bounced_addresses(delayed) == ()


def test_a_report_with_several_recipients_names_the_failed_ones() -> None:
    report = message(
        "From: MAILER-DAEMON@mx.example.org\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="b"\n\n--b\nContent-Type: text/plain\n\nSee below.\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; one@a.example\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; two@a.example\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822;<Three@A.example>\nAction: Failed\nStatus: 5.2.2\n\n"
        "Final-Recipient: x400; /G=x/S=y/\nAction: failed\nStatus: 5.1.1\n\n--b--\n"
    )
    assert bounced_addresses(report) == ("one@a.example", "three@a.example")


def test_a_bounce_in_another_shape_names_the_addresses_above_the_returned_message() -> None:
    qmail = message(
        "From: MAILER-DAEMON@mail.example.net\nTo: taro@example.co.jp\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<old.contact@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "Return-Path: <taro@example.co.jp>\nFrom: Taro <taro@example.co.jp>\nTo: old.contact@example.net\n"
        "Cc: someone.else@example.net\n\nHello\n"
    )
    assert bounced_addresses(qmail) == ("old.contact@example.net",)


@pytest.mark.parametrize(
    ("subject", "text", "asks"),
    [
        ("unsubscribe", "", True),
        ("Re: Quick question", "Unsubscribe me please.", True),
        ("Re: Quick question", "Please take me off your list", True),
        ("Re: Quick question", "Remove me", True),
        ("Re: Quick question", "Please stop emailing me.", True),
        ("Re: Quick question", "Don't contact me again", True),
        ("Re: Quick question", "I'd like to opt out", True),
        ("Re: Quick question", "STOP", True),
        ("Re: ご案内", "配信停止をお願いします。", True),
        ("Re: ご案内", "今後はメール不要です。", True),
        ("Re: ご案内", "今後のメール配信を停止してください。", True),
        ("Re: ご案内", "購読を解除したいです", True),
        ("Re: ご案内", "今後のご連絡は不要です。", True),
        ("配信解除希望", "", True),
        ("Re: ご案内", "\n\n登録解除してください\n", True),
        ("Re: Quick question", "Sounds good, let's talk Tuesday.", False),
        ("Re: Quick question", "Sounds good.\n\nTo unsubscribe from this group, send an email to x", False),
        ("Re: Quick question", "Sure!\n\nOn Mon, Taro wrote:\n> Reply STOP to unsubscribe", False),
        ("Re: Quick question", "Stop by our booth on Tuesday", False),
        ("Re: ご案内", "ぜひ打ち合わせをお願いします。", False),
    ],
)
def test_asks_to_unsubscribe(subject: str, text: str, asks: bool) -> None:
    assert asks_to_unsubscribe(subject, text) is asks


def test_stdin_bounce_is_read_and_classified() -> None:
    (record,) = read("-", stdin=io.BytesIO((MAIL / "exim_bounce.eml").read_bytes()))
    assert record.reason == "bounce" and record.bounced_addresses() == ("buyer@closed-shop.example",)


def test_a_lead_reply_the_reps_exchange_rule_redirected_is_still_a_reply() -> None:
    redirected = b"X-MS-Exchange-Inbox-Rules-Loop: taro@example.co.jp\r\n" + (MAIL / "outlook.eml").read_bytes()
    (record,) = read("-", stdin=io.BytesIO(redirected))
    assert record.from_address == "michael.brown@globex.example" and record.reason is None
