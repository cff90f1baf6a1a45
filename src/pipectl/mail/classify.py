"""What kind of message a record is, from its headers: a person's mail, an auto-reply, a list post, a bounce.

Sync logs a person's mail and skips the rest (SPEC §12), saying why in its summary with the reason
string (``"bounce"``, ``"auto-reply"``, ``"list"``). The header rules live in one table, :data:`RULES`;
:func:`classify` applies it to a message's header lines and is pure. A bounce also names the addresses
that failed (:func:`bounced_addresses`, which reads the body), and a person's message may ask to be left
alone (:func:`asks_to_unsubscribe`, English and Japanese).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Literal

from pipectl.mail.addresses import comparable
from pipectl.mail.charsets import decode_words, raw_header_text
from pipectl.mail.text import body_text, new_text

Reason = Literal["bounce", "auto-reply", "list"]
# Most telling first: a bounce from a list server is a bounce (it marks an address as bouncing).
REASONS: tuple[Reason, ...] = ("bounce", "auto-reply", "list")


@dataclass(frozen=True)
class Rule:
    """A header (name, any case) whose value, whitespace-collapsed and lowercased, passes ``test`` (and, with
    ``names_sender``, names the address the From header has) gives ``reason``; ``source`` says who writes it."""

    header: str
    test: Callable[[str], bool]
    reason: Reason
    source: str
    names_sender: bool = False
    decoded: bool = False  # the test sees the value with RFC 2047 words and raw 8-bit text decoded (a Subject)


def _present(value: str) -> bool:
    return True


def _keyword(value: str) -> str:
    """A header's keyword: the value before its parameters, without (comments) or quotes."""
    return re.sub(r"\([^()]*\)", " ", value).split(";", 1)[0].strip().strip('"')


def _not_no(value: str) -> bool:
    return _keyword(value) != "no"


def _one_of(*words: str) -> Callable[[str], bool]:
    return lambda value: _keyword(value) in words


_DAEMON = re.compile(r"(?:^|[<\s\"])(?:mailer-daemon|postmaster)@")


def _daemon(value: str) -> bool:
    return bool(_DAEMON.search(value))


def _null_sender(value: str) -> bool:
    """An empty Return-Path (``<>``): RFC 3834 §3.3 has automatic replies sent without a return address."""
    return value.replace(" ", "") == "<>"


# Out-of-office subjects as Exchange/Outlook, iCloud, Gmail and Japanese mailers write them: at the start of
# the subject (a person's "Re: Out of office next week?" starts with "Re:"), after an optional bracket.
_AUTO_SUBJECT = re.compile(
    r"^[\[【(\uff08]?\s*(?:automatic\s+reply|auto(?:matic)?[\s-]*(?:reply|response)|out\s+of\s+(?:the\s+)?office"
    r"|自動応答|自動返信|自動送信|不在)"
)


def _auto_subject(value: str) -> bool:
    return bool(_AUTO_SUBJECT.match(value))


def _delivery_report(value: str) -> bool:
    return value.startswith("multipart/report") and bool(re.search(r'report-type\s*=\s*"?delivery-status', value))


RULES: tuple[Rule, ...] = (
    Rule("Content-Type", _delivery_report, "bounce", "RFC 3464 delivery status notification"),
    Rule("From", _daemon, "bounce", "MAILER-DAEMON / postmaster (RFC 5321 §4.5.5 null-sender reports)"),
    Rule("X-Failed-Recipients", _present, "bounce", "Exim's bounces"),
    Rule("Auto-Submitted", _not_no, "auto-reply", "RFC 3834: auto-replied / auto-generated"),
    Rule("X-Autoreply", _present, "auto-reply", "vacation programs"),
    Rule("X-Autorespond", _present, "auto-reply", "vacation programs"),
    # Exchange and iCloud out-of-office replies usually carry no Auto-Submitted:
    Rule("Return-Path", _null_sender, "auto-reply", "null-sender automatic replies (Exchange; bounces too)"),
    Rule("X-Apple-Action", _one_of("vacation"), "auto-reply", "iCloud vacation replies"),
    Rule("Subject", _auto_subject, "auto-reply", "Outlook, iCloud, Japanese mailers' out-of-office", decoded=True),
    Rule("Precedence", _one_of("bulk", "junk", "auto_reply"), "auto-reply", "vacation(1), bulk senders"),
    Rule("Precedence", _one_of("list"), "list", "Mailman, Majordomo"),
    # Exchange stamps the mailbox whose rule sent or passed on a message: the sender's own for its out-of-office
    # and template replies; the rep's own when the rep's rule redirects a lead's mail, which must still count.
    Rule("X-MS-Exchange-Inbox-Rules-Loop", _present, "auto-reply", "Exchange automatic replies", names_sender=True),
    # RFC 2919: List-Id names a list. List-Unsubscribe (RFC 2369, RFC 8058) alone does not: bulk senders
    # put it on newsletters and sales tools on one-to-one mail a rep wants logged.
    Rule("List-Id", _present, "list", "RFC 2919 mailing lists (Mailman, Google Groups, Sympa...)"),
)
_BY_HEADER: dict[str, tuple[Rule, ...]] = {
    name: tuple(rule for rule in RULES if rule.header.lower() == name) for name in {r.header.lower() for r in RULES}
}


def classify(headers: Iterable[tuple[str, str]]) -> frozenset[Reason]:
    """The reasons (:data:`REASONS`) the header lines ``headers`` (name, value) give to skip a message; empty
    for a person's mail. Pass ``message.raw_items()``."""
    lines = [(name.lower(), " ".join(value.split()), value) for name, value in headers]
    sender = next((value.lower() for name, value, _ in lines if name == "from"), "")
    found: set[Reason] = set()
    for name, value, raw in lines:
        for rule in _BY_HEADER.get(name, ()):
            seen = " ".join(decode_words(raw_header_text(raw)).split()) if rule.decoded else value
            if rule.test(seen.lower()) and (not rule.names_sender or _names(value.lower(), sender)):
                found.add(rule.reason)
    return frozenset(found)


def _names(value: str, sender: str) -> bool:
    return any(address in sender for address in _ADDRESS.findall(value))


def main_reason(reasons: frozenset[Reason]) -> Reason | None:
    """The reason a summary shows for ``reasons``: the most telling one, or None for a person's mail."""
    return next((reason for reason in REASONS if reason in reasons), None)


_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Where a non-RFC bounce starts quoting the returned message: addresses below it are not the failed ones.
_RETURNED = re.compile(r"^(?:-{3,}|_{3,}|(?:Return-Path|Received|Message-I[Dd]|From|Date|Subject|To):\s)")


def _status_address(value: str) -> str | None:
    kind, _, address = value.partition(";")
    address = address.strip().strip("<>").strip().lower()
    return address if kind.strip().lower() == "rfc822" and "@" in address else None


def _raw(message: Message, *names: str) -> list[str]:
    """The values of the headers ``names`` (lowercase) as written: parsing an address header can fail on
    what a broken mailer writes (``From: <`` raises IndexError inside the email package)."""
    return [raw_header_text(value) for key, value in message.raw_items() if key.lower() in names]


def bounced_addresses(message: EmailMessage) -> tuple[str, ...]:
    """The addresses a bounce says failed, lowercased: from its RFC 3464 delivery-status part (recipients
    with ``Action: failed``; the Original-Recipient the sender wrote, else the Final-Recipient), else from
    Exim's ``X-Failed-Recipients``, else the addresses its notice names before quoting the returned
    message (the bounce's own sender and recipient, and daemons, excepted)."""
    found: list[str] = []
    reports = [part for part in message.walk() if part.get_content_type() == "message/delivery-status"]
    for report in reports:
        blocks = report.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message) or not str(block.get("Action", "")).strip().lower().startswith("failed"):
                continue
            address = _status_address(str(block.get("Original-Recipient", ""))) or _status_address(
                str(block.get("Final-Recipient", ""))
            )
            if address:
                found.append(address)
    if reports:
        return tuple(dict.fromkeys(found))
    found = [address.lower() for value in _raw(message, "x-failed-recipients") for address in _ADDRESS.findall(value)]
    if found:
        return tuple(dict.fromkeys(found))
    own = {comparable(address) for value in _raw(message, "from", "to") for address in _ADDRESS.findall(value)}
    for line in body_text(message).splitlines():
        if _RETURNED.match(line.strip()):
            break
        found += [
            address.lower()
            for address in _ADDRESS.findall(line)
            if comparable(address) not in own and not _daemon(address.lower())
        ]
    return tuple(dict.fromkeys(found))


_UNSUBSCRIBE = re.compile(
    r"""\b(?:unsubscribe|remove\ me|take\ me\ off|opt[\ -]?out
      | stop\ (?:e-?mailing|sending|contacting)
      | (?:do\ not|don't|please\ don't)\ (?:e-?mail|contact)\ me)\b
    | (?:配信|送信|登録|購読)を?(?:停止|解除)|配信不要|(?:ご?連絡|メール)は?不要|送らないで""",
    re.VERBOSE | re.IGNORECASE,
)


def asks_to_unsubscribe(subject: str, text: str) -> bool:
    """Whether a message asks to stop receiving mail: its subject or the first line of its new text (``text``
    as written, quoted history included) says so, or that line is ``STOP``."""
    first = next((line.strip() for line in new_text(text).splitlines() if line.strip()), "")
    return bool(_UNSUBSCRIBE.search(subject) or _UNSUBSCRIBE.search(first) or first.lower().rstrip(".!") == "stop")
