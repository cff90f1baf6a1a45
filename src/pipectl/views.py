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
from pipectl.store import bulk


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
    config = ctx.pipeline_config()
    all_leads, moves = ctx.store().report_facts(owner)
    quota = Decimal(str(config.targets["quota"]))
    if owner is not None:
        target, source = _rep_quotas(ctx, [owner])[owner]
        quota = target if source == "own" else quota
    now, before, coverage, decided = _standing(ctx, all_leads, moves, current, quota)
    open_leads = [lead for lead in all_leads if lead.status == "open"]
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
        "forecast": metrics.forecast(config, open_leads, dates.local_today(ctx.now)),
        "currency": config.currency,
        "quota": quota,
        "target_period": config.targets["period"],
    }
    if by is not None:
        members = metrics.group_members(all_leads, by)
        result["groups"] = metrics.groups(members, current)
        if by == "owner":  # each rep's own verdict, against their own target
            targets = _rep_quotas(ctx, [name for name in members if name != metrics.NO_GROUP])
            for row in result["groups"]:
                quota, source = targets.get(row["group"], (Decimal(0), "none"))
                mine = _standing(ctx, members[row["group"]], moves, current, quota)[3]
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


def _standing(
    ctx: Context,
    all_leads: list[LeadFacts],
    moves: list[Move],
    current: metrics.Period,
    quota: Decimal | None = None,
) -> tuple[dict[str, Any], dict[str, Any], metrics.Coverage, metrics.Verdict]:
    """The metrics of ``all_leads`` in the current and the previous period, the coverage of the
    target (``quota``, by default the config's), and the verdict they lead to."""
    config = ctx.pipeline_config()
    leads = {lead.id: lead for lead in all_leads}
    all_visits = metrics.visits(all_leads, (move for move in moves if move.lead_id in leads))
    now = metrics.period_metrics(config, leads, all_visits, current)
    before = metrics.period_metrics(config, leads, all_visits, current.before())
    closed = [lead.status for lead in all_leads]
    needed = review.coverage_needed(
        config, review.Facts(won_count=closed.count("won"), lost_count=closed.count("lost"))
    )
    if quota is None:
        quota = Decimal(str(config.targets["quota"]))
    start, end = dates.target_period(ctx.now, config.targets["period"])
    won_in_target = sum(
        (
            lead.value or Decimal(0)
            for lead in all_leads
            if lead.status == "won" and lead.closed_at and dates.to_iso(start) <= lead.closed_at < dates.to_iso(end)
        ),
        Decimal(0),
    )
    remaining = quota - won_in_target
    ratio = round(float(Decimal(str(now["open_value"])) / remaining), 2) if quota > 0 and remaining > 0 else None
    coverage = metrics.Coverage(ratio, needed.value, needed.source, remaining if quota > 0 else None)
    decided = metrics.verdict(config, now, before, coverage, metrics.stale_share(config, all_visits, current.until))
    return now, before, coverage, decided


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
