"""Dates as users type them, relative to a fixed now (Monday 2026-11-30, 09:00 UTC; TZ=UTC)."""

from __future__ import annotations

import calendar
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from pipectl import dates
from pipectl.errors import PipectlError

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday


def _typed_dates() -> SearchStrategy[str]:
    """What users type for a date, composed from the forms pipectl reads (never a year away)."""
    spelled = st.sampled_from([str.lower, str.title, str.upper])
    keyword = st.sampled_from(
        [
            *("today", "tomorrow", "yesterday", "eow", "eom", "next week", "next month", "end of month"),
            *("今日", "明日", "明後日", "昨日", "来週", "再来週", "来月", "月末", "来月末"),
        ]
    )
    weekday = st.builds(
        lambda prefix, name, case: case(prefix + name),
        st.sampled_from(["", "next ", "this ", "last "]),
        st.sampled_from(dates.WEEKDAYS + tuple(name[:3] for name in dates.WEEKDAYS)),
        spelled,
    )
    japanese_weekday = st.builds(
        lambda week, name, suffix: f"{week}{name}{suffix}",
        st.sampled_from(["", "来週の", "来週", "今週"]),
        st.sampled_from("月火水木金土日"),
        st.sampled_from(["曜日", "曜"]),
    )
    offset = st.builds(
        lambda n, form: form.format(n=n),
        st.integers(0, 300),
        st.sampled_from(["+{n}d", "{n}d", "-{n}d", "in {n} days", "{n} days ago", "{n}日後", "{n}日前", "+{n}h"]),
    ) | st.builds(
        lambda n, form: form.format(n=n),
        st.integers(0, 50),
        st.sampled_from(["+{n}w", "{n}w", "in {n} weeks", "{n}週間後", "+{n}bd", "{n}営業日後"]),
    )
    month_day = st.builds(
        lambda month, day, form: form.format(
            m=month, d=day, b=calendar.month_abbr[month], B=calendar.month_name[month]
        ),
        st.integers(1, 12),
        st.integers(1, 28),
        st.sampled_from(["{b} {d}", "{B} {d}", "{d} {B}", "{m}月{d}日", "{d}日"]),
    )
    clock = st.builds(
        lambda hour, minute, form: form.format(h=hour, m=minute, h12=hour % 12 or 12, ap="am" if hour < 12 else "pm"),
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from([" {h}:{m:02d}", " at {h12}{ap}", " {h12}:{m:02d}{ap}"]),
    )
    japanese_clock = st.builds(lambda hour: f"{hour}時", st.integers(0, 23))
    timed = st.builds(lambda day, at: day + at, keyword | weekday | month_day, clock) | st.builds(
        lambda day, at: day + at, st.sampled_from(["明日", "明後日", "12月3日", "金曜日"]), japanese_clock
    )
    full = st.dates(date(2000, 1, 1), date(2100, 12, 31)).map(date.isoformat)
    return keyword | weekday | japanese_weekday | offset | month_day | timed | full


TYPED_DATES = _typed_dates()


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


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("next friday", "2026-12-04T23:59:59Z"),
        ("this fri", "2026-12-04T23:59:59Z"),
        ("last friday", "2026-11-27T23:59:59Z"),
        ("tomorrow 10:00", "2026-12-01T10:00:00Z"),
        ("tomorrow at 3pm", "2026-12-01T15:00:00Z"),
        ("fri 9:30am", "2026-12-04T09:30:00Z"),
        ("in 3 days", "2026-12-03T23:59:59Z"),
        ("in 2 weeks", "2026-12-14T23:59:59Z"),
        ("in 2 hours", "2026-11-30T11:00:00Z"),
        ("in 1 month", "2026-12-30T23:59:59Z"),
        ("2 days ago", "2026-11-28T23:59:59Z"),
        ("next week", "2026-12-07T23:59:59Z"),
        ("next month", "2026-12-01T23:59:59Z"),
        ("end of month", "2026-11-30T23:59:59Z"),
        ("明日", "2026-12-01T23:59:59Z"),
        ("明後日", "2026-12-02T23:59:59Z"),
        ("あさって", "2026-12-02T23:59:59Z"),
        ("昨日", "2026-11-29T23:59:59Z"),
        ("今日", "2026-11-30T23:59:59Z"),
        ("来週", "2026-12-07T23:59:59Z"),  # Monday of next week
        ("再来週", "2026-12-14T23:59:59Z"),
        ("来月", "2026-12-01T23:59:59Z"),  # the 1st of next month
        ("来月末", "2026-12-31T23:59:59Z"),
        ("金曜日", "2026-12-04T23:59:59Z"),
        ("金曜", "2026-12-04T23:59:59Z"),
        ("月曜日", "2026-12-07T23:59:59Z"),  # the next one, not today
        ("来週の金曜日", "2026-12-11T23:59:59Z"),
        ("12月3日", "2026-12-03T23:59:59Z"),
        ("１２月３日", "2026-12-03T23:59:59Z"),  # full-width digits, as a Japanese IME types them
        ("1月5日", "2027-01-05T23:59:59Z"),
        ("2027年1月5日", "2027-01-05T23:59:59Z"),
        ("12月3日 14:00", "2026-12-03T14:00:00Z"),
        ("明日10時", "2026-12-01T10:00:00Z"),
        ("明日の10時半", "2026-12-01T10:30:00Z"),
        ("3日後", "2026-12-03T23:59:59Z"),
        ("2週間後", "2026-12-14T23:59:59Z"),
        ("3時間後", "2026-11-30T12:00:00Z"),
        ("3営業日後", "2026-12-03T23:59:59Z"),
        ("5日", "2026-12-05T23:59:59Z"),  # the 5th: its next occurrence
        ("月末", "2026-11-30T23:59:59Z"),
        ("Dec 3", "2026-12-03T23:59:59Z"),
        ("3 December", "2026-12-03T23:59:59Z"),
        ("Nov 30", "2026-11-30T23:59:59Z"),  # today is its next occurrence
        ("Nov 29", "2027-11-29T23:59:59Z"),
        ("Jan 15 10:00", "2027-01-15T10:00:00Z"),
        ("12/25", "2026-12-25T23:59:59Z"),
        ("25/12", "2026-12-25T23:59:59Z"),
        ("4/4", "2027-04-04T23:59:59Z"),  # the same either way round
        ("25.12.2027", "2027-12-25T23:59:59Z"),
        ("10:00", "2026-11-30T10:00:00Z"),  # 09:00 now: later today
        ("8:00", "2026-12-01T08:00:00Z"),  # past today: tomorrow's
        ("+3bd", "2026-12-03T23:59:59Z"),
        ("+5bd", "2026-12-07T23:59:59Z"),  # over the weekend
        ("-1bd", "2026-11-27T23:59:59Z"),
        ("in 4 business days", "2026-12-04T23:59:59Z"),
        ("the day after tomorrow", "2026-12-02T23:59:59Z"),  # dateparser
        ("3 weeks from now", "2026-12-21T23:59:59Z"),  # dateparser
        ("Dec 24 2030", "2030-12-24T23:59:59Z"),  # a full date far away stays a date
        ("2031-01-01", "2031-01-01T23:59:59Z"),
    ],
)
def test_everyday_forms(text: str, due: str) -> None:
    assert when(text, "due") == due


@pytest.mark.parametrize(
    ("text", "future", "past"),
    [
        ("Dec 3", "2026-12-03", "2025-12-03"),
        ("12月3日", "2026-12-03", "2025-12-03"),
        ("Nov 30", "2026-11-30", "2026-11-30"),  # today either way
        ("Jan 2", "2027-01-02", "2026-01-02"),
        ("friday", "2026-12-04", "2026-11-27"),
        ("金曜日", "2026-12-04", "2026-11-27"),
        ("12/25", "2026-12-25", "2025-12-25"),
        ("15日", "2026-12-15", "2026-11-15"),
        ("tomorrow", "2026-12-01", "2026-12-01"),  # a named day is that day whatever the direction
        ("2026-12-24", "2026-12-24", "2026-12-24"),
    ],
)
def test_a_date_without_a_year_is_the_next_or_the_latest_past_one(text: str, future: str, past: str) -> None:
    assert dates.parse_when(text, NOW).date().isoformat() == future
    assert dates.parse_when(text, NOW, direction="past").date().isoformat() == past
    assert dates.parse_day(text, NOW, direction="past").isoformat() == past


def test_a_time_without_a_day_is_the_next_or_the_latest_past_one() -> None:
    assert dates.to_iso(dates.parse_when("10:00", NOW, direction="past")) == "2026-11-29T10:00:00Z"
    assert dates.to_iso(dates.parse_when("8am", NOW, direction="past")) == "2026-11-30T08:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("03/04", "'03/04' reads two ways (2027-03-04 or 2027-04-03): pass an ISO date (YYYY-MM-DD)"),
        ("3.4.2027", "reads two ways (2027-03-04 or 2027-04-03)"),
        ("12-01", "reads two ways (2026-12-01 or 2027-01-12)"),
        (
            "Feb 29",
            "'Feb 29' reads as Tue 2028-02-29, more than a year away: to mean it, pass the full date (2028-02-29)",
        ),
        ("+400d", "reads as Tue 2028-01-04, more than a year away"),
        ("in 13 months", "more than a year away"),
        ("-53w", "more than a year away"),
        ("+99999bd", "'+99999bd' is more than a year away"),
        ("Feb 30", "unrecognised date"),
        ("2月30日", "unrecognised date"),
        ("13/13", "unrecognised date"),
        ("tomorrow 25:00", "unrecognised date"),
        ("tomorow", "unrecognised date"),
        ("fr", "unrecognised date"),  # one unknown word is a typo, not a guess
        ("2027年5日", "unrecognised date"),
    ],
)
def test_ambiguous_far_and_impossible_dates_are_refused_saying_what_was_understood(text: str, message: str) -> None:
    with pytest.raises(PipectlError) as info:
        dates.parse_when(text, NOW, "due")
    assert message in info.value.message


def test_dateparser_is_not_trusted_with_what_it_misreads() -> None:
    # dateparser alone reads 12月3日 as 2112-03-20 and knows no 月末: the hand-written forms read them
    assert when("12月3日") == "2026-12-03T00:00:00Z" and when("月末") == "2026-11-30T00:00:00Z"
    # and a phrase it places more than a year away is refused, not stored
    with pytest.raises(PipectlError, match="more than a year away"):
        dates.parse_when("100 years from now", NOW)


def test_working_days_follow_the_calendar() -> None:
    calendar = dates.Calendar(workdays=frozenset({0, 1, 2, 3}), extra=frozenset({date(2026, 12, 1)}))
    # Monday + 2 working days, Tuesday off and Friday to Sunday not working days: Wednesday, Thursday
    assert dates.parse_day("+2bd", NOW, calendar=calendar) == date(2026, 12, 3)
    assert dates.parse_day("+3bd", NOW, calendar=calendar) == date(2026, 12, 7)
    assert calendar.on_or_after(date(2026, 12, 4)) == date(2026, 12, 7)
    japan = dates.Calendar(country="JP")
    assert not japan.is_workday(date(2027, 1, 1)) and japan.is_workday(date(2027, 1, 4))
    assert dates.parse_day("+3bd", datetime(2026, 12, 29, 9, tzinfo=UTC), calendar=japan) == date(2027, 1, 4)


def test_public_holidays_are_worked_out_once_a_year_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not dates.Calendar(country="JP").is_workday(date(2027, 1, 1))
    kept = tmp_path / "cache" / "pipectl" / "holidays-JP-2027"
    assert "2027-01-01\n" in kept.read_text(encoding="ascii")
    # later commands read the kept list: the holidays package is not even importable now
    monkeypatch.setitem(sys.modules, "holidays", None)
    assert not dates.Calendar(country="JP").is_workday(date(2027, 1, 1))
    assert dates.Calendar(country="JP").is_workday(date(2027, 1, 4))
    with pytest.raises(ImportError):
        dates.Calendar(country="JP").is_workday(date(2028, 1, 4))  # a year not kept yet needs it
    # a damaged list is worked out again
    monkeypatch.delitem(sys.modules, "holidays")
    kept.write_text("garbage", encoding="ascii")
    assert not dates.Calendar(country="JP").is_workday(date(2027, 1, 1))
    # and a cache folder that cannot be written only costs the time
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-folder")
    assert not dates.Calendar(country="US").is_workday(date(2027, 7, 5))


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
        # a date without a year, and 明日, are the Tokyo days
        assert when("Dec 3", "due") == "2026-12-03T14:59:59Z"
        assert when("明日") == "2026-11-30T15:00:00Z"
        # 20:00 UTC on 31 December is already 1 January in Tokyo: "Jan 1" is today there, not next year
        new_year = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
        assert dates.to_iso(dates.parse_when("Jan 1", new_year, "due")) == "2027-01-01T14:59:59Z"
        assert dates.to_iso(dates.parse_when("Dec 31", new_year, direction="past")) == "2026-12-30T15:00:00Z"
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


@given(st.integers(min_value=-365, max_value=365))
def test_relative_days_move_by_whole_days(days: int) -> None:
    moment = dates.parse_when(f"{days:+d}d", NOW)
    assert moment == datetime(2026, 11, 30, tzinfo=UTC) + timedelta(days=days)
    assert dates.parse_when(f"{days:+d}d", NOW, "due") - moment == timedelta(hours=23, minutes=59, seconds=59)


@given(TYPED_DATES, st.sampled_from(["future", "past"]), st.sampled_from(["point", "due"]))
def test_what_users_type_reads_as_one_instant_within_a_year(
    text: str, direction: dates.Direction, mode: dates.Mode
) -> None:
    moment = dates.parse_when(text, NOW, mode, direction=direction)
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert dates.parse_when(dates.to_iso(moment), NOW) == moment.replace(microsecond=0)
    if not text[:4].isdigit():  # not a full date: never more than a year away
        assert abs(moment - NOW) <= timedelta(days=367)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_pipectl_error(text: str) -> None:
    try:
        result = dates.parse_when(text, NOW)
    except PipectlError:
        return
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)


def test_tz_env_is_restored() -> None:
    assert os.environ["TZ"] == "UTC"
