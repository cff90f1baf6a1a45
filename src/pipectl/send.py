"""`send`, `campaign`, `optout` and the review's last-chance message: mail out through the rep's account (SPEC §13).

The outbox (a table the store keeps) is the one place that knows what went: before a message is handed
over its row is committed as ``sending``; once the account took it, the row turns ``sent`` in the same
transaction that logs the outbound ``email`` touchpoint (outcome ``sent``, the Message-ID as its
``external_id``, so a synced reply threads to it) and lets the cadence schedule the next attempt, exactly
as a typed ``touch LEAD email`` does. A hand-over that certainly failed removes the row (a 4xx is tried
again on the next run). A row left ``sending`` means the run was killed during the hand-over: whether
the account took the message cannot be known, so nothing is sent that lead again on its own: the
campaign passes it by and lists it, ``send`` and the review's last chance refuse it (``Unsettled``),
until the rep has looked in the Sent folder and settled it: logged the email by hand (``touch``, or a
sync of the Sent folder) or sent anyway (``send --resend``, ``review --apply``).
All the writes of one command share one event batch: ``undo`` removes a campaign's touchpoints as one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pipectl import dates
from pipectl.actions import Context, _after_touch, _log, find, list_leads, resolve
from pipectl.errors import ConfigError, Interrupted, PipectlError, Refused, Unsettled
from pipectl.mail import outbox
from pipectl.model import LAST_CHANCE, Lead, Touchpoint
from pipectl.store import Store

SENT = "sent"
# Why a campaign passes a lead by, in the order they are checked (the summary counts each).
SKIPS = ("closed", "no address", "bouncing", "opted out", "handed over when killed", "already reached")


def sender(ctx: Context) -> str:
    """The From of pipectl's mail: ``[send] from``, else the owner when it is an address."""
    given = ctx.config.send["from"].strip() or (ctx.me or "")
    if "@" not in outbox.address(given):
        raise ConfigError('set [send] from = "Your Name <you@example.com>" in the config: pipectl sends as you')
    return given


def method(ctx: Context) -> outbox.Method | None:
    return outbox.method(ctx.config.send, sender(ctx)) if ctx.config.send["method"] else None


def _required_method(ctx: Context) -> outbox.Method:
    hand = method(ctx)
    if hand is None:
        raise ConfigError('no [send] method in the config: set method = "smtp", "sendmail" or "drafts"; nothing sent')
    return hand


def fields(ctx: Context, lead: Lead) -> dict[str, str]:
    """What a template can use for ``lead``: a field the lead has no value for is left out, so the
    template that uses it is an error naming it."""
    found = {
        "first_name": lead.name.split()[0] if lead.name.split() else "",
        "name": lead.name,
        "company": lead.company,
        "owner": lead.owner or ctx.config.owner,
        "stage": lead.stage,
        "value": f"{lead.value:,}" if lead.value is not None else None,
    }
    extra = {str(key): str(value) for key, value in lead.extra.items() if value not in (None, "")}
    return {**extra, **{key: value for key, value in found.items() if value}}


def unsettled(ctx: Context, lead: Lead) -> tuple[str, str] | None:
    """(subject, when) of the latest message a killed run was handing to ``lead``, if not settled since."""
    return ctx.store().outbox_unsettled(lead.id).get(lead.id)


def guard(ctx: Context, lead: Lead, again: str) -> None:
    """Raise :class:`Unsettled` while ``unsettled(lead)``; the error says how to log it if it went, and
    ``again``: how to send anyway if not."""
    found = unsettled(ctx, lead)
    if found:
        subject, at = found
        raise Unsettled(
            f"{lead.label}: a run killed at {dates.show(at)} was handing over {subject!r} and it may have gone,"
            f" so nothing was sent now; look in your Sent folder: if it went, log it with `pipectl touch {lead.id}"
            f" email`; if not, {again}",
            subject,
            at,
        )


def usable_addresses(ctx: Context, leads: list[Lead]) -> tuple[dict[int, str], dict[int, str]]:
    """({lead id: the address to write to}, {lead id: why none: ``no address`` / ``bouncing``}); a few
    queries for all the leads."""
    store = ctx.store()
    others = store.other_emails_of([lead.id for lead in leads])
    addresses = {lead.id: [mail for mail in [lead.email, *others.get(lead.id, [])] if mail] for lead in leads}
    bounced = store.bounces_of([mail for found in addresses.values() for mail in found])
    usable: dict[int, str] = {}
    unusable: dict[int, str] = {}
    for lead_id, found in addresses.items():
        good = [mail for mail in found if mail not in bounced]
        if good:
            usable[lead_id] = good[0]
        else:
            unusable[lead_id] = "bouncing" if found else "no address"
    return usable, unusable


def address_of(ctx: Context, lead: Lead) -> str:
    """Where one message to ``lead`` goes, or a PipectlError saying why nowhere (nothing is sent)."""
    if ctx.store().opted_out([lead.id]):
        raise Refused(f"{lead.label} opted out: pipectl sends it nothing")
    usable, unusable = usable_addresses(ctx, [lead])
    if lead.id not in usable:
        why = "no address" if unusable[lead.id] == "no address" else "only bouncing addresses"
        raise PipectlError(f"{lead.label} has {why}")
    return usable[lead.id]


@dataclass
class Draft:
    """A message ready to go to one lead."""

    lead: Lead
    address: str
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def as_json(self, sent: bool) -> dict[str, Any]:
        """The message as ``--json`` shows it (its Message-ID only once it went: a dry run's is never used)."""
        return {
            **_lead_json(self.lead),
            "address": self.address,
            "subject": self.subject,
            "message_id": self.message_id if sent else None,
        }


def _lead_json(lead: Lead) -> dict[str, Any]:
    return {"lead_id": lead.id, "name": lead.name, "company": lead.company}


def compose(
    ctx: Context, lead: Lead, address: str, template: outbox.Template, fill: dict[str, str], campaign: bool, frm: str
) -> Draft:
    """The message from ``frm`` (see :func:`sender`) to ``lead`` at ``address``, or a PipectlError saying
    why there is none (nothing is sent)."""
    subject, body = template.fill(fill)
    html_body = template.fill_html(fill)
    footer = ctx.config.send["footer"].strip()
    if campaign and footer:
        body = f"{body}\n\n-- \n{footer}"
        if html_body is not None:
            html_body = _with_footer(html_body, footer)
    return Draft(lead, address, outbox.build(frm, (lead.name, address), subject, body, ctx.now, campaign, html_body))


def _with_footer(html_body: str, footer: str) -> str:
    """The HTML part with the campaign's footer (text, its lines kept) at the end of its body."""
    import html

    block = '<hr><p style="font-size:smaller">' + "<br>".join(map(html.escape, footer.splitlines())) + "</p>"
    end = html_body.lower().rfind("</body>")
    return f"{html_body}\n{block}" if end < 0 else f"{html_body[:end]}{block}\n{html_body[end:]}"


class Mailer:
    """Hands drafts over and logs them, for one command (see the module docstring for the order of the
    writes). A message's ``sent`` (its outbox row and touchpoint) is committed in one transaction with the
    next message's ``sending``, before that one is handed over; :meth:`settle` commits it alone (before a
    wait, and when the run ends, however it ends: the context manager). A connection that breaks during a
    hand-over (:class:`outbox.Lost`) ends the run with one error, and Ctrl-C after it sent anything with
    :class:`Interrupted`, saying what it leaves unsure and what it sent and logged before."""

    def __init__(self, ctx: Context, hand: outbox.Method, campaign: str | None = None, outcome: str = SENT) -> None:
        self.ctx, self.hand, self.campaign, self.outcome = ctx, hand, campaign, outcome
        self.sender = outbox.address(sender(ctx))
        ctx.store().db.temporaries_in_memory()
        self.logged = 0  # messages sent and logged by this run
        self._handed: Draft | None = None  # handed over; its `sent` not yet committed
        self._flight: Draft | None = None  # being handed over: if the run stops now, whether it went is unknown

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        try:
            self.settle()
        finally:
            self.hand.close()
        if isinstance(exc, outbox.Lost):
            raise outbox.Lost(self.stopped(exc.message)) from None
        if isinstance(exc, KeyboardInterrupt) and (self._flight is not None or self.logged):
            raise Interrupted(self.stopped("interrupted")) from None

    def stopped(self, why: str) -> str:
        """``why`` the run stopped, then what it leaves unsure and what it sent and logged before."""
        said = [why]
        flight = self._flight
        if flight is not None:
            said.append(
                f"whether {flight.subject!r} reached {flight.lead.label} cannot be known, so it is not logged and"
                " pipectl sends that lead nothing more until you settle it: look in your Sent folder, and if it"
                f" went, log it with `pipectl touch {flight.lead.id} email`"
            )
        if self.logged:
            plural, were = ("s", "were") if self.logged != 1 else ("", "was")
            said.append(f"the {self.logged} message{plural} sent {'before it ' if flight else ''}{were} logged")
        if self.campaign is not None:
            said.append("run the campaign again to go on where it stopped")
        return "; ".join(said)

    def deliver(self, draft: Draft) -> None:
        message_id = draft.message_id
        with self.ctx.writing() as store:
            self._log(store)
            store.outbox_begin(message_id, self.campaign, draft.lead, draft.address, draft.subject)
        self._logged()
        self._flight = draft
        try:
            self.hand.hand_over(draft.message, self.sender, draft.address)
        except outbox.NotSent:
            with self.ctx.writing() as store:
                store.outbox_end(message_id, sent=False)
            self._flight = None
            raise
        self._flight, self._handed = None, draft

    def settle(self) -> None:
        """Commit the ``sent`` of the message last handed over, if not yet."""
        if self._handed is not None:
            with self.ctx.writing() as store:
                self._log(store)
            self._logged()

    def _log(self, store: Store) -> None:
        draft = self._handed
        if draft is None:
            return
        message_id, now = draft.message_id, self.ctx.now_iso
        store.outbox_end(message_id, sent=True)
        touchpoint = Touchpoint(0, draft.lead.id, "email", now, "out", self.outcome, draft.subject, message_id)
        lead = resolve(store, str(draft.lead.id))
        _log(store, lead, touchpoint, now, _after_touch(self.ctx, store, lead, touchpoint, {}))

    def _logged(self) -> None:
        """The ``sent`` of the message last handed over is committed (a failed transaction leaves it to try
        again when the run ends)."""
        if self._handed is not None:
            self._handed = None
            self.logged += 1


def send(ctx: Context, ref: str, template_name: str, dry_run: bool, resend: bool = False) -> Draft:
    """``send LEAD --template NAME``: the message (with ``dry_run``, only rendered); ``resend`` sends it
    even while a killed run's message to the lead is unsettled."""
    template = outbox.load_template(templates_folder(ctx), template_name)
    lead = find(ctx, ref)
    draft = compose(ctx, lead, address_of(ctx, lead), template, fields(ctx, lead), False, sender(ctx))
    if not resend:
        guard(ctx, lead, f"send it anyway: `pipectl send {lead.id} --template {template_name} --resend`")
    if dry_run:
        return draft
    with Mailer(ctx, _required_method(ctx)) as mailer:
        mailer.deliver(draft)
    return draft


def templates_folder(ctx: Context) -> Path:
    return ctx.config.folder / "templates"


def optout(ctx: Context, ref: str, how: str = "optout") -> tuple[Lead, bool]:
    """Mark a lead opted out; (the lead, whether it was not already)."""
    with ctx.writing() as store:
        lead = resolve(store, ref)
        return lead, store.opt_out(lead, ctx.now_iso, how)


# --- campaigns -----------------------------------------------------------------------------------


@dataclass
class Skip:
    """A lead a campaign passed by, why (one of SKIPS), and for ``handed over when killed`` the unsettled
    message (subject, when)."""

    lead: Lead
    reason: str
    unsettled: tuple[str, str] | None = None


@dataclass
class Campaign:
    """What a campaign run did (or, dry, would do)."""

    name: str
    template: str
    dry_run: bool
    sent: list[Draft] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    failed: list[tuple[Lead, str]] = field(default_factory=list)  # a lead whose message was refused, and why
    left: int = 0  # not sent because the daily limit was reached
    resume_at: str | None = None

    def skip_counts(self) -> dict[str, int]:
        """How many were skipped for each reason, in SKIPS's order."""
        counts = Counter(skip.reason for skip in self.skipped)
        return {reason: counts[reason] for reason in SKIPS if counts[reason]}

    def as_json(self) -> dict[str, Any]:
        skipped = []
        for skip in self.skipped:
            entry: dict[str, Any] = {**_lead_json(skip.lead), "reason": skip.reason}
            if skip.unsettled:
                entry["subject"], entry["at"] = skip.unsettled
            skipped.append(entry)
        return {
            "campaign": self.name,
            "template": self.template,
            "dry_run": self.dry_run,
            "counts": {"sent": len(self.sent), "skipped": len(self.skipped), "failed": len(self.failed)},
            "skipped_by_reason": self.skip_counts(),
            "sent": [draft.as_json(not self.dry_run) for draft in self.sent],
            "skipped": skipped,
            "failed": [{**_lead_json(lead), "error": error} for lead, error in self.failed],
            "left": self.left,
            "resume_at": self.resume_at,
        }


@dataclass
class Pace:
    """``max_per_minute`` (wait) and ``max_per_day`` (stop); 0 lifts a limit."""

    per_minute: int
    per_day: int
    sent_today: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _recent: list[float] = field(default_factory=list)

    def day_full(self) -> bool:
        return bool(self.per_day) and self.sent_today >= self.per_day

    def wait(self, before_sleep: Callable[[], None] = lambda: None) -> None:
        if self.per_minute:
            self._recent = [moment for moment in self._recent if self.clock() - moment < 60]
            if len(self._recent) >= self.per_minute:
                before_sleep()
                self.sleep(60 - (self.clock() - self._recent[0]))
        self._recent.append(self.clock())
        self.sent_today += 1


def campaign(
    ctx: Context,
    name: str,
    template_name: str,
    *,
    stage: str | None = None,
    tag: str | None = None,
    source: str | None = None,
    owner: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> Campaign:
    """One message to each matching open lead not reached yet (SPEC §13); ``say`` gets a line per lead sent
    or refused as it goes (a template a lead cannot fill: before any is sent)."""
    name = name.strip()
    if not name or not name.isprintable():
        raise PipectlError("a campaign needs a name on one line, e.g. webinar-dec")
    template = outbox.load_template(templates_folder(ctx), template_name)
    hand = None if dry_run else _required_method(ctx)
    store = ctx.store()
    candidates = [
        lead
        for lead in list_leads(ctx, stage=stage, status="all", tag=tag, owner=owner)
        if source is None or (lead.source or "").casefold() == source.strip().casefold()
    ]
    open_leads = [lead for lead in candidates if lead.is_open]
    usable, unusable = usable_addresses(ctx, open_leads)
    opted = store.opted_out([lead.id for lead in open_leads])
    unsure = store.outbox_unsettled()
    reached = store.outbox_reached(name)
    day_ago = dates.to_iso(ctx.now - timedelta(days=1))
    send_config = ctx.config.send
    pace = Pace(send_config["max_per_minute"], send_config["max_per_day"], store.outbox_count_since(day_ago))
    frm = sender(ctx)
    result = Campaign(name, template_name, dry_run)
    queue: list[Draft] = []
    for lead in candidates:
        why = _skip(lead, unusable, opted, unsure, reached)
        if why:
            result.skipped.append(Skip(lead, why, unsure.get(lead.id)))
            continue
        try:
            queue.append(compose(ctx, lead, usable[lead.id], template, fields(ctx, lead), True, frm))
        except PipectlError as exc:
            result.failed.append((lead, exc.message))
            say(f"not sent: {lead.label}: {exc.message}")
    if limit is not None:
        queue = queue[:limit]
    if dry_run:
        result.sent = queue
        return result
    assert hand is not None
    with Mailer(ctx, hand, campaign=name) as mailer:
        for index, draft in enumerate(queue):
            if pace.day_full():
                result.left = len(queue) - index
                result.resume_at = dates.to_iso(ctx.now + timedelta(days=1))
                break
            pace.wait(before_sleep=mailer.settle)
            try:
                mailer.deliver(draft)
            except outbox.NotSent as exc:
                if exc.fatal:
                    raise
                result.failed.append((draft.lead, exc.message))
                say(f"not sent: {draft.lead.label}: {exc.message}")
                continue
            result.sent.append(draft)
            say(f"sent: {draft.lead.label} <{draft.address}>")
    return result


def _skip(
    lead: Lead,
    unusable: dict[int, str],
    opted: dict[int, str],
    unsure: dict[int, tuple[str, str]],
    reached: set[int],
) -> str | None:
    """Why a campaign passes ``lead`` by (one of SKIPS, in its order), if it does."""
    if not lead.is_open:
        return "closed"
    if lead.id in unusable:
        return unusable[lead.id]
    if lead.id in opted:
        return "opted out"
    if lead.id in unsure:
        return "handed over when killed"
    if lead.id in reached:
        return "already reached"
    return None


# --- the review's last-chance message ------------------------------------------------------------


def last_chance_fields(ctx: Context, lead: Lead) -> dict[str, str]:
    """What the last-chance template can use for ``lead``: its fields, a lead without a company
    addressed as "your team"."""
    return {**fields(ctx, lead), "company": lead.company or "your team"}


def last_chance(ctx: Context, lead_id: int, template: outbox.Template, resend: bool = False) -> Draft | None:
    """Send ``lead_id`` its last-chance message through ``[send]`` and log it (outcome ``last-chance``);
    None when no method is set: nothing is sent or logged (the rep sends it by hand). :class:`Unsettled`
    while a killed run's message to the lead is, unless ``resend``."""
    hand = method(ctx)
    if hand is None:
        return None
    with Mailer(ctx, hand, outcome=LAST_CHANCE) as mailer:
        lead = find(ctx, str(lead_id))
        if not resend:
            guard(ctx, lead, "`pipectl review --apply` asks whether to send the last chance anyway")
        draft = compose(ctx, lead, address_of(ctx, lead), template, last_chance_fields(ctx, lead), False, sender(ctx))
        mailer.deliver(draft)
    return draft
