"""Mail in: reading a rep's mailboxes into plain records (SPEC §12).

This package is pure: it reads and classifies, it does not touch the database. ``readers.read(PATH)``
streams the messages of a Maildir, an mbox, .eml files or stdin as :class:`MailRecord` s (headers parsed,
body loaded when asked); ``classify`` holds the header rules that tell auto-replies, list posts and
bounces from a person's mail; ``text`` cuts a message down to what its writer typed; ``addresses.comparable``
is the form addresses are compared in. ``pipectl sync mail`` is built on it: an action matches each
record's addresses against the leads' and the rep's own (``[mail] me``), loads the text only of the
messages that concern a lead, and logs them as touchpoints, once per Message-ID.
"""

from __future__ import annotations

from pipectl.mail.addresses import comparable
from pipectl.mail.classify import REASONS, Reason, asks_to_unsubscribe, bounced_addresses, classify
from pipectl.mail.readers import KINDS, kind_of, read
from pipectl.mail.record import MailRecord
from pipectl.mail.text import new_text, snippet

__all__ = [
    "KINDS",
    "REASONS",
    "MailRecord",
    "Reason",
    "asks_to_unsubscribe",
    "bounced_addresses",
    "classify",
    "comparable",
    "kind_of",
    "new_text",
    "read",
    "snippet",
]
