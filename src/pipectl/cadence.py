"""The follow-up cadence: attempts, replies, the last-chance message, and the next step (pure).

Outbound attempts in a row without a reply are counted; a reply (an inbound touchpoint, or an
outbound one with outcome ``replied``/``reached``) resets the count. After ``cadence.max_attempts``
the rep sends the last-chance ("breakup") message, logged with outcome ``last-chance``; with no reply
``cadence.last_chance_wait_days`` later, the lead is closed out. With ``cadence.auto_schedule`` on,
an unanswered attempt schedules the next step by itself, always on a working day of the config's
``[calendar]`` (a step that would fall on a weekend or a holiday moves to the next working day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipectl import dates
from pipectl.config import Config
from pipectl.model import LAST_CHANCE, REPLY_OUTCOMES, Lead, Touchpoint


@dataclass(frozen=True)
class State:
    attempts: int = 0
    last_outbound_at: str | None = None
    last_reply_at: str | None = None
    last_chance_at: str | None = None

    def as_changes(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "last_outbound_at": self.last_outbound_at,
            "last_reply_at": self.last_reply_at,
            "last_chance_at": self.last_chance_at,
        }


def is_reply(touchpoint: Touchpoint) -> bool:
    return touchpoint.direction == "in" or (touchpoint.direction == "out" and touchpoint.outcome in REPLY_OUTCOMES)


def state(touchpoints: list[Touchpoint]) -> State:
    """The cadence state of a lead from all its touchpoints, given in the order they were logged."""
    result = State()
    for tp in sorted(touchpoints, key=lambda t: t.at):  # stable: same-time touchpoints keep their order
        if is_reply(tp):
            outbound = tp.at if tp.direction == "out" else result.last_outbound_at
            result = State(0, outbound, tp.at, None)
        elif tp.direction == "out":
            chance = tp.at if tp.outcome == LAST_CHANCE else result.last_chance_at
            result = State(result.attempts + 1, tp.at, result.last_reply_at, chance)
    return result


def gap_days(config: Config, attempt: int) -> int:
    """Days to wait after attempt number ``attempt`` (1-based): the widening gaps of the config."""
    gaps = config.cadence["attempt_interval_days"]
    if isinstance(gaps, int):
        return gaps
    return int(gaps[min(attempt, len(gaps)) - 1])


def next_step(config: Config, after: State, at: datetime) -> tuple[str, str] | None:
    """What auto-scheduling plans after an unanswered attempt: (next action, due ISO), or None."""
    if not config.cadence["auto_schedule"] or after.attempts == 0:
        return None
    most = config.cadence["max_attempts"]
    if after.last_chance_at is not None:
        wait = config.cadence["last_chance_wait_days"]
        return "close-out decision: no reply to the last chance", _due(config, at, wait)
    if after.attempts >= most:
        return "send the last-chance message", _due(config, at, gap_days(config, after.attempts))
    return f"attempt {after.attempts + 1} of {most}", _due(config, at, gap_days(config, after.attempts))


def _due(config: Config, at: datetime, days: int) -> str:
    day = config.calendar.on_or_after(at.astimezone().date() + timedelta(days=days))
    return dates.to_iso(dates.at_local(day, dates.END_OF_DAY))


def describe(config: Config, lead: Lead, now: datetime) -> str | None:
    """Where the lead is in the cadence, for `show`: "attempt 2 of 5", "last chance sent 3 days ago"."""
    if lead.last_chance_at:
        days = int(dates.days_between(lead.last_chance_at, now) // 1)
        return f"last chance sent {days} day{'s' if days != 1 else ''} ago"
    if lead.attempts:
        return f"attempt {lead.attempts} of {config.cadence['max_attempts']} without a reply"
    if lead.last_reply_at:
        return "replied " + dates.show(lead.last_reply_at)
    return None
