"""`pipectl sync mail` / `sync imap`: the rep's mail logged as touchpoints (SPEC §12).

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

from pipectl import actions, dates, leads
from pipectl.actions import Context
from pipectl.errors import ConfigError, PipectlError
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
    with run.writing() as store:
        store.record_sync(
            {"sources": sources, "read": summary.read, "logged": summary.logged, "new_leads": len(summary.new_leads)}
        )
