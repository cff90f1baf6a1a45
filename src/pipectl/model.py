"""The domain's data: leads, touchpoints and their history, as plain dataclasses.

These are what the store returns and what the pure domain modules (pipeline, review, metrics...)
take. Money is a ``Decimal`` (exact); times are UTC ISO-8601 strings as stored, parsed where needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    DISQUALIFIED = "disqualified"


CLOSED = (Status.WON, Status.LOST, Status.DISQUALIFIED)


# The choices every front end (the command line, the MCP tools) offers for listing and reporting.
class StatusFilter(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"
    disqualified = "disqualified"
    closed = "closed"
    all = "all"


class SortKey(StrEnum):
    id = "id"
    name = "name"
    company = "company"
    value = "value"
    stage = "stage"
    created = "created"
    updated = "updated"
    due = "due"
    touched = "touched"


class GroupBy(StrEnum):
    source = "source"
    owner = "owner"
    tag = "tag"


# Touchpoint kinds that are attempts to reach the lead: outbound unless logged with --in.
CONTACT_KINDS = ("call", "email", "meeting", "message")
# Outcomes of an outbound touchpoint that mean the lead answered.
REPLY_OUTCOMES = ("replied", "reached")
# The outcome that marks the last-chance ("breakup") message of the cadence.
LAST_CHANCE = "last-chance"


@dataclass(slots=True)  # the review holds every open lead: slots halve the memory
class Lead:
    id: int
    name: str
    stage: str
    status: str
    created_at: str
    updated_at: str
    stage_entered_at: str
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    source: str | None = None
    value: Decimal | None = None
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    last_touch_at: str | None = None
    touch_count: int = 0
    next_action: str | None = None
    next_action_due: str | None = None
    expected_close: str | None = None
    snoozed_until: str | None = None
    qualified: bool | None = None
    qualification_score: float | None = None
    lost_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Kept in step with the touchpoints and history, so the review never reads touchpoints:
    snooze_reason: str | None = None
    closed_at: str | None = None
    attempts: int = 0  # outbound attempts since the last reply
    last_outbound_at: str | None = None
    last_reply_at: str | None = None
    last_chance_at: str | None = None  # the last-chance message, since the last reply
    # The record this lead was imported from: its id in another CRM, and that CRM ("salesforce"...).
    source_id: str | None = None
    source_system: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN

    @property
    def label(self) -> str:
        """How the lead is named in messages: "#3 Jane Doe (Acme)"."""
        company = f" ({self.company})" if self.company else ""
        return f"#{self.id} {self.name}{company}"


@dataclass
class Touchpoint:
    id: int
    lead_id: int
    kind: str
    at: str
    direction: str | None = None
    outcome: str | None = None
    note: str | None = None
    external_id: str | None = None  # its id where it came from: a Message-ID (sync mail)


@dataclass
class Event:
    """One recorded change. ``data`` holds what undo needs: ``old``/``new`` column values, rows."""

    id: int
    batch: int
    at: str
    command: str
    type: str
    lead_id: int | None
    data: dict[str, Any]


@dataclass(slots=True)  # review --json makes one per finding: 100,000s
class Finding:
    """One thing the daily review found: a lead (or a stage, or the whole pipeline) that needs action.

    ``details`` holds the numbers behind ``reason``; ``urgency`` orders findings within a kind.
    """

    kind: str
    reason: str
    lead_id: int | None = None
    stage: str | None = None
    name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    urgency: float = 0.0


# --- stored forms ----------------------------------------------------------------------------------
# How the lead attributes that are not stored as they are become columns, and back: money in
# hundredths, tags and extra as JSON, the qualified flag as 0/1.


def is_snoozed(lead: Lead, now_iso: str) -> bool:
    """Whether ``lead`` sleeps at ``now_iso`` (a stored time): the review and today pass it by."""
    return lead.snoozed_until is not None and lead.snoozed_until > now_iso


def hundredths(value: Decimal | int | str) -> int:
    return int((value if isinstance(value, Decimal) else Decimal(value)).scaleb(2))


def from_hundredths(stored: int | Decimal) -> Decimal:
    return Decimal(stored).scaleb(-2)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_TO_COLUMN: dict[str, Callable[[Any], Any]] = {"value": hundredths, "tags": _json, "extra": _json, "qualified": int}
_FROM_COLUMN: dict[str, Callable[[Any], Any]] = {
    "value": from_hundredths,
    "tags": json.loads,
    "extra": json.loads,
    "qualified": bool,
}


def to_column(name: str, value: Any) -> Any:
    """A lead attribute in its stored form."""
    convert = _TO_COLUMN.get(name)
    return value if value is None or convert is None else convert(value)


def from_column(name: str, value: Any) -> Any:
    """A lead attribute from its stored form (``to_column``'s inverse)."""
    convert = _FROM_COLUMN.get(name)
    return value if value is None or convert is None else convert(value)
