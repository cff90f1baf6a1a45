"""Dates as a rep types them, through the CLI: stored as the instant the parser reads, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conftest import add, assert_error, ok, run, snapshot
from pipectl import config, dates
from test_dates import TYPED_DATES

pytestmark = pytest.mark.backends
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # conftest's PIPECTL_NOW, a Monday


def show(lead_id: int) -> dict[str, object]:
    data: dict[str, object] = ok("show", str(lead_id), "--json").json()
    return data


def test_a_date_without_a_year_is_the_next_one_for_due_and_expected_close() -> None:
    # the README's own example: Dec 3 said on 30 November 2026 is 3 December 2026, not 2000
    lead_id = add("Ann Lee", "--next", "send proposal", "--due", "Dec 3", "--expected-close", "1月15日")
    lead = show(lead_id)
    assert lead["next_action_due"] == "2026-12-03T23:59:59Z"
    assert lead["expected_close"] == "2027-01-15"


def test_a_date_without_a_year_is_the_latest_past_one_for_at_and_as_of() -> None:
    lead_id = add("Ann Lee")
    ok("touch", str(lead_id), "call", "--at", "Dec 3")
    timeline = show(lead_id)["timeline"]
    assert isinstance(timeline, list)
    assert [entry["at"] for entry in timeline if entry["type"] == "touchpoint"] == ["2025-12-03T00:00:00Z"]
    # --as-of looks back too: "Nov 1" as now is 1 November 2026, so the lead is created then
    other = int(ok("--as-of", "Nov 1", "add", "Bo Chen").stdout)
    assert show(other)["created_at"] == "2026-11-01T00:00:00Z"


def test_everyday_and_japanese_dates_through_the_cli() -> None:
    lead_id = add("Ann Lee", "--due", "next friday")
    assert show(lead_id)["next_action_due"] == "2026-12-04T23:59:59Z"
    ok("edit", str(lead_id), "--due", "明後日")
    assert show(lead_id)["next_action_due"] == "2026-12-02T23:59:59Z"
    ok("edit", str(lead_id), "--due", "tomorrow 10:00")
    assert show(lead_id)["next_action_due"] == "2026-12-01T10:00:00Z"
    ok("snooze", str(lead_id), "--until", "来月")
    assert show(lead_id)["snoozed_until"] == "2026-12-01T00:00:00Z"


def test_business_days_follow_the_configured_calendar(isolated: Path) -> None:
    config = isolated / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('currency = "JPY"\n[calendar]\nholidays = ["2026-12-02"]\n', encoding="utf-8")
    lead_id = add("Ann Lee", "--due", "+3bd")  # Monday: Tuesday, (Wednesday off), Thursday, Friday
    assert show(lead_id)["next_action_due"] == "2026-12-04T23:59:59Z"


def test_the_cadence_never_schedules_on_a_non_working_day() -> None:
    lead_id = add("Ann Lee")
    ok("--as-of", "2026-12-01T09:00:00Z", "touch", str(lead_id), "call", "--outcome", "no-answer")
    # attempt 1 on Tuesday + 4 days = Saturday: moved to Monday
    ok("--as-of", "2026-12-01T10:00:00Z", "touch", str(lead_id), "call", "--outcome", "no-answer")
    lead = show(lead_id)
    assert lead["next_action"] == "attempt 3 of 5" and lead["next_action_due"] == "2026-12-07T23:59:59Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--due", "Feb 30"], "unrecognised date 'Feb 30'"),
        (["--due", "nex friday"], "unrecognised date"),
        (["--due", "03/04"], "reads two ways"),
        (["--due", "Feb 29"], "more than a year away: to mean it, pass the full date (2028-02-29)"),
        (["--expected-close", "in 2000 days"], "more than a year away"),
    ],
)
def test_a_bad_date_is_one_error_line_and_changes_nothing(args: list[str], message: str) -> None:
    add("Ann Lee")
    before = snapshot()
    assert_error(run("add", "Bo Chen", *args), message)
    assert_error(run("edit", "ann", *args), message)
    assert snapshot() == before


@pytest.mark.sqlite_only
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TYPED_DATES)
def test_any_date_the_parser_accepts_is_stored_as_that_instant(text: str) -> None:
    result = run("add", "Ann Lee", "--due", text, "--json")
    assert result.exit_code == 0, result.stderr
    lead = show(result.json()["id"])
    # working days (+3bd) count against the pipeline's calendar: the default currency's, US holidays
    calendar = config.load().calendar
    assert lead["next_action_due"] == dates.to_iso(dates.parse_when(text, NOW, "due", calendar=calendar))
