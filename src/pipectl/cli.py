"""The command line: global options, commands, and errors turned into ``Error:`` lines and exit codes.

Thin on purpose: each command parses its options, calls one function of ``actions``, and hands the
result to ``render``. Heavy modules (Rich, sqlite-utils, dateutil) are imported inside the commands
that need them, so ``add`` and ``touch`` start as fast as a bare Typer app.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from typer import _click  # typer is pinned to 0.28.x (see pyproject.toml), which vendors click here
from typer.core import TyperGroup

from pipectl import __version__, actions, render
from pipectl.errors import Interrupted, PipectlError
from pipectl.model import LAST_CHANCE, GroupBy, SortKey, Status, StatusFilter
from pipectl.store.backend import redact


class _Group(TyperGroup):
    """Runs the app and turns every failure into one ``Error:`` line and an exit code (SPEC §10)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, *a: Any, **kw: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        # A command runs for a moment and builds no cycles worth collecting: without the cyclic
        # collector, reading 100,000 leads for JSON is a third faster (the interactive board turns it on).
        gc.disable()
        _state.clear()
        _state["argv"] = argv
        bad = next((arg for arg in argv if not _is_text(arg)), None)
        if bad is not None:
            render.error(f"argument {bad.encode('utf-8', 'backslashreplace').decode()!r} is not UTF-8 text")
            sys.exit(2)
        kw["standalone_mode"] = False
        try:
            result = super().main(argv, "pipectl", *a, **kw)
            code = result if isinstance(result, int) else 0
        except PipectlError as exc:
            render.error(redact(exc.message, *_sources(argv)))
            code = exc.exit_code
        except _click.exceptions.NoArgsIsHelpError as exc:
            render.out(exc.format_message())
            code = 0
        except _click.exceptions.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            render.error(f"{exc.format_message()}{hint}")
            code = 2
        except _click.exceptions.ClickException as exc:
            render.error(exc.format_message())
            code = exc.exit_code
        except (KeyboardInterrupt, typer.Abort):
            render.error("interrupted; nothing was changed by the unfinished command")
            code = 130
        except BrokenPipeError:
            code = 0
        except Exception as exc:
            if "--debug" in argv:
                raise
            message = redact(f"unexpected {type(exc).__name__}: {exc}", *_sources(argv))
            render.error(f"{message} (run with --debug for details)")
            code = 1
        finally:
            ctx = _state.get("ctx")
            if isinstance(ctx, actions.Context):
                ctx.close()
            gc.enable()
        sys.exit(code)

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:  # Typer would turn it into a silent exit 130: say what the command did
            raise _Interrupted(exc.message) from None


class _Interrupted(PipectlError):
    """An :class:`Interrupted` command, once it has unwound: its message as the Error: line, exit 130."""

    exit_code = 130


def _sources(argv: list[str]) -> list[str]:
    """Where a password may have been written: the arguments and ``PIPECTL_DB``."""
    return [*argv, os.environ.get("PIPECTL_DB", "")]


def _is_text(arg: str) -> bool:
    """Whether an argument is text: bytes that are not UTF-8 reach Python as lone surrogates."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="A sales pipeline manager for the terminal. See `pipectl COMMAND --help`.",
)
_state: dict[str, Any] = {}


def _version(value: bool) -> None:
    if value:
        render.out(f"pipectl {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    db: str = typer.Option(
        None, "--db", help="Database file or postgresql:// URL (default: $PIPECTL_DB or XDG data folder)."
    ),
    config: Path = typer.Option(None, "--config", help="Config file (default: $PIPECTL_CONFIG or XDG)."),
    as_of: str = typer.Option(None, "--as-of", help="Act as if now were this time (also $PIPECTL_NOW)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    _state.update(db=db, config=config, as_of=as_of)


def context(config_may_be_missing: bool = False, config_may_be_broken: bool = False) -> actions.Context:
    """The running command's context: config, database path and clock, made once.

    A config file named with --config must exist, except for ``init``, which writes it; a config that
    does not load is an error, except for ``init --force``, which replaces it (and runs on the defaults).
    """
    from pipectl import config as config_module
    from pipectl import dates
    from pipectl.errors import ConfigError
    from pipectl.store import default_database

    if "ctx" not in _state:
        argv = _state.get("argv", [])
        config_path = _state.get("config")
        try:
            loaded = config_module.load(config_path, explicit=config_path is not None and not config_may_be_missing)
        except ConfigError:
            if not config_may_be_broken:
                raise
            loaded = config_module.parse({}, config_path or config_module.default_config_path())
        _state["ctx"] = actions.Context(
            config=loaded,
            database=_state.get("db") or default_database(),
            now=dates.clock(_state.get("as_of")),
            # A database URL's password never reaches the event log.
            command="pipectl " + shlex.join(redact(arg, *_sources(argv)) for arg in argv),
            backdated=_state.get("as_of") is not None,
            warn=lambda line: render.err(f"warning: {line}"),
        )
    ctx: actions.Context = _state["ctx"]
    return ctx


def _done(lead: Any, as_json: bool, message: str) -> None:
    if as_json:
        render.print_json(render.lead_json(lead))
    else:
        render.out(message)


JSON = typer.Option(False, "--json", help="Print JSON.")


# --- setup -------------------------------------------------------------------------------------


@app.command("init")
def init(
    force: bool = typer.Option(
        False, "--force", help="Rewrite the config, checklist and template (dated .bak copies are kept)."
    ),
) -> None:
    """Create the config, the qualification checklist and the database (never overwrites without --force)."""
    from pipectl import setup

    ctx = context(config_may_be_missing=True, config_may_be_broken=force)
    for line in setup.init(ctx, _state.get("config"), force):
        render.out(line)


# --- leads -------------------------------------------------------------------------------------


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Contact name."),
    company: str = typer.Option(None, "--company", "-c"),
    email: str = typer.Option(None, "--email", "-e"),
    phone: str = typer.Option(None, "--phone"),
    source: str = typer.Option(None, "--source", help="Where the lead came from (referral, website...)."),
    value: str = typer.Option(None, "--value", "-v", help="Deal value, e.g. 1200000 or 1,200.50."),
    stage: str = typer.Option(None, "--stage", "-s", help="Start stage (default: the first)."),
    owner: str = typer.Option(None, "--owner", help="Owner (default: the config's owner)."),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="A tag (repeatable)."),
    next_action: str = typer.Option(None, "--next", help="The next step, e.g. 'intro call'."),
    due: str = typer.Option(None, "--due", help="When the next step is due: tomorrow, fri, +3d, 2026-12-01..."),
    expected_close: str = typer.Option(None, "--expected-close", help="When the deal should close."),
    note: str = typer.Option(None, "--note", help="A first note."),
    at: str = typer.Option(None, "--at", help="When the lead came in (default: now)."),
    as_json: bool = JSON,
) -> None:
    """Add a lead and print its id."""
    lead = actions.add(
        context(),
        name,
        company=company,
        email=email,
        phone=phone,
        source=source,
        value=value,
        stage=stage,
        owner=owner,
        tags=tag,
        next_action=next_action,
        due=due,
        expected_close=expected_close,
        note=note,
        at=at,
    )
    if as_json:
        render.print_json(render.lead_json(lead))
        return
    render.out(str(lead.id))
    render.err(f"added {lead.label} in {lead.stage}")


@app.command("list")
def list_(
    stage: str = typer.Option(None, "--stage", "-s"),
    status: StatusFilter = typer.Option(StatusFilter.open, "--status", help="Which leads (default: open)."),
    tag: str = typer.Option(None, "--tag", "-t"),
    owner: str = typer.Option(None, "--owner"),
    qualified: bool = typer.Option(None, "--qualified/--unqualified", help="Only (un)qualified leads."),
    stale: bool = typer.Option(False, "--stale", help="Only leads the review finds stale."),
    sort: SortKey = typer.Option(SortKey.id, "--sort", help="Sort by this field."),
    desc: bool = typer.Option(False, "--desc", help="Sort in descending order."),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Show at most this many."),
    as_json: bool = JSON,
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
) -> None:
    """List leads (default: open ones) as a table, JSON or CSV."""
    ctx = context()
    leads = actions.list_leads(
        ctx,
        stage=stage,
        status=status.value,
        tag=tag,
        owner=actions.known_owner(ctx, owner),
        qualified=qualified,
        stale=stale,
        sort=sort.value,
        desc=desc,
        limit=limit,
    )
    if as_json:
        render.print_json([render.lead_json(lead) for lead in leads])
    elif as_csv:
        from pipectl import csvio

        csvio.write_leads(leads, "csv", sys.stdout)
    else:
        render.print_leads(leads, ctx.config, ctx.now_iso)


app.command("ls", hidden=True, help="Alias of list.")(list_)


@app.command("show")
def show(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."), as_json: bool = JSON
) -> None:
    """Everything about one lead: fields and the timeline of touchpoints and stage changes."""
    ctx = context()
    from pipectl import cadence

    found, timeline, qualification = actions.show(ctx, lead)
    step = cadence.describe(ctx.config, found, ctx.now)
    emails = actions.addresses(ctx.store(), found)
    opted_out = ctx.store().opted_out([found.id]).get(found.id)
    if as_json:
        render.print_json(render.show_json(found, emails, timeline, qualification, step, opted_out))
    else:
        render.print_lead(found, timeline, qualification, ctx.config, step, emails, opted_out)


@app.command("edit")
def edit(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    name: str = typer.Option(None, "--name"),
    company: str = typer.Option(None, "--company", "-c"),
    email: str = typer.Option(None, "--email", "-e"),
    phone: str = typer.Option(None, "--phone"),
    source: str = typer.Option(None, "--source"),
    value: str = typer.Option(None, "--value", "-v"),
    owner: str = typer.Option(None, "--owner"),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="Add a tag (repeatable)."),
    untag: list[str] = typer.Option(None, "--untag", help="Remove a tag (repeatable)."),
    next_action: str = typer.Option(None, "--next"),
    due: str = typer.Option(None, "--due"),
    expected_close: str = typer.Option(None, "--expected-close"),
    note: str = typer.Option(None, "--note", help="Add a note."),
    add_email: list[str] = typer.Option(None, "--add-email", help="Add another address (repeatable)."),
    remove_email: list[str] = typer.Option(None, "--remove-email", help="Remove another address (repeatable)."),
    stage: str = typer.Option(None, "--stage", help="Not here: use `pipectl advance LEAD --to STAGE`."),
    as_json: bool = JSON,
) -> None:
    """Change only the fields given (an empty value, like --phone "", clears the field; --next "" clears
    the next step and its due; --due alone keeps the next step's text)."""
    if stage is not None:
        raise PipectlError("edit does not move leads: use `pipectl advance LEAD --to STAGE` (the gates apply)")
    ctx = context()
    found = actions.edit(
        ctx,
        lead,
        tags=tag,
        untag=untag,
        note=note,
        add_emails=add_email,
        remove_emails=remove_email,
        name=name,
        company=company,
        email=email,
        phone=phone,
        source=source,
        value=value,
        owner=actions.known_owner(ctx, owner),
        next_action=next_action,
        next_action_due=due,
        expected_close=expected_close,
    )
    _done(found, as_json, f"updated {found.label}")


@app.command("advance")
def advance(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    to: str = typer.Option(None, "--to", help="Move to this stage (forwards or backwards)."),
    force: bool = typer.Option(False, "--force", help="Override the qualification gate (recorded)."),
    as_json: bool = JSON,
) -> None:
    """Move a lead to the next stage (or to --to STAGE)."""
    found = actions.advance(context(), lead, to, force)
    _done(found, as_json, f"{found.label} is now in {found.stage}")


@app.command("won")
def won(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    value: str = typer.Option(None, "--value", "-v", help="The final deal value."),
    as_json: bool = JSON,
) -> None:
    """Close a lead as won."""
    found = actions.close(context(), lead, Status.WON, value=value)
    _done(found, as_json, f"{found.label} won")


@app.command("lost")
def lost(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why it was lost."),
    as_json: bool = JSON,
) -> None:
    """Close a lead as lost, with the reason."""
    found = actions.close(context(), lead, Status.LOST, reason=reason)
    _done(found, as_json, f"{found.label} lost: {found.lost_reason}")


@app.command("reopen")
def reopen(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."), as_json: bool = JSON
) -> None:
    """Reopen a closed lead in the stage it was closed in."""
    found = actions.reopen(context(), lead)
    _done(found, as_json, f"{found.label} is open again in {found.stage}")


# --- qualification -----------------------------------------------------------------------------


def _interactive() -> bool:
    """Whether a person is at the keyboard to answer questions."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _ask(criteria: list[Any]) -> dict[str, str]:
    """Ask each question at the terminal: y / n / ? (unknown)."""
    from pipectl import qualify

    answers = {}
    for criterion in criteria:
        required = ", required" if criterion.required else ""
        render.out(f"{criterion.key} (weight {criterion.weight:g}{required}): {criterion.question}")
        if criterion.help:
            render.out(f"  {criterion.help}")
        while criterion.key not in answers:
            raw = typer.prompt("  yes / no / ?", prompt_suffix=" ")
            try:
                answers[criterion.key] = qualify.parse_answer(criterion.key, raw)
            except PipectlError as exc:
                render.err(exc.message)
    return answers


@app.command("qualify")
def qualify_(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    answer: list[str] = typer.Option(None, "--answer", "-a", help="KEY=yes/no/unknown (repeatable)."),
    answers_file: Path = typer.Option(None, "--answers-file", help='TOML file of KEY = "yes" lines.'),
    partial: bool = typer.Option(False, "--partial", help="Leave questions without an answer open."),
    keep_open: bool = typer.Option(False, "--keep-open", help="A failed qualification does not disqualify."),
    as_json: bool = JSON,
) -> None:
    """Qualify a lead against the checklist: asks at a terminal, or takes --answer KEY=VALUE."""
    from pipectl import qualify

    ctx = context()
    checklist, _ = actions.load_checklist(ctx)
    answers: dict[str, str] = {}
    if answers_file is not None:
        answers.update(qualify.answers_from_toml(_read_text(answers_file, "answers file"), str(answers_file)))
    for item in answer or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise PipectlError(f"--answer {item!r} must look like KEY=yes (or no, unknown)")
        answers[key.strip()] = qualify.parse_answer(key.strip(), value)
    qualify.check_answers(checklist, answers)
    found = actions.find(ctx, lead)
    actions.ensure_can_qualify(found)
    missing = [c for c in checklist.criteria if c.key not in answers]
    if missing and not partial:
        if not _interactive():
            keys = ", ".join(c.key for c in missing)
            raise PipectlError(
                f"no answer for {keys}: give --answer KEY=yes/no/unknown, or --partial to leave them open"
            )
        render.out(f"Qualifying {found.label}: {len(missing)} question(s), pass at {checklist.threshold:.0%}")
        answers.update(_ask(missing))
    qualified, outcome, verdict = actions.qualify_lead(ctx, str(found.id), answers, keep_open)
    if as_json:
        render.print_json(render.lead_json(qualified))
    else:
        render.out(render.verdict_line(qualified, outcome, verdict, checklist.threshold))


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipectlError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipectlError(f"{what} {path}: cannot read it ({exc})") from None


checklist_app = typer.Typer(help="Show or validate a qualification checklist.")
app.add_typer(checklist_app, name="checklist")


@checklist_app.callback(invoke_without_command=True)
def checklist_(ctx: typer.Context) -> None:
    """Show (default) or check a qualification checklist."""
    if ctx.invoked_subcommand is None:
        checklist_show()


@checklist_app.command("show")
def checklist_show() -> None:
    """The active checklist: questions, weights, knock-outs and the pass threshold."""
    checklist, source = actions.load_checklist(context())
    render.print_checklist(checklist, source)


@checklist_app.command("check")
def checklist_check(file: Path = typer.Argument(..., help="The checklist TOML file to validate.")) -> None:
    """Validate a checklist file: every problem is listed with its key."""
    from pipectl import qualify

    checklist, problems = qualify.read(_read_text(file, "checklist"))
    if checklist is None:
        for problem in problems:
            render.out(problem)
        raise PipectlError(
            f"checklist {file}: {len(problems)} problem{'s' if len(problems) > 1 else ''} (listed above)"
        )
    render.out(
        f"ok: {file}: {len(checklist.criteria)} criteria, total weight {checklist.total_weight:g}, "
        f"pass at {checklist.threshold:.0%}"
    )


# --- touchpoints -------------------------------------------------------------------------------


@app.command("touch")
def touch(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    kind: str = typer.Argument(..., help="call, email, meeting, message or note."),
    outcome: str = typer.Option(None, "--outcome", "-o", help="e.g. no-answer, voicemail, replied, reached."),
    inbound: bool = typer.Option(None, "--in/--out", help="Who reached out (default: --out; a note has none)."),
    note: str = typer.Option(None, "--note", "-m"),
    at: str = typer.Option(None, "--at", help="When it happened (default: now)."),
    next_action: str = typer.Option(None, "--next", help="The next step."),
    due: str = typer.Option(None, "--due", help="When the next step is due."),
    as_json: bool = JSON,
) -> None:
    """Log a touchpoint: a call, email, meeting, message or note."""
    found, tp = actions.touch(
        context(), lead, kind, outcome=outcome, inbound=inbound, note=note, at=at, next_action=next_action, due=due
    )
    _done(found, as_json, f"logged {tp.kind} for {found.label}")


@app.command("note")
def note(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    text: str = typer.Argument(..., help="The note."),
    as_json: bool = JSON,
) -> None:
    """Add a note to a lead (a note touchpoint)."""
    found, _ = actions.touch(context(), lead, "note", note=text)
    _done(found, as_json, f"noted on {found.label}")


# --- the daily review and today's plan ------------------------------------------------------------


@app.command("snooze")
def snooze(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    until: str = typer.Option(None, "--until", "-u", help="Back on this day: 2027-04-01, +2w, monday..."),
    reason: str = typer.Option(None, "--reason", "-r", help="Why, shown when it comes back."),
    off: bool = typer.Option(False, "--off", help="Wake the lead now."),
    as_json: bool = JSON,
) -> None:
    """Pause a lead: no review findings for it until then; on that day it is back in `today`."""
    from pipectl import dates

    found = actions.snooze(context(), lead, until, reason, off)
    until_text = dates.show(found.snoozed_until)
    message = f"{found.label} is awake" if off else f"{found.label} snoozed until {until_text}"
    _done(found, as_json, message)


@app.command("review")
def review_(
    check: bool = typer.Option(False, "--check", help="For cron: exit 1 when there are findings, 0 when clean."),
    apply: bool = typer.Option(False, "--apply", help="Walk through the actionable findings, asking at each."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply close-outs and last-chance messages without asking."),
    show_all: bool = typer.Option(
        False, "--all", help="Show every finding (groups are cut at 10; team: a manager sees everyone's leads)."
    ),
    owner: str = typer.Option(None, "--owner", help="Only this owner's leads (team: yours by default)."),
    as_json: bool = JSON,
) -> None:
    """The daily review: stale deals, missed follow-ups, uncontacted leads, overloaded stages..."""
    from pipectl.store import bulk

    ctx = context()
    failed: list[str] = []
    with bulk():
        # --all: every finding, and on a team's database (for a manager) everyone's leads
        reviewed = actions.Review(ctx, actions.scope(ctx, owner, everyone=show_all))
        if apply or yes:
            if not yes and not _interactive():
                raise PipectlError("review --apply asks at each finding: run it at a terminal, or use --yes")
            from pipectl import apply as applying

            findings, failed = applying.walk(ctx, list(reviewed.findings()), ask=not yes)
        elif as_json:  # streamed: every finding, whatever the size
            if render.write_review_json(reviewed.findings(), reviewed.counts(), reviewed.cycle, ctx.now_iso) and check:
                raise typer.Exit(1)
            return
        else:
            findings = list(reviewed.findings(None if show_all else render.GROUP_LIMIT))
        counts = render.counted(findings) if apply or yes or show_all else reviewed.counts()
    if as_json:
        render.write_review_json(findings, render.counted(findings), reviewed.cycle, ctx.now_iso)
    else:
        render.print_review(findings, counts, reviewed.cycle)
    if failed:
        raise PipectlError(f"{len(failed)} of the actions failed ({', '.join(failed)}); the others were done")
    if check and counts:
        raise typer.Exit(1)


@app.command("today")
def today(
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Show at most this many (default: today.capacity)."),
    show_all: bool = typer.Option(
        False, "--all", help="Show every item, however many (team: a manager sees everyone's leads)."
    ),
    owner: str = typer.Option(None, "--owner", help="Only this owner's leads (team: yours by default)."),
    as_json: bool = JSON,
) -> None:
    """Today's plan: overdue first, then new leads to contact, what is due today, what is closest to closing."""
    ctx = context()
    if show_all and limit is not None:
        raise PipectlError("--all shows every item and --limit some of them: use one")
    capacity = None if show_all else limit or ctx.config.today["capacity"]
    items, total = actions.today(ctx, actions.scope(ctx, owner, everyone=show_all), capacity)
    if as_json:
        render.print_json(render.today_json(items))
        if total > len(items):  # the array stays SPEC §7's: how many did not fit goes to stderr
            render.err(f"{total - len(items)} more need attention: see `pipectl review`")
    else:
        render.print_today(items, ctx.config, total - len(items))


# --- board and report ----------------------------------------------------------------------------


@app.command("board")
def board(
    owner: str = typer.Option(None, "--owner", help="Only this owner's leads."),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="Open the full-screen board."),
    as_json: bool = JSON,
) -> None:
    """The pipeline as columns by stage: the most valuable deals first, with marks for what needs action."""
    from pipectl import views

    ctx = context()
    named = actions.known_owner(ctx, owner)
    if interactive:
        _interactive_board(ctx, named)
        return
    if as_json:  # every lead, streamed column by column
        from pipectl.store import bulk

        with bulk():
            render.write_board_json(views.columns(ctx, named))
        return
    stages, marks = views.board(ctx, named, cards=render.CARDS_PER_COLUMN)
    render.print_board(stages, marks, ctx.config, ctx.now_iso)


@app.command("ui")
def ui(owner: str = typer.Option(None, "--owner", help="Only this owner's leads.")) -> None:
    """The interactive board (same as `pipectl board --interactive`)."""
    ctx = context()
    _interactive_board(ctx, actions.known_owner(ctx, owner))


def _interactive_board(ctx: actions.Context, owner: str | None) -> None:
    from pipectl import tui  # Textual is imported only here: no other command pays for it

    ctx.store()  # a missing database is an error before the screen opens
    gc.enable()  # a long-running app needs its garbage collected
    tui.run(ctx, owner, _state.get("as_of"))


@app.command("report")
def report(
    period: str = typer.Option(
        None,
        "--period",
        help="A calendar period: this-/last-week, -month, -quarter or -year (default: this target period so far; "
        "on its first day, the one that just ended).",
    ),
    since: str = typer.Option(None, "--since", help="Start of the period: 90d (ago), 2026-09-01..."),
    until: str = typer.Option(
        None,
        "--until",
        help="End of the period: a date is until its end (default: now; with --until alone, "
        "the period starts at the start of the target period it is in).",
    ),
    by: GroupBy = typer.Option(None, "--by", help="Break the outcomes down by source, owner or tag."),
    owner: str = typer.Option(None, "--owner", help="Only this owner's leads."),
    svg: Path = typer.Option(None, "--svg", help="Also write the report as an SVG picture."),
    as_json: bool = JSON,
) -> None:
    """Funnel, conversion, win rate, cycle, velocity and coverage, against the previous period; the verdict."""
    from pipectl import dates, views

    if period is not None and (since is not None or until is not None):
        raise PipectlError("--period names the whole period: use it or --since/--until, not both")
    ctx = context()
    start = end = None
    if since is not None:
        # "90d" here means 90 days ago: a report looks back.
        text = since.strip()
        start = dates.parse_when(
            "-" + text if text[:1].isdigit() and text[-1:] in "dwh" else text,
            ctx.now,
            direction="past",
            calendar=ctx.config.calendar,
        )
        if start >= ctx.now:
            raise PipectlError(f"--since {since!r} is not in the past")
    if until is not None:
        # A day means until its end, so that --until 2026-11-30 takes in the 30th; a report looks
        # back, so "Oct 31" is the last one, as for --since.
        end = dates.parse_when(until, ctx.now, "due", direction="past", calendar=ctx.config.calendar)
        if start is not None and end <= start:
            raise PipectlError(
                f"--until {until!r} ({dates.show(dates.to_iso(end))}) is not after --since {since!r} "
                f"({dates.show(dates.to_iso(start))})"
            )
    data = views.report(ctx, start, by.value if by else None, actions.known_owner(ctx, owner), until=end, period=period)
    if as_json:
        render.print_json(data)
    else:
        render.print_report(data, str(svg) if svg else None)


# --- import and export ---------------------------------------------------------------------------


@app.command("import")
def import_(
    file: str = typer.Argument(..., help="The CSV file, or - for standard input."),
    map_: list[str] = typer.Option(None, "--map", "-m", help='COLUMN=FIELD, e.g. "Organisation=company" (repeatable).'),
    map_file: Path = typer.Option(None, "--map-file", help="A saved mapping (TOML); --map wins over it."),
    map_stage: list[str] = typer.Option(
        None, "--map-stage", help='VALUE=STAGE, e.g. "Appointment Scheduled=connecting".'
    ),
    on_duplicate: str = typer.Option("skip", "--on-duplicate", help="skip, update, fill or error."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; write nothing."),
    strict: bool = typer.Option(False, "--strict", help="Any bad row aborts the import; nothing is written."),
    rejects: Path = typer.Option(None, "--rejects", help="Write the bad rows here (CSV with line and reason)."),
    stage: str = typer.Option(None, "--stage", help="Stage of rows that have none (default: the first)."),
    source: str = typer.Option(None, "--source", help="Source of rows that have none."),
    encoding: str = typer.Option(
        None, "--encoding", help="The file's encoding, e.g. cp932, cp1252 (default: UTF-8, else as its bytes say)."
    ),
    dayfirst: bool = typer.Option(False, "--dayfirst", help="Read 03/04/2026 as 3 April."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Read 1.200,50 as 1200.50."),
) -> None:
    """Import leads from a CSV file: headers mapped, rows validated, duplicates handled, all or nothing."""
    from pipectl import transfer

    ctx = context()
    options = transfer.ImportOptions(
        maps=map_ or [],
        map_file=map_file,
        map_stages=map_stage or [],
        on_duplicate=on_duplicate,
        dry_run=dry_run,
        strict=strict,
        stage=stage,
        source=source,
        encoding=encoding,
        dayfirst=dayfirst,
        decimal_comma=decimal_comma,
    )
    with render.progress("importing", "rows") as tick, _output(rejects) as rejected:
        result = transfer.import_file(ctx, file, options, rejected, tick)
    if result.guessed_encoding:
        render.err(f"read as {result.guessed_encoding} (not UTF-8); give --encoding to choose")
    for name in result.unused_maps:
        render.err(f"warning: --map {name!r}: the file has no such column")
    for warning in result.warnings:
        render.err(f"warning: {warning}")
    for error in result.errors:
        render.err(f"line {error.line}: {error.reason}: {error.value!r}")
    if result.rejected > len(result.errors):
        render.err(
            f"... and {result.rejected - len(result.errors)} more bad rows"
            + (f" (all in {rejects})" if rejects else " (--rejects FILE keeps them all)")
        )
    render.out(render.import_summary(result, dry_run))
    if result.rejected:
        raise typer.Exit(1)


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[Any]:
    """A UTF-8 text file to write (None: none), created readable by the user only."""
    if path is None:
        yield None
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise PipectlError(f"cannot write {path}: {exc.strerror}") from None
    with open(fd, "w", encoding="utf-8", newline="") as stream:
        yield stream


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    ics = "ics"


@app.command("export")
def export(
    fmt: ExportFormat = typer.Option(ExportFormat.csv, "--format", "-f", help="csv, json, jsonl or ics."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file (default: standard output)."),
    touchpoints: bool = typer.Option(False, "--touchpoints", help="Export touchpoints too (see README)."),
    bom: bool = typer.Option(False, "--bom", help="Start a CSV with the BOM Excel needs to read UTF-8."),
) -> None:
    """Export every lead (and its touchpoints) as CSV, JSON or JSONL; or the open leads' next steps as iCalendar."""
    from pipectl import transfer

    ctx = context()
    if fmt == ExportFormat.ics and (touchpoints or bom):
        raise PipectlError("--format ics exports the open leads' next steps only: leave out --touchpoints and --bom")
    if touchpoints and fmt == ExportFormat.csv and output is None:
        raise PipectlError("CSV touchpoints go to a second file: give --output FILE (they go to FILE-touchpoints.csv)")
    second = None
    if touchpoints and fmt == ExportFormat.csv and output is not None:
        second = output.with_name(f"{output.stem}-touchpoints{output.suffix or '.csv'}")
    with _output(output) as stream, _output(second) as points:
        target = stream or sys.stdout
        # JSON nests each lead's touchpoints in it; CSV writes them to the second file.
        count = transfer.export(ctx, fmt.value, target, (points or target) if touchpoints else None, bom)
    if output is not None:
        what = "next steps" if fmt == ExportFormat.ics else "leads"
        render.err(f"exported {count} {what} to {output}" + (f", touchpoints to {second}" if second else ""))


@app.command("copy")
def copy_pipeline(
    target: str = typer.Option(..., "--to", help="Where to copy to: a file path or postgresql:// URL."),
    source: str = typer.Option(None, "--from", help="What to copy (default: the current database, --db)."),
    force: bool = typer.Option(False, "--force", help="Replace the pipeline the target already holds."),
) -> None:
    """Copy a whole pipeline (every lead, touchpoint and event) to another database: a solo file to the
    team's PostgreSQL server, or the team pipeline to a local SQLite snapshot."""
    from pipectl import transfer

    origin, destination, counts, saved = transfer.copy(context(), source, target, force)
    if saved is not None:
        render.out(f"saved what it replaces in {saved}")
    render.out(
        f"copied {counts['leads']} leads, {counts['touchpoints']} touchpoints and {counts['events']} events"
        f" from {origin} to {destination}"
    )


@app.command("backup")
def backup(file: Path = typer.Argument(..., help="Where to write the copy (a new file).")) -> None:
    """A consistent copy of the database, safe while other pipectl processes write to it."""
    from pipectl import transfer

    ctx = context()
    transfer.backup(ctx, file)
    render.out(f"backed up {ctx.store().label} to {file}")


def _confirmed(what: str, yes: bool, preview: Callable[[], None], question: str) -> bool:
    """Whether to go on with a command that removes leads: ``--yes``, or a person at the terminal who
    saw ``preview`` and said yes; without a terminal, --yes is required."""
    if yes:
        return True
    if not _interactive():
        raise PipectlError(f"{what} asks before it changes anything: run it at a terminal, or use --yes")
    preview()
    if typer.confirm(question, default=False):
        return True
    render.out("nothing was changed")
    return False


@app.command("merge")
def merge(
    keep: str = typer.Argument(..., help="The lead to keep."),
    other: str = typer.Argument(..., help="The duplicate to fold into it."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (needed without a terminal)."),
    force: bool = typer.Option(
        False, "--force", help="Merge even when status or owner differ or the two have nothing in common."
    ),
    as_json: bool = JSON,
) -> None:
    """Fold a duplicate lead into another: touchpoints, history, empty fields, tags (undoable).

    Shows both and the result and asks first (at a terminal; otherwise give --yes)."""
    from pipectl import transfer

    ctx = context()
    plan = transfer.plan_merge(ctx, keep, other, force)
    preview = functools.partial(render.print_merge, plan, ctx.config)
    if not _confirmed("merge", yes, preview, f"Merge {plan.other.label} into {plan.keep.label}?"):
        return
    found = transfer.merge(ctx, plan, force)
    _done(found, as_json, f"merged into {found.label}")


@app.command("delete")
def delete(
    leads: list[str] = typer.Argument(..., help="The leads to remove: ids, emails, or parts of names or companies."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (needed without a terminal)."),
) -> None:
    """Remove leads added by mistake, touchpoints included (`pipectl undo` brings them back).

    Shows what will go and asks first (at a terminal; otherwise give --yes)."""
    ctx = context()
    doomed = actions.find_all(ctx, leads)
    count = f"{len(doomed)} lead{'s' if len(doomed) != 1 else ''}"
    preview = functools.partial(render.print_doomed, doomed)
    if not _confirmed("delete", yes, preview, f"Delete {count} with their touchpoints?"):
        return
    actions.delete(ctx, doomed)
    render.out(f"deleted {count}: {', '.join(lead.label for lead in doomed)} (`pipectl undo` brings them back)")


@app.command("doctor")
def doctor(fix: bool = typer.Option(False, "--fix", help="Recompute counters and recreate missing indexes.")) -> None:
    """Check the database and the config; exit 0 when healthy, 1 with each problem and how to fix it."""
    from pipectl import doctor as checkup

    ctx = context()
    if fix:
        render.out(f"repaired {checkup.fix(ctx)} leads' counters; indexes in place")
    problems = 0
    for check in checkup.checks(ctx):
        if not check.problems:
            render.out(f"ok       {check.name}")
            continue
        problems += len(check.problems)
        render.out(f"PROBLEM  {check.name}:")
        for problem in check.problems[: checkup.MAX_SHOWN]:
            render.out(f"           {problem}")
        if len(check.problems) > checkup.MAX_SHOWN:
            render.out(f"           ... and {len(check.problems) - checkup.MAX_SHOWN} more")
        render.out(f"         fix: {check.fix}")
    if problems:
        raise typer.Exit(1)


@app.command("migrate")
def migrate() -> None:
    """Bring the database's schema up to this pipectl's (any write does it too; on a team's database
    only its owner can)."""
    store = context().store(create=False)
    render.out(f"{store.label}: schema {store.schema_version()}, up to date")


# --- team (SPEC §16) ------------------------------------------------------------------------------

team_app = typer.Typer(help="Run a team on one PostgreSQL pipeline (the database owner's commands).")
app.add_typer(team_app, name="team")


class Visibility(StrEnum):
    all = "all"
    own = "own"


@team_app.command("init")
def team_init(
    visibility: Visibility = typer.Option(
        Visibility.all, "--visibility", help="What reps read: all leads, or only their own."
    ),
) -> None:
    """Install the team's roles and rules on this PostgreSQL pipeline (again: nothing changes twice)."""
    from pipectl import team

    for line in team.init(context(), visibility.value):
        render.out(line)


@team_app.command("add")
def team_add(
    name: str = typer.Argument(..., help="The rep's login."),
    manager: bool = typer.Option(False, "--manager", help="A manager: reads and changes all, reassigns."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a rep's (or manager's) login; the password is asked for, never taken from the command line."""
    from pipectl import team

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif _interactive():
        password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        raise PipectlError("team add asks for the password at a terminal: or pipe it in with --password-stdin")
    login = team.add(context(), name, password, manager)
    render.out(f"added {login} as {'a manager' if manager else 'a rep'}")


@team_app.command("list")
def team_list(as_json: bool = JSON) -> None:
    """The team: name, role, open leads, last activity, quota."""
    from pipectl import team
    from pipectl.model import from_hundredths

    members = team.members(context())
    if as_json:
        render.print_json(
            [
                {
                    "name": m.name,
                    "role": m.role,
                    "open_leads": m.open_leads,
                    "last_activity": m.last_activity,
                    "quota": None if m.quota is None else from_hundredths(m.quota),
                }
                for m in members
            ]
        )
        return
    rows = [
        [
            m.name,
            m.role,
            str(m.open_leads),
            m.last_activity or "",
            "" if m.quota is None else render.money(from_hundredths(m.quota)),
        ]
        for m in members
    ]
    render.table(["name", "role", "open", "last activity", "quota"], rows, right=("open", "quota"))


@team_app.command("remove")
def team_remove(
    name: str = typer.Argument(..., help="The login to remove."),
    reassign_to: str = typer.Option(..., "--reassign-to", help="Who takes over the leads."),
) -> None:
    """Remove a login from the team and the server, giving its leads to another."""
    from pipectl import team

    moved = team.remove(context(), name, reassign_to)
    render.out(f"removed {name.lower()}; {moved} leads reassigned to {reassign_to.lower()}")


@team_app.command("visibility")
def team_visibility(visibility: Visibility = typer.Argument(..., help="all or own.")) -> None:
    """What reps read: every lead (all) or only their own (own)."""
    from pipectl import team

    team.set_visibility(context(), visibility.value)
    render.out(f"reps now see {visibility.value} leads")


@team_app.command("quota")
def team_quota(
    name: str = typer.Argument(..., help="The rep."),
    amount: str = typer.Argument(..., help="Their target per period (the config's targets.period)."),
) -> None:
    """Set a rep's own target, kept on the server (report --by owner judges each rep by it)."""
    from pipectl import team

    login, value = team.set_quota(context(), name, amount)
    render.out(f"quota of {login}: {render.money(value)}")


# --- sync (SPEC §12) ---------------------------------------------------------------------------

sync_app = typer.Typer(help="Log the touchpoints your mail and calendar already hold.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
NEW_LEADS = typer.Option(False, "--new-leads", help="An inbound message from an unknown address becomes a lead.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show what would be logged; write nothing.")


@sync_app.command("mail")
def sync_mail(
    paths: list[str] = typer.Argument(..., help="Maildir folders, mbox files, .eml files or folders, or - (stdin)."),
    new_leads: bool = NEW_LEADS,
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
) -> None:
    """Log the mail between you (your addresses: mail.me in the config) and your leads, from local mailboxes."""
    from pipectl import sync

    render.sync_summary(sync.sync_mail(context(), paths, new_leads, dry_run), as_json)


@sync_app.command("imap")
def sync_imap(
    url: str = typer.Argument(
        ..., help="imaps://user@host[:port]/FOLDER (password: $PIPECTL_IMAP_PASSWORD or ~/.netrc)."
    ),
    folder: list[str] = typer.Option(None, "--folder", help="Another folder to read (repeatable)."),
    new_leads: bool = NEW_LEADS,
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
) -> None:
    """Log the mail between you (mail.me in the config) and your leads, from an IMAP account (new messages only)."""
    from pipectl import sync

    render.sync_summary(sync.sync_imap(context(), url, folder or [], new_leads, dry_run), as_json)


@sync_app.command("calendar")
def sync_calendar(
    paths: list[str] = typer.Argument(..., help=".ics files or folders of them (a vdir, as khal/vdirsyncer keep)."),
    dry_run: bool = DRY_RUN,
    as_json: bool = JSON,
) -> None:
    """Log your past meetings with leads, and make upcoming ones their next steps."""
    from pipectl import sync

    render.sync_summary(sync.sync_calendar(context(), paths, dry_run), as_json)


# --- history -----------------------------------------------------------------------------------


# --- mail out -------------------------------------------------------------------------------------


@app.command("send")
def send_mail(
    lead: str = typer.Argument(..., help="Id, email, or part of the name or company."),
    template: str = typer.Option(..., "--template", "-t", help="A template in the config folder's templates/."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the message; send nothing."),
    resend: bool = typer.Option(
        False,
        "--resend",
        help="Send even though a killed run may have sent this lead a message (look in your Sent folder first).",
    ),
    as_json: bool = JSON,
) -> None:
    """Send one message to one lead through the [send] method; logged as an outbound email."""
    from pipectl import send
    from pipectl.mail import outbox

    ctx = context()
    draft = send.send(ctx, lead, template, dry_run, resend)
    text = outbox.preview(draft.message)
    if as_json:
        after = draft.lead if dry_run else actions.find(ctx, str(draft.lead.id))
        data = {"dry_run": dry_run, "template": template, **draft.as_json(not dry_run)}
        render.print_json({**data, "message": text if dry_run else None, "lead": render.lead_json(after)})
    elif dry_run:
        render.out(text)
    else:
        render.out(f"sent {template!r} to {draft.lead.label} <{draft.address}>")


@app.command("campaign")
def campaign(
    name: str = typer.Argument(..., help="The campaign's name: run it again to reach only those not reached yet."),
    template: str = typer.Option(..., "--template", "-t", help="A template in the config folder's templates/."),
    stage: str = typer.Option(None, "--stage", "-s"),
    tag: str = typer.Option(None, "--tag"),
    source: str = typer.Option(None, "--source"),
    owner: str = typer.Option(None, "--owner"),
    limit: int = typer.Option(None, "--limit", min=1, help="At most this many messages this run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List who would get it; send nothing."),
    as_json: bool = JSON,
) -> None:
    """Send a template to each matching open lead with a usable address, once per lead and campaign."""
    from pipectl import dates, send

    def say(line: str) -> None:
        if not as_json:
            render.err(line)

    done = send.campaign(
        context(),
        name,
        template,
        stage=stage,
        tag=tag,
        source=source,
        owner=owner,
        limit=limit,
        dry_run=dry_run,
        say=say,
    )
    if as_json:
        render.print_json(done.as_json())
        return
    if dry_run:
        for draft in done.sent:
            render.out(f"would send: {draft.lead.label} <{draft.address}>: {draft.subject}")
    skipped = ", ".join(f"{why}: {count}" for why, count in sorted(done.skip_counts().items()))
    verb = "would send" if dry_run else "sent"
    failed = f"; not sent: {len(done.failed)}" if done.failed else ""
    render.err(f"{verb}: {len(done.sent)}" + (f"; skipped {skipped}" if skipped else "") + failed)
    unsure = [skip.lead.label for skip in done.skipped if skip.unsettled]
    if unsure:
        render.err(
            "a run was killed while handing these over, so they are not sent again and not logged; look in your"
            f" Sent folder and log them with `touch LEAD email` if they went: {', '.join(unsure)}"
        )
    if done.left:
        render.err(
            f"stopped at [send] max_per_day: {done.left} left; run it again after {dates.show(done.resume_at or '')}"
        )


@app.command("optout")
def optout(lead: str = typer.Argument(..., help="Id, email, or part of the name or company.")) -> None:
    """Never mail this lead from pipectl again: send refuses it, campaigns skip it, show says so."""
    from pipectl import send

    found, changed = send.optout(context(), lead)
    render.out(f"{found.label} opted out" + ("" if changed else " (already)"))


@app.command("templates")
def templates() -> None:
    """The message templates (the config folder's templates/) and the placeholders each uses."""
    from pipectl import send
    from pipectl.mail import outbox

    ctx = context()
    folder = send.templates_folder(ctx)
    names = outbox.template_names(folder)
    if not names:
        render.out(f"no templates in {folder}: write NAME.txt there (a Subject: line, a blank line, the body)")
    for name in names:
        try:
            template = outbox.load_template(folder, name)
            html = f"  (and {name}{outbox.HTML_SUFFIX})" if template.html is not None else ""
            render.out(f"{name}  " + " ".join(f"${field}" for field in template.placeholders) + html)
        except PipectlError as exc:
            render.out(f"{name}  (unusable: {exc.message})")


@app.command("undo")
def undo() -> None:
    """Revert the last command that changed data."""
    events = actions.undo(context())
    if not events:
        render.out("nothing to undo")
        return
    render.out(f"undid: {events[0].command} ({len(events)} change{'s' if len(events) != 1 else ''})")
    mailed = [event.data["touchpoint"] for event in events if "touchpoint" in event.data]
    if any(point.get("external_id") and point.get("outcome") in ("sent", LAST_CHANCE) for point in mailed):
        render.err("the touchpoints are gone from the log; mail already sent cannot be unsent")


@app.command("mcp")
def mcp(
    read_only: bool = typer.Option(False, "--read-only", help="Offer only the read tools."),
    owner: str = typer.Option(
        None, "--owner", help="Act as this owner: the actor of every write, and of new leads (default: the config's)."
    ),
) -> None:
    """Run a Model Context Protocol server on stdio, so an AI assistant can read and work the pipeline."""
    import dataclasses

    ctx = context()  # a bad config is an error now, not at the assistant's first call
    try:
        from pipectl import mcp_server  # the SDK is imported only here: no other command pays for it
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("mcp", "mcp_types", "pydantic", "pydantic_core"):
            raise
        raise PipectlError("the MCP server needs the mcp extra: pip install 'pipectl[mcp]'") from None
    config = dataclasses.replace(ctx.config, owner=owner.strip()) if owner and owner.strip() else ctx.config
    if sys.stdin.isatty():
        render.err("pipectl mcp: serving the MCP protocol on stdio for an assistant to start (Ctrl-C stops it)")
    gc.enable()  # a long-running server needs its garbage collected
    server = mcp_server.build(config, ctx.database, _state.get("as_of"), read_only, "--debug" in _state["argv"])
    server.run("stdio")


@app.command("demo")
def demo(keep: Path = typer.Option(None, "--keep", help="Keep the demo database at this path.")) -> None:
    """Show pipectl working on a throwaway database of sample leads with months of history."""
    from pipectl import dates, setup

    setup.demo(dates.clock(_state.get("as_of")), keep)


_VALUED_GLOBALS = ("--db", "--config", "--as-of")


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named on the command line (after the global options), if any."""
    tokens = iter(argv)
    for token in tokens:
        if token in _VALUED_GLOBALS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token
    return None


def main() -> None:
    """The console script. Builds only the command being run: Typer turns every registered function
    into a click command up front, which for all of them costs more than running `add` itself."""
    name = _command_of(sys.argv[1:])
    wanted = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    lean = copy.copy(app)
    if wanted or groups:
        lean.registered_commands, lean.registered_groups = wanted, groups
    typer.main.get_command(lean).main()
