"""One message as the readers yield it: its headers parsed, its body read only when asked.

:func:`record_from_headers` turns the header block of a message into a :class:`MailRecord`: the
Message-ID (normalised), the Date in UTC, the addresses (lowercased) and display name, the decoded
subject, the thread headers and the classification (:mod:`pipectl.mail.classify`). The record keeps a way
to load the whole message, so a caller that decides from the addresses that a message concerns a lead
asks for its text, and the rest of the mailbox is never parsed past its headers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property

from pipectl.mail.charsets import decode_words, raw_header_text
from pipectl.mail.classify import Reason, asks_to_unsubscribe, bounced_addresses, classify, main_reason
from pipectl.mail.text import body_text, new_text, snippet

_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_FIRST_YEAR, _LAST_YEAR = 1970, 2999


@dataclass(frozen=True)
class MailRecord:
    """A message, as sync needs it. Addresses are lowercased as written (compare them with
    :func:`pipectl.mail.addresses.comparable`); ``date`` is None only when no header, file name or mbox
    separator gave one. ``name`` is the Maildir file's base name (without ``:2,flags``), for skipping what a
    previous run read; ``source`` says where the message is, for messages to the user; ``load`` reads the
    message's bytes (:attr:`message` and the methods below call it, once)."""

    message_id: str
    date: datetime | None
    from_address: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    reasons: frozenset[Reason]
    source: str
    name: str | None
    load: Callable[[], bytes] = field(repr=False, compare=False)

    @property
    def reason(self) -> Reason | None:
        """Why sync skips this message (``"bounce"``, ``"auto-reply"``, ``"list"``), or None for a person's."""
        return main_reason(self.reasons)

    @cached_property
    def message(self) -> EmailMessage:
        """The whole message, parsed (read from its source the first time it is asked for)."""
        return _parse(self.load())

    def body(self) -> str:
        """The message's text as written (text/plain, else its HTML as text), quoted history included."""
        return self._body

    @cached_property
    def _body(self) -> str:  # sync asks for it twice: for the note and for an unsubscribe request
        return body_text(self.message)

    def text(self) -> str:
        """What the sender typed: the body without quoted history and signature."""
        return new_text(self.body())

    def snippet(self, limit: int = 200) -> str:
        """The first ``limit`` characters of :meth:`text`, on one line."""
        return snippet(self.text(), limit)

    def bounced_addresses(self) -> tuple[str, ...]:
        """For a bounce, the addresses that failed (empty for any other message)."""
        return bounced_addresses(self.message) if "bounce" in self.reasons else ()

    def asks_to_unsubscribe(self) -> bool:
        """Whether the subject or the first line of the new text asks to stop the mail."""
        return asks_to_unsubscribe(self.subject, self.body())


def _parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)  # policy.default's message factory
    return message


def _fields(headers: Message) -> dict[str, str]:
    """The first value of each header, by lowercased name."""
    fields: dict[str, str] = {}
    for name, value in headers.raw_items():
        fields.setdefault(name.lower(), str(value))
    return fields


def _raw(fields: dict[str, str], name: str) -> str:
    """A header's value (``name`` lowercased), unfolded, as text (:func:`raw_header_text`)."""
    return re.sub(r"\r?\n(?=[ \t])", "", raw_header_text(fields.get(name, ""))).strip()


def _text(value: str) -> str:
    return " ".join(decode_words(value).split())


# "Name <address>" or a bare address: most address headers are a list of these, and reading them with a
# pattern instead of the stdlib's general parser halves the cost of a header scan.
_SIMPLE_ADDRESS = re.compile(
    r"\s*(?:([^\\\",:;<>()\[\]]*?)\s*<([^\s<>@,\"]+@[^\s<>@,\"]+)>|([^\s<>@,\"():;]+@[^\s<>@,\"():;]+))\s*"
)


def _addresses(value: str) -> list[tuple[str, str]]:
    """(display name, address lowercased) pairs of an address header; groups flattened, non-addresses dropped.
    Split before the display names are decoded, so an encoded comma stays in its name."""
    simple = [_SIMPLE_ADDRESS.fullmatch(part) for part in value.split(",") if part.strip()]
    if all(simple):
        pairs = [(match.group(1) or "", match.group(2) or match.group(3)) for match in simple if match]
    else:
        pairs = getaddresses([value])
    return [(_text(display), address.strip().lower()) for display, address in pairs if "@" in address]


def normalise_message_id(value: str) -> str | None:
    """A Message-ID without its ``<>`` and whitespace (``<ABC@x>`` -> ``ABC@x``; the case is kept, it is
    significant), or None when there is none. A bare id without brackets is accepted."""
    ids: list[str] = _ID.findall(value)
    if ids:
        return ids[0]
    bare = value.strip()
    return bare if bare and not re.search(r"[\s<>]", bare) else None


def parse_date(text: str) -> datetime | None:
    """An RFC 5322 date (or an mbox separator's asctime) in UTC, or None when it is malformed or absurd."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
        return None
    # "-0000" (RFC 5322: zone unknown) gives a naive datetime; UTC is the best reading of it.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def message_date(fields: dict[str, str], fallback: Callable[[], datetime | None] | None = None) -> datetime | None:
    """When a message was written, in UTC: its Date header, else when the topmost Received header says it
    arrived, else what ``fallback`` gives (the Maildir file's delivery time, the mbox separator's date)."""
    date = parse_date(_raw(fields, "date"))
    if date is None:
        received = _raw(fields, "received")
        date = parse_date(received.rpartition(";")[2]) if ";" in received else None
    return date or (fallback() if fallback else None)


def hashed_id(date: str, sender: str, subject: str, body: str) -> str:
    """The id of a message without a Message-ID (SPEC §12): a hash of its Date, From, Subject and body, with
    whitespace collapsed so that refolding or line endings do not change it. It has no ``@``, so it never
    equals a real Message-ID."""
    parts = (" ".join(part.split()) for part in (date, sender, subject, body))
    return "sha256:" + hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def record_from_headers(
    headers: Message,
    load: Callable[[], bytes],
    source: str,
    name: str | None = None,
    fallback_date: Callable[[], datetime | None] | None = None,
) -> MailRecord:
    """The record of a message whose header block is ``headers`` (parsed with ``BytesHeaderParser``) and
    whose whole bytes ``load`` reads. Only a message without a Message-ID is loaded now, for its hash;
    ``fallback_date`` is asked only for a message without a usable Date or Received header."""
    fields = _fields(headers)
    senders = _addresses(_raw(fields, "from"))
    subject = _text(_raw(fields, "subject"))
    message_id = normalise_message_id(_raw(fields, "message-id")) or hashed_id(
        _raw(fields, "date"), _raw(fields, "from"), subject, body_text(_parse(load()))
    )
    return MailRecord(
        message_id=message_id,
        date=message_date(fields, fallback_date),
        from_address=senders[0][1] if senders else "",
        from_name=senders[0][0] if senders else "",
        to=tuple(address for _, address in _addresses(_raw(fields, "to"))),
        cc=tuple(address for _, address in _addresses(_raw(fields, "cc"))),
        subject=subject,
        in_reply_to=normalise_message_id(_raw(fields, "in-reply-to")),
        references=tuple(_ID.findall(_raw(fields, "references"))),
        reasons=classify(headers.raw_items()),
        source=source,
        name=name,
        load=load,
    )
