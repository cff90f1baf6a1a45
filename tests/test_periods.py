"""Calendar periods of dates.py (``target_period``, ``period_name``, ``named_period``,
``default_period``): the weeks, months, quarters and years a report covers, in local time. Kept
apart from test_dates.py, which is about parsing what users type."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl import dates
from pipectl.errors import PipectlError

KINDS = ("week", "month", "quarter", "year")


def period(now: str, kind: str, back: int = 0) -> tuple[str, str]:
    start, end = dates.target_period(dates.from_iso(now), kind, back)
    return dates.to_iso(start), dates.to_iso(end)


@pytest.mark.parametrize(
    ("now", "kind", "back", "expected"),
    [
        ("2026-12-01T09:00:00Z", "month", 0, ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "month", 1, ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")),
        ("2027-01-15T09:00:00Z", "month", 1, ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("2027-03-31T23:59:59Z", "month", 1, ("2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "quarter", 0, ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "quarter", 1, ("2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z")),
        ("2026-02-01T09:00:00Z", "quarter", 1, ("2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "quarter", 4, ("2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "year", 0, ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "year", 1, ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")),
        # Tuesday 2026-12-01: weeks run Monday to Sunday
        ("2026-12-01T09:00:00Z", "week", 0, ("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z")),
        ("2026-12-01T09:00:00Z", "week", 1, ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")),
        ("2026-11-29T23:00:00Z", "week", 0, ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")),  # a Sunday
    ],
)
def test_calendar_periods(now: str, kind: str, back: int, expected: tuple[str, str]) -> None:
    assert period(now, kind, back) == expected


def test_periods_follow_the_local_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        # 16:00 UTC on 30 November is 01:00 on 1 December in Tokyo: December there, and November just ended
        now = dates.from_iso("2026-11-30T16:00:00Z")
        assert period("2026-11-30T16:00:00Z", "month") == ("2026-11-30T15:00:00Z", "2026-12-31T15:00:00Z")
        assert dates.default_period(now, "month") == "last-month"
        assert dates.default_period(dates.from_iso("2026-11-30T14:00:00Z"), "month") == "this-month"
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(KINDS),
    st.integers(min_value=0, max_value=30),
)
def test_periods_tile_the_calendar(now: datetime, kind: str, back: int) -> None:
    start, end = dates.target_period(now, kind, back)
    assert dates.target_period(now, kind, back + 1)[1] == start  # each one ends where the next one starts
    assert start < end and dates.target_period(start, kind) == (start, end)  # its start is in it
    assert dates.target_period(end - timedelta(seconds=1), kind) == (start, end)  # and so is its last second
    if back == 0:
        assert start <= now < end
    first = start.date()
    if kind == "week":
        assert first.weekday() == 0 and end - start == timedelta(days=7)
    else:
        assert first.day == 1 and first.month in {"month": range(1, 13), "quarter": (1, 4, 7, 10), "year": (1,)}[kind]


@pytest.mark.parametrize(
    ("now", "kind", "expected"),
    [
        ("2026-12-01T09:00:00Z", "month", "last-month"),  # only hours of December gone: November
        ("2026-12-02T09:00:00Z", "month", "this-month"),
        ("2026-11-30T09:00:00Z", "month", "this-month"),
        ("2026-10-01T00:00:00Z", "quarter", "last-quarter"),
        ("2026-11-01T09:00:00Z", "quarter", "this-quarter"),  # the 1st of a month, but not of the quarter
        ("2027-01-01T09:00:00Z", "year", "last-year"),
        ("2026-12-01T09:00:00Z", "year", "this-year"),
    ],
)
def test_default_period_is_the_one_that_just_ended_on_its_first_day(now: str, kind: str, expected: str) -> None:
    assert dates.default_period(dates.from_iso(now), kind) == expected


def test_named_periods() -> None:
    now = dates.from_iso("2026-12-01T09:00:00Z")
    assert list(dates.PERIODS) == [
        "this-week",
        "last-week",
        "this-month",
        "last-month",
        "this-quarter",
        "last-quarter",
        "this-year",
        "last-year",
    ]
    assert dates.period_name(" Last-Quarter ") == "last-quarter"
    assert dates.named_period("last-quarter", now) == dates.target_period(now, "quarter", 1)
    assert dates.named_period("this-week", now) == dates.target_period(now, "week")
    with pytest.raises(PipectlError) as info:
        dates.period_name("last-fortnight")
    assert info.value.message == (
        "unknown period 'last-fortnight': use one of this-week, last-week, this-month, last-month, "
        "this-quarter, last-quarter, this-year, last-year"
    )
