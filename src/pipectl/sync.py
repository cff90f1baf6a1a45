"""`pipectl sync mail` / `sync imap` / `sync calendar`: the rep's mail and calendar logged (SPEC §12).

The readers (:mod:`pipectl.mail`) yield records with their headers parsed; this action matches each to
the leads by any of their addresses (compared with :func:`~pipectl.mail.comparable`) and to the rep's
own (``[mail] me``), loads the text only of the messages that concern a lead, and logs them through
the same path as ``touch`` (``actions._log`` / ``actions._after_touch``): an inbound message is a reply
and resets the cadence. Auto-replies, list posts and bounces are skipped (a bounce marks the address
that failed); a message already logged for a lead (same Message-ID) is not logged again.

Writes happen a chunk of messages at a time, each chunk with the reading state that covers it (the
Maildir file names read, an IMAP folder's last UID), so a run that is killed or loses its connection
keeps what it committed and the next run goes on from there, never past what was logged. All chunks of
one run share one event batch: ``undo`` removes what the run logged and forgets what it read, so a
re-run logs it again. ``--dry-run`` writes nothing, not even the reading state.

A calendar (:mod:`pipectl.ics`) is read whole, then written in one transaction: events that ended are
meetings (through the same path as ``touch``), upcoming ones next steps, cancelled ones take back the
steps they set (see :class:`_Calendar`).
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pipectl import actions, dates, ics, leads
from pipectl.actions import Context
from pipectl.errors import ConfigError, PipectlError
from pipectl.ics import CalendarRecord
from pipectl.mail import MailRecord, comparable, kind_of, read
from pipectl.model import Lead, Status, Touchpoint
from pipectl.store import Store

CHUNK = 500  # messages per transaction: a killed run loses at most this much reading, never a write
NOTE_TEXT = 200  # characters of the new text kept in the note (SPEC §12)
NEXT_STEP = ("next_action", "next_action_due")


@dataclass
class Summary:
    """What one sync did (or, with ``dry_run``, would do)."""

    dry_run: bool
    read: int = 0
    logged: int = 0
    leads: set[int] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)
    new_leads: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    touchpoints: list[dict[str, Any]] = field(default_factory=list)
    calendar: bool = False  # a calendar sync: next steps instead of new leads and bounces
    steps_set: int = 0
    steps_removed: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "read": self.read,
            "logged": self.logged,
            "matched_leads": len(self.leads),
            "skipped": dict(sorted(self.skipped.items())),
            "new_leads": self.new_leads,
            "bounced": self.bounced,
            "asked_to_unsubscribe": self.unsubscribe,
            "warnings": self.warnings,
        }
        if self.calendar:
            for name in ("new_leads", "bounced", "asked_to_unsubscribe"):
                del data[name]
            data.update(next_steps_set=self.steps_set, next_steps_removed=self.steps_removed)
            if self.dry_run:
                data["next_steps"] = self.steps
        if self.dry_run:
            data["touchpoints"] = self.touchpoints
        return data


def my_addresses(ctx: Context) -> frozenset[str]:
    """The rep's own addresses (``[mail] me``; else the owner, when the owner is an address)."""
    me = list(ctx.config.mail["me"]) or ([ctx.config.owner] if "@" in ctx.config.owner else [])
    if not me:
        where = ctx.config.path or "the config file"
        raise ConfigError(
            "sync needs your own addresses to tell sent mail from received:"
            f' set [mail] me = ["you@example.com"] in {where}'
        )
    return frozenset(comparable(address) for address in me)


class _Sync:
    """One run: the addresses it matches against and what it did so far."""

    def __init__(self, ctx: Context, new_leads: bool, dry_run: bool) -> None:
        self.ctx = ctx
        self.me = my_addresses(ctx)
        self.new_leads = new_leads
        self.summary = Summary(dry_run)
        ctx.store(create=not dry_run)
        self.done: set[tuple[str, int]] = set()  # (message id, lead id) logged by this run
        # Leads this run created from a bare address: a later message may bring the sender's name.
        self.created: dict[int, bool] = {}  # lead id -> named from the display name
        self.wrote = False  # whether the run changed anything (then it is a command undo can revert)

    @functools.cached_property
    def addresses(self) -> dict[str, tuple[int, str]]:
        """comparable address -> (lead id, the address as the lead has it); a new lead of a dry run has id 0.
        Read when the first message comes: a run with nothing new does not read the leads at all."""
        found: dict[str, tuple[int, str]] = {}
        for address, lead_id in self.ctx.store().all_addresses():
            found.setdefault(comparable(address), (lead_id, address))
        return found

    def writing(self) -> AbstractContextManager[Store]:
        if self.summary.dry_run:
            return nullcontext(self.ctx.store())
        return self.ctx.writing()

    def records(self, records: Iterable[MailRecord], store: Store) -> list[MailRecord]:
        """Handle ``records`` inside the caller's transaction; the ones handled."""
        handled = []
        for record in records:
            self.summary.read += 1
            self.one(store, record)
            handled.append(record)
        return handled

    def one(self, store: Store, record: MailRecord) -> None:
        summary = self.summary
        if record.reason == "bounce":
            self.bounce(store, record)
            summary.skipped["bounce"] += 1
            return
        if record.reason is not None:
            summary.skipped[record.reason] += 1
            return
        if not record.from_address or record.date is None:
            missing = "no From header" if not record.from_address else "no usable Date"
            summary.warnings.append(f"{record.source}: {missing}; skipped")
            summary.skipped["unreadable"] += 1
            return
        sender = comparable(record.from_address)
        if sender in self.me:
            direction = "out"
            found = [comparable(address) for address in (*record.to, *record.cc)]
            targets = list(
                dict.fromkeys(self.addresses[a][0] for a in found if a in self.addresses and a not in self.me)
            )
            if not targets:
                summary.skipped["not about a lead"] += 1
                return
        elif sender in self.addresses:
            direction, targets = "in", [self.addresses[sender][0]]
        elif self.new_leads:
            direction, targets = "in", [self.create(store, record, sender)]
        else:
            summary.skipped["unknown sender"] += 1
            return
        fresh = [lead_id for lead_id in targets if not self.logged(store, record.message_id, lead_id)]
        if not fresh:
            summary.skipped["already logged"] += 1
            return
        note = self.note(record)
        for lead_id in fresh:
            self.log(store, record, lead_id, direction, note)
        if direction == "in" and self.asks_to_unsubscribe(record):
            summary.unsubscribe.append(f"{record.from_address} ({record.subject})")
            if not summary.dry_run:  # SPEC §13: pipectl never mails them again
                for lead_id in fresh:
                    lead = store.get_lead(lead_id)
                    assert lead is not None
                    store.opt_out(lead, self.ctx.now_iso, f"asked by mail {record.message_id}")
                self.wrote = True

    def logged(self, store: Store, message_id: str, lead_id: int) -> bool:
        return (message_id, lead_id) in self.done or (lead_id > 0 and lead_id in store.logged_leads(message_id))

    def note(self, record: MailRecord) -> str:
        if not self.ctx.config.mail["store_text"]:
            return record.subject
        try:
            text = record.snippet(NOTE_TEXT)
        except (ValueError, LookupError, TypeError) as exc:  # a body the email package cannot take apart
            self.summary.warnings.append(f"{record.source}: body unreadable ({exc}); the note is the subject")
            text = ""
        return ": ".join(part for part in (record.subject, text) if part)

    def asks_to_unsubscribe(self, record: MailRecord) -> bool:
        try:
            return record.asks_to_unsubscribe()
        except (ValueError, LookupError, TypeError):
            return False

    def log(self, store: Store, record: MailRecord, lead_id: int, direction: str, note: str) -> None:
        assert record.date is not None
        at = dates.to_iso(record.date)
        self.done.add((record.message_id, lead_id))
        self.summary.logged += 1
        self.summary.leads.add(lead_id)
        outcome = "replied" if direction == "in" else None
        if self.summary.dry_run:
            self.summary.touchpoints.append(
                {
                    "lead_id": lead_id or None,
                    "direction": direction,
                    "at": at,
                    "note": note,
                    "message_id": record.message_id,
                }
            )
            return
        lead = store.get_lead(lead_id)
        assert lead is not None
        touchpoint = Touchpoint(0, lead_id, "email", at, direction, outcome, note or None, record.message_id)
        changes = actions._after_touch(self.ctx, store, lead, touchpoint, {})
        if lead.last_touch_at is not None and at < lead.last_touch_at:
            # An old message (a mailbox's history) says nothing of what to do next: the step set since stays.
            changes = {name: value for name, value in changes.items() if name not in NEXT_STEP}
        if lead_id in self.created and direction == "in":
            changes.update(self.first_contact(lead, record, at))
        actions._log(store, lead, touchpoint, self.ctx.now_iso, changes)
        self.wrote = True

    def first_contact(self, lead: Lead, record: MailRecord, at: str) -> dict[str, Any]:
        """A lead this run created, told by another of the sender's own messages (mailboxes are not read in
        date order): created at the earliest of them, named by the first display name."""
        changes: dict[str, Any] = {}
        if at < lead.created_at:
            changes.update(created_at=at, stage_entered_at=at)
        if not self.created[lead.id] and record.from_name.strip():
            changes["name"] = record.from_name.strip()
            self.created[lead.id] = True
        return changes

    def create(self, store: Store, record: MailRecord, sender: str) -> int:
        """A new lead from an unknown sender (``--new-leads``): its id (0 in a dry run)."""
        assert record.date is not None
        address = record.from_address
        domain = address.rpartition("@")[2]
        name = record.from_name.strip() or address.partition("@")[0]
        label = f"{name} <{address}>"
        self.summary.new_leads.append(label)
        lead_id = 0
        if not self.summary.dry_run:
            created = dates.to_iso(record.date)
            lead = Lead(
                id=0,
                name=name,
                stage=self.ctx.config.stage_names[0],
                status=Status.OPEN,
                created_at=created,
                updated_at=self.ctx.now_iso,
                stage_entered_at=created,
                company=None if domain in leads.FREE_MAIL else domain,
                email=leads.normalize_email(address),
                source="email",
                owner=self.ctx.config.owner,
            )
            lead_id = store.create_lead(lead).id
            self.created[lead_id] = bool(record.from_name.strip())
        self.addresses[sender] = (lead_id, address)
        return lead_id

    def bounce(self, store: Store, record: MailRecord) -> None:
        try:
            failed = record.bounced_addresses()
        except (ValueError, LookupError, TypeError) as exc:
            self.summary.warnings.append(f"{record.source}: bounce unreadable ({exc})")
            return
        for address in failed:
            match = self.addresses.get(comparable(address))
            if match is None:
                continue
            lead_id, own = match
            self.summary.bounced.append(own)
            if (
                self.summary.dry_run
                or lead_id == 0
                or store.bounces_of([own]).get(own, ("", None))[1] == record.message_id
            ):
                continue
            lead = store.get_lead(lead_id)
            assert lead is not None
            at = dates.to_iso(record.date) if record.date else self.ctx.now_iso
            store.mark_bounced(lead, own, at, record.message_id)
            self.wrote = True


def _chunks(records: Iterator[MailRecord]) -> Iterator[list[MailRecord] | Iterator[MailRecord]]:
    while True:
        first = next(records, None)
        if first is None:
            return
        yield itertools.chain([first], itertools.islice(records, CHUNK - 1))


def sync_mail(
    ctx: Context, paths: list[str], new_leads: bool = False, dry_run: bool = False, stdin: BinaryIO | None = None
) -> Summary:
    """Read the mailboxes at ``paths`` (see :data:`pipectl.mail.KINDS`) and log what concerns a lead."""
    kinds = [kind_of(path) for path in paths]  # every path checked before anything is read
    gc.enable()  # the email package's parsed messages hold cycles: without the collector memory grows
    run = _Sync(ctx, new_leads, dry_run)
    for path, kind in zip(paths, kinds, strict=True):
        mailbox = str(Path(path).resolve()) if kind == "maildir" else None
        seen = ctx.store().seen_names(mailbox) if mailbox else set()
        records = iter(read(path, seen, stdin))
        for chunk in _chunks(records):
            before = len(run.summary.warnings)
            with run.writing() as store:
                handled = run.records(chunk, store)
                if kind in ("stdin", "eml") and len(run.summary.warnings) > before:
                    raise PipectlError(run.summary.warnings[-1])
                if mailbox and not dry_run:
                    store.add_seen_names(mailbox, [record.name for record in handled if record.name])
    _finish(run, paths)
    return run.summary


def sync_imap(ctx: Context, url: str, folders: list[str], new_leads: bool = False, dry_run: bool = False) -> Summary:
    """Read the new messages of IMAP folders (the URL's and ``folders``) and log what concerns a lead."""
    from pipectl.mail import imap

    parsed = imap.parse_url(url)
    gc.enable()
    names = list(dict.fromkeys([*([parsed.folder] if parsed.folder else []), *folders])) or ["INBOX"]
    run = _Sync(ctx, new_leads, dry_run)
    with imap.connect(parsed) as session:
        store = ctx.store()
        keys = {name: f"{session.account}/{name}" for name in names}
        states = {name: store.imap_state(key) for name, key in keys.items()}
        known = {name: imap.FolderState(*state) for name, state in states.items() if state}
        for folder in session.folders(names, known):
            records = folder.records()
            for chunk in _chunks(records):
                with run.writing() as store:
                    run.records(chunk, store)
                    # The folder's state covers the records handled before the one it is asked for last.
                    _keep(store, run, keys[folder.name], folder.state)
            with run.writing() as store:
                _keep(store, run, keys[folder.name], folder.state)
    _finish(run, [str(parsed)])
    return run.summary


def _keep(store: Store, run: _Sync, key: str, state: Any) -> None:
    if not run.summary.dry_run and store.imap_state(key) != (state.uidvalidity, state.last_uid):
        store.set_imap_state(key, state.uidvalidity, state.last_uid)


def _finish(run: _Sync, sources: list[str]) -> None:
    """Record what the run did in its event batch, when it wrote anything."""
    summary = run.summary
    if not run.wrote:
        return
    info: dict[str, Any] = {"sources": sources, "read": summary.read, "logged": summary.logged}
    if summary.calendar:
        info.update(steps_set=summary.steps_set, steps_removed=summary.steps_removed)
    else:
        info["new_leads"] = len(summary.new_leads)
    with run.writing() as store:
        store.record_sync(info)


# --- calendar ------------------------------------------------------------------------------------


def event_key(record: CalendarRecord) -> str:
    """How an event occurrence is known again (the touchpoint's external id): UID, and RECURRENCE-ID for one
    occurrence of a series."""
    return record.uid if record.recurrence_id is None else f"{record.uid} RECURRENCE-ID={record.recurrence_id}"


class _Calendar(_Sync):
    """One calendar run. Past events are meetings; a lead's soonest future event is its next step, unless
    the lead's step is due later (a step planned beyond the meeting stays; an earlier one, such as the
    cadence's next attempt, gives way to the meeting).

    The event that set a lead's next step is kept in that change's event (``calendar``: its key), so a
    cancellation or a move later finds the step it owns: the step of the lead's latest standing change of
    its next step, when that change was this event's."""

    def __init__(self, ctx: Context, dry_run: bool) -> None:
        super().__init__(ctx, new_leads=False, dry_run=dry_run)
        self.summary.calendar = True
        self.upcoming: dict[int, list[CalendarRecord]] = {}  # lead id -> its future events in the files
        self.cancelled: list[CalendarRecord] = []
        self.series: dict[str, set[int]] = {}  # UID -> the leads its occurrences concern
        self.set_by: dict[int, str] = {}  # lead id -> the event whose step this run set or removed

    def leads_of(self, record: CalendarRecord) -> list[int] | None:
        """The leads taking part in ``record`` (None when the rep does not: an event the rep declined or was
        never in; an event without an organizer is the rep's own entry)."""
        people = [comparable(address) for address in (record.organizer, *record.attendees) if address]
        if record.organizer is not None and not any(person in self.me for person in people):
            return None
        return list(dict.fromkeys(self.addresses[p][0] for p in people if p in self.addresses and p not in self.me))

    def event(self, store: Store, record: CalendarRecord) -> None:
        summary = self.summary
        summary.read += 1
        if ics.own_lead(record.uid) is not None:
            summary.skipped["pipectl's own export"] += 1
            return
        if record.cancelled:
            # Google drops the attendees of a cancelled occurrence: its leads are found in steps(), by its UID.
            self.cancelled.append(record)
            summary.skipped["cancelled"] += 1
            return
        targets = self.leads_of(record)
        if targets is None:
            summary.skipped["you are not taking part"] += 1
            return
        if not targets:
            summary.skipped["not about a lead"] += 1
            return
        self.series.setdefault(record.uid, set()).update(targets)
        if record.end <= self.ctx.now:
            self.meeting(store, record, targets)
        elif record.start <= self.ctx.now:
            summary.skipped["under way"] += 1
        else:
            for lead_id in targets:
                self.upcoming.setdefault(lead_id, []).append(record)

    def meeting(self, store: Store, record: CalendarRecord, targets: list[int]) -> None:
        key = event_key(record)
        fresh = [lead_id for lead_id in targets if not self.logged(store, key, lead_id)]
        if not fresh:
            self.summary.skipped["already logged"] += 1
            return
        at = dates.to_iso(record.start)
        for lead_id in fresh:
            self.done.add((key, lead_id))
            self.summary.logged += 1
            self.summary.leads.add(lead_id)
            if self.summary.dry_run:
                self.summary.touchpoints.append(
                    {
                        "lead_id": lead_id,
                        "kind": "meeting",
                        "direction": "out",
                        "at": at,
                        "note": record.summary,
                        "outcome": "reached",
                        "event": key,
                    }
                )
                continue
            lead = store.get_lead(lead_id)
            assert lead is not None
            # A meeting held is a conversation, as `touch LEAD meeting --outcome reached`: it resets the
            # attempts rather than counting as an unanswered one.
            touchpoint = Touchpoint(0, lead_id, "meeting", at, "out", "reached", record.summary or None, key)
            changes = actions._after_touch(self.ctx, store, lead, touchpoint, {})
            if lead.next_action_due is not None and lead.next_action_due > at:
                # The meeting came before the step was due (the step may be the next meeting): it stays.
                changes = {name: value for name, value in changes.items() if name not in NEXT_STEP}
            actions._log(store, lead, touchpoint, self.ctx.now_iso, changes)
            self.wrote = True

    def steps(self, store: Store) -> None:
        """After every event was read: cancelled events take back their steps, then the upcoming ones set them."""
        leads: dict[int, Lead | None] = {}

        def lead_of(lead_id: int) -> Lead | None:
            if lead_id not in leads:  # kept: a dry run changes only these copies
                leads[lead_id] = store.get_lead(lead_id)
            return leads[lead_id]

        for record in self.cancelled:
            concerned = {*(self.leads_of(record) or []), *self.series.get(record.uid, set())}
            for lead_id in sorted(concerned):
                lead = lead_of(lead_id)
                if lead is not None and lead.next_action_due and self.step_of(store, lead) == event_key(record):
                    self.change_step(store, lead, None, None, event_key(record))
                    self.summary.steps_removed += 1
        gone = {event_key(record) for record in self.cancelled}  # a cancellation outranks its invitation
        for lead_id, records in self.upcoming.items():
            lead = lead_of(lead_id)
            standing = [record for record in records if event_key(record) not in gone]
            if lead is None or not lead.is_open or not standing:
                continue
            record = min(standing, key=lambda record: record.start)
            key = event_key(record)
            day = record.start.astimezone().date()
            due = dates.to_iso(dates.at_local(day, dates.END_OF_DAY) if record.all_day else record.start)
            if (lead.next_action, lead.next_action_due) == (record.summary or None, due):
                continue
            if (
                lead.next_action_due is not None
                and lead.next_action_due > due
                and self.step_of(store, lead) != key  # this occurrence, moved earlier
            ):
                self.summary.skipped["a later next step is set"] += 1
                continue
            self.change_step(store, lead, record.summary or None, due, key)
            self.summary.steps_set += 1

    def step_of(self, store: Store, lead: Lead) -> str | None:
        """The key of the calendar event that set ``lead``'s next step, or None when something else set it."""
        if lead.id in self.set_by:
            return self.set_by[lead.id]
        for change in reversed(store.history_of(lead.id)):
            if any(name in change.data.get("new", {}) for name in NEXT_STEP):
                owner = change.data.get("calendar")
                return owner if isinstance(owner, str) else None
        return None

    def change_step(self, store: Store, lead: Lead, action: str | None, due: str | None, key: str) -> None:
        self.set_by[lead.id] = key
        self.summary.steps.append({"lead_id": lead.id, "next_action": action, "next_action_due": due, "event": key})
        if self.summary.dry_run:
            lead.next_action, lead.next_action_due = action, due
            return
        store.change_lead(
            lead, {"next_action": action, "next_action_due": due, "updated_at": self.ctx.now_iso}, "edit", calendar=key
        )
        self.wrote = True


def sync_calendar(ctx: Context, paths: list[str], dry_run: bool = False) -> Summary:
    """Read the calendars at ``paths`` (.ics files, vdir folders) and log what concerns a lead (SPEC §12).

    A named file that does not parse stops the run before anything is written; a bad file inside a
    folder is a warning. Calendars are small: every event is read before the one write transaction."""
    records = ics.read(paths, ctx.now)  # every path checked before anything is read
    run = _Calendar(ctx, dry_run)
    events: list[CalendarRecord] = []
    for record in records:
        if isinstance(record, ics.Unreadable):
            run.summary.warnings.append(f"{record.reason}; skipped")
            run.summary.skipped["unreadable"] += 1
        else:
            events.append(record)
    events.sort(key=lambda record: record.start)  # meetings logged in the order they happened
    with run.writing() as store:
        for record in events:
            run.event(store, record)
        run.steps(store)
    _finish(run, paths)
    return run.summary
