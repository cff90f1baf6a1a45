"""What a user can do: add, edit, move, close, touch, delete, undo.

Each action takes what the user typed, lets the domain decide (fields, pipeline), and has the store
write the result with its events in one transaction. The CLI and the interactive board both call
these, so a rule lives in one place.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pipectl import dates, leads, pipeline
from pipectl.config import Config, default_owner
from pipectl.errors import Ambiguous, ConfigError, NoDatabase, NotFound, PipectlError, Refused
from pipectl.model import CLOSED, CONTACT_KINDS, Event, Finding, Lead, Status, Touchpoint, is_snoozed
from pipectl.store import Filter, Store, bulk

if TYPE_CHECKING:
    from pipectl import agenda, qualify, review
    from pipectl.mail import outbox

TOUCH_KINDS = (*CONTACT_KINDS, "note")
MAX_ID_DIGITS = 18  # ids are SQLite 64-bit integers
LAST_CHANCE_FILE = "last-chance.txt"
FOLLOW_UP = "follow up"  # the text of a next step given only a due time
# Today and the review read the same leads several times in different orders: on a team database one
# rep's leads lie on about as many pages as they are leads (2,000 leads: 31 MiB of 16 KiB pages), and
# a cache that holds fewer reads them all again for every section (today --owner on the team database
# of bench/scale.py: 127 ms CPU with 16 MiB, 103 ms with 48, against 77 ms on the rep's leads alone).
# Only the pages read take memory, but a whole pipeline's passes are mostly counts over indexes, which
# a cache does not speed up and would fill (1,000,000 untouched leads, with 16 MiB: today 37 MiB instead
# of 22, the review 37 instead of 22 and no faster): only a rep's commands get it.
READ_CACHE_MIB = 48


def _rereading(ctx: Context, owner: str | None) -> None:
    """Before today or the review reads ``owner``'s leads in several passes: a cache to hold them."""
    if owner is not None:
        ctx.store().use_cache(READ_CACHE_MIB)


@dataclass
class Context:
    """Everything a command runs with: config, the database (a file path or a postgresql:// URL),
    the clock, its own name."""

    config: Config
    database: str
    now: datetime
    command: str = ""
    #: Whether --as-of set the clock (refused for writes on a team's database: events carry the server's).
    backdated: bool = False
    #: Where a warning line goes (the CLI: stderr).
    warn: Callable[[str], None] = field(default=lambda line: None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @property
    def now_iso(self) -> str:
        return dates.to_iso(self.now)

    def store(self, create: bool = False) -> Store:
        if self._store is None:
            self._store = Store.open(self.database, create=create, currency=self.config.currency)
            self._adopt_currency(self._store)
        return self._store

    def _adopt_currency(self, store: Store) -> None:
        """The amounts are in the currency the database records: every view and parser takes that one
        (through ``config``); a config that names another is warned about, never obeyed."""
        if store.currency == self.config.currency:
            return
        if store.currency.upper() != self.config.currency.upper():
            self.warn(
                f"this pipeline's amounts are in {store.currency} (recorded in its database);"
                f" the config's currency {self.config.currency} is not used"
            )
        self.config = replace(self.config, currency=store.currency)

    @property
    def currency(self) -> str:
        """The pipeline's currency: the database's, or, before one exists, the config's (which it will record)."""
        return self.pipeline_config().currency

    def pipeline_config(self) -> Config:
        """The config with the pipeline's currency (opening the database, when there is one, to read it)."""
        if self._store is None:
            with suppress(NoDatabase):
                self.store()
        return self.config

    @property
    def me(self) -> str | None:
        """Who acts: on a team's database the login, whatever the config says; else the config's owner."""
        who = self.store().who if self._store is not None else None
        return who.login if who is not None else self.config.owner

    def writing(self) -> AbstractContextManager[Store]:
        """The write transaction of this command (creates the database on first write)."""
        store = self.store(create=True)
        who = store.who
        if who is not None:
            if self.backdated:
                raise Refused(
                    "--as-of cannot date a change on a team's database: its log carries the server's clock;"
                    " nothing was changed"
                )
            # The config names someone else (not merely this machine's user, its default): say who acts.
            if self.config.owner and self.config.owner.lower() not in (who.login, default_owner().lower()):
                self.warn(
                    f"you are {who.login} on this team's database; the config's owner {self.config.owner!r} is not used"
                )
        return store.transaction(self.command, self.me, self.now_iso)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# --- finding leads -----------------------------------------------------------------------------


def resolve(store: Store, ref: str) -> Lead:
    """A lead from its id, its email, or a substring of its name or company (SPEC §3)."""
    text = ref.strip().lstrip("#")
    if not text:
        raise NotFound("no lead given: use its id, email, or part of its name or company")
    if text.isascii() and text.isdigit():
        lead = store.get_lead(int(text)) if len(text) <= MAX_ID_DIGITS else None
        if lead is None:
            raise NotFound(f"no lead with id {text}")
        return lead
    if "@" in text:
        lead = store.lead_by_email(text)
        if lead is not None:
            return lead
    found = store.leads_matching(text)
    open_ = [lead for lead in found if lead.is_open]
    candidates = open_ or found
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NotFound(f"no lead matches {ref!r}")
    shown = "; ".join(f"{lead.label} [{lead.status}]" for lead in candidates[:8])
    more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
    raise Ambiguous(f"{ref!r} matches {len(candidates)} leads: {shown}{more}; use the id")


def ensure_unchanged(store: Store, shown: list[Lead], done: str) -> list[Lead]:
    """The leads ``shown`` to the user, read again inside the write transaction; refused when one was
    changed (or removed) in the meantime, since the user agreed to what they saw."""
    for lead in shown:
        if store.get_lead(lead.id) != lead:
            raise Refused(f"{lead.label} changed while you were deciding; nothing was {done}: run the command again")
    return shown


# --- fields --------------------------------------------------------------------------------------


def _fields(ctx: Context, given: dict[str, str | None]) -> dict[str, Any]:
    """Parse the text fields a user gave (``None`` = not given) into lead attributes."""
    result: dict[str, Any] = {}
    for name, text in given.items():
        if text is None:
            continue
        if name == "name":
            result[name] = leads.clean_text(text, "name", required=True)
        elif name == "email":
            result[name] = leads.normalize_email(text)
        elif name == "value":
            result[name] = leads.parse_money(text, ctx.currency) if text.strip() else None
        elif name == "next_action_due":
            due = dates.parse_when(text, ctx.now, "due", calendar=ctx.config.calendar) if text.strip() else None
            result[name] = dates.to_iso(due) if due else None
        elif name == "expected_close":
            day = dates.parse_day(text, ctx.now, calendar=ctx.config.calendar) if text.strip() else None
            result[name] = day.isoformat() if day else None
        else:
            result[name] = leads.clean_text(text, name)
    return result


def _next_step(parsed: dict[str, Any], current: str | None = None) -> dict[str, Any]:
    """Complete the next step of ``parsed`` fields: a due without a text keeps the ``current`` text
    (or is a plain follow-up), and a text cleared without a new due clears the due with it."""
    if parsed.get("next_action_due") and not parsed.get("next_action"):
        kept = None if "next_action" in parsed else current
        parsed["next_action"] = kept or FOLLOW_UP
    elif "next_action" in parsed and parsed["next_action"] is None and "next_action_due" not in parsed:
        parsed["next_action_due"] = None
    return parsed


def _check_email_free(store: Store, email: str | None, lead_id: int | None = None) -> None:
    if email:
        other = store.lead_by_email(email)
        if other is not None and other.id != lead_id:
            raise PipectlError(f"{other.label} already has the email {email}")


def add(
    ctx: Context,
    name: str,
    *,
    company: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    source: str | None = None,
    value: str | None = None,
    stage: str | None = None,
    owner: str | None = None,
    tags: list[str] | None = None,
    next_action: str | None = None,
    due: str | None = None,
    expected_close: str | None = None,
    note: str | None = None,
    at: str | None = None,
) -> Lead:
    parsed = _next_step(
        _fields(
            ctx,
            {
                "name": name,
                "company": company,
                "email": email,
                "phone": phone,
                "source": source,
                "value": value,
                "owner": owner,
                "next_action": next_action,
                "next_action_due": due,
                "expected_close": expected_close,
            },
        )
    )
    stage_name = pipeline.resolve_stage(ctx.config, stage) if stage else ctx.config.stage_names[0]
    created = _past(ctx, at) if at else ctx.now_iso
    lead = Lead(
        id=0,
        stage=stage_name,
        status=Status.OPEN,
        created_at=created,
        updated_at=ctx.now_iso,
        stage_entered_at=created,
        tags=leads.clean_tags(tags or []),
        **parsed,
    )
    note_text = leads.clean_text(note, "note")
    with ctx.writing() as store:
        lead.owner = known_owner(ctx, lead.owner) or ctx.me
        _check_email_free(store, lead.email)
        store.create_lead(lead)
        if note_text:
            _log(store, lead, Touchpoint(0, lead.id, "note", created, note=note_text), ctx.now_iso)
    return lead


def edit(
    ctx: Context,
    ref: str,
    *,
    tags: list[str] | None = None,
    untag: list[str] | None = None,
    note: str | None = None,
    add_emails: list[str] | None = None,
    remove_emails: list[str] | None = None,
    **given: str | None,
) -> Lead:
    """Change fields; ``given`` holds the add options by attribute name, an empty string clears one.
    Only what is given changes: a new due keeps the lead's next-step text (see ``_next_step``).
    ``add_emails`` / ``remove_emails`` change the lead's other addresses (SPEC §12); a main address
    set to one of them moves it from the others to the main one."""
    parsed = _fields(ctx, given)
    note_text = leads.clean_text(note, "note")
    adding = [email for email in map(leads.normalize_email, add_emails or []) if email]
    removing = [email for email in map(leads.normalize_email, remove_emails or []) if email]
    with ctx.writing() as store:
        lead = resolve(store, ref)
        _next_step(parsed, lead.next_action)
        _check_email_free(store, parsed.get("email"), lead.id)
        if tags or untag:
            removed = set(untag or [])
            parsed["tags"] = [t for t in leads.clean_tags(lead.tags + (tags or [])) if t not in removed]
        changes = {name: value for name, value in parsed.items() if getattr(lead, name) != value}
        added, dropped = _email_changes(store, lead, parsed.get("email", lead.email), adding, removing)
        if not changes and not note_text and not added and not dropped:
            raise PipectlError(f"nothing to change for {lead.label}: give a field option (see --help)")
        if changes or added or dropped:
            changes["updated_at"] = ctx.now_iso
        if added or dropped:
            store.change_emails(lead, added, dropped, changes)
        elif changes:
            store.change_lead(lead, changes, "edit")
        if note_text:
            _log(store, lead, Touchpoint(0, lead.id, "note", ctx.now_iso, note=note_text), ctx.now_iso)
    return lead


def _email_changes(
    store: Store, lead: Lead, main: str | None, adding: list[str], removing: list[str]
) -> tuple[list[str], list[str]]:
    """The other addresses to add to ``lead`` and to remove from it, checked: an added one no other lead
    has, a removed one the lead has; the new ``main`` address leaves the others."""
    others = store.emails_of(lead.id)
    for email in removing:
        if email not in others:
            have = ", ".join(others) or "none"
            raise PipectlError(f"{lead.label} has no other address {email} (its other addresses: {have})")
    added = []
    for email in dict.fromkeys(adding):
        if email == main:
            raise PipectlError(f"{email} is already the main address of {lead.label}")
        _check_email_free(store, email, lead.id)
        if email not in others:
            added.append(email)
    dropped = list(dict.fromkeys([*removing, *([main] if main in others else [])]))
    return [email for email in added if email not in dropped], dropped


def addresses(store: Store, lead: Lead) -> list[dict[str, Any]]:
    """Every address of ``lead``, the main one first: ``email``, ``main``, and for one that bounced
    ``bounced_at`` and ``bounce`` (the bounce's Message-ID), else None (``show``'s ``emails``)."""
    emails = ([lead.email] if lead.email else []) + store.emails_of(lead.id)
    bounced = store.bounces_of(emails)
    return [
        {
            "email": email,
            "main": email == lead.email,
            "bounced_at": bounced[email][0] if email in bounced else None,
            "bounce": bounced[email][1] if email in bounced else None,
        }
        for email in emails
    ]


# --- moving and closing ------------------------------------------------------------------------


def advance(ctx: Context, ref: str, to: str | None = None, force: bool = False) -> Lead:
    with ctx.writing() as store:
        lead = resolve(store, ref)
        pipeline.ensure_open(lead)
        target = pipeline.resolve_stage(ctx.config, to) if to else pipeline.next_stage(ctx.config, lead)
        forced = pipeline.check_move(ctx.config, lead, target, force)
        info: dict[str, Any] = {"from": lead.stage, "to": target}
        if forced:
            info["forced"] = True
        changes = {"stage": target, "stage_entered_at": ctx.now_iso, "updated_at": ctx.now_iso}
        store.change_lead(lead, changes, "stage", **info)
    return lead


def close(ctx: Context, ref: str, status: Status, reason: str | None = None, value: str | None = None) -> Lead:
    """Close a lead as won or lost (from any open stage: closing is never gated)."""
    with ctx.writing() as store:
        lead = resolve(store, ref)
        if not lead.is_open:
            raise Refused(f"{lead.label} is already {lead.status}")
        changes: dict[str, Any] = {"status": status.value, "updated_at": ctx.now_iso, "closed_at": ctx.now_iso}
        if status == Status.LOST:
            changes["lost_reason"] = leads.clean_text(reason, "lost reason", required=True)
        if value is not None:
            changes["value"] = leads.parse_money(value, ctx.currency)
        store.change_lead(lead, changes, status.value, stage=lead.stage, reason=changes.get("lost_reason"))
    return lead


def reopen(ctx: Context, ref: str) -> Lead:
    with ctx.writing() as store:
        lead = resolve(store, ref)
        if lead.is_open:
            raise Refused(f"{lead.label} is already open")
        changes = {
            "status": Status.OPEN.value,
            "lost_reason": None,
            "closed_at": None,
            "stage_entered_at": ctx.now_iso,
            "updated_at": ctx.now_iso,
        }
        store.change_lead(lead, changes, "reopen", was=lead.status, stage=lead.stage)
    return lead


# --- touchpoints -------------------------------------------------------------------------------


def _past(ctx: Context, text: str) -> str:
    moment = dates.parse_when(text, ctx.now, direction="past", calendar=ctx.config.calendar)
    if moment > ctx.now:
        raise PipectlError(f"--at {text!r} is in the future ({dates.show(dates.to_iso(moment))})")
    return dates.to_iso(moment)


def _log(store: Store, lead: Lead, touchpoint: Touchpoint, now: str, extra: dict[str, Any] | None = None) -> None:
    """Insert a touchpoint and keep the lead's denormalised counters in step, as one event."""
    changes: dict[str, Any] = {
        "touch_count": lead.touch_count + 1,
        "last_touch_at": max(lead.last_touch_at or "", touchpoint.at),
        "updated_at": now,
    }
    changes.update(extra or {})
    store.change_lead(lead, changes, "touch", touchpoint=touchpoint)


def touch(
    ctx: Context,
    ref: str,
    kind: str,
    *,
    outcome: str | None = None,
    inbound: bool | None = None,
    note: str | None = None,
    at: str | None = None,
    next_action: str | None = None,
    due: str | None = None,
) -> tuple[Lead, Touchpoint]:
    kind = kind.strip().lower()
    if kind not in TOUCH_KINDS:
        raise PipectlError(f"unknown touchpoint kind {kind!r}; kinds: {', '.join(TOUCH_KINDS)}")
    if kind == "note" and inbound is not None:
        raise PipectlError("a note has no direction: leave out --in/--out")
    direction = None if kind == "note" else ("in" if inbound else "out")
    when = _past(ctx, at) if at else ctx.now_iso
    outcome_text = leads.clean_text(outcome, "outcome")
    plan = _next_step(_fields(ctx, {"next_action": next_action, "next_action_due": due}))
    touchpoint = Touchpoint(
        0, 0, kind, when, direction, outcome_text.lower() if outcome_text else None, leads.clean_text(note, "note")
    )
    with ctx.writing() as store:
        lead = resolve(store, ref)
        touchpoint.lead_id = lead.id
        _log(store, lead, touchpoint, ctx.now_iso, _after_touch(ctx, store, lead, touchpoint, plan))
    return lead, touchpoint


def _after_touch(
    ctx: Context, store: Store, lead: Lead, touchpoint: Touchpoint, plan: dict[str, Any]
) -> dict[str, Any]:
    """The lead's cadence state and next step after ``touchpoint``.

    An explicit next step always wins. Otherwise reaching out does the pending step (a note leaves
    it), and an unanswered attempt on an open lead schedules the next one by itself (auto_schedule).
    """
    if touchpoint.direction is None:
        return plan
    from pipectl import cadence  # the cadence is only for touchpoints: `add` starts without it

    after = cadence.state([*store.touchpoints_of(lead.id), touchpoint])
    changes = after.as_changes()
    if plan:
        return {**changes, **plan}
    step = None
    if lead.is_open and touchpoint.direction == "out" and not cadence.is_reply(touchpoint):
        step = cadence.next_step(ctx.config, after, dates.from_iso(touchpoint.at))
    changes["next_action"], changes["next_action_due"] = step or (None, None)
    return changes


# --- deleting ------------------------------------------------------------------------------------


def find_all(ctx: Context, refs: list[str]) -> list[Lead]:
    """The leads ``refs`` name, each once, in the order given: every reference resolved (or the
    first that fails raised) before anything is done with them."""
    store = ctx.store()
    found: dict[int, Lead] = {}
    for ref in refs:
        lead = resolve(store, ref)
        found.setdefault(lead.id, lead)
    return list(found.values())


def delete(ctx: Context, doomed: list[Lead]) -> None:
    """Remove leads with their touchpoints, as one command: their whole rows stay in the event log,
    so ``undo`` puts them back as they were."""
    with ctx.writing() as store:
        store.delete_leads(ensure_unchanged(store, doomed, "deleted"))


# --- undo --------------------------------------------------------------------------------------


def undo(ctx: Context) -> list[Event]:
    """Revert the last command that changed data (on a shared pipeline: the last the current owner
    ran), unless someone changed its leads since; returns its events (empty: nothing to undo)."""
    ctx.store()  # a missing database has nothing to undo: say so, create nothing
    with ctx.writing() as store:
        events = store.last_batch(ctx.me if store.shared else None)
        if events:
            later = store.changed_since(events)
            if later is not None:
                lead_id, actor, command = later
                raise Refused(
                    f"cannot undo `{events[0].command}`: lead #{lead_id} was changed since by {actor or 'someone'}"
                    f" (`{command}`); nothing was changed"
                )
            store.revert(events)
    return events


def show(ctx: Context, ref: str) -> tuple[Lead, list[dict[str, Any]], dict[str, Any] | None]:
    """A lead, its timeline, and its latest qualification (or None)."""
    store = ctx.store()
    lead = resolve(store, ref)
    history = store.history_of(lead.id)
    imported = store.import_of(lead.id)
    timeline = pipeline.timeline(lead, store.touchpoints_of(lead.id), history)
    if imported is not None:
        timeline.insert(1, {"at": imported.at, "type": "imported", "file": imported.data["file"]})
    return lead, timeline, pipeline.qualification(history)


def list_leads(
    ctx: Context,
    *,
    stage: str | None = None,
    status: str = "open",
    tag: str | None = None,
    owner: str | None = None,
    qualified: bool | None = None,
    sort: str = "id",
    desc: bool = False,
    limit: int | None = None,
    stale: bool = False,
    offset: int = 0,
) -> list[Lead]:
    """Leads matching the filters; ``stale`` keeps the open ones the review finds stale. With a
    ``limit``, the page of them from ``offset``."""
    where = _filter(ctx, stage, status, tag, owner, qualified)
    if not stale:
        return ctx.store().list_leads(where, sort, desc, limit, ctx.config.stage_names, offset)
    found = _stale(ctx, ctx.store().list_leads(where, sort, desc, None, ctx.config.stage_names))
    return found[offset : None if limit is None else offset + limit]


def count_leads(
    ctx: Context,
    *,
    stage: str | None = None,
    status: str = "open",
    tag: str | None = None,
    owner: str | None = None,
    qualified: bool | None = None,
    stale: bool = False,
) -> int:
    """How many leads ``list_leads`` finds with the same filters, whatever the page."""
    where = _filter(ctx, stage, status, tag, owner, qualified)
    if not stale:
        return ctx.store().count_leads(where)
    return len(_stale(ctx, ctx.store().list_leads(where)))


def _filter(
    ctx: Context, stage: str | None, status: str, tag: str | None, owner: str | None, qualified: bool | None
) -> Filter:
    statuses: tuple[str, ...] | None = {
        "all": None,
        "closed": tuple(s.value for s in CLOSED),
    }.get(status, (status,))
    return Filter(
        statuses=statuses,
        stage=pipeline.resolve_stage(ctx.config, stage) if stage else None,
        tag=tag,
        owner=owner,
        qualified=qualified,
    )


def _stale(ctx: Context, found: list[Lead]) -> list[Lead]:
    """The leads of ``found`` the review finds stale, in the same order."""
    findings, _ = run_review(ctx)
    stale_ids = {f.lead_id for f in findings if f.kind == "stale"}
    return [lead for lead in found if lead.id in stale_ids]


# --- qualification -------------------------------------------------------------------------------


def load_checklist(ctx: Context) -> tuple[qualify.Checklist, str]:
    """The active checklist and where it comes from.

    A missing checklist file means the built-in default (the one ``init`` writes), unless the config
    names the file (``qualification.checklist``): then it must exist.
    """
    from pipectl import qualify

    path = ctx.config.checklist
    try:
        return qualify.load(path, path.read_text(encoding="utf-8")), str(path)
    except FileNotFoundError:
        if ctx.config.checklist_named:
            raise ConfigError(f"checklist {path} (named in {ctx.config.path}) does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"checklist {path}: cannot read it ({exc})") from None
    from importlib import resources

    builtin = qualify.DEFAULT_CHECKLIST
    text = resources.files("pipectl").joinpath(builtin).read_text(encoding="utf-8")
    return qualify.load(builtin, text), f"built-in BANT checklist (`pipectl init` writes it to {path})"


def find(ctx: Context, ref: str) -> Lead:
    return resolve(ctx.store(), ref)


def ensure_can_qualify(lead: Lead) -> None:
    if not lead.is_open:
        raise Refused(f"{lead.label} is {lead.status}: reopen it before qualifying it again")


def qualify_lead(
    ctx: Context, ref: str, answers: dict[str, str], keep_open: bool = False
) -> tuple[Lead, qualify.Outcome, str]:
    """Score the answers, store the run, and set the lead's qualification (a failure disqualifies it
    unless ``keep_open``). Returns the lead, the outcome and the verdict."""
    from pipectl import qualify

    checklist, source = load_checklist(ctx)
    qualify.check_answers(checklist, answers)
    full = {key: answers.get(key, qualify.UNKNOWN) for key in checklist.keys}
    outcome = qualify.score(checklist, full)
    verdict = outcome.verdict
    changes: dict[str, Any] = {
        "qualified": outcome.passed,
        "qualification_score": outcome.score,
        "updated_at": ctx.now_iso,
    }
    with ctx.writing() as store:
        lead = resolve(store, ref)
        ensure_can_qualify(lead)
        if verdict == qualify.DISQUALIFIED:
            if keep_open:
                verdict = qualify.NOT_QUALIFIED
            else:
                changes.update(
                    status=Status.DISQUALIFIED.value,
                    lost_reason=qualify.failure_reason(checklist, outcome),
                    closed_at=ctx.now_iso,
                )
        store.change_lead(
            lead,
            changes,
            "qualify",
            answers=full,
            score=outcome.score,
            threshold=checklist.threshold,
            verdict=verdict,
            knocked_out=list(outcome.knocked_out),
            open_questions=list(outcome.open_questions),
            checklist=source,
        )
    return lead, outcome, verdict


# --- the daily review and today's plan ----------------------------------------------------------


def snooze(ctx: Context, ref: str, until: str | None, reason: str | None = None, off: bool = False) -> Lead:
    """Pause a lead until a day (no review findings until then), or wake it (``off``)."""
    if off == (until is not None):
        raise PipectlError("give --until WHEN to snooze, or --off to wake the lead")
    changes: dict[str, Any] = {"snoozed_until": None, "snooze_reason": None, "updated_at": ctx.now_iso}
    if until is not None:
        moment = dates.parse_when(until, ctx.now, calendar=ctx.config.calendar)
        if moment <= ctx.now:
            raise PipectlError(f"--until {until!r} is not in the future ({dates.show(dates.to_iso(moment))})")
        changes.update(snoozed_until=dates.to_iso(moment), snooze_reason=leads.clean_text(reason, "reason"))
    with ctx.writing() as store:
        lead = resolve(store, ref)
        if not lead.is_open:
            raise Refused(f"{lead.label} is {lead.status}: only open leads are snoozed")
        store.change_lead(lead, changes, "snooze")
    return lead


def facts(ctx: Context, owner: str | None = None) -> review.Facts:
    """What the review needs from the history (of ``owner``'s leads: a rep's own cycle and win rate):
    won deals' cycles, closed counts, won value this period."""
    from pipectl import review

    store = ctx.store()
    cycles = tuple(dates.days_between(created, closed) for created, closed in store.won_cycles(owner))
    counts = store.closed_counts(owner)
    start, end = dates.target_period(ctx.now, ctx.config.targets["period"])
    return review.Facts(
        won_cycle_days=cycles,
        won_count=counts.get("won", 0),
        lost_count=counts.get("lost", 0),
        won_value_in_period=store.won_value_between(dates.to_iso(start), dates.to_iso(end), owner),
        bad_emails=store.bad_email_leads(),
    )


def known_owner(ctx: Context, owner: str | None) -> str | None:
    """``--owner NAME`` as the team knows it (any case); a name nobody in the team has is an error
    listing who is. Without a team, owners are free text."""
    if owner is None or ctx.store().who is None:
        return owner
    from pipectl.store import team

    known = team.names(ctx.store().conn)
    who = ctx.store().who
    if who is not None and who.owner not in known:
        known.append(who.owner)
    match = next((name for name in known if name == owner.strip().lower()), None)
    if match is None:
        raise NotFound(f"no one called {owner!r} in this team: {', '.join(sorted(known))}")
    return match


def scope(ctx: Context, owner: str | None, everyone: bool = False) -> str | None:
    """Whose leads `review` and `today` act on: on a team's database the login's own, unless a
    manager names ``--owner`` or ``--all``; elsewhere ``owner`` (None: all)."""
    named = known_owner(ctx, owner)
    who = ctx.store().who
    if who is None:
        return named
    if named is not None and named != who.login and not who.sees_all:
        raise Refused(f"only a manager works on another rep's leads ({named}): leave out --owner for your own")
    if named is None and not (everyone and who.sees_all):
        return who.login
    return named


class Review:
    """The daily review of the open leads (of ``owner``), selected, counted and ordered in the
    database: the rules are ``review``'s, the SQL the store writes from its thresholds."""

    def __init__(self, ctx: Context, owner: str | None = None) -> None:
        from pipectl import review

        self.ctx, self.owner = ctx, owner
        self.facts = facts(ctx, owner)
        self.cycle = review.sales_cycle(ctx.config, self.facts)
        self.rules = review.Rules.of(ctx.config, ctx.now, self.cycle)
        self._variant_counts: dict[str, list[int]] | None = None
        self._pipeline_findings: list[Finding] | None = None
        self._bad_email_findings: list[Finding] | None = None
        _rereading(ctx, owner)

    def findings(self, limit: int | None = None) -> Iterator[Finding]:
        """Every finding (at most ``limit`` of each kind), by kind in ``review.KINDS`` order, the most
        urgent first: streamed, so that memory stays flat at any size."""
        from pipectl import review

        store, config = self.ctx.store(), self.ctx.config
        counts = self._counts()
        for kind in review.LEAD_KINDS:
            streams = store.finding_leads(self.rules, kind, self.owner, limit, counts[kind])
            found = review.kind_findings(kind, streams, config, self.ctx.now, self.cycle, self.rules.cut)
            yield from found if limit is None else itertools.islice(found, limit)
        yield from itertools.islice(self._bad_emails(), limit)
        for _, group in itertools.groupby(self._pipeline(), lambda finding: finding.kind):
            yield from itertools.islice(group, limit)

    def counts(self) -> dict[str, int]:
        """How many findings of each kind there are (kinds without any left out)."""
        counts = {kind: sum(variants) for kind, variants in self._counts().items()}
        for finding in (*self._bad_emails(), *self._pipeline()):
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        return {kind: count for kind, count in counts.items() if count}

    def marks(self, leads: list[Lead]) -> dict[int, list[Finding]]:
        """What the review finds for each of ``leads`` (none for a snoozed one): the board's marks."""
        from pipectl import review

        found = {}
        bad = self.facts.bad_emails
        for lead in leads:
            if not is_snoozed(lead, self.rules.cut.now):
                mine = review.lead_findings(lead, self.ctx.config, self.ctx.now, self.cycle, self.rules.cut)
                if lead.id in bad:
                    mine.append(review.bad_email(lead, bad[lead.id]))
                if mine:
                    found[lead.id] = sorted(mine, key=lambda f: review.KINDS.index(f.kind))
        return found

    def _counts(self) -> dict[str, list[int]]:
        if self._variant_counts is None:
            self._variant_counts = self.ctx.store().finding_counts(self.rules, self.owner)
        return self._variant_counts

    def _bad_emails(self) -> list[Finding]:
        """The open leads (of ``owner``) that no address reaches: few, and known from the bounces."""
        from pipectl import review

        if self._bad_email_findings is None:
            found = []
            for lead_id, email in self.facts.bad_emails.items():
                lead = self.ctx.store().get_lead(lead_id)
                mine = lead is not None and self.owner in (None, lead.owner)
                if mine and lead is not None and not is_snoozed(lead, self.rules.cut.now):
                    found.append(review.bad_email(lead, email))
            self._bad_email_findings = sorted(found, key=review.urgency_order)
        return self._bad_email_findings

    def _pipeline(self) -> list[Finding]:
        from pipectl import review

        if self._pipeline_findings is not None:
            return self._pipeline_findings
        totals = self.ctx.store().stage_totals(self.owner)
        counts = {stage: count for stage, (count, _) in totals.items()}
        value = sum((total for _, total in totals.values()), Decimal(0))
        found = review.pipeline_findings(counts, value, self.ctx.config, self.facts)
        order = {kind: index for index, kind in enumerate(review.KINDS)}
        self._pipeline_findings = sorted(found, key=lambda f: (order[f.kind], *review.urgency_order(f)))
        return self._pipeline_findings


def run_review(ctx: Context, owner: str | None = None) -> tuple[list[Finding], review.Figure]:
    """Every finding of the review (for the commands that act on them), and the sales cycle used."""
    with bulk():
        reviewed = Review(ctx, owner)
        return list(reviewed.findings()), reviewed.cycle


def today(ctx: Context, owner: str | None = None, limit: int | None = None) -> tuple[list[agenda.Item], int]:
    """The first ``limit`` items of today's plan (all with None), and how many it holds in all."""
    from pipectl import agenda

    # Several times the suggestions asked for, so near-equal weighted values (ordered in SQL with
    # floats) cannot push one out that the exact ordering would keep.
    best = agenda.CLOSING_SUGGESTIONS * 5
    probabilities = [(stage.name, stage.probability) for stage in ctx.config.stages]
    day = agenda.today_bounds(ctx.now)
    _rereading(ctx, owner)
    candidates, counts = ctx.store().agenda(ctx.now_iso, day, probabilities, best, limit, owner)
    items = agenda.plan(candidates, ctx.config, ctx.now)
    closing = sum(1 for item in items if item.section == "closing")
    return items[:limit], sum(counts.values()) + closing


def last_chance_template(ctx: Context) -> outbox.Template:
    """The last-chance message's template: ``templates/last-chance.txt`` in the config folder, else
    ``last-chance.txt`` beside the config (where ``init`` writes it), else the built-in one."""
    from pipectl.mail import outbox

    for path in (ctx.config.folder / "templates" / LAST_CHANCE_FILE, ctx.config.folder / LAST_CHANCE_FILE):
        try:
            return outbox.parse_template("last-chance", path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"last-chance template {path}: cannot read it ({exc})") from None
    from importlib import resources

    text = resources.files("pipectl").joinpath(f"data/{LAST_CHANCE_FILE}").read_text(encoding="utf-8")
    return outbox.parse_template("last-chance", text)
