"""Everything that draws: Rich tables at a terminal, plain aligned text in a pipe, JSON and CSV.

User text is never interpreted: Rich gets ``Text`` objects (no markup), and control characters
(ANSI escapes included) are shown escaped, so a lead named ``[bold]`` or ``\\x1b[2J`` prints as typed.
Rich is imported only when something is drawn at a terminal: a pipe gets plain columns at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import operator
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from pipectl import dates
from pipectl.config import Config
from pipectl.model import Lead

JSON_KEYS = (
    "id",
    "name",
    "company",
    "email",
    "phone",
    "source",
    "value",
    "stage",
    "status",
    "owner",
    "tags",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "last_touch_at",
    "touch_count",
    "next_action",
    "next_action_due",
    "expected_close",
    "snoozed_until",
    "qualified",
    "qualification_score",
    "lost_reason",
    "extra",
    "snooze_reason",
    "closed_at",
    "attempts",
    "last_outbound_at",
    "last_reply_at",
    "last_chance_at",
    "source_id",
    "source_system",
)
# Cells a spreadsheet would run as a formula start with one of these (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def safe(text: object) -> str:
    """Text as typed, with control characters escaped so none reaches the terminal raw."""
    value = "" if text is None else str(text)
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() or ch == "\n" else f"\\x{ord(ch):02x}" for ch in value)


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:,.2f}"
    return text[:-3] if text.endswith(".00") else text


def _number(value: Decimal) -> int | float:
    # Values hold 15 significant digits at most, so the float's shortest repr is the exact amount.
    return int(value) if value == value.to_integral_value() else float(value)


_PICK_JSON = operator.attrgetter(*JSON_KEYS)


def lead_json(lead: Lead) -> dict[str, Any]:
    data = dict(zip(JSON_KEYS, _PICK_JSON(lead), strict=True))
    if lead.value is not None:
        data["value"] = _number(lead.value)
    return data


def dumps(obj: Any, compact: bool = False) -> str:
    """JSON: indented for a person at a terminal, compact for scripts and assistants (and C-fast on big
    outputs)."""
    indent = 2 if is_terminal() and not compact else None
    return json.dumps(obj, ensure_ascii=False, indent=indent, default=_number)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


def out(line: str = "") -> None:
    sys.stdout.write(safe(line) + "\n")


def err(line: str) -> None:
    sys.stderr.write(safe(line) + "\n")


def error_line(message: str) -> str:
    """The one ``Error:`` line of a failed command: user text quoted in it cannot break it in two."""
    return "Error: " + message.replace("\r", "\\r").replace("\n", "\\n")


def error(message: str) -> None:
    err(error_line(message))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, emoji=False, markup=False)


# --- tables ------------------------------------------------------------------------------------


def _days(since: str | None, now_iso: str) -> str:
    if not since:
        return ""
    return str(int(dates.days_between(since, now_iso) // 1))


def lead_rows(leads: Sequence[Lead], now_iso: str) -> tuple[list[str], list[list[str]]]:
    headers = ["id", "name", "company", "stage", "status", "value", "days", "next action", "due", "touches"]
    rows = [
        [
            str(lead.id),
            lead.name,
            lead.company or "",
            lead.stage,
            lead.status,
            money(lead.value),
            _days(lead.stage_entered_at, now_iso),
            *_next_step(lead, now_iso),
            str(lead.touch_count),
        ]
        for lead in leads
    ]
    return headers, rows


def _next_step(lead: Lead, now_iso: str) -> tuple[str, str]:
    """The next-step cells: what and when, or the snooze while one lasts."""
    if lead.snoozed_until is not None and lead.snoozed_until > now_iso:
        return "snoozed" + (f": {lead.snooze_reason}" if lead.snooze_reason else ""), dates.show(lead.snoozed_until)
    return lead.next_action or "", dates.show(lead.next_action_due)


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, columns: int, right: bool) -> str:
    fill = " " * (columns - width(text))
    return fill + text if right else text + fill


def table(
    headers: list[str],
    rows: list[list[str]],
    title: str | None = None,
    right: Iterable[str] = ("id", "value", "days", "touches"),
) -> None:
    """A table: Rich at a terminal, plain space-aligned columns otherwise (grep- and awk-friendly)."""
    aligned_right = set(right)
    if not is_terminal():
        if title:
            out(title)
        cells = [headers, *([safe(c).replace("\n", " ") for c in row] for row in rows)]
        widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
        for row in cells:
            parts = [_pad(c, w, h in aligned_right) for c, w, h in zip(row, widths, headers, strict=True)]
            sys.stdout.write("  ".join(parts).rstrip() + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", header_style="bold", show_edge=False)
    for header in headers:
        grid.add_column(
            header,
            justify="right" if header in aligned_right else "left",
            overflow="fold",
            no_wrap=header in ("id", "value", "days", "due"),
        )
    for row in rows:
        grid.add_row(*(Text(safe(cell)) for cell in row))
    _console().print(grid)


def print_leads(leads: Sequence[Lead], config: Config, now_iso: str) -> None:
    if not leads:
        err("no leads match")
        return
    headers, rows = lead_rows(leads, now_iso)
    total = sum((lead.value or Decimal(0) for lead in leads), Decimal(0))
    table(headers, rows)
    err(f"{len(leads)} lead{'s' if len(leads) != 1 else ''}, {money(total)} {config.currency}")


def neutralise(value: Any) -> str:
    """A CSV cell a spreadsheet will show, not run: formula-like text gets a leading quote."""
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# --- one lead ------------------------------------------------------------------------------------


def lead_fields(lead: Lead, config: Config) -> list[tuple[str, str]]:
    value = f"{money(lead.value)} {config.currency}" if lead.value is not None else ""
    qualified = {True: "yes", False: "no", None: "not yet"}[lead.qualified]
    if lead.qualification_score is not None:
        qualified += f" (score {lead.qualification_score:.0%})"
    fields = [
        ("name", lead.name),
        ("company", lead.company),
        ("email", lead.email),
        ("phone", lead.phone),
        ("source", lead.source),
        ("value", value),
        ("stage", lead.stage),
        ("status", lead.status),
        ("owner", lead.owner),
        ("tags", ", ".join(lead.tags)),
        ("qualified", qualified),
        ("next action", lead.next_action),
        ("due", dates.show(lead.next_action_due)),
        ("expected close", lead.expected_close),
        ("snoozed until", dates.show(lead.snoozed_until) + (f" ({lead.snooze_reason})" if lead.snooze_reason else "")),
        ("lost reason", lead.lost_reason),
        ("created", dates.show(lead.created_at)),
        ("in stage since", dates.show(lead.stage_entered_at)),
        ("last touch", dates.show(lead.last_touch_at)),
        ("touches", str(lead.touch_count)),
        ("source record", f"{lead.source_id} ({lead.source_system})" if lead.source_id else ""),
    ]
    fields += [(f"extra: {key}", str(value)) for key, value in lead.extra.items()]
    return [(name, str(text)) for name, text in fields if text]


def describe(entry: dict[str, Any]) -> str:
    """One timeline entry as a line of text."""
    kind: str = entry["type"]
    if kind == "touchpoint":
        parts = [entry["kind"], entry["direction"] and f"({entry['direction']})", entry["outcome"], entry["note"]]
        return " ".join(str(p) for p in parts if p)
    if kind == "stage":
        return f"moved {entry['from']} -> {entry['to']}" + (
            " (forced past the qualification gate)" if entry["forced"] else ""
        )
    if kind in ("won", "lost"):
        return f"{kind} in {entry['stage']}" + (f": {entry['reason']}" if entry.get("reason") else "")
    if kind == "reopened":
        return f"reopened (was {entry['was']})"
    if kind == "imported":
        return f"imported from {entry['file']}"
    if kind == "qualified":
        return f"qualification: {entry['verdict']} (score {entry['score']:.0%})"
    if kind == "edited":
        return "edited " + ", ".join(entry["fields"])
    return kind


def qualification_lines(qualification: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The latest qualification run as (question key, answer) rows, with its verdict first."""
    if qualification is None:
        return []
    head = (
        f"{qualification['verdict']}, score {qualification['score']:.0%} "
        f"(pass at {qualification['threshold']:.0%}), {dates.show(qualification['at'])}"
    )
    rows = [("qualification", head)]
    rows += [(f"  {key}", answer) for key, answer in qualification["answers"].items()]
    if qualification["open_questions"]:
        rows.append(("  open questions", ", ".join(qualification["open_questions"])))
    return rows


def show_json(
    lead: Lead,
    emails: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    qualification: dict[str, Any] | None,
    cadence: str | None,
    opted_out: str | None = None,
) -> dict[str, Any]:
    """`show --json`: the lead object, its addresses, its timeline, its latest qualification, where it
    is in the cadence, and when it opted out of pipectl's mail."""
    return {
        **lead_json(lead),
        "opted_out": opted_out,
        "emails": emails,
        "timeline": timeline,
        "qualification": qualification,
        "cadence": cadence,
    }


def print_lead(
    lead: Lead,
    timeline: list[dict[str, Any]],
    qualification: dict[str, Any] | None,
    config: Config,
    cadence: str | None,
    emails: Sequence[dict[str, Any]] = (),
    opted_out: str | None = None,
) -> None:
    fields = [*lead_fields(lead, config), ("cadence", cadence or ""), *qualification_lines(qualification)]
    if opted_out:
        fields.append(("opted out", f"{dates.show(opted_out)}: pipectl sends it no mail"))
    fields[2:3] = [("email" if entry["main"] else "other email", _address(entry)) for entry in emails] or fields[2:3]
    fields = [(name, text) for name, text in fields if text]
    rows = [[dates.show(entry["at"]), describe(entry)] for entry in timeline]
    if not is_terminal():
        out(lead.label)
        width = max(len(name) for name, _ in fields)
        for name, text in fields:
            out(f"  {name.ljust(width)}  {text}")
        out("timeline")
        for when, what in rows:
            out(f"  {when}  {what}")
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, text in fields:
        grid.add_row(name, Text(safe(text)))
    console.print(Text(safe(lead.label), style="bold underline"))
    console.print(grid)
    history = Table(title="timeline", title_justify="left", show_edge=False, header_style="bold")
    history.add_column("when", no_wrap=True)
    history.add_column("what", overflow="fold")
    for when, what in rows:
        history.add_row(when, Text(safe(what)))
    console.print(history)


def _address(entry: dict[str, Any]) -> str:
    """An address as ``show`` lists it: a bounced one says when and from which message."""
    if entry["bounced_at"] is None:
        return str(entry["email"])
    return f"{entry['email']} (bouncing since {dates.show(entry['bounced_at'])}: {entry['bounce']})"


def _brief(lead: Lead, touchpoints: int) -> str:
    parts = [f"{lead.status} in {lead.stage}", f"owner {lead.owner or 'none'}", lead.email or "no email"]
    parts.append(f"{touchpoints} touchpoint{'s' if touchpoints != 1 else ''}")
    if lead.tags:
        parts.append("tags " + ", ".join(lead.tags))
    return f"{lead.label}: " + ", ".join(parts)


def _field_text(lead: Lead, name: str, config: Config) -> str:
    value = getattr(lead, name)
    if name == "value":
        return f"{money(value)} {config.currency}"
    return dates.show(value) if name == "next_action_due" else str(value)


def print_merge(plan: Any, config: Config) -> None:
    """What a merge (a ``transfer.MergePlan``) will do, before it is confirmed."""
    keep, other = plan.keep, plan.other
    out("keep      " + _brief(keep, plan.touchpoints[0]))
    out("merge in  " + _brief(other, plan.touchpoints[1]))
    if plan.likeness.common:
        out("in common: " + ", ".join(plan.likeness.common))
    for refusal in plan.likeness.refusals:
        out(f"warning: {refusal} (merging because of --force)")
    merged = dataclasses.replace(keep, **plan.changes)
    out(f"{keep.label} will hold:")
    for name in plan.filled:
        out(f"  {name}: {_field_text(merged, name, config)} (from #{other.id})")
    out("  tags: " + (", ".join(merged.tags) or "none"))
    added = sorted(set(merged.extra) - set(keep.extra))
    if added:
        out("  extra: " + ", ".join(added) + f" (from #{other.id})")
    out(f"  touchpoints: {sum(plan.touchpoints)} ({plan.touchpoints[0]} + {plan.touchpoints[1]})")
    out(f"{other.label} stops being a lead (its record stays in the history; `pipectl undo` brings it back)")


def print_doomed(doomed: Sequence[Lead]) -> None:
    """The leads a ``delete`` will remove, before it is confirmed."""
    for lead in doomed:
        out("delete  " + _brief(lead, lead.touch_count))


def verdict_line(lead: Lead, outcome: Any, verdict: str, threshold: float) -> str:
    """What a qualification run decided, with the numbers."""
    text = f"{lead.label}: {verdict}, score {outcome.score:.0%} (pass at {threshold:.0%})"
    if verdict == "open":
        text = f"{lead.label}: not qualified yet, score {outcome.score:.0%} (pass at {threshold:.0%})"
    if lead.status == "disqualified" and lead.lost_reason:
        text += f"; {lead.lost_reason}"
    if outcome.open_questions:
        text += "; open questions: " + ", ".join(outcome.open_questions)
    return text


def checklist_json(checklist: Any, source: str) -> dict[str, Any]:
    """The checklist as data: where it comes from, the pass threshold and each question."""
    return {
        "source": source,
        "threshold": checklist.threshold,
        "total_weight": checklist.total_weight,
        "criteria": [dataclasses.asdict(criterion) for criterion in checklist.criteria],
    }


def print_checklist(checklist: Any, source: str) -> None:
    """The checklist's questions, weights and knock-outs."""
    rows = [
        [c.key, f"{c.weight:g}", "yes" if c.required else "", c.question + (f" ({c.help})" if c.help else "")]
        for c in checklist.criteria
    ]
    title = f"{source}: pass at {checklist.threshold:.0%} of weight {checklist.total_weight:g}"
    table(["key", "weight", "knock-out", "question"], rows, title=title, right=("weight",))


# --- review and today ----------------------------------------------------------------------------

GROUP_LIMIT = 10
KIND_TITLES = {
    "overdue": "overdue next steps",
    "uncontacted": "new leads not contacted yet",
    "close_out": "time to let go (close out)",
    "last_chance": "send the last-chance message",
    "stale": "stale deals",
    "no_next_step": "no next step",
    "unqualified_effort": "effort on unqualified leads",
    "bad_email": "addresses that bounce",
    "overloaded_stage": "overloaded stages",
    "thin_pipeline": "thin pipeline",
}


def finding_json(finding: Any) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "lead_id": finding.lead_id,
        "stage": finding.stage,
        "name": finding.name,
        "reason": finding.reason,
        **finding.details,
    }


def write_review_json(findings: Iterable[Any], summary: dict[str, int], cycle: Any, as_of: str) -> int:
    """The review's JSON object (SPEC §6), written as ``findings`` come (one per line), so that memory
    stays flat at any size; ``summary``: how many there are of each kind (in the order they come, as
    ``counted`` gives them), which the review knows before it finds them. Returns how many in all."""
    sys.stdout.write(f'{{"as_of": {dumps(as_of)}, "findings": [\n')
    write_texts(map(_finding_text, findings))
    sales_cycle = {"days": cycle.value, "source": cycle.source}
    sys.stdout.write(f'], "summary": {dumps(summary)}, "sales_cycle": {dumps(sales_cycle)}}}\n')
    return sum(summary.values())


# What json.JSONEncoder(ensure_ascii=False, default=_number).encode writes, from one C encoder made
# once: encode() makes one per call, a third of the time of 100,000 small items.
_ENCODER = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _number, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
)


def _encode(item: Any) -> str:
    return "".join(_ENCODER(item, 0))


_FINDING_KEYS = frozenset(("kind", "lead_id", "stage", "name", "reason"))


def _finding_text(finding: Any) -> str:
    """``finding_json(finding)`` as the encoder writes it, without making the dict: its five fields
    written here, its details by the encoder (200,000 findings: a tenth of the review's JSON time)."""
    details = finding.details
    if not details.keys().isdisjoint(_FINDING_KEYS):  # a detail that replaces a field: the dict's order
        return _encode(finding_json(finding))
    text = (
        f'{{"kind": {_string(finding.kind)}, "lead_id": {_json_int(finding.lead_id)}, '
        f'"stage": {_string(finding.stage)}, "name": {_string(finding.name)}, "reason": {_string(finding.reason)}'
    )
    return f"{text}, {_encode(details)[1:]}" if details else text + "}"


def _string(text: str | None) -> str:
    return "null" if text is None else json.encoder.encode_basestring(text)


def _json_int(number: int | None) -> str:
    return "null" if number is None else str(number)


WRITE_ITEMS = 1000


def write_items(items: Iterable[Any]) -> None:
    """The items of a streamed JSON array, one per line, written a thousand at a time (one
    encoder, few writes: most of the time of 100,000 findings went to calls per item)."""
    write_texts(map(_encode, items))


def write_texts(texts: Iterable[str]) -> None:
    """A streamed JSON array's items, already encoded: one per line, a thousand a write."""
    rest = iter(texts)
    separator = ""
    while chunk := list(itertools.islice(rest, WRITE_ITEMS)):
        sys.stdout.write(separator + ",\n".join(chunk))
        separator = ",\n"


def _styled(lines: list[tuple[str, str]]) -> None:
    """Lines with a style (``"h"`` heading, ``"dim"``, ``""``): Rich at a terminal, plain otherwise."""
    if not is_terminal():
        for _, text in lines:
            out(text)
        return
    from rich.text import Text

    console = _console()
    styles = {"h": "bold", "dim": "dim", "": ""}
    for style, text in lines:
        console.print(Text(safe(text), style=styles[style]))


def print_review(findings: list[Any], counts: dict[str, int], cycle: Any) -> None:
    """The findings by kind, each headed by how many of that kind there are in all (``counts``): the
    cut ones are summed up in a line."""
    if not counts:
        out("Nothing needs action: the pipeline is clean.")
        return
    lines: list[tuple[str, str]] = []
    groups: dict[str, list[Any]] = {}
    for finding in findings:
        groups.setdefault(finding.kind, []).append(finding)
    for kind, group in groups.items():
        lines.append(("h", f"{KIND_TITLES.get(kind, kind)} ({counts[kind]})"))
        for f in group:
            who = f"#{f.lead_id} {f.name}" if f.lead_id is not None else (f.stage or "pipeline")
            lines.append(("", f"  {who}: {f.reason}"))
        if counts[kind] > len(group):
            lines.append(("dim", f"  and {counts[kind] - len(group)} more (--all shows them)"))
    summary = ", ".join(f"{counts[kind]} {kind}" for kind in groups)
    total = sum(counts.values())
    lines.append(("dim", f"{total} findings: {summary}. Sales cycle: {cycle.value:g} days ({cycle.source})."))
    _styled(lines)


def counted(findings: Iterable[Any]) -> dict[str, int]:
    """How many ``findings`` there are of each kind."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return counts


SECTION_TITLES = {
    "overdue": "Overdue",
    "uncontacted": "New leads: contact them first",
    "due_today": "Due today",
    "closing": "Closest to closing",
}


def today_json(items: list[Any]) -> list[dict[str, Any]]:
    """`today --json`: one object per item, in the plan's order (SPEC §7)."""
    return [
        {"lead_id": item.lead.id, "reason": item.reason, "section": item.section, "lead": lead_json(item.lead)}
        for item in items
    ]


def print_today(items: list[Any], config: Config, more: int = 0) -> None:
    """Today's plan; ``more`` items that need attention did not fit in it."""
    if not items:
        out("Nothing planned for today.")
        return
    lines: list[tuple[str, str]] = []
    section = None
    for number, item in enumerate(items, 1):
        if item.section != section:
            section = item.section
            lines.append(("h", SECTION_TITLES[section]))
        value = f", {money(item.lead.value)} {config.currency}" if item.lead.value else ""
        lines.append(("", f"{number:>3}. {item.lead.label}{value}: {item.reason}"))
    if more:
        lines.append(("dim", f"{more} more need attention: see `pipectl review`"))
    _styled(lines)


@contextlib.contextmanager
def progress(what: str, unit: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr at a terminal (count and rate), nothing in a pipe: yields the tick."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn(f"{what} {{task.completed:,}} {unit}"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)
        started = time.perf_counter()

        def tick(done: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-6)
            bar.update(task, completed=done, description=f"{rate:,.0f} {unit}/s")

        yield tick


def import_summary(result: Any, dry_run: bool) -> str:
    """The counts; then how the file's stage values were read and which named nothing, if any."""
    verb = "would import" if dry_run else "imported"
    lines = [
        f"{verb} {result.rows:,} rows: {result.inserted:,} inserted, {result.updated:,} updated, "
        f"{result.skipped:,} skipped as duplicates, {result.rejected:,} rejected ({result.seconds:.1f} s)"
    ]
    if result.stage_mapping:
        mapped = ", ".join(f"{value} -> {target}" for value, target in result.stage_mapping.items())
        lines.append(f"stages: {mapped} (--map-stage or [import.stages] in the config to change)")
    if result.unknown_stages:
        lines.append(result.unknown_stages)
    return "\n".join(safe(line) for line in lines)


# --- sync ----------------------------------------------------------------------------------------


def sync_summary(summary: Any, as_json: bool) -> None:
    """What a sync did (a ``sync.Summary``): counts on stdout, per-message warnings on stderr."""
    if as_json:
        print_json(summary.as_json())
        return
    for point in summary.touchpoints:
        lead = f"#{point['lead_id']}" if point["lead_id"] else "new lead"
        kind = point.get("kind", "email")
        out(f"would log: {lead} {kind} {point['direction']} {dates.show(point['at'])}  {point['note']}")
    for step in summary.steps:
        lead = f"#{step['lead_id']}"
        if step["next_action"] is None:
            out(f"{'would remove' if summary.dry_run else 'removed'} next step: {lead} (its event was cancelled)")
        else:
            due = dates.show(step["next_action_due"])
            out(f"{'would set' if summary.dry_run else 'set'} next step: {lead} {step['next_action']} (due {due})")
    verb = "would log" if summary.dry_run else "logged"
    things = "event" if summary.calendar else "message"
    out(
        f"read {summary.read} {things}{'s' if summary.read != 1 else ''}, {verb} {summary.logged}"
        f" for {len(summary.leads)} lead{'s' if len(summary.leads) != 1 else ''}"
    )
    if summary.calendar:
        out(f"next steps set: {summary.steps_set}, removed: {summary.steps_removed}")
    if summary.skipped:
        out("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(summary.skipped.items())))
    if summary.new_leads:
        out(("new leads (would be): " if summary.dry_run else "new leads: ") + ", ".join(summary.new_leads))
    if summary.bounced:
        out("bouncing: " + ", ".join(dict.fromkeys(summary.bounced)))
    if summary.unsubscribe:
        out("asked to stop mail (not recorded: no opt-out field yet): " + "; ".join(summary.unsubscribe))
    for warning in summary.warnings:
        err(f"warning: {warning}")


# --- board -------------------------------------------------------------------------------------

MARKS = {
    "stale": "stale",
    "overdue": "overdue",
    "no_next_step": "no next step",
    "unqualified_effort": "unqualified",
    "bad_email": "bad email",
    "last_chance": "last chance",
    "close_out": "close out",
    "uncontacted": "uncontacted",
}
CARDS_PER_COLUMN = 10
NARROW = 100  # columns: below this the board shows compact cards


def card_marks(findings: list[Any]) -> list[str]:
    return [MARKS[f.kind] for f in findings if f.kind in MARKS]


def write_board_json(stages: Iterable[dict[str, Any]]) -> None:
    """``board --json`` (SPEC §8) written as the leads come, one per line: memory stays flat."""
    write = sys.stdout.write
    write('{"stages": [')
    for number, stage in enumerate(stages):
        head = dumps({key: value for key, value in stage.items() if key != "leads"})
        write(("\n" if number == 0 else ",\n") + head[:-1] + ', "leads": [\n')
        write_items(map(lead_json, stage["leads"]))
        write("]}")
    write("]}\n")


def _card(lead: Lead, marks: list[str], now_iso: str, compact: bool) -> str:
    value = money(lead.value) or "-"
    if compact:
        return f"#{lead.id} {lead.name}\n{value}" + (" !" if marks else "")
    lines = [f"#{lead.id} {lead.name}"]
    if lead.company:
        lines.append(lead.company)
    lines.append(f"{value} · {_days(lead.stage_entered_at, now_iso)}d")
    if marks:
        lines.append(", ".join(marks))
    return "\n".join(lines)


def print_board(stages: list[dict[str, Any]], marks: dict[int, list[Any]], config: Config, now_iso: str) -> None:
    """One column per stage, the most valuable cards first; long columns cut with "+N more"."""
    heads = [f"{s['stage']} ({s['count']})\n{money(s['value'])} / w {money(s['weighted_value'])}" for s in stages]
    if not is_terminal():
        for head, stage in zip(heads, stages, strict=True):
            out(head.replace("\n", ": ") + f" {config.currency}")
            for lead in stage["leads"][:CARDS_PER_COLUMN]:
                out("  " + _card(lead, card_marks(marks.get(lead.id, [])), now_iso, False).replace("\n", " | "))
            if stage["count"] > CARDS_PER_COLUMN:
                out(f"  +{stage['count'] - CARDS_PER_COLUMN} more")
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    compact = console.width < NARROW
    grid = Table(show_lines=True, expand=True, title=f"pipeline ({config.currency})", title_justify="left")
    for head in heads:
        grid.add_column(Text(head, style="bold"), ratio=1, overflow="fold")
    columns = []
    for stage in stages:
        cells = []
        for lead in stage["leads"][:CARDS_PER_COLUMN]:
            lead_marks = card_marks(marks.get(lead.id, []))
            cells.append(Text(safe(_card(lead, lead_marks, now_iso, compact)), style="red" if lead_marks else ""))
        if stage["count"] > CARDS_PER_COLUMN:
            cells.append(Text(f"+{stage['count'] - CARDS_PER_COLUMN} more", style="dim"))
        columns.append(cells)
    for row in range(max((len(c) for c in columns), default=0)):
        grid.add_row(*(c[row] if row < len(c) else Text("") for c in columns))
    console.print(grid)


# --- report ------------------------------------------------------------------------------------

METRIC_ROWS = (
    ("open leads", "open_count", "count"),
    ("open pipeline value", "open_value", "money"),
    ("weighted value", "weighted_value", "money"),
    ("won", "won_count", "count"),
    ("lost", "lost_count", "count"),
    ("win rate (won / won + lost)", "win_rate", "share"),
    ("average won deal", "avg_deal", "money"),
    ("median won deal", "median_deal", "money"),
    ("median sales cycle (days)", "median_cycle_days", "days"),
    ("sales velocity (per day)", "sales_velocity", "money"),
    ("touchpoints per won deal", "touches_per_won", "days"),
)


def _figure(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "money":
        return money(Decimal(str(value)).quantize(Decimal("0.01")))
    return f"{value:,}" if kind == "count" else f"{value:g}"


def _change(now: Any, before: Any, kind: str) -> str:
    if now is None or before is None:
        return ""
    delta = Decimal(str(now)) - Decimal(str(before))
    if kind == "share":
        return f"{float(delta) * 100:+.0f} pts"
    return ("+" if delta >= 0 else "-") + _figure(abs(delta), kind)


def report_renderables(data: dict[str, Any]) -> list[Any]:
    """The report as Rich renderables: printed at a terminal, in a pipe, or recorded to SVG."""
    from rich.table import Table
    from rich.text import Text

    currency = data["currency"]
    period, previous = data["period"], data["previous"]["period"]
    parts: list[Any] = [
        Text(
            f"Pipeline report {_period_title(period)}{dates.show(period['since'])} to {dates.show(period['until'])} "
            f"(previous: {dates.show(previous['since'])} to {dates.show(previous['until'])}), {currency}",
            style="bold",
        )
    ]
    funnel = Table(title="funnel (open leads now)", title_justify="left", header_style="bold")
    for name in ("stage", "count", "", "value", "weighted", "median days", "conversion"):
        funnel.add_column(name, justify="left" if name in ("stage", "") else "right")
    widest = max((s["count"] for s in data["stages"]), default=0) or 1
    for stage in data["stages"]:
        bar = "█" * round(20 * stage["count"] / widest)
        funnel.add_row(
            Text(safe(stage["stage"])),
            f"{stage['count']:,}",
            Text(bar, style="cyan"),
            _figure(stage["value"], "money"),
            _figure(stage["weighted_value"], "money"),
            _figure(stage["median_days_in_stage"], "days"),
            _figure(stage["conversion"], "share"),
        )
    parts.append(funnel)
    figures = Table(title="metrics", title_justify="left", header_style="bold")
    for name in ("metric", "this period", "previous", "change"):
        figures.add_column(name, justify="left" if name == "metric" else "right")
    for label, key, kind in METRIC_ROWS:
        now, before = data[key], data["previous"][key]
        figures.add_row(label, _figure(now, kind), _figure(before, kind), _change(now, before, kind))
    coverage = data["coverage"]
    needed = data["coverage_needed"]
    figures.add_row(
        "coverage of the remaining target",
        "n/a" if coverage is None else f"{coverage:.1f}x",
        f"needed {needed['ratio']:g}x",
        "",
    )
    parts.append(figures)
    parts.append(
        Text(
            f"coverage needed: {needed['ratio']:g}x ({needed['source']}); win rate counts won and lost "
            "deals closed in the period (open and disqualified leads are not in it)",
            style="dim",
        )
    )
    labels = {"prospect_more": "PROSPECT MORE", "convert_more": "CONVERT MORE", "on_track": "ON TRACK"}
    parts.append(Text(f"verdict: {labels[data['verdict']]}", style="bold reverse"))
    for reason in data["verdict_reasons"]:
        parts.append(Text(f"  - {reason}"))
    if data["lost_reasons"]:
        lost = Table(title="why deals were lost", title_justify="left", header_style="bold")
        for name in ("reason", "count", "value"):
            lost.add_column(name, justify="left" if name == "reason" else "right")
        for row in data["lost_reasons"]:
            lost.add_row(Text(safe(row["reason"])), str(row["count"]), _figure(row["value"], "money"))
        parts.append(lost)
    ahead = Table(title="forecast by expected close", title_justify="left", header_style="bold")
    for name in ("month", "count", "value", "weighted"):
        ahead.add_column(name, justify="left" if name == "month" else "right")
    for row in data["forecast"]:
        ahead.add_row(
            row["month"], str(row["count"]), _figure(row["value"], "money"), _figure(row["weighted_value"], "money")
        )
    parts.append(ahead)
    if data["quota"]:
        parts.append(
            Text(
                f"target: {_figure(data['quota'], 'money')} per {data['target_period']}, "
                f"{_figure(data['remaining_target'], 'money')} still to win",
                style="dim",
            )
        )
    if "groups" in data:
        groups = Table(title="by group", title_justify="left", header_style="bold")
        verdicts = any("verdict" in row for row in data["groups"])
        for name in ("group", "new", "won", "lost", "win rate", "won value", "median cycle"):
            groups.add_column(name, justify="left" if name == "group" else "right")
        if verdicts:
            groups.add_column("quota", justify="right")
            groups.add_column("verdict")
        for row in data["groups"]:
            groups.add_row(
                Text(safe(row["group"])),
                str(row["count"]),
                str(row["won_count"]),
                str(row["lost_count"]),
                _figure(row["win_rate"], "share"),
                _figure(row["won_value"], "money"),
                _figure(row["median_cycle_days"], "days"),
                *([_quota(row), row["verdict"].replace("_", " ")] if verdicts else []),
            )
        parts.append(groups)
    return parts


def _quota(row: dict[str, Any]) -> str:
    """A rep's target in the report: their own, or their even share of the team's (said so)."""
    shown = _figure(row["quota"], "money")
    return f"{shown} (split)" if row["quota_source"] == "split" else shown


def _period_title(period: dict[str, Any]) -> str:
    """What a calendar period is called ("November 2026 (the month that just ended): "), or nothing."""
    if period["name"] is None:
        return ""
    which, kind = period["name"].split("-")
    start = dates.from_iso(period["since"]).astimezone().date()
    title = {
        "week": f"the week of {start.isoformat()}",
        "month": start.strftime("%B %Y"),
        "quarter": f"Q{(start.month - 1) // 3 + 1} {start.year}",
        "year": str(start.year),
    }[kind]
    if which == "this":
        title += " so far"
    elif period["default"]:
        title += f" (the {kind} that just ended)"
    return f"{title}: "


def print_report(data: dict[str, Any], svg: str | None = None) -> None:
    from rich.console import Console

    # In a pipe Rich would assume 80 columns and cut the tables: give them room.
    width = None if is_terminal() and svg is None else 110
    console = Console(highlight=False, emoji=False, markup=False, record=svg is not None, width=width)
    for part in report_renderables(data):
        console.print(part)
    if svg is not None:
        try:
            console.save_svg(svg, title="pipectl report")
        except OSError as exc:
            from pipectl.errors import PipectlError

            raise PipectlError(f"cannot write {svg}: {exc.strerror}") from None
