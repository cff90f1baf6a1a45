"""Report metrics: the funnel, conversion, win rate, cycle, velocity, coverage and the verdict (pure).

Every metric is computed from the history (stage entries and exits rebuilt from the event log), not
from current state alone, so conversion and time in stage are true for leads that moved on. The
formulas are in the README ("Report"). A metric with no data is None (shown "n/a", never 0).
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from pipectl import dates
from pipectl.config import Config
from pipectl.leads import fold

OUTCOMES = ("won", "lost", "disqualified")
CENT = Decimal("0.01")
NO_GROUP = "(none)"  # the group of leads without a source, owner or tag


class LeadFacts(NamedTuple):
    """What the report needs of a lead (the store reads just this). Named tuples: a report builds
    hundreds of thousands of these, and they are the cheapest records to make."""

    id: int
    created_at: str
    stage: str
    status: str
    closed_at: str | None
    value: Decimal | None
    touch_count: int
    lost_reason: str | None = None
    expected_close: str | None = None
    source: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()


class Move(NamedTuple):
    """One change of a lead's place in the pipeline, from the event log."""

    lead_id: int
    at: str
    kind: str  # "stage", "won", "lost", "disqualified", "reopen"
    to: str | None = None  # the stage moved to (stage, reopen)
    start: str | None = None  # the stage moved from (stage)


class Visit(NamedTuple):
    """A stretch a lead spent in one stage: entered, left (None: still there), and where it went."""

    lead_id: int
    stage: str
    entered: str
    left: str | None
    exit: str | None  # the next stage, or won / lost / disqualified, or None while there


def visits(leads: Iterable[LeadFacts], moves: Iterable[Move]) -> list[Visit]:
    """Rebuild every stage visit of every lead from its creation and its moves (``moves`` in order)."""
    by_lead: dict[int, list[Move]] = {}
    for move in moves:
        by_lead.setdefault(move.lead_id, []).append(move)
    result: list[Visit] = []
    for lead in leads:
        own = by_lead.get(lead.id)
        if own is None:  # never moved: one stay, from creation to now or to its close
            if lead.status == "open":
                result.append(Visit(lead.id, lead.stage, lead.created_at, None, None))
            elif lead.status in OUTCOMES and lead.closed_at:
                result.append(Visit(lead.id, lead.stage, lead.created_at, lead.closed_at, lead.status))
            continue
        first_move = next((m for m in own if m.kind == "stage"), None)
        current: str | None = first_move.start if first_move and first_move.start else lead.stage
        entered = lead.created_at
        for move in own:
            if move.kind == "stage" and move.to:
                if current is not None:
                    result.append(Visit(lead.id, current, entered, move.at, move.to))
                current, entered = move.to, move.at
            elif move.kind in OUTCOMES:
                if current is not None:
                    result.append(Visit(lead.id, current, entered, move.at, move.kind))
                current = None
            elif move.kind == "reopen":
                current, entered = move.to or lead.stage, move.at
        if current is not None:
            if lead.status in OUTCOMES and lead.closed_at:  # closed without an event (imported as closed)
                result.append(Visit(lead.id, current, entered, lead.closed_at, lead.status))
            elif lead.status == "open":
                result.append(Visit(lead.id, current, entered, None, None))
    return result


def _cycle(lead: LeadFacts, period: Period) -> float:
    """Days from a lead's creation to its close."""
    return dates.days_between(lead.created_at, lead.closed_at or period.until)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def weights(config: Config) -> dict[str, Decimal]:
    return {stage.name: Decimal(str(stage.probability)) for stage in config.stages}


def _value(lead: LeadFacts) -> Decimal:
    return lead.value or Decimal(0)


@dataclass
class Total:
    """Count, value and weighted value of some leads (a stage, a month)."""

    count: int = 0
    value: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)

    def add(self, value: Decimal, weight: Decimal, count: int = 1) -> None:
        """Add ``count`` leads worth ``value`` together (a lead, or a group the database summed)."""
        self.count += count
        self.value += value
        self.weighted += value * weight


@dataclass(frozen=True)
class Period:
    """From ``since`` to ``until``, both included (stored times have whole seconds); ``name``: the
    calendar period it is (a ``dates.PERIODS`` name) when it is one, ``default``: chosen by default."""

    since: str
    until: str
    name: str | None = None
    default: bool = False

    def has(self, moment: str | None) -> bool:
        return moment is not None and self.since <= moment <= self.until

    def before(self) -> Period:
        """The period of the same length that ends the second before this one starts."""
        start, end = dates.from_iso(self.since), dates.from_iso(self.until)
        second = timedelta(seconds=1)
        return Period(dates.to_iso(start - (end - start) - second), dates.to_iso(start - second))


def snapshot(config: Config, leads: dict[int, LeadFacts], all_visits: list[Visit], at: str) -> dict[str, Total]:
    """The open pipeline as it stood at ``at``: per stage count, value and weighted value."""
    stages = {name: Total() for name in config.stage_names}
    weight = weights(config)
    for visit in all_visits:
        if visit.entered <= at and (visit.left is None or visit.left > at) and visit.stage in stages:
            stages[visit.stage].add(_value(leads[visit.lead_id]), weight[visit.stage])
    return stages


def stale_limits(config: Config, at: str) -> dict[str, str]:
    """Per stage, the time before which a lead that entered it and is still there at ``at`` had been
    in it longer than its max_days."""
    return {stage.name: dates.to_iso(dates.from_iso(at) - timedelta(days=stage.max_days)) for stage in config.stages}


def stale_share(config: Config, all_visits: list[Visit], at: str) -> float:
    """The share of the leads open at ``at`` that had been in their stage longer than its max_days."""
    limits = stale_limits(config, at)
    open_stays = [v for v in all_visits if v.entered <= at and (v.left is None or v.left > at) and v.stage in limits]
    stale = sum(1 for v in open_stays if v.entered < limits[v.stage])
    return stale / len(open_stays) if open_stays else 0.0


class Outcomes(NamedTuple):
    """The deals closed in a period, as far as the report needs them: the won ones' count, total value,
    touchpoints, median value and cycles (days from creation to close), and ``lost_reasons``."""

    won_count: int
    won_value: Decimal
    won_touches: int
    median_deal: Decimal | None
    cycles: list[float]
    lost: list[dict[str, Any]]


def outcomes(won: Iterable[tuple[Decimal, int, str, str]], lost: Iterable[tuple[str | None, int, Decimal]]) -> Outcomes:
    """The deals closed in a period from the ``won`` ones (value, touchpoints, created, closed) and the
    ``lost`` ones (reason, count, value: a lead, or the leads of a reason the database summed)."""
    values: list[Decimal] = []
    cycles: list[float] = []
    touches = 0
    for value, touch_count, created_at, closed_at in won:
        values.append(value)
        touches += touch_count
        cycles.append(dates.days_between(created_at, closed_at))
    median = statistics.median(values) if values else None
    return Outcomes(len(values), sum(values, Decimal(0)), touches, median, cycles, lost_reasons(lost))


def closed_in(leads: Collection[LeadFacts], period: Period) -> Outcomes:
    """The deals of ``leads`` won and lost in ``period``."""
    return outcomes(
        (
            (_value(lead), lead.touch_count, lead.created_at, lead.closed_at)
            for lead in leads
            if lead.status == "won" and lead.closed_at and period.has(lead.closed_at)
        ),
        ((lead.lost_reason, 1, _value(lead)) for lead in leads if lead.status == "lost" and period.has(lead.closed_at)),
    )


@dataclass
class Ended:
    """The stays in a stage that ended in a period: how long each lasted (days), how many went on."""

    days: list[float] = field(default_factory=list)
    forward: int = 0


def ended(
    names: list[str], stays: Iterable[tuple[str, str, str | None, str | None]], periods: Sequence[Period]
) -> list[dict[str, Ended]]:
    """The stays (stage, entered, left, where the lead went) in each stage of ``names`` that ended in
    each of ``periods`` (in one pass): forward when the lead moved to a later stage or was won."""
    result = [{name: Ended() for name in names} for _ in periods]
    rank = {name: number for number, name in enumerate(names)}
    bounds = [(period.since, period.until, ended_in) for period, ended_in in zip(periods, result, strict=True)]
    for stage, entered, left, exit in stays:
        at = rank.get(stage)
        if left is None or at is None:
            continue
        for since, until, ended_in in bounds:
            if since <= left <= until:
                stays_in = ended_in[stage]
                stays_in.days.append(dates.days_between(entered, left))
                if exit == "won" or rank.get(exit or "", -1) > at:
                    stays_in.forward += 1
    return result


def period_metrics(
    config: Config, leads: dict[int, LeadFacts], all_visits: list[Visit], period: Period
) -> dict[str, Any]:
    """Every report metric of SPEC §8 for one period (the open pipeline as it stood at its end)."""
    return figures(
        config,
        snapshot(config, leads, all_visits, period.until),
        ended(config.stage_names, (visit[1:] for visit in all_visits), [period])[0],
        closed_in(leads.values(), period),
    )


def figures(config: Config, stages: dict[str, Total], ended_in: dict[str, Ended], closed: Outcomes) -> dict[str, Any]:
    """The metrics of a period from its parts: the open pipeline per stage at its end (``snapshot``),
    the stays that ended in it (``ended``), and the deals closed in it (``outcomes``)."""
    names = config.stage_names
    stage_rows = []
    for name in names:
        stays = ended_in[name]
        total = stages[name]
        stage_rows.append(
            {
                "stage": name,
                "count": total.count,
                "value": total.value,
                "weighted_value": total.weighted,
                "median_days_in_stage": _median(stays.days),
                "conversion": round(stays.forward / len(stays.days), 4) if stays.days else None,
            }
        )
    won_count = closed.won_count
    lost_count = sum(row["count"] for row in closed.lost)
    win_rate = round(won_count / (won_count + lost_count), 4) if won_count or lost_count else None
    avg_deal = closed.won_value / won_count if won_count else None
    cycle = _median(closed.cycles)
    open_count = sum(total.count for total in stages.values())
    open_value = sum((total.value for total in stages.values()), Decimal(0))
    velocity = None
    if win_rate and avg_deal is not None and cycle:
        velocity = round(float(open_count * Decimal(str(win_rate)) * avg_deal / Decimal(str(cycle))), 2)
    return {
        "stages": stage_rows,
        "open_count": open_count,
        "open_value": open_value,
        "weighted_value": sum((total.weighted for total in stages.values()), Decimal(0)),
        "won_count": won_count,
        "lost_count": lost_count,
        "win_rate": win_rate,
        "avg_deal": avg_deal.quantize(CENT) if avg_deal is not None else None,
        "median_deal": Decimal(closed.median_deal).quantize(CENT) if closed.median_deal is not None else None,
        "won_value": closed.won_value,
        "median_cycle_days": cycle,
        "sales_velocity": velocity,
        "touches_per_won": round(closed.won_touches / won_count, 1) if won_count else None,
        "lost_reasons": closed.lost,
    }


def lost_reasons(lost: Iterable[tuple[str | None, int, Decimal]]) -> list[dict[str, Any]]:
    """Why deals were lost: count and value per reason (from rows of reason, count and value: a
    lead, or the leads of a reason the database summed), the most costly first."""
    groups: dict[str, tuple[int, Decimal]] = {}
    for reason, count, value in lost:
        key = reason or "(no reason)"
        had, total = groups.get(key, (0, Decimal(0)))
        groups[key] = (had + count, total + value)
    rows = [{"reason": reason, "count": count, "value": value} for reason, (count, value) in groups.items()]
    return sorted(rows, key=lambda row: (-row["value"], -row["count"], row["reason"]))


def months(today: date, count: int = 3) -> list[str]:
    """This month and the next ones, as YYYY-MM: the months of the forecast."""
    keys = []
    year, month = today.year, today.month
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def forecast(config: Config, keys: list[str], rows: Iterable[tuple[str, str, int, Decimal]]) -> list[dict[str, Any]]:
    """Open leads by expected close month (``keys``, of ``months``): count, value, weighted value; from
    rows of month, stage, count and value (a lead, or the leads the database summed)."""
    totals = {key: Total() for key in keys}
    weight = weights(config)
    for key, stage, count, value in rows:
        if key in totals:
            totals[key].add(value, weight.get(stage, Decimal(0)), count)
    return [
        {"month": key, "count": t.count, "value": t.value, "weighted_value": t.weighted} for key, t in totals.items()
    ]


def group_members(leads: Iterable[LeadFacts], by: str) -> dict[str, list[LeadFacts]]:
    """The leads of each source, owner or tag. Names compare without case or width (``leads.fold``):
    Web, web and a full-width WEB are one group, named by its most used spelling (on a tie, the
    spelling of the earliest lead, the lowest id: both backends agree whatever order they read in)."""
    members: dict[str | None, list[LeadFacts]] = {}
    spellings: dict[str | None, dict[str, tuple[int, int]]] = {}  # key -> spelling -> (leads, -first id)
    for lead in leads:
        seen: set[str | None] = set()
        for name in (lead.tags if by == "tag" else (getattr(lead, by),)) or (None,):
            key = fold(name) if name else None
            if key in seen:  # tags Web and web on one lead: one member
                continue
            seen.add(key)
            members.setdefault(key, []).append(lead)
            count, first = spellings.setdefault(key, {}).get(name or NO_GROUP, (0, -lead.id))
            spellings[key][name or NO_GROUP] = (count + 1, max(first, -lead.id))
    return {max(spellings[key].items(), key=lambda item: item[1])[0]: items for key, items in members.items()}


def groups(members: dict[str, list[LeadFacts]], period: Period) -> list[dict[str, Any]]:
    """Outcomes per group (``group_members``): which groups bring deals that close (by won value)."""
    rows = []
    for name, items in members.items():
        won = [i for i in items if i.status == "won" and period.has(i.closed_at)]
        lost = [i for i in items if i.status == "lost" and period.has(i.closed_at)]
        created = [i for i in items if period.has(i.created_at)]
        if not (won or lost or created):
            continue
        rows.append(
            {
                "group": name,
                "count": len(created),
                "won_count": len(won),
                "lost_count": len(lost),
                "win_rate": round(len(won) / (len(won) + len(lost)), 4) if won or lost else None,
                "won_value": sum((_value(i) for i in won), Decimal(0)),
                "median_cycle_days": _median([_cycle(i, period) for i in won]),
            }
        )
    return sorted(rows, key=lambda row: (-row["won_value"], -row["won_count"], row["group"]))


@dataclass
class Verdict:
    verdict: str
    reasons: list[str] = field(default_factory=list)


def verdict(
    config: Config, now: dict[str, Any], before: dict[str, Any], coverage: Coverage, stale_share: float
) -> Verdict:
    """Prospect more (the front of the pipeline is too thin for the target), convert more (enough in
    the pipeline, but it does not move or close), or on track; with the numbers that decided it."""
    review, targets = config.review, config.targets
    open_count = now["open_count"]
    front = now["stages"][0]["count"] / open_count if open_count else 0.0
    first = now["stages"][0]["stage"]
    reasons = []
    if open_count < review["min_open"]:
        reasons.append(f"only {open_count} open leads (review.min_open = {review['min_open']})")
    if open_count and front < review["min_front_share"]:
        reasons.append(
            f"{front:.0%} of the open leads in {first} (review.min_front_share = {review['min_front_share']:.0%})"
        )
    if coverage.ratio is not None and coverage.ratio < coverage.needed:
        reasons.append(
            f"the open pipeline covers {coverage.ratio:.1f}x the remaining target, {coverage.needed:g}x needed "
            f"({coverage.source})"
        )
    if reasons:
        return Verdict("prospect_more", reasons)
    drop = targets["max_win_rate_drop"]
    if now["win_rate"] is not None and before["win_rate"] and now["win_rate"] < before["win_rate"] * (1 - drop):
        reasons.append(
            f"win rate {now['win_rate']:.0%}, down from {before['win_rate']:.0%} in the previous period "
            f"(targets.max_win_rate_drop = {drop:.0%})"
        )
    if stale_share > targets["max_stale_share"]:
        reasons.append(
            f"{stale_share:.0%} of the open leads sit longer in their stage than its max_days "
            f"(targets.max_stale_share = {targets['max_stale_share']:.0%})"
        )
    if coverage.remaining and now["weighted_value"] < coverage.remaining:
        reasons.append(
            f"weighted pipeline {now['weighted_value']:,} is below the remaining target {coverage.remaining:,}: "
            "move deals toward closing"
        )
    if reasons:
        return Verdict("convert_more", reasons)
    detail = [f"{open_count} open leads, {front:.0%} in {first}"]
    if coverage.ratio is not None:
        detail.append(f"coverage {coverage.ratio:.1f}x of {coverage.needed:g}x needed")
    if now["win_rate"] is not None:
        detail.append(f"win rate {now['win_rate']:.0%}")
    return Verdict("on_track", ["; ".join(detail)])


@dataclass(frozen=True)
class Coverage:
    """The open pipeline over what is left of the target this target period, and what is needed."""

    ratio: float | None  # None without a quota, or with the target met
    needed: float
    source: str
    remaining: Decimal | None


def period_of(
    now: datetime, kind: str, name: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> Period:
    """The report period: the calendar period ``name`` (``last-month``...), or from ``since`` (default: the
    start of the target period ``until`` is in) to ``until``; without any, ``dates.default_period``.
    Never past now: a report cannot see what has not happened yet."""
    second = timedelta(seconds=1)
    if since is None and until is None:
        chosen = dates.period_name(name) if name else dates.default_period(now, kind)
        start, end = dates.named_period(chosen, now)
        return Period(dates.to_iso(start), dates.to_iso(min(end - second, now)), chosen, name is None)
    end = now if until is None else min(until, now)
    start = dates.target_period(end, kind)[0] if since is None else since
    return Period(dates.to_iso(start), dates.to_iso(end))
