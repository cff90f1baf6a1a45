"""The daily review and today's plan through the CLI, on a back-dated scenario at a fixed now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import add, ok, run, snapshot
from pipectl import cli

pytestmark = pytest.mark.backends

YES = ["-a", "budget=yes", "-a", "authority=yes", "-a", "need=yes", "-a", "timeline=yes"]


@pytest.fixture
def quiet_config(tmp_path: Path) -> Path:
    """Pipeline-level kinds out of the way, so each lead's findings are its own."""
    path = tmp_path / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[review]\nmin_open = 1\nmin_front_share = 0\noverload_share = 1\n", encoding="utf-8")
    return path


def scenario() -> dict[str, int]:
    """One lead per situation, back-dated with --at; now is 2026-11-30 09:00 UTC."""
    ids = {}
    ids["fresh"] = add("Fresh", "--at", "2026-11-30T08:30:00Z")
    ids["waiting"] = add("Waiting", "--at", "2026-11-30T08:00:00Z")  # exactly 1 h: fires
    ids["overdue"] = add("Overdue", "--at", "2026-11-27T09:00:00Z")
    ok("touch", "overdue", "call", "--at", "2026-11-27T10:00:00Z", "--next", "call back", "--due", "2026-11-29")
    ids["stale"] = add("Stale", "--at", "2026-11-10T09:00:00Z")
    ok("touch", "stale", "call", "--at", "2026-11-29T09:00:00Z")  # schedules attempt 2: stale all the same
    ids["idle"] = add("Idle", "--at", "2026-11-20T09:00:00Z")
    ok("touch", "idle", "call", "--outcome", "reached", "--at", "2026-11-23T09:00:00Z")  # 7 days, nothing planned
    ids["nonext"] = add("Nonext", "--at", "2026-11-25T09:00:00Z")
    ok("touch", "nonext", "call", "--outcome", "reached", "--at", "2026-11-25T10:00:00Z")
    ok("qualify", "nonext", *YES)
    ok("advance", "nonext")
    ids["unqualified"] = add("Unqualified", "--at", "2026-11-28T09:00:00Z")
    for hour in (10, 11, 12, 13):
        ok("touch", "unqualified", "call", "--outcome", "no-answer", "--at", f"2026-11-28T{hour}:00:00Z")
    ids["chance"] = add("Chance", "--stage", "closing", "--at", "2026-11-01T09:00:00Z")
    ok("qualify", "chance", *YES)
    for day in ("01", "04", "08", "13"):
        ok("touch", "chance", "call", "--outcome", "no-answer", "--at", f"2026-11-{day}T10:00:00Z")
    ok("touch", "chance", "email", "--at", "2026-11-19T10:00:00Z", "--next", "send breakup", "--due", "2026-12-02")
    ids["closeout"] = add("Closeout", "--at", "2026-11-22T09:00:00Z")
    ok("qualify", "closeout", *YES)
    ok("touch", "closeout", "email", "--outcome", "last-chance", "--at", "2026-11-23T09:00:00Z")  # exactly 7 days
    ids["replied"] = add("Replied", "--at", "2026-11-22T09:00:00Z")
    ok("qualify", "replied", *YES)
    ok("touch", "replied", "email", "--outcome", "last-chance", "--at", "2026-11-23T09:00:00Z")
    ok("touch", "replied", "email", "--in", "--at", "2026-11-25T09:00:00Z")  # a reply resets the cadence
    ids["old"] = add("Old", "--at", "2026-05-01T09:00:00Z")
    ok("touch", "old", "call", "--outcome", "reached", "--at", "2026-11-29T09:00:00Z")
    ids["closed"] = add("Closed", "--at", "2026-05-01T09:00:00Z")
    ok("lost", "closed", "--reason", "timing")
    ids["snoozed"] = add("Snoozed", "--at", "2026-10-01T09:00:00Z")
    ok("snooze", "snoozed", "--until", "2026-12-15", "--reason", "budget frozen")
    return ids


def test_every_kind_fires_exactly_where_it_should(quiet_config: Path) -> None:
    ids = scenario()
    report = ok("review", "--json").json()
    found = {(f["kind"], f["lead_id"]) for f in report["findings"]}
    assert found == {
        ("uncontacted", ids["waiting"]),
        ("overdue", ids["overdue"]),
        ("stale", ids["stale"]),
        ("stale", ids["idle"]),
        ("no_next_step", ids["nonext"]),
        ("unqualified_effort", ids["unqualified"]),
        ("last_chance", ids["chance"]),
        ("close_out", ids["closeout"]),
        ("close_out", ids["old"]),
        ("stale", ids["old"]),
    }
    assert report["as_of"] == "2026-11-30T09:00:00Z"
    assert report["summary"] == {
        "overdue": 1,
        "uncontacted": 1,
        "close_out": 2,
        "last_chance": 1,
        "stale": 3,
        "no_next_step": 1,
        "unqualified_effort": 1,
    }
    reasons = {(f["kind"], f["lead_id"]): f for f in report["findings"]}
    assert reasons[("stale", ids["stale"])]["reason"] == "20 days in prospecting (max 14)"
    assert reasons[("close_out", ids["closeout"])]["close_reason"] == "no response"
    old = reasons[("close_out", ids["old"])]
    assert old["close_reason"] == "past sales cycle" and "fallback" in old["reason"]
    assert report["sales_cycle"]["days"] == 90


def test_text_review_groups_and_check_exit_codes(quiet_config: Path) -> None:
    scenario()
    result = run("review", "--check")
    assert result.exit_code == 1
    assert "stale deals (3)" in result.stdout and "#4 Stale: 20 days in prospecting (max 14)" in result.stdout
    assert "10 findings" in result.stdout and "Sales cycle: 90 days" in result.stdout


def test_clean_pipeline_checks_ok(quiet_config: Path) -> None:
    add("Fresh", "--at", "2026-11-30T08:30:00Z")
    result = run("review", "--check")
    assert result.exit_code == 0 and "clean" in result.stdout


def test_long_groups_are_cut_but_json_never() -> None:
    for number in range(25):
        add(f"Lead {number}", "--at", "2026-11-01T09:00:00Z")
    text = ok("review").stdout
    assert "new leads not contacted yet (25)" in text and "and 15 more (--all shows them)" in text
    assert "and 15 more" not in ok("review", "--all").stdout
    report = ok("review", "--json").json()
    assert len([f for f in report["findings"] if f["kind"] == "uncontacted"]) == 25


def test_pipeline_level_findings(tmp_path: Path) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[review]\nmin_open = 5\n[[stages]]\nname = "new"\nprobability = 0.1\nmax_days = 99\nmax_open = 2\n'
        '[[stages]]\nname = "deal"\nprobability = 0.5\nmax_days = 99\nmax_open = 9\n',
        encoding="utf-8",
    )
    for name in ("A", "B", "C"):
        add(name)
    found = [
        (f["kind"], f["stage"], f["reason"]) for f in ok("review", "--json").json()["findings"] if f["lead_id"] is None
    ]
    assert found == [
        ("overloaded_stage", "new", "3 open leads in new (max 2)"),
        ("thin_pipeline", None, "only 3 open leads (min 5): prospect more"),
    ]


def test_yes_applies_close_outs_lists_last_chance_by_hand_and_one_undo_reverts_them(
    tmp_path: Path, quiet_config: Path
) -> None:
    ids = scenario()
    before = snapshot()
    result = ok("review", "--yes")
    assert "closed: 2, last chance sent: 0" in result.stderr
    # no [send] method: the last-chance message is not logged as sent (tests/test_cli_send.py sends it)
    assert (
        "send by hand (no [send] method in the config" in result.stderr and f"#{ids['chance']} Chance" in result.stderr
    )
    closeout = ok("show", str(ids["closeout"]), "--json").json()
    assert (closeout["status"], closeout["lost_reason"]) == ("lost", "no response")
    assert ok("show", str(ids["old"]), "--json").json()["lost_reason"] == "past sales cycle"
    chance = ok("show", str(ids["chance"]), "--json").json()
    assert chance["last_chance_at"] is None and chance["status"] == "open"
    # the other findings stay listed, the last chance among them
    assert {(f["kind"]) for f in ok("review", "--json").json()["findings"]} >= {"overdue", "uncontacted", "last_chance"}
    ok("undo")
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])


def test_apply_asks_at_each(quiet_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = scenario()
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    # in order: overdue (next step + bad date, then good), close-outs most urgent first: old (no) and
    # closeout (yes), no next step (skip); the last chance is not asked: no [send] method to send it
    answers = "call again\nsoonish\n+2d\nn\ny\n\n"
    result = ok("review", "--apply", input=answers)
    assert "unrecognised date 'soonish'" in result.stderr
    overdue = ok("show", str(ids["overdue"]), "--json").json()
    assert (overdue["next_action"], overdue["next_action_due"]) == ("call again", "2026-12-02T23:59:59Z")
    assert ok("show", str(ids["closeout"]), "--json").json()["status"] == "lost"
    assert ok("show", str(ids["old"]), "--json").json()["status"] == "open"
    assert ok("show", str(ids["chance"]), "--json").json()["last_chance_at"] is None
    assert "next step set: 1" in result.stderr and "closed: 1" in result.stderr


def test_apply_without_a_terminal_says_use_yes(quiet_config: Path) -> None:
    add("Lead")
    result = run("review", "--apply")
    assert result.exit_code == 2 and "--yes" in result.stderr


def test_today_json_order_and_shape(quiet_config: Path) -> None:
    ids = scenario()
    items = ok("today", "--json").json()
    sections = [item["section"] for item in items]
    assert sections == sorted(sections, key=["overdue", "uncontacted", "due_today", "closing"].index)
    first = items[0]
    assert (first["lead_id"], first["section"]) == (ids["overdue"], "overdue")
    assert first["lead"]["name"] == "Overdue" and first["reason"].endswith("call back")
    assert {item["lead_id"] for item in items if item["section"] == "uncontacted"} == {ids["fresh"], ids["waiting"]}
    assert ids["snoozed"] not in [item["lead_id"] for item in items]
    assert len(ok("today", "--json", "--limit", "2").json()) == 2
    text = ok("today").stdout
    assert text.splitlines()[0] == "Overdue" and "1. #3 Overdue: overdue since 2026-11-29: call back" in text


def test_snooze_hides_then_brings_back(quiet_config: Path) -> None:
    lead_id = add("Frozen", "--at", "2026-10-01T09:00:00Z")
    ok("touch", "frozen", "call", "--outcome", "reached", "--at", "2026-10-02T09:00:00Z")
    ok("snooze", "frozen", "--until", "2027-04-01", "--reason", "budget frozen until April")
    assert ok("review", "--json").json()["findings"] == []
    assert "snoozed: budget frozen until April" in ok("list").stdout
    assert ok("show", "frozen", "--json").json()["snooze_reason"] == "budget frozen until April"
    back = ok("--as-of", "2027-04-01T10:00:00Z", "today", "--json").json()
    assert [(i["lead_id"], i["section"], i["reason"]) for i in back] == [
        (lead_id, "due_today", "back from snooze: budget frozen until April")
    ]
    assert ok("--as-of", "2027-04-01T10:00:00Z", "review", "--json").json()["findings"] != []
    ok("undo")
    assert ok("show", "frozen", "--json").json()["snoozed_until"] is None
    ok("snooze", "frozen", "--until", "+3d")
    ok("snooze", "frozen", "--off")
    assert ok("show", "frozen", "--json").json()["snoozed_until"] is None
    assert run("snooze", "frozen", "--until", "yesterday").exit_code == 2
    assert run("snooze", "frozen").exit_code == 2


def test_auto_schedule_runs_the_cadence() -> None:
    add("Lead")
    ok("touch", "1", "call", "--outcome", "no-answer")
    lead = ok("show", "1", "--json").json()
    assert (lead["next_action"], lead["next_action_due"]) == ("attempt 2 of 5", "2026-12-03T23:59:59Z")
    assert lead["cadence"] == "attempt 1 of 5 without a reply"
    ok("touch", "1", "email", "--next", "my own plan", "--due", "fri")
    assert ok("show", "1", "--json").json()["next_action"] == "my own plan"
    ok("touch", "1", "call", "--outcome", "replied")
    lead = ok("show", "1", "--json").json()
    assert (lead["attempts"], lead["next_action"], lead["cadence"]) == (0, None, "replied 2026-11-30 09:00")
    ok("note", "1", "notes never schedule")
    assert ok("show", "1", "--json").json()["next_action"] is None


def test_list_stale(quiet_config: Path) -> None:
    ids = scenario()
    stale = {lead["id"] for lead in ok("list", "--stale", "--json").json()}
    assert stale == {ids["stale"], ids["idle"], ids["old"]}
    assert json.loads(ok("list", "--stale", "--json", "--limit", "1").stdout)[0]["id"] == min(stale)
