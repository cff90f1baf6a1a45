"""Today's plan: what to do first (pure: open leads, config and now in; an ordered list out).

The order (SPEC §7): overdue next steps, most overdue first; then leads never contacted (speed to
lead: the freshest first, while they are most likely to answer); then what is due today, and leads
back from a snooze today; then the open leads closest to closing, by weighted value. Snoozed leads
stay out until their day comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pipectl import dates
from pipectl.config import Config
from pipectl.model import Lead, is_snoozed

SECTIONS = ("overdue", "uncontacted", "due_today", "closing")
CLOSING_SUGGESTIONS = 10  # the last section suggests, it does not oblige: keep it short


@dataclass(frozen=True)
class Item:
    lead: Lead
    section: str
    reason: str


def weighted_value(lead: Lead, config: Config) -> Decimal:
    probability = config.stage(lead.stage).probability if lead.stage in config.stage_index else 0.0
    return (lead.value or Decimal(0)) * Decimal(str(probability))


def today_bounds(now: datetime) -> tuple[str, str]:
    """The local day of ``now``, as the stored times of its first and last second."""
    today = dates.local_today(now)
    return dates.to_iso(dates.at_local(today)), dates.to_iso(dates.at_local(today, dates.END_OF_DAY))


def plan(leads: list[Lead], config: Config, now: datetime) -> list[Item]:
    """The day's plan from ``leads``: all open leads, or any superset of the first ones of each section
    plus the most valuable others (what ``Store.agenda`` reads, so a big pipeline is not loaded)."""
    now_iso = dates.to_iso(now)
    start, end = today_bounds(now)
    overdue, uncontacted, due_today, rest = [], [], [], []
    for lead in leads:
        if is_snoozed(lead, now_iso):
            continue
        due = lead.next_action_due
        step = lead.next_action or "next step"
        if due is not None and due <= now_iso:
            overdue.append(Item(lead, "overdue", f"overdue since {dates.show(due)}: {step}"))
        elif lead.last_outbound_at is None:
            uncontacted.append(Item(lead, "uncontacted", f"new since {dates.show(lead.created_at)}, not contacted yet"))
        elif due is not None and due <= end:
            due_today.append(Item(lead, "due_today", f"due today: {step}"))
        elif lead.snoozed_until is not None and start <= lead.snoozed_until <= now_iso:
            due_today.append(
                Item(lead, "due_today", f"back from snooze: {lead.snooze_reason or 'snoozed until today'}")
            )
        else:
            rest.append(lead)
    overdue.sort(key=lambda item: (item.lead.next_action_due or "", item.lead.id))
    uncontacted.sort(key=lambda item: (item.lead.created_at, item.lead.id), reverse=True)
    due_today.sort(key=lambda item: (item.lead.next_action_due or "", item.lead.id))
    stage_order = config.stage_index
    rest.sort(key=lambda lead: (-weighted_value(lead, config), -stage_order.get(lead.stage, 0), lead.id))
    closing = [
        Item(lead, "closing", f"{lead.stage}, weighted value {weighted_value(lead, config):,.0f} {config.currency}")
        for lead in [lead for lead in rest if lead.value][:CLOSING_SUGGESTIONS]
    ]
    return overdue + uncontacted + due_today + closing
