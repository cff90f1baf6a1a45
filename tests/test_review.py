"""The review's rules at their edges, as pure functions (leads, config and now in; findings out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pipectl import agenda, cadence, config, dates, review
from pipectl.model import Lead, Touchpoint

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CONFIG = config.parse({"review": {"min_open": 1, "min_front_share": 0, "overload_share": 1}}, None)


def ago(days: float = 0, hours: float = 0) -> str:
    return dates.to_iso(NOW - timedelta(days=days, hours=hours))


def lead(lead_id: int = 1, **fields: Any) -> Lead:
    """A healthy open lead: contacted, touched today, a next step scheduled, in prospecting."""
    base = Lead(
        lead_id,
        f"Lead {lead_id}",
        "prospecting",
        "open",
        ago(3),
        ago(0),
        ago(3),
        last_touch_at=ago(0),
        touch_count=1,
        last_outbound_at=ago(0),
        next_action="call",
        next_action_due=ago(-2),
        attempts=1,
    )
    return replace(base, **fields)


def kinds(*leads: Lead, cfg: config.Config = CONFIG, facts: review.Facts | None = None) -> list[tuple[str, int | None]]:
    found, _ = review.review(list(leads), cfg, NOW, facts or review.Facts())
    return [(f.kind, f.lead_id) for f in found]


def test_a_healthy_lead_has_no_findings() -> None:
    assert kinds(lead()) == []


@pytest.mark.parametrize(("days", "fires"), [(14, False), (14.01, True)])
def test_stale_strictly_past_max_days_even_when_scheduled(days: float, fires: bool) -> None:
    assert kinds(lead(stage_entered_at=ago(days))) == ([("stale", 1)] if fires else [])


@pytest.mark.parametrize(("days", "scheduled", "fires"), [(6.99, False, False), (7, False, True), (30, True, False)])
def test_idle_only_without_a_future_step(days: float, scheduled: bool, fires: bool) -> None:
    item = lead(last_touch_at=ago(days), next_action_due=ago(-1) if scheduled else None, next_action=None)
    assert (("stale", 1) in kinds(item)) is fires


@pytest.mark.parametrize(("due", "fires"), [(ago(0, 0.01), True), (ago(0), True), (ago(-0.01), False)])
def test_overdue_when_the_due_time_has_passed(due: str, fires: bool) -> None:
    assert kinds(lead(next_action_due=due)) == ([("overdue", 1)] if fires else [])


def test_no_next_step_only_past_the_first_stage() -> None:
    assert kinds(lead(next_action=None, next_action_due=None)) == []
    assert kinds(lead(stage="connecting", qualified=True, next_action=None, next_action_due=None)) == [
        ("no_next_step", 1)
    ]
    assert kinds(lead(stage="connecting", qualified=True, next_action_due=None)) == [("no_next_step", 1)]


@pytest.mark.parametrize(("hours", "fires"), [(0.99, False), (1, True)])
def test_uncontacted_after_respond_within_hours(hours: float, fires: bool) -> None:
    item = lead(created_at=ago(hours=hours), stage_entered_at=ago(hours=hours), last_outbound_at=None)
    assert kinds(item) == ([("uncontacted", 1)] if fires else [])


def test_unqualified_effort() -> None:
    assert kinds(lead(touch_count=3)) == []
    assert kinds(lead(touch_count=4)) == [("unqualified_effort", 1)]
    assert kinds(lead(touch_count=9, qualified=True)) == []
    forced = lead(stage="connecting", qualified=None, touch_count=1)
    found, _ = review.review([forced], CONFIG, NOW, review.Facts())
    assert [(f.kind, f.details.get("forced")) for f in found] == [("unqualified_effort", True)]


def test_last_chance_after_max_attempts_then_close_out_after_the_wait() -> None:
    assert kinds(lead(attempts=4)) == []
    assert kinds(lead(attempts=5)) == [("last_chance", 1)]
    sent = lead(attempts=6, last_chance_at=ago(6.99))
    assert kinds(sent) == []
    found, _ = review.review([replace(sent, last_chance_at=ago(7))], CONFIG, NOW, review.Facts())
    assert [(f.kind, f.details["close_reason"]) for f in found] == [("close_out", "no response")]


def test_close_out_past_the_sales_cycle_says_which_cycle() -> None:
    old = lead(created_at=ago(181), stage_entered_at=ago(1))  # fallback 90 days x 2.0 tolerance
    found, cycle = review.review([old], CONFIG, NOW, review.Facts())
    assert [(f.kind, f.details["close_reason"]) for f in found] == [("close_out", "past sales cycle")]
    assert "fallback" in found[0].reason and cycle.value == 90
    assert kinds(replace(old, created_at=ago(180))) == []
    wins = review.Facts(won_cycle_days=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
    _, own = review.review([old], CONFIG, NOW, wins)
    assert own.value == 90 and "90th percentile of your 10 won deals" in own.source
    assert kinds(replace(old, created_at=ago(100)), facts=review.Facts(won_cycle_days=(10, 20, 30, 40, 45))) == [
        ("close_out", 1)
    ]  # own cycle 45 days x 2 = 90 < 100


def test_overloaded_stage_by_count_and_by_share() -> None:
    cfg = config.parse(
        {
            "review": {"min_open": 4, "min_front_share": 0},
            "stages": [
                {"name": "a", "probability": 0.5, "max_days": 99, "max_open": 2},
                {"name": "b", "probability": 0.5, "max_days": 99, "max_open": 9},
            ],
        },
        None,
    )
    three = [lead(i, stage="a") for i in range(1, 4)]
    assert kinds(*three, cfg=cfg) == [("overloaded_stage", None), ("thin_pipeline", None)]
    shares = [lead(1, stage="a"), *[lead(i, stage="b", qualified=True) for i in range(2, 5)]]
    assert kinds(*shares, cfg=cfg) == [("overloaded_stage", None)]  # 75 % of 4 in b
    assert kinds(*shares[:3], cfg=cfg) == [("thin_pipeline", None)]  # under min_open: shares mean little


def test_thin_pipeline_count_front_and_coverage() -> None:
    cfg = config.parse({"review": {"min_open": 3, "min_front_share": 0.5, "overload_share": 1}}, None)
    front = [lead(1), lead(2), lead(3, stage="qualifying")]
    assert kinds(*front, cfg=cfg) == []
    assert kinds(*front[:2], cfg=cfg) == [("thin_pipeline", None)]
    back = [lead(1), lead(2, stage="qualifying"), lead(3, stage="qualifying")]
    assert kinds(*back, cfg=cfg) == [("thin_pipeline", None)]
    quota = config.parse(
        {"review": {"min_open": 1, "min_front_share": 0, "overload_share": 1}, "targets": {"quota": 1000}}, None
    )
    rich = [lead(1, value=Decimal(2100))]
    assert kinds(*rich, cfg=quota, facts=review.Facts(won_value_in_period=Decimal(300))) == []  # 3.0x of 700
    poor = [lead(1, value=Decimal(2000))]
    found, _ = review.review(poor, quota, NOW, review.Facts(won_value_in_period=Decimal(300)))
    assert [(f.kind, f.details["coverage"], f.details["coverage_needed"]) for f in found] == [
        ("thin_pipeline", 2.86, 3.0)
    ]
    rate = review.Facts(won_count=5, lost_count=5, won_value_in_period=Decimal(300))
    assert kinds(*poor, cfg=quota, facts=rate) == []  # win rate 50 %: 2x needed
    assert kinds(*poor, cfg=quota, facts=review.Facts(won_value_in_period=Decimal(1000))) == []  # target met


def test_snoozed_leads_have_no_findings_until_their_day() -> None:
    stale = lead(stage_entered_at=ago(60), snoozed_until=ago(-1))
    assert kinds(stale) == []
    assert kinds(replace(stale, snoozed_until=ago(0))) == [("stale", 1)]


def test_findings_are_grouped_by_kind_most_urgent_first() -> None:
    leads = [lead(1, next_action_due=ago(1)), lead(2, next_action_due=ago(5)), lead(3, stage_entered_at=ago(20))]
    assert kinds(*leads) == [("overdue", 2), ("overdue", 1), ("stale", 3)]


def test_percentile_is_nearest_rank() -> None:
    assert review.percentile([5, 1, 3, 2, 4], 0.9) == 5
    assert review.percentile(list(range(1, 11)), 0.9) == 9
    assert review.percentile([7], 0.9) == 7


# --- the cadence --------------------------------------------------------------------------------


def tp(tp_id: int, direction: str | None, outcome: str | None = None, day: int = 0) -> Touchpoint:
    return Touchpoint(tp_id, 1, "call", ago(10 - day), direction, outcome)


def test_cadence_counts_attempts_and_a_reply_resets() -> None:
    state = cadence.state([tp(1, "out", "no-answer", 0), tp(2, "out", "no-answer", 1), tp(3, None, None, 2)])
    assert (state.attempts, state.last_outbound_at, state.last_reply_at) == (2, ago(9), None)
    state = cadence.state([tp(1, "out", "no-answer", 0), tp(2, "in", None, 1), tp(3, "out", "voicemail", 2)])
    assert (state.attempts, state.last_reply_at, state.last_outbound_at) == (1, ago(9), ago(8))
    state = cadence.state([tp(1, "out", "no-answer", 0), tp(2, "out", "reached", 1)])
    assert (state.attempts, state.last_reply_at) == (0, ago(9))
    state = cadence.state([tp(1, "out", "no-answer", 0), tp(2, "out", "last-chance", 1)])
    assert (state.attempts, state.last_chance_at) == (2, ago(9))
    # back-dated: a reply logged later but dated between the attempts
    state = cadence.state([tp(1, "out", None, 0), tp(2, "out", None, 2), tp(3, "in", None, 1)])
    assert state.attempts == 1


EVERY_DAY = config.parse({"calendar": {"workdays": list(dates.WEEKDAYS), "country": ""}}, None)


def test_cadence_schedules_widening_gaps_then_last_chance_then_close_out() -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    plans = [cadence.next_step(EVERY_DAY, cadence.State(attempts=n), at) for n in range(1, 6)]
    assert [(step, due[:10]) for step, due in plans] == [  # type: ignore[misc]
        ("attempt 2 of 5", "2026-12-03"),
        ("attempt 3 of 5", "2026-12-04"),
        ("attempt 4 of 5", "2026-12-05"),
        ("attempt 5 of 5", "2026-12-06"),
        ("send the last-chance message", "2026-12-06"),
    ]
    chance = cadence.next_step(EVERY_DAY, cadence.State(attempts=6, last_chance_at=dates.to_iso(at)), at)
    assert chance == ("close-out decision: no reply to the last chance", "2026-12-07T23:59:59Z")
    off = config.parse({"cadence": {"auto_schedule": False}}, None)
    assert cadence.next_step(off, cadence.State(attempts=1), at) is None
    fixed = config.parse({"cadence": {"attempt_interval_days": 2}}, None)
    assert cadence.next_step(fixed, cadence.State(attempts=3), at) == ("attempt 4 of 5", "2026-12-02T23:59:59Z")


def test_cadence_moves_a_step_off_weekends_and_holidays_to_the_next_working_day() -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)  # Monday
    # The default calendar: Monday to Friday, and the currency's (USD) country's public holidays.
    plans = [cadence.next_step(CONFIG, cadence.State(attempts=n), at) for n in range(1, 6)]
    assert [due[:10] for _, due in plans] == [  # type: ignore[misc]
        "2026-12-03",  # Thursday
        "2026-12-04",  # Friday
        "2026-12-07",  # Saturday -> Monday
        "2026-12-07",  # Sunday -> Monday
        "2026-12-07",
    ]
    # 2026-12-29 + 3 days is 1 January 2027: a Friday, but New Year's Day in Japan (and the US).
    japan = config.parse({"currency": "JPY", "cadence": {"attempt_interval_days": 3}}, None)
    assert japan.calendar.country == "JP"
    step = cadence.next_step(japan, cadence.State(attempts=1), datetime(2026, 12, 29, 9, tzinfo=UTC))
    assert step == ("attempt 2 of 5", "2027-01-04T23:59:59Z")
    # extra days off: the 1st to the 5th of January (Friday to Tuesday) off, so Wednesday the 6th
    extra = config.parse(
        {
            "currency": "EUR",
            "cadence": {"attempt_interval_days": 3},
            "calendar": {"holidays": ["2027-01-01", "2027-01-04", "2027-01-05"]},
        },
        None,
    )
    assert extra.calendar.country is None
    step = cadence.next_step(extra, cadence.State(attempts=1), datetime(2026, 12, 29, 9, tzinfo=UTC))
    assert step == ("attempt 2 of 5", "2027-01-06T23:59:59Z")
    # a four-day week: Friday to Sunday off
    short = config.parse({"currency": "EUR", "calendar": {"workdays": ["Monday", "tue", "wed", "thu"]}}, None)
    step = cadence.next_step(short, cadence.State(attempts=2), at)  # 4 days: Friday -> Monday
    assert step is not None and step[1] == "2026-12-07T23:59:59Z"


# --- today --------------------------------------------------------------------------------------


def test_today_order() -> None:
    leads = [
        lead(1, value=Decimal(100), stage="closing", next_action_due=ago(-3)),
        lead(2, next_action_due=ago(1), next_action="call back"),
        lead(3, next_action_due=ago(3)),
        lead(4, last_outbound_at=None, created_at=ago(0, 5)),
        lead(5, last_outbound_at=None, created_at=ago(0, 2)),
        lead(6, next_action_due=dates.to_iso(dates.at_local(NOW.date(), dates.END_OF_DAY))),
        lead(7, value=Decimal(1000), stage="connecting", next_action_due=ago(-3)),
        lead(8, snoozed_until=ago(-5), next_action_due=ago(2)),
        lead(
            9,
            snoozed_until=dates.to_iso(dates.at_local(NOW.date())),
            snooze_reason="budget frozen",
            next_action_due=ago(-9),
        ),
        lead(10, next_action_due=ago(-3)),  # no value: not suggested
    ]
    items = agenda.plan(leads, CONFIG, NOW)
    assert [(i.lead.id, i.section) for i in items] == [
        (3, "overdue"),
        (2, "overdue"),
        (5, "uncontacted"),
        (4, "uncontacted"),
        (6, "due_today"),
        (9, "due_today"),
        (7, "closing"),
        (1, "closing"),
    ]
    assert items[1].reason.endswith("call back")
    assert items[5].reason == "back from snooze: budget frozen"
    assert items[6].reason == "connecting, weighted value 500 USD"


def test_bad_email_for_the_leads_the_store_names_unless_snoozed() -> None:
    facts = review.Facts(bad_emails={1: "old@acme.example", 2: "gone@globex.example"})
    snoozed = lead(2, snoozed_until=ago(-5))
    assert kinds(lead(1), snoozed, lead(3), facts=facts) == [("bad_email", 1)]
    (finding,) = review.review([lead(1)], CONFIG, NOW, facts)[0]
    assert finding.details == {"email": "old@acme.example"} and "old@acme.example bounced" in finding.reason
