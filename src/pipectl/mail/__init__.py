"""Mail in: a rep's mailboxes read into plain records (SPEC §12), the first layer of ``pipectl sync mail``.

The package is pure: it reads and classifies, and knows nothing of leads or the database.
``read(PATH)`` streams the messages of a Maildir, an mbox, .eml files or stdin as records (:class:`MailRecord`),
their headers parsed and their body loaded only when asked; ``classify`` holds the header rules that tell
auto-replies, list posts and bounces from a person's mail; ``new_text`` and ``snippet`` cut a message
down to what its writer typed; ``comparable`` is the form two addresses are compared in.

The sync command builds on this API: an action compares each record's addresses with the leads' and the
rep's own (``[mail] me``), loads the text only of the messages that concern a lead, and logs them as
touchpoints once per ``message_id``; a bounce marks its ``bounced_addresses()``, and a Maildir run keeps
the records' names to pass as ``skip_names`` next time.
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
