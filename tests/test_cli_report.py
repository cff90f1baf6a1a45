"""The report and the board through the CLI: a hand-computed history where every number is asserted.

Now is 2026-11-30 09:00 UTC; the report runs `--since 2026-11-01`, so the period is 2026-11-01 00:00:00
to 2026-11-30 09:00:00 and the previous one, of the same length, ends the second before it starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import add, assert_error, ok, run, snapshot

pytestmark = pytest.mark.backends

YES = ["-a", "budget=yes", "-a", "authority=yes", "-a", "need=yes", "-a", "timeline=yes"]


def at(when: str, *args: str) -> None:
    ok("--as-of", f"2026-{when}T09:00:00Z", *args)


def history() -> None:
    at("10-01", "add", "A", "--source", "referral", "--value", "1000")
    at("10-10", "advance", "A")
    at("10-12", "qualify", "A", *YES)
    at("11-05", "advance", "A")
    at("11-10", "advance", "A")
    at("11-15", "touch", "A", "call")
    at("11-16", "touch", "A", "email")
    at("11-20", "won", "A")
    at("10-05", "add", "B", "--source", "web", "--value", "500")
    at("11-02", "advance", "B")
    at("11-12", "lost", "B", "--reason", "no budget")
    at("11-03", "add", "C", "--source", "web", "--value", "200", "--expected-close", "2026-12-15")
    at("10-20", "add", "D", "--source", "referral", "--value", "800", "--expected-close", "2027-01-10")
    at("10-25", "advance", "D")
    at("10-26", "qualify", "D", *YES)
    at("11-15", "advance", "D")
    at("09-01", "add", "E", "--source", "web", "--value", "300")
    at("10-15", "lost", "E", "--reason", "timing")
    at("09-10", "add", "F", "--source", "referral", "--value", "2000")
    at("09-20", "advance", "F")
    at("09-21", "qualify", "F", *YES)
    at("09-25", "advance", "F")
    at("10-01", "advance", "F")
    at("10-20", "won", "F")
    at("11-10", "add", "G", "--source", "web")
    at("11-12", "qualify", "G", "-a", "budget=no", "--partial")
    at("11-25", "add", "H")


def test_every_number_of_the_report() -> None:
    history()
    data = ok("report", "--since", "2026-11-01", "--json", "--by", "source").json()
    assert data["period"] == {
        "since": "2026-11-01T00:00:00Z",
        "until": "2026-11-30T09:00:00Z",
        "name": None,
        "default": False,
    }
    assert data["stages"] == [
        {
            "stage": "prospecting",
            "count": 2,
            "value": 200,
            "weighted_value": 20,
            "median_days_in_stage": 15.0,
            "conversion": 0.5,
        },
        {
            "stage": "qualifying",
            "count": 0,
            "value": 0,
            "weighted_value": 0,
            "median_days_in_stage": 21.0,
            "conversion": 0.6667,
        },
        {
            "stage": "connecting",
            "count": 1,
            "value": 800,
            "weighted_value": 400,
            "median_days_in_stage": 5.0,
            "conversion": 1.0,
        },
        {
            "stage": "closing",
            "count": 0,
            "value": 0,
            "weighted_value": 0,
            "median_days_in_stage": 10.0,
            "conversion": 1.0,
        },
    ]
    assert (data["open_count"], data["open_value"], data["weighted_value"]) == (3, 1000, 420)
    assert (data["won_count"], data["lost_count"], data["win_rate"]) == (1, 1, 0.5)
    assert (data["avg_deal"], data["median_deal"], data["won_value"]) == (1000, 1000, 1000)
    assert (data["median_cycle_days"], data["sales_velocity"], data["touches_per_won"]) == (50.0, 30.0, 2.0)
    assert data["coverage"] is None and data["remaining_target"] is None
    assert data["coverage_needed"] == {"ratio": 3.0, "source": "the usual 3x: 4 closed deals, 10 needed for your own"}
    assert data["verdict"] == "prospect_more"
    assert data["verdict_reasons"] == ["only 3 open leads (review.min_open = 20)"]
    assert data["lost_reasons"] == [{"reason": "no budget", "count": 1, "value": 500}]
    assert data["forecast"] == [
        {"month": "2026-11", "count": 0, "value": 0, "weighted_value": 0},
        {"month": "2026-12", "count": 1, "value": 200, "weighted_value": 20},
        {"month": "2027-01", "count": 1, "value": 800, "weighted_value": 400},
    ]
    assert data["groups"] == [
        {
            "group": "referral",
            "count": 0,
            "won_count": 1,
            "lost_count": 0,
            "win_rate": 1.0,
            "won_value": 1000,
            "median_cycle_days": 50.0,
        },
        {
            "group": "(none)",
            "count": 1,
            "won_count": 0,
            "lost_count": 0,
            "win_rate": None,
            "won_value": 0,
            "median_cycle_days": None,
        },
        {
            "group": "web",
            "count": 2,
            "won_count": 0,
            "lost_count": 1,
            "win_rate": 0.0,
            "won_value": 0,
            "median_cycle_days": None,
        },
    ]
    before = data["previous"]
    assert before["period"] == {"since": "2026-10-02T14:59:59Z", "until": "2026-10-31T23:59:59Z"}
    assert [
        (s["count"], s["value"], s["weighted_value"], s["median_days_in_stage"], s["conversion"])
        for s in before["stages"]
    ] == [(1, 500, 50, 9.0, 0.6667), (2, 1800, 450, None, None), (0, 0, 0, None, None), (0, 0, 0, 19.0, 1.0)]
    assert (before["open_count"], before["open_value"], before["weighted_value"]) == (3, 2300, 500)
    assert (before["won_count"], before["lost_count"], before["win_rate"], before["avg_deal"]) == (1, 1, 0.5, 2000)
    assert (before["median_cycle_days"], before["sales_velocity"], before["touches_per_won"]) == (40.0, 75.0, 0.0)


def test_no_won_deals_yet_is_n_a_not_zero() -> None:
    ok("add", "Only", "--value", "100")
    data = ok("report", "--json").json()
    for key in ("win_rate", "avg_deal", "median_deal", "median_cycle_days", "sales_velocity", "touches_per_won"):
        assert data[key] is None, key
    assert data["won_count"] == 0 and data["lost_reasons"] == []
    text = ok("report").stdout
    assert "win rate (won / won + lost)" in text and "n/a" in text


def test_report_with_a_quota_and_svg(tmp_path: Path) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[targets]\nquota = 2000\n[review]\nmin_open = 1\n", encoding="utf-8")
    history()
    data = ok("report", "--json").json()
    assert data["period"]["since"] == "2026-11-01T00:00:00Z"  # the target period: this month
    assert data["remaining_target"] == 1000  # 2000 - A's 1000 won in November
    assert data["coverage"] == 1.0  # open 1000 / remaining 1000
    assert (
        data["verdict"] == "prospect_more"
        and "covers 1.0x the remaining target, 3x needed" in data["verdict_reasons"][0]
    )
    picture = tmp_path / "pipeline.svg"
    ok("report", "--svg", str(picture))
    svg = picture.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "PROSPECT" in svg and "funnel" in svg


def test_report_since_forms_and_errors() -> None:
    ok("add", "X")
    assert ok("report", "--since", "90d", "--json").json()["period"]["since"] == "2026-09-01T00:00:00Z"
    assert_error(run("report", "--since", "tomorrow"), "not in the past")
    assert_error(run("report", "--since", "whenever"), "unrecognised date")
    assert_error(run("report", "--by", "colour"), "invalid value for '--by'")


def test_board_json_and_text() -> None:
    history()
    board = ok("board", "--json").json()
    assert [(s["stage"], s["count"], s["value"], s["weighted_value"]) for s in board["stages"]] == [
        ("prospecting", 2, 200, 20),
        ("qualifying", 0, 0, 0),
        ("connecting", 1, 800, 400),
        ("closing", 0, 0, 0),
    ]
    assert [lead["name"] for lead in board["stages"][0]["leads"]] == ["C", "H"]  # the most valuable first
    text = ok("board").stdout
    assert text.splitlines()[0] == "prospecting (2): 200 / w 20 USD"
    assert "#3 C | 200 · 27d" in text


def test_board_cuts_long_columns() -> None:
    for number in range(14):
        ok("add", f"Lead {number}", "--value", str(100 + number))
    text = ok("board").stdout
    assert "#14 Lead 13 | 113" in text.splitlines()[1] and "+4 more" in text


@pytest.mark.parametrize("command", [["board"], ["report"], ["board", "--json"], ["report", "--json"]])
def test_read_commands_on_missing_database(command: list[str]) -> None:
    assert_error(run(*command), "no database")


def test_report_by_owner_gives_the_team_verdict_and_each_reps_own() -> None:
    for number in range(24):
        add(f"Ana {number}", "--owner", "ana", "--value", "100")
    for number in range(2):
        add(f"Bo {number}", "--owner", "bo", "--value", "100")
    data = ok("report", "--by", "owner", "--json").json()
    assert data["verdict"] == "on_track"
    verdicts = {row["group"]: (row["verdict"], row["verdict_reasons"]) for row in data["groups"]}
    assert verdicts["ana"] == ("on_track", ["24 open leads, 100% in prospecting"])
    assert verdicts["bo"] == ("prospect_more", ["only 2 open leads (review.min_open = 20)"])
    assert ok("report", "--owner", "bo", "--json").json()["verdict"] == "prospect_more"
    table = ok("report", "--by", "owner").stdout
    assert "verdict" in table and "prospect more" in table
    assert "verdict" not in ok("report", "--by", "source", "--json").json()["groups"][0]


FIGURES = ("open_count", "open_value", "won_count", "lost_count", "win_rate", "won_value", "median_cycle_days")


def figures(*args: str) -> tuple[dict[str, object], tuple[object, ...]]:
    """A report's period and its main figures."""
    data = ok("report", "--json", *args).json()
    return data["period"], tuple(data[key] for key in FIGURES)


def test_on_the_first_the_default_is_the_month_that_just_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    history()
    monkeypatch.setenv("PIPECTL_NOW", "2026-12-01T09:00:00Z")
    period, numbers = figures()
    assert period == {
        "since": "2026-11-01T00:00:00Z",
        "until": "2026-11-30T23:59:59Z",
        "name": "last-month",
        "default": True,
    }
    assert numbers == (3, 1000, 1, 1, 0.5, 1000, 50.0)  # A won, B lost in November; C, D, H open at its end
    assert figures("--since", "2026-11-01", "--until", "2026-11-30")[1] == numbers
    assert figures("--period", "last-month") == ({**period, "default": False}, numbers)
    header = ok("report").stdout.splitlines()[0]
    assert header.startswith(
        "Pipeline report November 2026 (the month that just ended): 2026-11-01 00:00 to 2026-11-30 "
    )
    # the next day, December has begun: the default is December so far
    monkeypatch.setenv("PIPECTL_NOW", "2026-12-02T09:00:00Z")
    assert figures() == (
        {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T09:00:00Z", "name": "this-month", "default": True},
        (3, 1000, 0, 0, None, 0, None),
    )
    assert ok("report").stdout.startswith("Pipeline report December 2026 so far: 2026-12-01 00:00 to 2026-12-02 09:00")


def test_last_quarter_and_a_quarterly_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[targets]\nperiod = "quarter"\n', encoding="utf-8")
    history()
    monkeypatch.setenv("PIPECTL_NOW", "2027-01-05T09:00:00Z")
    data = ok("report", "--period", "last-quarter", "--json").json()
    assert data["period"] == {
        "since": "2026-10-01T00:00:00Z",
        "until": "2026-12-31T23:59:59Z",
        "name": "last-quarter",
        "default": False,
    }
    # A and F won, B and E lost in the fourth quarter; the quarter before it had the same 92 days
    assert (data["won_count"], data["lost_count"], data["won_value"], data["avg_deal"]) == (2, 2, 3000, 1500)
    assert data["previous"]["period"] == {"since": "2026-07-01T00:00:00Z", "until": "2026-09-30T23:59:59Z"}
    assert (data["previous"]["won_count"], data["previous"]["lost_count"]) == (0, 0)
    assert ok("report", "--period", "Last-Quarter").stdout.startswith("Pipeline report Q4 2026: 2026-10-01 00:00 to")
    # on the first day of a quarter, with a quarterly target, the default is the quarter that just ended
    monkeypatch.setenv("PIPECTL_NOW", "2027-01-01T09:00:00Z")
    assert ok("report", "--json").json()["period"] == {**data["period"], "default": True}
    assert "Q4 2026 (the quarter that just ended)" in ok("report").stdout
    monkeypatch.setenv("PIPECTL_NOW", "2026-12-01T09:00:00Z")  # the 1st of a month, not of the quarter
    assert ok("report", "--json").json()["period"]["name"] == "this-quarter"


@pytest.mark.parametrize(
    ("window", "won", "lost", "won_value"),
    [
        (["--since", "2026-10-01", "--until", "2026-10-31"], 1, 1, 2000),  # F won, E lost in October
        (["--since", "2026-11-01", "--until", "2026-11-19"], 0, 1, 0),  # A was won on the 20th
        (["--since", "2026-11-01", "--until", "2026-11-20"], 1, 1, 1000),  # a day is until its end
        (["--since", "2026-11-01", "--until", "2026-11-20 08:00"], 0, 1, 0),  # A was won at 09:00
        (["--since", "2026-11-13", "--until", "2026-11-30"], 1, 0, 1000),  # B was lost on the 12th
        (["--until", "2026-10-20"], 1, 1, 2000),  # from the start of October, the month it is in
        (["--since", "Oct 1", "--until", "Oct 31"], 1, 1, 2000),  # a report looks back: this October
    ],
)
def test_since_until_counts_the_deals_closed_inside_the_window(
    window: list[str], won: int, lost: int, won_value: int
) -> None:
    history()
    data = ok("report", "--json", *window).json()
    assert (data["won_count"], data["lost_count"], data["won_value"]) == (won, lost, won_value)


def test_until_gives_the_pipeline_as_it_stood_then() -> None:
    history()
    period, numbers = figures("--since", "2026-10-01", "--until", "2026-10-31")
    assert period == {"since": "2026-10-01T00:00:00Z", "until": "2026-10-31T23:59:59Z", "name": None, "default": False}
    assert numbers[:2] == (3, 2300)  # A, B and D were open at the end of October
    # an end in the future is now: nothing has happened after it yet
    assert figures("--since", "2026-11-01", "--until", "2026-12-31")[0]["until"] == "2026-11-30T09:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "last-month", "--since", "2026-11-01"], "--period names the whole period: use it or --since"),
        (["--period", "this-week", "--until", "today"], "--period names the whole period: use it or --since"),
        (["--since", "2026-11-10", "--until", "2026-11-01"], "--until '2026-11-01' (2026-11-01) is not after --since"),
        (["--period", "last-fortnight"], "unknown period 'last-fortnight': use one of this-week, last-week"),
        (["--until", "whenever"], "unrecognised date 'whenever'"),
    ],
)
def test_period_errors_change_nothing(args: list[str], message: str) -> None:
    history()
    before = snapshot()
    assert_error(run("report", *args), message)
    assert_error(run("report", "--json", *args), message)
    assert snapshot() == before


def test_by_groups_spellings_of_one_name_together() -> None:
    wide = "\uff37\uff25\uff22"  # full-width WEB
    for number, source in enumerate(["Web", "web", "WEB", wide, "web", "Referral"]):
        add(f"Lead {number}", "--source", source, "--value", "100")
    ok("won", "Lead 3")
    groups = ok("report", "--by", "source", "--json").json()["groups"]
    assert [(g["group"], g["count"], g["won_count"], g["won_value"]) for g in groups] == [
        ("web", 5, 1, 100),  # the most used spelling names the group
        ("Referral", 1, 0, 0),
    ]
    table = ok("report", "--by", "source").stdout
    assert "│ web " in table and "Web" not in table and wide not in table
    add("Tagged 1", "--tag", "VIP")
    add("Tagged 2", "--tag", "vip")
    tags = ok("report", "--by", "tag", "--json").json()["groups"]
    assert {g["group"]: g["count"] for g in tags} == {"VIP": 2, "(none)": 6}  # a tie: the earliest lead's spelling
    for number, owner in enumerate(["ana", "Ana", "ANA"]):
        add(f"Owned {number}", "--owner", owner)
    owners = {
        g["group"]: (g["count"], g["verdict_reasons"]) for g in ok("report", "--by", "owner", "--json").json()["groups"]
    }
    assert owners["ana"] == (3, ["only 3 open leads (review.min_open = 20)"])  # one rep, one verdict
    assert "Ana" not in owners and "ANA" not in owners


def test_report_by_owner_judges_each_rep_against_an_even_share_of_the_quota_and_says_so(
    tmp_path: Path,
) -> None:
    config = tmp_path / "quota.toml"
    config.write_text("[targets]\nquota = 9000\n")
    for owner in ("ana", "bo", "cy"):
        ok("--config", str(config), "add", f"Lead of {owner}", "--owner", owner)
    groups = ok("--config", str(config), "report", "--by", "owner", "--json").json()["groups"]
    assert {(g["group"], g["quota"], g["quota_source"]) for g in groups} == {
        ("ana", 3000, "split"),
        ("bo", 3000, "split"),
        ("cy", 3000, "split"),
    }
    assert "3,000 (split)" in ok("--config", str(config), "report", "--by", "owner").stdout
