"""The daily review: what slips and what clogs (pure: leads, config, now and a few facts in; findings out).

Every threshold comes from the config. The edges are deliberate and documented in the README:
"longer than" a limit fires strictly above it (``stale``: 15 days in a 14-day stage), "for" a
duration fires at it (``idle_days``, ``respond_within_hours``, ``last_chance_wait_days``,
``max_attempts``, ``max_unqualified_touches``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from pipectl import dates
from pipectl.config import Config
from pipectl.model import Finding, Lead, is_snoozed

KINDS = (
    "overdue",
    "uncontacted",
    "close_out",
    "last_chance",
    "stale",
    "no_next_step",
    "unqualified_effort",
    "bad_email",
    "overloaded_stage",
    "thin_pipeline",
)
LEAD_KINDS = KINDS[:7]  # the rest are about stages and the whole pipeline
# With fewer closed deals than these, rates and cycles from the rep's own history mean little.
MIN_WON_FOR_CYCLE = 5
MIN_CLOSED_FOR_WIN_RATE = 10
CYCLE_PERCENTILE = 90
DEFAULT_COVERAGE = 3.0  # the familiar "3x", i.e. 1 / a 33 % win rate


@dataclass(frozen=True)
class Facts:
    """What the review needs from the history beyond the open leads."""

    won_cycle_days: tuple[float, ...] = ()  # created -> won, per won lead
    won_count: int = 0
    lost_count: int = 0
    won_value_in_period: Decimal = Decimal(0)
    # Open leads whose main address bounced and no other address works (SPEC §12): id -> that address.
    bad_emails: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A number the review used, and where it came from (shown to the user)."""

    value: float
    source: str


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def sales_cycle(config: Config, facts: Facts) -> Figure:
    """The sales cycle in days: configured, or the 90th percentile of the rep's own won deals."""
    setting = config.cadence["sales_cycle_days"]
    if setting != "auto":
        return Figure(float(setting), "cadence.sales_cycle_days")
    wins = len(facts.won_cycle_days)
    if wins >= MIN_WON_FOR_CYCLE:
        days = round(percentile(list(facts.won_cycle_days), CYCLE_PERCENTILE / 100), 1)
        return Figure(days, f"the {CYCLE_PERCENTILE}th percentile of your {wins} won deals")
    fallback = config.cadence["sales_cycle_fallback_days"]
    return Figure(float(fallback), f"the fallback: {wins} won deals, {MIN_WON_FOR_CYCLE} needed for your own")


def win_rate(facts: Facts) -> float | None:
    closed = facts.won_count + facts.lost_count
    return facts.won_count / closed if closed else None


def coverage_needed(config: Config, facts: Facts) -> Figure:
    """The open pipeline needed per unit of remaining target: 1 / win rate ("auto") or configured."""
    setting = config.targets["coverage"]
    if setting != "auto":
        return Figure(float(setting), "targets.coverage")
    rate = win_rate(facts)
    closed = facts.won_count + facts.lost_count
    if rate and closed >= MIN_CLOSED_FOR_WIN_RATE:
        return Figure(round(1 / rate, 2), f"1 / your win rate of {rate:.0%}")
    return Figure(
        DEFAULT_COVERAGE, f"the usual 3x: {closed} closed deals, {MIN_CLOSED_FOR_WIN_RATE} needed for your own"
    )


def _plural(count: float, word: str) -> str:
    number = int(count)
    return f"{number} {word}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class Cutoffs:
    """Every threshold as the stored time it compares with (stored times are uniform ISO text, so
    they compare as strings): one review of 100,000 leads parses dates only for what fires."""

    now: str
    stage_entered: dict[str, str]  # entered before this: longer than the stage's max_days
    idle: str  # last touched at or before this: idle
    uncontacted: str  # came in at or before this without outbound contact
    last_chance: str  # last chance sent at or before this: waited long enough
    cycle: str  # created before this: past the sales cycle x tolerance

    @classmethod
    def at(cls, config: Config, now: datetime, cycle: Figure) -> Cutoffs:
        def back(**delta: float) -> str:
            return dates.to_iso(now - timedelta(**delta))

        cadence = config.cadence
        return cls(
            now=dates.to_iso(now),
            stage_entered={stage.name: back(days=stage.max_days) for stage in config.stages},
            idle=back(days=config.review["idle_days"]),
            uncontacted=back(hours=cadence["respond_within_hours"]),
            last_chance=back(days=cadence["last_chance_wait_days"]),
            cycle=back(days=cycle.value * cadence["cycle_tolerance"]),
        )


def lead_findings(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None = None
) -> list[Finding]:
    """The findings of one open, not snoozed lead (``only``: just those of that kind, the others not
    worked out: a review of 100,000 leads reads each lead once per kind it shows)."""
    found: list[Finding] = []
    for rule in _RULES if only is None else _RULES_OF[only]:
        rule(lead, config, now, cycle, cut, only, found)
    return found


def _add(
    found: list[Finding], only: str | None, lead: Lead, kind: str, reason: str, urgency: float, **details: object
) -> None:
    if only is None or only == kind:
        found.append(Finding(kind, reason, lead.id, lead.stage, lead.name, details, urgency))


def _stale(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    entered_cut = cut.stage_entered.get(lead.stage)
    due = lead.next_action_due
    if entered_cut is not None and lead.stage_entered_at < entered_cut:
        in_stage = dates.days_between(lead.stage_entered_at, now)
        max_days = config.stage(lead.stage).max_days
        _add(
            found,
            only,
            lead,
            "stale",
            f"{_plural(in_stage, 'day')} in {lead.stage} (max {max_days})",
            in_stage - max_days,
            days_in_stage=int(in_stage),
            max_days=max_days,
        )
    elif (lead.last_touch_at or lead.created_at) <= cut.idle and not (due is not None and due > cut.now):
        idle = dates.days_between(lead.last_touch_at or lead.created_at, now)
        what = "untouched" if lead.last_touch_at else "never touched"
        idle_days = config.review["idle_days"]
        _add(
            found,
            only,
            lead,
            "stale",
            f"{what} for {_plural(idle, 'day')} with nothing scheduled (idle after {idle_days})",
            idle - idle_days,
            idle_days=int(idle),
            max_idle_days=idle_days,
        )


def _due(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    due = lead.next_action_due
    if due is not None and due <= cut.now:
        late = dates.days_between(due, now)
        step = lead.next_action or "next step"
        when = f"{dates.show(due)} ({_plural(late, 'day')} ago)" if late >= 1 else dates.show(due)
        _add(found, only, lead, "overdue", f"{step!r} was due {when}", late, next_action=lead.next_action, due=due)
    elif config.stage_index.get(lead.stage, 0) > 0 and due is None:
        step = f"next step {lead.next_action!r} has no due date" if lead.next_action else "no next step scheduled"
        _add(
            found, only, lead, "no_next_step", f"{step} in {lead.stage}", dates.days_between(lead.stage_entered_at, now)
        )


def _uncontacted(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    if lead.last_outbound_at is None and lead.created_at <= cut.uncontacted:
        hours = dates.days_between(lead.created_at, now) * 24
        _add(
            found,
            only,
            lead,
            "uncontacted",
            f"came in {_age(hours)} ago, not contacted yet "
            f"(respond within {config.cadence['respond_within_hours']:g} h)",
            hours,
            hours_waiting=round(hours, 1),
        )


def _unqualified(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    if lead.qualified is True:
        return
    gate = config.gate_stage
    index = config.stage_index.get(lead.stage, 0)
    most = config.review["max_unqualified_touches"]
    if gate in config.stage_names and index > config.stage_index[gate]:
        _add(
            found,
            only,
            lead,
            "unqualified_effort",
            f"in {lead.stage} without passing qualification (moved past {gate} by force)",
            float(index),
            forced=True,
        )
    elif lead.touch_count >= most:
        _add(
            found,
            only,
            lead,
            "unqualified_effort",
            f"{_plural(lead.touch_count, 'touchpoint')} and not qualified yet (max {most}): qualify it or let it go",
            float(lead.touch_count),
            touch_count=lead.touch_count,
        )


def _last_chance(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    if lead.last_chance_at is not None:
        if lead.last_chance_at <= cut.last_chance:
            waited = dates.days_between(lead.last_chance_at, now)
            _add(
                found,
                only,
                lead,
                "close_out",
                f"last chance sent {_plural(waited, 'day')} ago, no reply: let it go",
                waited,
                close_reason="no response",
                days_since_last_chance=int(waited),
            )
    elif lead.attempts >= config.cadence["max_attempts"]:
        _add(
            found,
            only,
            lead,
            "last_chance",
            f"{lead.attempts} attempts without a reply: send the last-chance message",
            float(lead.attempts),
            attempts=lead.attempts,
        )


def _past_cycle(
    lead: Lead, config: Config, now: datetime, cycle: Figure, cut: Cutoffs, only: str | None, found: list[Finding]
) -> None:
    if lead.created_at < cut.cycle and not any(f.kind == "close_out" for f in found):
        age = dates.days_between(lead.created_at, now)
        tolerance = config.cadence["cycle_tolerance"]
        _add(
            found,
            only,
            lead,
            "close_out",
            f"open {_plural(age, 'day')}, past the sales cycle of {cycle.value:g} days x {tolerance:g} "
            f"({cycle.source})",
            age - cycle.value * tolerance,
            close_reason="past sales cycle",
            days_open=int(age),
            cycle_days=cycle.value,
        )


# The rules of a lead's findings, in the order a lead's findings are listed; and those that can
# find each kind (a rule's other kinds are left out: ``only``).
_RULES = (_stale, _due, _uncontacted, _unqualified, _last_chance, _past_cycle)
_RULES_OF = {
    "stale": (_stale,),
    "overdue": (_due,),
    "no_next_step": (_due,),
    "uncontacted": (_uncontacted,),
    "unqualified_effort": (_unqualified,),
    "last_chance": (_last_chance,),
    "close_out": (_last_chance, _past_cycle),
}
# The lead fields each rule reads, and those a finding keeps (``_add``): the store reads only these
# for a kind (reading every field of 100,000 leads took a quarter of review --json).
_READS = {
    _stale: ("stage_entered_at", "next_action_due", "last_touch_at", "created_at"),
    _due: ("next_action_due", "next_action", "stage_entered_at"),
    _uncontacted: ("last_outbound_at", "created_at"),
    _unqualified: ("qualified", "touch_count"),
    _last_chance: ("last_chance_at", "attempts"),
    _past_cycle: ("created_at",),
}
READS = {
    kind: {"id", "name", "stage", *(field for rule in rules for field in _READS[rule])}
    for kind, rules in _RULES_OF.items()
}


def bad_email(lead: Lead, email: str) -> Finding:
    reason = f"{email} bounced and no other address works: fix it (edit --email / --add-email) or let the lead go"
    return Finding("bad_email", reason, lead.id, lead.stage, lead.name, {"email": email})


def _age(hours: float) -> str:
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def pipeline_findings(stage_counts: dict[str, int], open_value: Decimal, config: Config, facts: Facts) -> list[Finding]:
    """Stage- and pipeline-level findings from the open leads' count per stage (snoozed ones too)
    and their total value: overloaded stages, a thin pipeline."""
    found: list[Finding] = []
    review = config.review
    total = sum(stage_counts.values())
    counts = {name: stage_counts.get(name, 0) for name in config.stage_names}
    for stage in config.stages:
        count = counts[stage.name]
        share = count / total if total else 0.0
        if count > stage.max_open:
            found.append(
                Finding(
                    "overloaded_stage",
                    f"{count} open leads in {stage.name} (max {stage.max_open})",
                    stage=stage.name,
                    details={"count": count, "max_open": stage.max_open},
                    urgency=count - stage.max_open,
                )
            )
        elif total >= review["min_open"] and share > review["overload_share"]:
            found.append(
                Finding(
                    "overloaded_stage",
                    f"{share:.0%} of the open leads are in {stage.name} (max {review['overload_share']:.0%})",
                    stage=stage.name,
                    details={"count": count, "share": round(share, 4)},
                    urgency=share,
                )
            )
    first = config.stage_names[0]
    if total < review["min_open"]:
        found.append(
            Finding(
                "thin_pipeline",
                f"only {total} open leads (min {review['min_open']}): prospect more",
                details={"open": total, "min_open": review["min_open"]},
                urgency=review["min_open"] - total,
            )
        )
    elif counts[first] / total < review["min_front_share"]:
        share = counts[first] / total
        found.append(
            Finding(
                "thin_pipeline",
                f"only {share:.0%} of the open leads in {first} "
                f"(min {review['min_front_share']:.0%}): the front is thin",
                stage=first,
                details={"front_share": round(share, 4)},
                urgency=review["min_front_share"] - share,
            )
        )
    quota = Decimal(str(config.targets["quota"]))
    remaining = quota - facts.won_value_in_period
    if quota > 0 and remaining > 0:
        needed = coverage_needed(config, facts)
        coverage = float(open_value / remaining)
        if coverage < needed.value:
            found.append(
                Finding(
                    "thin_pipeline",
                    f"open pipeline covers {coverage:.1f}x the remaining target, "
                    f"{needed.value:g}x needed ({needed.source})",
                    details={
                        "coverage": round(coverage, 2),
                        "coverage_needed": needed.value,
                        "remaining_target": float(remaining),
                    },
                    urgency=needed.value - coverage,
                )
            )
    return found


def review(leads: list[Lead], config: Config, now: datetime, facts: Facts) -> tuple[list[Finding], Figure]:
    """All findings for the open ``leads``, grouped by kind (in KINDS order), most urgent first; and
    the sales cycle used. The rules over a list in memory: the commands select the same in SQL
    (``Rules``, ``kind_findings``), and the tests hold both to the same results."""
    cycle = sales_cycle(config, facts)
    cut = Cutoffs.at(config, now, cycle)
    found: list[Finding] = []
    for lead in leads:
        if not is_snoozed(lead, cut.now):
            found.extend(lead_findings(lead, config, now, cycle, cut))
            if lead.id in facts.bad_emails:
                found.append(bad_email(lead, facts.bad_emails[lead.id]))
    counts: dict[str, int] = {}
    for lead in leads:
        counts[lead.stage] = counts.get(lead.stage, 0) + 1
    open_value = sum((lead.value or Decimal(0) for lead in leads), Decimal(0))
    found.extend(pipeline_findings(counts, open_value, config, facts))
    order = {kind: index for index, kind in enumerate(KINDS)}
    found.sort(key=lambda f: (order[f.kind], *urgency_order(f)))
    return found, cycle


def urgency_order(finding: Finding) -> tuple[float, int]:
    """Within a kind: the most urgent first, then by lead id."""
    return -finding.urgency, finding.lead_id or 0


@dataclass(frozen=True)
class Rules:
    """The review's thresholds as the store selects with them: the store writes each kind's
    conditions in SQL from these (one variant per ``if`` branch of ``lead_findings``, each ordered by
    its urgency), and ``kind_findings`` turns what it reads into findings with the rules above."""

    cut: Cutoffs
    later_stages: tuple[str, ...]  # past the first stage: a next step is expected
    past_gate: tuple[str, ...]  # past the qualification gate, in stage order
    max_unqualified_touches: int
    max_attempts: int
    reads: dict[str, set[str]] = field(default_factory=lambda: READS)  # per kind: the fields its rules read

    @classmethod
    def of(cls, config: Config, now: datetime, cycle: Figure) -> Rules:
        names = config.stage_names
        gate = config.gate_stage
        return cls(
            cut=Cutoffs.at(config, now, cycle),
            later_stages=tuple(names[1:]),
            past_gate=tuple(names[config.stage_index[gate] + 1 :]) if gate in config.stage_index else (),
            max_unqualified_touches=config.review["max_unqualified_touches"],
            max_attempts=config.cadence["max_attempts"],
        )


def kind_findings(
    kind: str, streams: Iterable[Iterable[Lead]], config: Config, now: datetime, cycle: Figure, cut: Cutoffs
) -> Iterator[Finding]:
    """The findings of ``kind``, most urgent first, from the store's streams of leads (each a variant
    of the kind, most urgent first): the same findings ``review`` makes of these leads."""

    rules = _RULES_OF[kind]

    def found(leads: Iterable[Lead]) -> Iterator[Finding]:  # lead_findings(lead, ..., kind), inlined
        for lead in leads:
            mine: list[Finding] = []
            for rule in rules:
                rule(lead, config, now, cycle, cut, kind, mine)
            yield from mine

    merged = [found(stream) for stream in streams]
    return merged[0] if len(merged) == 1 else heapq.merge(*merged, key=urgency_order)
