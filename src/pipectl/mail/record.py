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
from email.headerregistry import AddressHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property

from pipectl.mail.charsets import decode_bytes, utf8_words
from pipectl.mail.classify import Reason, asks_to_unsubscribe, bounced_addresses, classify, main_reason
from pipectl.mail.text import body_text, new_text, snippet

_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_FIRST_YEAR, _LAST_YEAR = 1970, 2999


@dataclass(frozen=True)
class MailRecord:
    """A message, as sync needs it. Addresses are lowercased as written (compare them with
    :func:`pipectl.mail.addresses.comparable`); ``date`` is None only when no header, file name or mbox
    separator gave one. ``name`` is the Maildir file's base name (without ``:2,flags``), for skipping what a
    previous run read; ``source`` says where the message is, for messages to the user."""

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


def _raw(headers: Message, name: str) -> str:
    """The first ``name`` header's value as text: raw 8-bit (Shift_JIS, UTF-8) and raw ISO-2022-JP headers,
    which Japanese mailers still send, decoded; RFC 2047 encoded words made UTF-8 for the header parser."""
    value = next((str(v) for k, v in headers.raw_items() if k.lower() == name.lower()), "")
    if any("\udc80" <= char <= "\udcff" for char in value) or "\x1b" in value:
        value = decode_bytes(value.encode("ascii", "surrogateescape"))
    return utf8_words(re.sub(r"\r?\n(?=[ \t])", "", value).strip())


def _decoded(name: str, value: str) -> str:
    """An unstructured header's value with its encoded words decoded."""
    try:
        return " ".join(str(policy.default.header_factory(name, value)).split())
    except Exception:  # the stdlib header parser has crashed on malformed input; keep the text as written
        return " ".join(value.split())


def _addresses(name: str, value: str) -> list[tuple[str, str]]:
    """(display name, address lowercased) pairs of an address header; groups flattened, non-addresses dropped."""
    pairs: list[tuple[str, str]]
    try:
        header = policy.default.header_factory(name, value)
        assert isinstance(header, AddressHeader)
        pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception:  # as in _decoded: fall back to the older, more lenient parser
        pairs = getaddresses([value])
    return [(" ".join(display.split()), address.strip().lower()) for display, address in pairs if "@" in address]


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


def message_date(headers: Message, fallback: datetime | None = None) -> datetime | None:
    """When a message was written, in UTC: its Date header, else when the topmost Received header says it
    arrived, else ``fallback`` (the Maildir file's delivery time or the mbox separator's date)."""
    date = parse_date(_raw(headers, "Date"))
    if date is None:
        received = _raw(headers, "Received")
        date = parse_date(received.rpartition(";")[2]) if ";" in received else None
    return date or fallback


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
    fallback_date: datetime | None = None,
) -> MailRecord:
    """The record of a message whose header block is ``headers`` (parsed with ``BytesHeaderParser``) and
    whose whole bytes ``load`` reads. Only a message without a Message-ID is loaded now, for its hash."""
    senders = _addresses("From", _raw(headers, "From"))
    subject = _decoded("Subject", _raw(headers, "Subject"))
    message_id = normalise_message_id(_raw(headers, "Message-ID")) or hashed_id(
        _raw(headers, "Date"), _raw(headers, "From"), subject, body_text(_parse(load()))
    )
    return MailRecord(
        message_id=message_id,
        date=message_date(headers, fallback_date),
        from_address=senders[0][1] if senders else "",
        from_name=senders[0][0] if senders else "",
        to=tuple(address for _, address in _addresses("To", _raw(headers, "To"))),
        cc=tuple(address for _, address in _addresses("Cc", _raw(headers, "Cc"))),
        subject=subject,
        in_reply_to=normalise_message_id(_raw(headers, "In-Reply-To")),
        references=tuple(_ID.findall(_raw(headers, "References"))),
        reasons=classify(headers.raw_items()),
        source=source,
        name=name,
        load=load,
    )
