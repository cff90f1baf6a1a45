"""Dates as users type them, relative to a fixed now (Monday 2026-11-30, 09:00 UTC; TZ=UTC)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl import dates
from pipectl.errors import PipectlError

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday


def when(text: str, mode: dates.Mode = "point") -> str:
    return dates.to_iso(dates.parse_when(text, NOW, mode))


@pytest.mark.parametrize(
    ("text", "point", "due"),
    [
        ("today", "2026-11-30T00:00:00Z", "2026-11-30T23:59:59Z"),
        ("Tomorrow", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z"),
        ("yesterday", "2026-11-29T00:00:00Z", "2026-11-29T23:59:59Z"),
        ("eow", "2026-12-06T00:00:00Z", "2026-12-06T23:59:59Z"),
        ("eom", "2026-11-30T00:00:00Z", "2026-11-30T23:59:59Z"),
        ("friday", "2026-12-04T00:00:00Z", "2026-12-04T23:59:59Z"),
        ("fri", "2026-12-04T00:00:00Z", "2026-12-04T23:59:59Z"),
        ("monday", "2026-12-07T00:00:00Z", "2026-12-07T23:59:59Z"),  # the next one, not today
        ("+3d", "2026-12-03T00:00:00Z", "2026-12-03T23:59:59Z"),
        ("3d", "2026-12-03T00:00:00Z", "2026-12-03T23:59:59Z"),
        ("2w", "2026-12-14T00:00:00Z", "2026-12-14T23:59:59Z"),
        ("-1d", "2026-11-29T00:00:00Z", "2026-11-29T23:59:59Z"),
        ("+4h", "2026-11-30T13:00:00Z", "2026-11-30T13:00:00Z"),
        ("now", "2026-11-30T09:00:00Z", "2026-11-30T09:00:00Z"),
        ("2026-12-24", "2026-12-24T00:00:00Z", "2026-12-24T23:59:59Z"),
        ("2026-12-24 15:30", "2026-12-24T15:30:00Z", "2026-12-24T15:30:00Z"),
        ("2026-12-24T15:30:00+09:00", "2026-12-24T06:30:00Z", "2026-12-24T06:30:00Z"),
        ("2026-12-24T15:30:00Z", "2026-12-24T15:30:00Z", "2026-12-24T15:30:00Z"),
        ("Dec 24 2026", "2026-12-24T00:00:00Z", "2026-12-24T23:59:59Z"),
        ("24 December 2026 10:00", "2026-12-24T10:00:00Z", "2026-12-24T10:00:00Z"),
    ],
)
def test_forms(text: str, point: str, due: str) -> None:
    assert when(text) == point
    assert when(text, "due") == due


def test_eom_mid_month_and_leap_february() -> None:
    assert dates.to_iso(dates.parse_when("eom", datetime(2028, 2, 10, tzinfo=UTC))) == "2028-02-29T00:00:00Z"


def test_local_time_zone_is_used_for_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        # 09:00 UTC is 18:00 in Tokyo: "tomorrow" is the Tokyo tomorrow, due by its end
        assert when("tomorrow", "due") == "2026-12-01T14:59:59Z"
        assert dates.show("2026-12-01T14:59:59Z") == "2026-12-01"
        assert dates.show("2026-11-30T09:00:00Z") == "2026-11-30 18:00"
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


@pytest.mark.parametrize("text", ["", "   ", "soonish", "+3x", "2026-13-45", "32/32/2026", "fr", "99999999d"])
def test_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(PipectlError) as info:
        dates.parse_when(text, NOW)
    assert "ISO date" in info.value.message


def test_clock_reads_pipectl_now_and_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPECTL_NOW", "2026-01-02T03:04:05Z")
    assert dates.to_iso(dates.clock()) == "2026-01-02T03:04:05Z"
    assert dates.to_iso(dates.clock("2026-05-05T00:00:00Z")) == "2026-05-05T00:00:00Z"
    monkeypatch.delenv("PIPECTL_NOW")
    assert abs((dates.clock() - datetime.now(UTC)).total_seconds()) < 5


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_iso_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert dates.parse_when(dates.to_iso(moment), NOW) == moment
    assert dates.from_iso(dates.to_iso(moment)) == moment


@given(st.integers(min_value=-3000, max_value=3000))
def test_relative_days_move_by_whole_days(days: int) -> None:
    moment = dates.parse_when(f"{days:+d}d", NOW)
    assert moment == datetime(2026, 11, 30, tzinfo=UTC) + timedelta(days=days)
    assert dates.parse_when(f"{days:+d}d", NOW, "due") - moment == timedelta(hours=23, minutes=59, seconds=59)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_pipectl_error(text: str) -> None:
    try:
        result = dates.parse_when(text, NOW)
    except PipectlError:
        return
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)


def test_tz_env_is_restored() -> None:
    assert os.environ["TZ"] == "UTC"
