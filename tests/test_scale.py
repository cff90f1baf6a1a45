"""The daily views select in SQL what the pure rules pick from every lead (SPEC §15).

``review.review`` and ``agenda.plan`` state the rules over a list in memory; the commands have the
store select, count and order the same in the database. Generated pipelines, with times on and
around every threshold, hold both to the same findings, counts and plan, on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_error, database, ok, run, snapshot
from pipectl import actions, agenda, config, dates, metrics, render, review, views
from pipectl.model import Finding, Lead
from pipectl.store import LEAD_COLUMNS, Store, lead_to_row

pytestmark = pytest.mark.backends

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CONFIG = config.parse(
    {
        "review": {"min_open": 3, "max_unqualified_touches": 3},
        "cadence": {"max_attempts": 3, "sales_cycle_days": 30, "respond_within_hours": 2},
        "stages": [
            {"name": "new", "probability": 0.1, "max_days": 7, "max_open": 4},
            {"name": "qualifying", "probability": 0.3, "max_days": 14, "max_open": 3},
            {"name": "proposal", "probability": 0.3, "max_days": 10, "max_open": 2},
            {"name": "closing", "probability": 0.8, "max_days": 30, "max_open": 2},
        ],
    },
    None,
)
# Days before (+) or after (-) now, on and around the thresholds above, and today's bounds (now is 09:00).
DAY_START, DAY_END = 9 / 24, -(15 / 24 - 1 / 86400)
OFFSETS = (
    90,
    60.5,
    60,
    30,
    14.5,
    14,
    10,
    7.001,
    7,
    6.9,
    3,
    1,
    DAY_START,
    2 / 24,
    1 / 24,
    0,
    -1 / 24,
    DAY_END,
    -0.7,
    -3,
)
STAGES = (*CONFIG.stage_names, "gone")  # a stage no longer in the config too


def when(offset: float | None) -> str | None:
    return None if offset is None else dates.to_iso(NOW - timedelta(days=offset))


moments = st.sampled_from(OFFSETS)
maybe = st.one_of(st.none(), moments)


@st.composite
def leads(draw: st.DrawFn) -> Lead:
    created = draw(moments)
    entered = draw(st.sampled_from([o for o in OFFSETS if o <= created]))
    status = draw(st.sampled_from(["open", "open", "open", "won", "lost"]))
    return Lead(
        0,
        "Lead",
        draw(st.sampled_from(STAGES)),
        status,
        when(created) or "",
        when(created) or "",
        when(entered) or "",
        owner=draw(st.sampled_from(["ann", "bob"])),
        value=draw(st.sampled_from([None, Decimal(0), Decimal(100), Decimal("250.50")])),
        last_touch_at=when(draw(maybe)),
        touch_count=draw(st.integers(0, 5)),
        next_action=draw(st.sampled_from([None, "call back"])),
        next_action_due=when(draw(maybe)),
        snoozed_until=when(draw(st.sampled_from([None, None, 1, DAY_START, 0.3, 0, -1]))),
        qualified=draw(st.sampled_from([None, True, False])),
        attempts=draw(st.integers(0, 4)),
        last_outbound_at=when(draw(maybe)),
        last_chance_at=when(draw(st.sampled_from([None, None, 10, 7, 3]))),
        closed_at=None if status == "open" else when(draw(moments)),
    )


@pytest.fixture
def store() -> Iterator[Store]:
    ok("add", "Someone")  # makes the database, whichever backend
    opened = Store.open(database(), create=False, currency="USD")
    yield opened
    opened.close()


def fill(store: Store, pipeline: list[Lead]) -> list[Lead]:
    """Replace every lead with ``pipeline`` (ids from 1); returns the leads as stored."""
    stored = [replace(lead, id=number) for number, lead in enumerate(pipeline, 1)]
    with store.db.writing():
        store.conn.execute("DELETE FROM leads")
        if stored:
            store.db.insert_rows("leads", LEAD_COLUMNS, [list(lead_to_row(lead).values()) for lead in stored])
    return stored


def seen(findings: list[review.Finding] | Iterator[review.Finding]) -> list[tuple[object, ...]]:
    return [(f.kind, f.lead_id, f.stage, f.reason, f.urgency) for f in findings]


def cut(found: list[review.Finding], limit: int) -> list[review.Finding]:
    kept: dict[str, int] = {}
    result = []
    for finding in found:
        kept[finding.kind] = kept.get(finding.kind, 0) + 1
        if kept[finding.kind] <= limit:
            result.append(finding)
    return result


def stored_open(store: Store, pipeline: list[Lead], owner: str | None) -> tuple[actions.Context, list[Lead]]:
    """``pipeline`` stored, a context on it, and the open leads of ``owner`` (everyone's: None) as stored."""
    stored = fill(store, pipeline)
    ctx = actions.Context(CONFIG, database(), NOW, _store=store)
    return ctx, [lead for lead in stored if lead.status == "open" and owner in (None, lead.owner)]


def review_both_ways(
    store: Store, pipeline: list[Lead], owner: str | None
) -> tuple[list[Finding], review.Figure, actions.Review]:
    """``pipeline`` stored and reviewed for ``owner`` by the rules (their findings and sales cycle) and
    in SQL (the review, not yet run)."""
    ctx, mine = stored_open(store, pipeline, owner)
    expected, cycle = review.review(mine, CONFIG, NOW, actions.facts(ctx, owner))
    return expected, cycle, actions.Review(ctx, owner)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipeline=st.lists(leads(), max_size=14), owner=st.sampled_from([None, "ann"]), limit=st.integers(1, 3))
def test_the_review_in_sql_finds_what_the_rules_find(
    store: Store, pipeline: list[Lead], owner: str | None, limit: int
) -> None:
    expected, cycle, reviewed = review_both_ways(store, pipeline, owner)
    assert seen(reviewed.findings()) == seen(expected)
    assert seen(reviewed.findings(limit)) == seen(cut(expected, limit))
    assert reviewed.counts() == render.counted(expected)
    assert reviewed.cycle == cycle


NAMES = ("Lead", 'Zoë "Z" O\'Neil', "李雷\\", "tab\there", "\u2028 line", "🙂")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pipeline=st.lists(st.builds(replace, leads(), name=st.sampled_from(NAMES)), max_size=14),
    owner=st.sampled_from([None, "ann"]),
)
def test_review_json_writes_the_rules_findings_byte_for_byte(
    store: Store, pipeline: list[Lead], owner: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    expected, cycle, reviewed = review_both_ways(store, pipeline, owner)
    capsys.readouterr()
    as_of = reviewed.ctx.now_iso
    written = render.write_review_json(reviewed.findings(), reviewed.counts(), reviewed.cycle, as_of)
    assert written == len(expected)
    items = ",\n".join(json.dumps(render.finding_json(f), ensure_ascii=False, default=render._number) for f in expected)
    summary = json.dumps(render.counted(expected), ensure_ascii=False)
    figure = json.dumps({"days": cycle.value, "source": cycle.source}, ensure_ascii=False)
    assert capsys.readouterr().out == (
        f'{{"as_of": "{as_of}", "findings": [\n{items}], "summary": {summary}, "sales_cycle": {figure}}}\n'
    )


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_DETAIL = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    _TEXT,
    st.decimals(places=2, allow_nan=False, allow_infinity=False),
)


@given(
    finding=st.builds(
        Finding,
        kind=_TEXT,
        reason=_TEXT,
        lead_id=st.one_of(st.none(), st.integers(0, 10**12)),
        stage=st.one_of(st.none(), _TEXT),
        name=st.one_of(st.none(), _TEXT),
        details=st.dictionaries(st.one_of(_TEXT, st.sampled_from(["name", "kind", "due"])), _DETAIL, max_size=4),
    )
)
def test_a_finding_is_written_as_the_encoder_writes_its_json(finding: Finding) -> None:
    assert render._finding_text(finding) == render._encode(render.finding_json(finding))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipeline=st.lists(leads(), max_size=14), owner=st.sampled_from([None, "ann"]), limit=st.integers(1, 4))
def test_today_in_sql_plans_what_the_rules_plan(
    store: Store, pipeline: list[Lead], owner: str | None, limit: int
) -> None:
    ctx, mine = stored_open(store, pipeline, owner)
    expected = [(item.lead.id, item.section, item.reason) for item in agenda.plan(mine, CONFIG, NOW)]
    for capacity in (limit, None):
        items, total = actions.today(ctx, owner, capacity)
        assert [(item.lead.id, item.section, item.reason) for item in items] == expected[:capacity]
        assert total == len(expected)


# The report: its aggregates counted in the database against metrics' rules over every lead's facts.
KINDS = ("stage", "stage", "stage", "won", "lost", "reopen", "qualify")
PLACES = (*STAGES, "", None)  # where a move says it goes, or came from: a stage, nothing, or no key


@st.composite
def moves(draw: st.DrawFn, lead: int) -> tuple[object, ...]:
    """A move of ``lead`` in the event log: a stage change (perhaps without where to or from), a
    close, a reopen, a qualification (disqualified or not); some undone."""
    kind = draw(st.sampled_from(KINDS))
    data: dict[str, object] = {}
    for key in {"stage": ("from", "to", "stage"), "reopen": ("to", "stage"), "qualify": ()}.get(kind, ()):
        place = draw(st.sampled_from(PLACES))
        if place is not None:
            data[key] = place
    if kind == "qualify":
        data["verdict"] = draw(st.sampled_from(["disqualified", "qualified"]))
    undone = draw(st.sampled_from([None, None, None, 1]))
    return (1, when(draw(moments)), "test", None, lead, kind, json.dumps(data), undone)


@st.composite
def report_leads(draw: st.DrawFn) -> Lead:
    lead = draw(leads())
    status = draw(st.sampled_from(["open", "open", "won", "lost", "disqualified"]))
    return replace(
        lead,
        status=status,
        closed_at=None if status == "open" else when(draw(st.sampled_from([*OFFSETS, 45, 40]))),
        lost_reason=draw(st.sampled_from([None, "", "price", "timing"])),
        expected_close=draw(st.sampled_from([None, "2026-11-20", "2026-12-03", "2027-01-31", "2027-02-01"])),
    )


PERIODS = (  # (since, until) in days ago: this month so far, around the thresholds, a fortnight back
    (29.375, 0),
    (14, 7),
    (60, 30.5),
    (3, 1 / 24),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pipeline=st.lists(report_leads(), max_size=8),
    history=st.data(),
    owner=st.sampled_from([None, "ann"]),
    span=st.sampled_from(PERIODS),
    quota=st.sampled_from([Decimal(0), Decimal(300), Decimal("1000.50")]),
)
def test_the_report_in_sql_counts_what_the_rules_count(
    store: Store,
    pipeline: list[Lead],
    history: st.DataObject,
    owner: str | None,
    span: tuple[float, float],
    quota: Decimal,
) -> None:
    stored = fill(store, pipeline)
    events = [  # each lead's moves, and those of a lead no longer there
        move for number in range(1, len(stored) + 2) for move in history.draw(st.lists(moves(number), max_size=4))
    ]
    with store.db.writing():
        store.conn.execute("DELETE FROM events")
        if events:
            columns = ["batch", "at", "command", "actor", "lead_id", "type", "data", "undone_by"]
            store.db.insert_rows("events", columns, events)
    ctx = actions.Context(CONFIG, database(), NOW, _store=store)
    period = metrics.Period(when(span[0]) or "", when(span[1]) or "")
    facts, log = store.report_facts(owner)
    expected = views._group_standing(ctx, facts, log, period, quota)
    assert repr(views._standing(ctx, owner, period, quota)) == repr(expected)  # repr: Decimal exponents too
    months = metrics.months(NOW.date())
    rows = [((f.expected_close or "")[:7], f.stage, 1, f.value or Decimal(0)) for f in facts if f.status == "open"]
    assert repr(metrics.forecast(CONFIG, months, store.expected_closes(owner, months))) == repr(
        metrics.forecast(CONFIG, months, rows)
    )


# --- through the command line -------------------------------------------------------------------


@pytest.fixture
def purchased_list(tmp_path: Path) -> int:
    """A bought list of 30 leads imported ten days ago, nobody has touched: all need attention."""
    source = tmp_path / "list.csv"
    source.write_text("name\n" + "".join(f"Lead {n}\n" for n in range(1, 31)), encoding="utf-8")
    ok("--as-of", "2026-11-20T09:00:00Z", "import", str(source))
    return 30


def test_today_is_a_days_plan_and_counts_the_rest(purchased_list: int) -> None:
    lines = ok("today").stdout.splitlines()
    assert len([line for line in lines if ". #" in line]) == 25
    assert lines[1].startswith("  1. #30 Lead 30:") and lines[25].startswith(" 25. #6 Lead 6:")
    assert lines[-1] == "5 more need attention: see `pipectl review`"
    assert ok("today", "--limit", "2").stdout.splitlines()[-1] == "28 more need attention: see `pipectl review`"
    everything = ok("today", "--all").stdout
    assert " 30. #1 Lead 1:" in everything and "more need attention" not in everything


def test_today_json_keeps_its_array_and_counts_the_rest_on_stderr(purchased_list: int) -> None:
    result = ok("today", "--json")
    assert [item["lead_id"] for item in result.json()] == list(range(30, 5, -1))
    assert result.stderr == "5 more need attention: see `pipectl review`\n"
    whole = ok("today", "--json", "--all")
    assert len(whole.json()) == 30 and whole.stderr == ""


def test_today_capacity_comes_from_the_config(purchased_list: int, tmp_path: Path) -> None:
    path = tmp_path / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[today]\ncapacity = 3\n", encoding="utf-8")
    assert ok("today").stdout.splitlines()[-1] == "27 more need attention: see `pipectl review`"
    assert len(ok("today", "--json", "--limit", "4").json()) == 4
    path.write_text("[today]\ncapacity = 0\n", encoding="utf-8")
    assert_error(run("today"), "today.capacity")


def test_today_all_and_limit_together_is_an_error(purchased_list: int) -> None:
    before = snapshot()
    assert_error(run("today", "--all", "--limit", "3"), "--all")
    assert snapshot() == before


def test_review_cuts_each_kind_at_ten_and_counts_them_all(purchased_list: int) -> None:
    text = ok("review").stdout
    assert "new leads not contacted yet (30)" in text and "stale deals (30)" in text
    assert text.count("and 20 more (--all shows them)") == 2
    assert "61 findings: 30 uncontacted, 30 stale, 1 overloaded_stage." in text
    lines = text.splitlines()
    assert lines[1].startswith("  #1 Lead 1:") and lines[10].startswith("  #10 Lead 10:")
    assert len(ok("review", "--all").stdout.splitlines()) == 3 + 61 + 1
    data = ok("review", "--json").json()
    assert data["summary"] == {"uncontacted": 30, "stale": 30, "overloaded_stage": 1}
    assert len(data["findings"]) == 61
    assert run("review", "--check").exit_code == 1


def test_board_shows_the_top_cards_and_counts_them_all(purchased_list: int) -> None:
    ok("edit", "7", "--value", "500")
    ok("edit", "3", "--value", "900")
    ok("advance", "12", "--force")
    lines = ok("board").stdout.splitlines()
    assert lines[0] == "prospecting (29): 1,400 / w 140 USD"
    assert [line.split()[0] for line in lines[1:11]] == [
        "#3",
        "#7",
        "#30",
        "#29",
        "#28",
        "#27",
        "#26",
        "#25",
        "#24",
        "#23",
    ]
    assert lines[11] == "  +19 more" and lines[12].startswith("qualifying (1)")
    stages = ok("board", "--json").json()["stages"]
    assert [(s["stage"], s["count"], len(s["leads"])) for s in stages][:2] == [
        ("prospecting", 29, 29),
        ("qualifying", 1, 1),
    ]
    assert [lead["id"] for lead in stages[0]["leads"]][:3] == [3, 7, 30] and stages[0]["weighted_value"] == 140
