"""What the board and the report show (read-only actions: the store reads, the domain computes).

Kept apart from actions.py, which changes data; the CLI and the interactive board call both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipectl import actions, dates, metrics, review
from pipectl.actions import Context
from pipectl.metrics import LeadFacts, Move
from pipectl.model import Finding, from_hundredths
from pipectl.store import StageCount, bulk


def report(
    ctx: Context,
    since: datetime | None = None,
    by: str | None = None,
    owner: str | None = None,
    *,
    until: datetime | None = None,
    period: str | None = None,
) -> dict[str, Any]:
    """The report of SPEC §8 as its JSON object, for the period ``metrics.period_of`` makes of
    ``period`` (a ``dates.PERIODS`` name) or ``since`` and ``until``."""
    current = metrics.period_of(ctx.now, ctx.config.targets["period"], period, since, until)
    with bulk():
        return _report(ctx, current, by, owner)


def _report(ctx: Context, current: metrics.Period, by: str | None, owner: str | None) -> dict[str, Any]:
    """The report, counted in the database; with ``by``, the groups from every lead's facts."""
    config, store = ctx.pipeline_config(), ctx.store()
    quota = Decimal(str(config.targets["quota"]))
    if owner is not None:
        target, source = _rep_quotas(ctx, [owner])[owner]
        quota = target if source == "own" else quota
    now, before, coverage, decided = _standing(ctx, owner, current, quota)
    months = metrics.months(dates.local_today(ctx.now))
    result: dict[str, Any] = {
        "period": {"since": current.since, "until": current.until, "name": current.name, "default": current.default},
        **{key: value for key, value in now.items() if key != "lost_reasons"},
        "coverage": coverage.ratio,
        "coverage_needed": {"ratio": coverage.needed, "source": coverage.source},
        "remaining_target": coverage.remaining,
        "verdict": decided.verdict,
        "verdict_reasons": decided.reasons,
        "previous": {
            "period": {"since": current.before().since, "until": current.before().until},
            **{key: value for key, value in before.items() if key != "lost_reasons"},
        },
        "lost_reasons": now["lost_reasons"],
        "forecast": metrics.forecast(config, months, store.expected_closes(owner, months)),
        "currency": config.currency,
        "quota": quota,
        "target_period": config.targets["period"],
    }
    if by is not None:
        all_leads, moves = store.report_facts(owner)
        members = metrics.group_members(all_leads, by)
        result["groups"] = metrics.groups(members, current)
        if by == "owner":  # each rep's own verdict, against their own target
            targets = _rep_quotas(ctx, [name for name in members if name != metrics.NO_GROUP])
            for row in result["groups"]:
                quota, source = targets.get(row["group"], (Decimal(0), "none"))
                mine = _group_standing(ctx, members[row["group"]], moves, current, quota)[3]
                row.update(verdict=mine.verdict, verdict_reasons=mine.reasons, quota=quota, quota_source=source)
    return result


def _rep_quotas(ctx: Context, owners: list[str]) -> dict[str, tuple[Decimal, str]]:
    """Each rep's target: their own (`team quota`, on a team's database), else the team's quota split
    evenly among the reps ("split")."""
    own: dict[str, Decimal] = {}
    if ctx.store().who is not None:
        from pipectl.store import team

        own = {name: from_hundredths(amount) for name, amount in team.quotas(ctx.store().conn).items()}
    split = (Decimal(str(ctx.config.targets["quota"])) / max(len(owners), 1)).quantize(Decimal("0.01"))
    return {name: (own[name], "own") if name in own else (split, "split") for name in owners}


Standing = tuple[dict[str, Any], dict[str, Any], metrics.Coverage, metrics.Verdict]


def _standing(ctx: Context, owner: str | None, current: metrics.Period, quota: Decimal) -> Standing:
    """The metrics of the leads (of ``owner``) in the current and the previous period, the coverage
    of the target ``quota``, and the verdict they lead to: counted and summed in the database, which
    streams only what a median needs."""
    config, store = ctx.pipeline_config(), ctx.store()
    previous = current.before()
    names, weight = config.stage_names, metrics.weights(config)
    limits = metrics.stale_limits(config, current.until)
    periods = (current, previous)
    stage_counts: dict[str, StageCount] = {}
    moments = [current.until, previous.until]
    ended = metrics.ended(
        names, store.stays(owner, moments, limits, previous.since, current.until, stage_counts), periods
    )
    snapshots = [{name: metrics.Total() for name in names} for _ in periods]
    open_now = stale = 0
    for stage, count in stage_counts.items():
        if stage in weight:
            open_now, stale = open_now + count.counted[0][0], stale + count.stale
            for totals, (number, value) in zip(snapshots, count.counted, strict=True):
                if number:
                    totals[stage].add(value, weight[stage], number)
    now, before = (
        metrics.figures(config, snapshot, stays, _outcomes(ctx, owner, period))
        for snapshot, stays, period in zip(snapshots, ended, periods, strict=True)
    )
    counts = store.status_counts(owner)
    start, end = (dates.to_iso(moment) for moment in dates.target_period(ctx.now, config.targets["period"]))
    won_in_target = store.won_value(owner, start, end)
    return _judge(
        ctx,
        now,
        before,
        counts.get("won", 0),
        counts.get("lost", 0),
        won_in_target,
        quota,
        stale / open_now if open_now else 0.0,
    )


def _outcomes(ctx: Context, owner: str | None, period: metrics.Period) -> metrics.Outcomes:
    """The deals (of ``owner``) closed in ``period``, from the database: the won ones streamed, the
    lost ones summed per reason."""
    store = ctx.store()
    return metrics.outcomes(
        store.won_deals(owner, period.since, period.until), store.lost(owner, period.since, period.until)
    )


def _group_standing(
    ctx: Context, all_leads: list[LeadFacts], moves: list[Move], current: metrics.Period, quota: Decimal
) -> Standing:
    """``_standing`` of a group of ``report --by`` (``metrics.group_members``: names compared without
    case or width, which SQL cannot do), from the facts of its leads."""
    config = ctx.pipeline_config()
    leads = {lead.id: lead for lead in all_leads}
    all_visits = metrics.visits(all_leads, (move for move in moves if move.lead_id in leads))
    now = metrics.period_metrics(config, leads, all_visits, current)
    before = metrics.period_metrics(config, leads, all_visits, current.before())
    closed = [lead.status for lead in all_leads]
    start, end = dates.target_period(ctx.now, config.targets["period"])
    won_in_target = sum(
        (
            lead.value or Decimal(0)
            for lead in all_leads
            if lead.status == "won" and lead.closed_at and dates.to_iso(start) <= lead.closed_at < dates.to_iso(end)
        ),
        Decimal(0),
    )
    stale = metrics.stale_share(config, all_visits, current.until)
    return _judge(ctx, now, before, closed.count("won"), closed.count("lost"), won_in_target, quota, stale)


def _judge(
    ctx: Context,
    now: dict[str, Any],
    before: dict[str, Any],
    won_count: int,
    lost_count: int,
    won_in_target: Decimal,
    quota: Decimal,
    stale_share: float,
) -> Standing:
    """The coverage of the target ``quota`` and the verdict, from the metrics of both periods."""
    config = ctx.pipeline_config()
    needed = review.coverage_needed(config, review.Facts(won_count=won_count, lost_count=lost_count))
    remaining = quota - won_in_target
    ratio = round(float(Decimal(str(now["open_value"])) / remaining), 2) if quota > 0 and remaining > 0 else None
    coverage = metrics.Coverage(ratio, needed.value, needed.source, remaining if quota > 0 else None)
    return now, before, coverage, metrics.verdict(config, now, before, coverage, stale_share)


def board(
    ctx: Context, owner: str | None = None, marks: bool = True, cards: int | None = None
) -> tuple[list[dict[str, Any]], dict[int, list[Finding]]]:
    """The open leads by stage, the most valuable first (at most ``cards`` of each), with the count,
    value and weighted value of all of each stage's; and (``marks``) what the review finds for each
    lead shown, the marks on the cards."""
    with bulk():
        stages = [{**stage, "leads": list(stage["leads"])} for stage in columns(ctx, owner, cards)]
        shown = [lead for stage in stages for lead in stage["leads"]]
        return stages, actions.Review(ctx, owner).marks(shown) if marks else {}


def columns(ctx: Context, owner: str | None = None, cards: int | None = None) -> Iterator[dict[str, Any]]:
    """The board's columns (SPEC §8's ``stages``): the configured stages, then any other stage open
    leads are in; each with its totals, counted in the database, and its leads streamed."""
    config, store = ctx.pipeline_config(), ctx.store()
    totals = store.stage_totals(owner)
    weights = metrics.weights(config)
    for name in [*config.stage_names, *sorted(set(totals) - set(config.stage_names))]:
        count, value = totals.get(name, (0, Decimal(0)))
        yield {
            "stage": name,
            "count": count,
            "value": value,
            "weighted_value": value * weights.get(name, Decimal(0)),
            "leads": store.column(name, owner, cards),
        }
