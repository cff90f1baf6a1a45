"""Report metrics (pure): the report period and the groups of ``report --by``."""

from __future__ import annotations

from decimal import Decimal
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl import dates, metrics
from pipectl.metrics import LeadFacts, Period

NOW = dates.from_iso("2026-12-01T09:00:00Z")  # the 1st of a month
WIDE_WEB = "\uff57\uff45\uff42"  # full-width web


def lead(
    number: int, source: str | None = None, *tags: str, status: str = "open", owner: str | None = None
) -> LeadFacts:
    closed = "2026-11-20T09:00:00Z" if status != "open" else None
    return LeadFacts(
        number, "2026-11-02T09:00:00Z", "prospecting", status, closed, Decimal(100), 0, None, None, source, owner, tags
    )


def names(members: dict[str, list[LeadFacts]]) -> dict[str, list[int]]:
    return {name: [lead.id for lead in items] for name, items in members.items()}


def test_groups_ignore_case_and_width_and_take_the_most_used_spelling() -> None:
    leads = [lead(1, "Web"), lead(2, "web"), lead(3, "WEB"), lead(4, WIDE_WEB), lead(5, "web"), lead(6, "Referral")]
    leads += [lead(7), lead(8, "")]
    assert names(metrics.group_members(leads, "source")) == {
        "web": [1, 2, 3, 4, 5],
        "Referral": [6],
        "(none)": [7, 8],
    }


def test_a_tie_goes_to_the_spelling_of_the_earliest_lead_whatever_the_order() -> None:
    leads = [lead(5, "web"), lead(2, "WEB"), lead(9, "Web"), lead(3, "Web"), lead(4, "WEB")]
    assert list(metrics.group_members(leads, "source")) == ["WEB"]  # WEB and Web twice each; lead 2 came first
    assert list(metrics.group_members(reversed(leads), "source")) == ["WEB"]


def test_a_lead_tagged_twice_the_same_way_counts_once() -> None:
    leads = [lead(1, None, "VIP", "vip", "\uff36\uff49\uff50"), lead(2, None, "vip", "cold"), lead(3, None, "vip")]
    assert names(metrics.group_members(leads, "tag")) == {"vip": [1, 2, 3], "cold": [2]}


@given(st.lists(st.sampled_from(["Web", "web", "WEB", WIDE_WEB, "Mail", "mail", None]), max_size=30), st.randoms())
def test_grouping_does_not_depend_on_the_order_leads_come_in(sources: list[str | None], random: Random) -> None:
    leads = [lead(number, source) for number, source in enumerate(sources, 1)]
    shuffled = list(leads)
    random.shuffle(shuffled)
    grouped = metrics.group_members(leads, "source")
    assert {
        name: sorted(lead.id for lead in items) for name, items in metrics.group_members(shuffled, "source").items()
    } == names(grouped)
    assert sum(len(items) for items in grouped.values()) == len(leads)


def test_group_outcomes_count_each_spelling() -> None:
    leads = [lead(1, "Web", status="won"), lead(2, "web", status="lost"), lead(3, "WEB"), lead(4, "web")]
    period = Period("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")
    [row] = metrics.groups(metrics.group_members(leads, "source"), period)
    assert row == {
        "group": "web",
        "count": 4,
        "won_count": 1,
        "lost_count": 1,
        "win_rate": 0.5,
        "won_value": 100,
        "median_cycle_days": 18.0,
    }


def iso(period: Period) -> tuple[str, str, str | None, bool]:
    return period.since, period.until, period.name, period.default


@pytest.mark.parametrize(
    ("name", "since", "until", "expected"),
    [
        # the default on the 1st: the month that just ended, to its last second
        (None, None, None, ("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z", "last-month", True)),
        # a period still going ends now
        ("this-quarter", None, None, ("2026-10-01T00:00:00Z", "2026-12-01T09:00:00Z", "this-quarter", False)),
        ("last-year", None, None, ("2025-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "last-year", False)),
        (None, "2026-11-10T00:00:00Z", None, ("2026-11-10T00:00:00Z", "2026-12-01T09:00:00Z", None, False)),
        (
            None,
            "2026-11-10T00:00:00Z",
            "2026-11-20T23:59:59Z",
            ("2026-11-10T00:00:00Z", "2026-11-20T23:59:59Z", None, False),
        ),
        # an end in the future is now: the report cannot see further
        (
            None,
            "2026-11-10T00:00:00Z",
            "2027-01-01T00:00:00Z",
            ("2026-11-10T00:00:00Z", "2026-12-01T09:00:00Z", None, False),
        ),
        # an end alone: from the start of the target period it is in
        (None, None, "2026-10-15T23:59:59Z", ("2026-10-01T00:00:00Z", "2026-10-15T23:59:59Z", None, False)),
    ],
)
def test_period_of(name: str | None, since: str | None, until: str | None, expected: tuple[str, ...]) -> None:
    start = dates.from_iso(since) if since else None
    end = dates.from_iso(until) if until else None
    assert iso(metrics.period_of(NOW, "month", name, start, end)) == expected


def test_the_default_follows_the_target_period() -> None:
    assert iso(metrics.period_of(NOW, "quarter")) == (
        "2026-10-01T00:00:00Z",
        "2026-12-01T09:00:00Z",
        "this-quarter",
        True,
    )
    new_year = dates.from_iso("2027-01-01T09:00:00Z")
    assert iso(metrics.period_of(new_year, "year")) == (
        "2026-01-01T00:00:00Z",
        "2026-12-31T23:59:59Z",
        "last-year",
        True,
    )


def test_the_previous_period_has_the_same_length() -> None:
    period = metrics.period_of(NOW, "month", "last-quarter")
    assert (period.before().since, period.before().until) == ("2026-03-31T00:00:00Z", "2026-06-30T23:59:59Z")
