"""The MCP front end (`pipectl mcp`): the pipeline as tools an AI assistant calls over stdio.

Thin like the command line: each tool maps its typed parameters to one ``actions`` or ``views`` call and
its result to the shape of the matching command's ``--json`` (``render``), as structured content with the
same JSON as text. Each call gets its own context (the config and database the server started with, the
clock read anew), and a write is recorded in the event log as the command it amounts to
(``mcp: touch 12 call --outcome replied``), so ``pipectl undo`` reverts it like any other. Results stay
within an assistant's context: lists come in pages with ``total`` and ``truncated``, a long timeline says
how much of it was left out, and anything still too big is refused with a hint, never cut silently. A
refused or bad call is a tool error holding the CLI's one ``Error:`` line; the server keeps running.

The SDK (the ``mcp`` extra) is imported here at the top: only the ``mcp`` command imports this module.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import shlex
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context as CallContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, StrictFloat, StrictStr, ValidationError
from pydantic_core import ErrorDetails

from pipectl import __version__, actions, cadence, dates, qualify, render, views
from pipectl.config import Config
from pipectl.errors import PipectlError
from pipectl.model import GroupBy, SortKey, Status, StatusFilter

PAGE = 50  # items per page unless the assistant asks for another number
MAX_PAGE = 500
BOARD_CARDS = 10  # leads shown per stage of the board
# Claude Code refuses a tool result over about 25,000 tokens. JSON runs at roughly 3 to 4 bytes a token
# (UTF-8 bytes, so that Japanese text, near a token a character, counts for more); a page shrinks to fit
# this many bytes (saying so) rather than be refused.
MAX_BYTES = 50_000

# A result is a CallToolResult built here (the JSON text and the same data as structured content); the
# SDK publishes and checks the structured part against the type after it.
Result = Annotated[CallToolResult, dict[str, Any]]

LeadRef = Annotated[
    str,
    Field(
        coerce_numbers_to_str=True,  # an id given as a number is meant as that id
        description="The lead: its id, its email, or part of its name or company (as on the command line).",
    ),
]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE, description=f"At most this many items (default {PAGE}).")]
Offset = Annotated[int, Field(ge=0, description="Skip this many items first: the next_offset of the previous page.")]
When = Annotated[
    str | None,
    Field(description="A date or time: 2026-12-01, tomorrow, fri, +3d, eow, 'next friday 10:00', 明日..."),
]
Money = Annotated[
    StrictFloat | StrictStr | None,  # strict: true is not an amount of 1
    Field(description="An amount, e.g. 1200000 or '1,200.50' (up to 2 decimals)."),
]

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _write(destructive: bool, idempotent: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=False
    )


FLAGS = {"tags": "--tag", "next_action": "--next", "answers": "--answer"}  # where a flag is not the parameter's name


def _argv(*words: str, **options: Any) -> str:
    """The command line a write amounts to, for the event log: options with a value of None or False
    are left out, True is a flag, a list repeats the option."""
    argv = list(words)
    for name, value in options.items():
        if name == "inbound" and value is not None:
            argv.append("--in" if value else "--out")
            continue
        flag = FLAGS.get(name, "--" + name.replace("_", "-"))
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return "mcp: " + shlex.join(argv)


def _money(value: float | str | None) -> str | None:
    """An amount as the text ``leads.parse_money`` reads: a JSON number without float noise or exponent."""
    if value is None or isinstance(value, str):
        return value
    return format(Decimal(repr(value)).normalize(), "f")


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=render.error_line(message))], is_error=True)


def _result(data: dict[str, Any]) -> CallToolResult:
    """The CLI's JSON as text, and the same (Decimals as numbers) as structured content."""
    text = render.dumps(data, compact=True)
    size = _size(text)
    if size > MAX_BYTES:
        return _error(f"the result is too large for an assistant ({size:,} bytes): ask for less (a smaller limit)")
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=json.loads(text))


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _fitting(rows: list[Any], share: float = 0.9) -> int:
    """How many of ``rows``, from the first, fit in ``share`` of the bytes a result may have (at least
    one: a single row too big makes the whole result refused, never cut)."""
    budget, used = MAX_BYTES * share, 0
    for count, row in enumerate(rows):
        used += _size(render.dumps(row, compact=True)) + 1
        if used > budget:
            return max(count, 1)
    return len(rows)


def _page(key: str, rows: list[Any], total: int, offset: int, limit: int, **more: Any) -> dict[str, Any]:
    """A page of ``rows`` (already cut to ``limit`` from ``offset``) out of ``total``, shortened further
    to what fits an assistant's context; ``truncated`` and ``next_offset`` say whether more follow."""
    shown = rows[: _fitting(rows)]
    truncated = offset + len(shown) < total
    return {
        **more,
        key: shown,
        "total": total,
        "offset": offset,
        "limit": limit,
        "truncated": truncated,
        "next_offset": offset + len(shown) if truncated else None,
    }


@dataclasses.dataclass
class Tools:
    """The tools, over the config and database the server started with."""

    config: Config
    database: str
    as_of: str | None
    debug: bool = False

    def _call(self, work: Callable[[actions.Context], dict[str, Any]], command: str = "") -> CallToolResult:
        """Run one tool call in a context of its own: its clock, its command, its connection."""
        ctx = actions.Context(self.config, self.database, dates.clock(self.as_of), command)
        try:
            return _result(work(ctx))
        except PipectlError as exc:
            return _error(exc.message)
        except Exception as exc:
            if self.debug:
                raise
            return _error(f"unexpected {type(exc).__name__}: {exc} (run `pipectl --debug mcp` for details)")
        finally:
            ctx.close()

    # --- read tools -------------------------------------------------------------------------------

    def list_leads(
        self,
        stage: Annotated[str | None, Field(description="Only leads in this stage.")] = None,
        status: Annotated[StatusFilter, Field(description="Which leads: open (default), closed, all...")] = (
            StatusFilter.open
        ),
        tag: Annotated[str | None, Field(description="Only leads with this tag.")] = None,
        owner: Annotated[str | None, Field(description="Only this owner's leads.")] = None,
        qualified: Annotated[
            bool | None, Field(description="true: only qualified leads; false: only not (yet) qualified.")
        ] = None,
        stale: Annotated[bool, Field(description="Only the open leads the daily review finds stale.")] = False,
        sort: Annotated[SortKey, Field(description="Sort by this field.")] = SortKey.id,
        desc: Annotated[bool, Field(description="Sort in descending order.")] = False,
        limit: Limit = PAGE,
        offset: Offset = 0,
    ) -> Result:
        """Search and list leads with the filters of `pipectl list` (default: the open ones, by id).

        Returns a page: `leads` (lead objects, as `pipectl list --json`), `total` (how many match),
        `truncated` (more follow) and `next_offset` (pass it as `offset` for the next page)."""
        filters: dict[str, Any] = dict(
            stage=stage, status=status.value, tag=tag, owner=owner, qualified=qualified, stale=stale
        )

        def work(ctx: actions.Context) -> dict[str, Any]:
            total = actions.count_leads(ctx, **filters)
            found = actions.list_leads(ctx, **filters, sort=sort.value, desc=desc, limit=limit, offset=offset)
            return _page("leads", [render.lead_json(lead) for lead in found], total, offset, limit)

        return self._call(work)

    def get_lead(
        self,
        lead: LeadRef,
        timeline_limit: Annotated[
            int, Field(ge=1, le=MAX_PAGE, description=f"The latest this many timeline entries (default {PAGE}).")
        ] = PAGE,
    ) -> Result:
        """Everything about one lead, as `pipectl show --json`: its fields, the timeline of touchpoints and
        stage changes (oldest first), its latest qualification answers, and where it is in the cadence.

        A long timeline keeps its latest entries; `timeline_omitted` says how many earlier ones were left out.
        An ambiguous reference is an error listing the leads it matches, with their ids."""

        def work(ctx: actions.Context) -> dict[str, Any]:
            found, timeline, qualification = actions.show(ctx, lead)
            latest = timeline[-timeline_limit:][::-1]
            kept = latest[: _fitting(latest, 0.5)][::-1]
            step = cadence.describe(ctx.config, found, ctx.now)
            data = render.show_json(found, actions.addresses(ctx.store(), found), kept, qualification, step)
            return {**data, "timeline_omitted": len(timeline) - len(kept)}

        return self._call(work)

    def today(
        self,
        owner: Annotated[str | None, Field(description="Only this owner's leads.")] = None,
        limit: Limit = PAGE,
        offset: Offset = 0,
    ) -> Result:
        """Today's plan, as `pipectl today --json`: overdue next steps first (most overdue first), then new
        leads never contacted, then what is due today, then the deals closest to closing.

        Returns a page: `items` (each with `lead_id`, `reason`, `section`, `lead`), `total`, `truncated`,
        `next_offset`."""

        def work(ctx: actions.Context) -> dict[str, Any]:
            items, total = actions.today(ctx, owner, offset + limit)
            return _page("items", render.today_json(items[offset:]), total, offset, limit)

        return self._call(work)

    def review(
        self,
        kind: Annotated[
            str | None, Field(description=f"Only findings of this kind: {', '.join(render.KIND_TITLES)}.")
        ] = None,
        owner: Annotated[str | None, Field(description="Only this owner's leads.")] = None,
        limit: Limit = PAGE,
        offset: Offset = 0,
    ) -> Result:
        """The daily pipeline review, as `pipectl review --json`: what needs action (stale deals, overdue or
        missing next steps, uncontacted leads, last-chance messages due, deals to close out, overloaded
        stages, a thin pipeline), each with the lead (or stage) and a one-line reason with its numbers.

        `summary` counts every finding by kind; `findings` is a page of them (`total`, `truncated`,
        `next_offset`)."""

        def work(ctx: actions.Context) -> dict[str, Any]:
            reviewed = actions.Review(ctx, owner)
            counts = reviewed.counts()
            wanted = (finding for finding in reviewed.findings() if kind is None or finding.kind == kind)
            rows = [render.finding_json(finding) for finding in itertools.islice(wanted, offset, offset + limit)]
            total = counts.get(kind, 0) if kind is not None else sum(counts.values())
            cycle = {"days": reviewed.cycle.value, "source": reviewed.cycle.source}
            return _page("findings", rows, total, offset, limit, as_of=ctx.now_iso, summary=counts, sales_cycle=cycle)

        return self._call(work)

    def report(
        self,
        by: Annotated[
            GroupBy | None, Field(description="Break the outcome metrics down by source, owner or tag.")
        ] = None,
        owner: Annotated[str | None, Field(description="Only this owner's leads.")] = None,
    ) -> Result:
        """Funnel and metrics for the current target period against the previous one, as
        `pipectl report --json`: per stage count, value, weighted value, days in stage and conversion; win
        rate, deal size, sales cycle, velocity, coverage of the target, lost reasons, a three-month
        forecast, and the verdict (prospect_more, convert_more or on_track) with its reasons."""
        return self._call(lambda ctx: views.report(ctx, None, by.value if by else None, owner))

    def board(
        self,
        owner: Annotated[str | None, Field(description="Only this owner's leads.")] = None,
        limit: Annotated[
            int,
            Field(ge=1, le=MAX_PAGE, description=f"Leads shown per stage (default {BOARD_CARDS})."),
        ] = BOARD_CARDS,
    ) -> Result:
        """The pipeline as columns by stage, as `pipectl board --json`: each stage's count, value and
        weighted value (of all its leads) and its most valuable leads; `leads_omitted` says how many of
        a stage's leads are not shown (`list_leads` with `stage` pages through them)."""

        def work(ctx: actions.Context) -> dict[str, Any]:
            stages, _ = views.board(ctx, owner, marks=False, cards=limit)
            return {
                "stages": [
                    {
                        **stage,
                        "leads": [render.lead_json(lead) for lead in stage["leads"]],
                        "leads_omitted": stage["count"] - len(stage["leads"]),
                    }
                    for stage in stages
                ]
            }

        return self._call(work)

    def checklist(self) -> Result:
        """The qualification checklist: each question's `key` (what `qualify` answers), the question,
        its weight, whether a "no" disqualifies (`required`), and the share of weight needed to pass."""
        return self._call(lambda ctx: render.checklist_json(*actions.load_checklist(ctx)))

    # --- write tools ------------------------------------------------------------------------------

    def add_lead(
        self,
        name: Annotated[str, Field(description="The contact's name.")],
        company: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        source: Annotated[str | None, Field(description="Where the lead came from: referral, website...")] = None,
        value: Money = None,
        stage: Annotated[str | None, Field(description="The stage it starts in (default: the first).")] = None,
        owner: Annotated[str | None, Field(description="Its owner (default: the server's owner).")] = None,
        tags: list[str] | None = None,
        next_action: Annotated[str | None, Field(description="The next step, e.g. 'intro call'.")] = None,
        due: When = None,
        expected_close: When = None,
        note: Annotated[str | None, Field(description="A first note.")] = None,
    ) -> Result:
        """Add a lead (like `pipectl add`); returns the new lead object with its id. An email another lead
        already has is refused."""
        fields: dict[str, Any] = {
            "company": company,
            "email": email,
            "phone": phone,
            "source": source,
            "value": _money(value),
            "stage": stage,
            "owner": owner,
            "tags": tags,
            "next_action": next_action,
            "due": due,
            "expected_close": expected_close,
            "note": note,
        }
        return self._call(lambda ctx: render.lead_json(actions.add(ctx, name, **fields)), _argv("add", name, **fields))

    def log_touch(
        self,
        lead: LeadRef,
        kind: Annotated[
            Literal["call", "email", "meeting", "message", "note"], Field(description="What kind of contact.")
        ],
        outcome: Annotated[
            str | None,
            Field(description="How it went: no-answer, voicemail, replied, reached... (replied/reached = a reply)."),
        ] = None,
        direction: Annotated[
            Literal["in", "out"] | None,
            Field(description="out (default): the rep reached out; in: the lead did. A note has none."),
        ] = None,
        note: Annotated[str | None, Field(description="What was said or done.")] = None,
        at: Annotated[str | None, Field(description="When it happened (default: now), e.g. 'yesterday 15:00'.")] = None,
        next_action: Annotated[str | None, Field(description="The next step it leads to.")] = None,
        due: When = None,
    ) -> Result:
        """Log a touchpoint on a lead (like `pipectl touch`): a call, email, meeting or message, or a note.

        It replaces the lead's next step with `next_action`/`due` when given; without them, an unanswered
        outbound attempt schedules the next attempt by the cadence, and a reply clears the pending step.
        Returns the lead object."""
        fields: dict[str, Any] = {
            "outcome": outcome,
            "inbound": None if direction is None else direction == "in",
            "note": note,
            "at": at,
            "next_action": next_action,
            "due": due,
        }
        command = _argv("touch", lead, kind, **fields)
        return self._call(lambda ctx: render.lead_json(actions.touch(ctx, lead, kind, **fields)[0]), command)

    def add_note(self, lead: LeadRef, text: Annotated[str, Field(description="The note.")]) -> Result:
        """Add a note to a lead (like `pipectl note`): a note touchpoint, which leaves the next step as it
        is. Returns the lead object."""
        return self._call(
            lambda ctx: render.lead_json(actions.touch(ctx, lead, "note", note=text)[0]), _argv("note", lead, text)
        )

    def advance(
        self,
        lead: LeadRef,
        to: Annotated[
            str | None, Field(description="Move to this stage, forwards or backwards (default: the next one).")
        ] = None,
        force: Annotated[
            bool,
            Field(
                description="Override the qualification gate. Only when the user explicitly asks for it: the "
                "override is recorded and the review flags the lead."
            ),
        ] = False,
    ) -> Result:
        """Move an open lead to the next stage (or to `to`), like `pipectl advance`. A lead cannot leave
        the qualifying stage until it passed the checklist (`qualify`): such a move is refused with the
        reason. Returns the lead object."""
        return self._call(
            lambda ctx: render.lead_json(actions.advance(ctx, lead, to, force)),
            _argv("advance", lead, to=to, force=force),
        )

    def won(self, lead: LeadRef, value: Money = None) -> Result:
        """Close an open lead as won (from any stage), like `pipectl won`; `value` sets the final deal
        value. Returns the lead object."""
        money = _money(value)
        return self._call(
            lambda ctx: render.lead_json(actions.close(ctx, lead, Status.WON, value=money)),
            _argv("won", lead, value=money),
        )

    def lost(
        self, lead: LeadRef, reason: Annotated[str, Field(description="Why it was lost (required), in a few words.")]
    ) -> Result:
        """Close an open lead as lost (from any stage), with the reason, like `pipectl lost`. Returns the
        lead object."""
        return self._call(
            lambda ctx: render.lead_json(actions.close(ctx, lead, Status.LOST, reason=reason)),
            _argv("lost", lead, reason=reason),
        )

    def snooze(
        self,
        lead: LeadRef,
        until: Annotated[
            str | None, Field(description="Back on this day: 2027-04-01, +2w, monday... (or set off).")
        ] = None,
        reason: Annotated[str | None, Field(description="Why, e.g. 'budget frozen until April'.")] = None,
        off: Annotated[bool, Field(description="Wake the lead now instead.")] = False,
    ) -> Result:
        """Pause an open lead until a day, like `pipectl snooze`: no review findings for it until then;
        on that day it is back in today's plan. Returns the lead object."""
        return self._call(
            lambda ctx: render.lead_json(actions.snooze(ctx, lead, until, reason, off)),
            _argv("snooze", lead, until=until, reason=reason, off=off),
        )

    def qualify(
        self,
        lead: LeadRef,
        answers: Annotated[
            dict[str, Literal["yes", "no", "unknown"]],
            Field(description="The answer to each question of the checklist, by its key (see `checklist`)."),
        ],
        partial: Annotated[bool, Field(description="Leave the questions without an answer open.")] = False,
        keep_open: Annotated[bool, Field(description="A failed qualification does not disqualify the lead.")] = False,
    ) -> Result:
        """Qualify an open lead against the checklist, like `pipectl qualify --answer KEY=yes...`: scores the
        answers; passing opens the qualification gate, a "no" to a required question (or too low a score)
        disqualifies the lead unless `keep_open`. Returns the lead object and the `verdict`."""
        given = [f"{key}={value}" for key, value in answers.items()]
        command = _argv("qualify", lead, answers=given, partial=partial, keep_open=keep_open)

        def work(ctx: actions.Context) -> dict[str, Any]:
            checklist, _ = actions.load_checklist(ctx)
            qualify.check_answers(checklist, dict(answers))
            missing = [key for key in checklist.keys if key not in answers]
            if missing and not partial:
                raise PipectlError(
                    f"no answer for {', '.join(missing)}: answer each (yes, no or unknown), "
                    "or set partial to leave them open"
                )
            found, _, verdict = actions.qualify_lead(ctx, lead, dict(answers), keep_open)
            return {**render.lead_json(found), "verdict": verdict}

        return self._call(work, command)

    def undo(self) -> Result:
        """Revert the last change to the pipeline (like `pipectl undo`), whichever front end made it: on a
        shared pipeline, the last change of this server's owner. Refused when a lead it touched has
        changed since. Returns `undid` (the command reverted, or null) and `changes`."""

        def work(ctx: actions.Context) -> dict[str, Any]:
            events = actions.undo(ctx)
            return {"undid": events[0].command if events else None, "changes": len(events)}

        return self._call(work, _argv("undo"))


READ_TOOLS = ("list_leads", "get_lead", "today", "review", "report", "board", "checklist")
WRITE_TOOLS: dict[str, ToolAnnotations] = {
    "add_lead": _write(destructive=False),
    "log_touch": _write(destructive=True),  # it replaces the next step
    "add_note": _write(destructive=False),
    "advance": _write(destructive=True),
    "won": _write(destructive=True, idempotent=True),
    "lost": _write(destructive=True, idempotent=True),
    "snooze": _write(destructive=True, idempotent=True),
    "qualify": _write(destructive=True, idempotent=True),
    "undo": _write(destructive=True),
}


class Server(MCPServer[Any]):
    """The SDK's server, with a call it refuses (unknown tool, bad arguments) answered as one ``Error:``
    line, like any other refusal."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: CallContext[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # a crash under --debug: the SDK logs its traceback
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return _error(f"{name}: " + "; ".join(_problem(error) for error in exc.__cause__.errors()))
            return _error(str(exc))


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "arguments"
    return f"{where} is required" if error["type"] == "missing" else f"{where}: {error['msg']}"


INSTRUCTIONS = (
    "pipectl is a sales pipeline: leads move through stages to won or lost. Start the day with `today` and "
    "`review`; log each contact with `log_touch` (with the next step); `advance` is gated by `qualify`. "
    "Every change is recorded, and `undo` reverts the last one."
)


def build(config: Config, database: str, as_of: str | None, read_only: bool, debug: bool = False) -> Server:
    """The server with the read tools, and the write tools unless ``read_only``."""
    server = Server(
        "pipectl", version=__version__, instructions=INSTRUCTIONS, log_level="DEBUG" if debug else "WARNING"
    )
    tools = Tools(config, database, as_of, debug)
    offered = {name: READ for name in READ_TOOLS} | ({} if read_only else WRITE_TOOLS)
    for name, hints in offered.items():
        method = getattr(tools, name)
        server.add_tool(method, name=name, description=inspect.cleandoc(method.__doc__), annotations=hints)
    return server
