"""iCalendar in and out: calendar events as plain records, next steps as events (SPEC §12).

Reading is pure and streaming. :func:`read` walks .ics files and vdir folders (as khal and vdirsyncer
keep them, one event per file) one file at a time and yields a :class:`CalendarRecord` per event
occurrence; a file inside a folder that does not parse yields an :class:`Unreadable` marker instead,
so a sync can warn about it and carry on. :func:`parse` reads one calendar held in memory (the
text/calendar part of a mail). Matching a record to a lead and logging it is the sync action's job.

Times come out in UTC, whatever the file used: TZID with its VTIMEZONE, an Outlook (Windows) zone
name with or without one, Google's X-WR-TIMEZONE for floating times, and otherwise floating times
as local time. All-day events are local days. Recurring events are expanded from 90 days before now
to 90 days after (SPEC §12); a one-off event is read wherever it lies.

Writing: :func:`write` turns the open leads' next steps into one event each, with a stable UID per
lead (``lead-42@pipectl``), so importing a newer export into a calendar updates the events instead
of doubling them.

icalendar and recurring-ical-events are imported inside the functions: only a calendar sync or an
ics export pays for them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipectl import dates
from pipectl.errors import NotFound, PipectlError

if TYPE_CHECKING:
    from icalendar import Calendar, Event

WINDOW = timedelta(days=90)
STEP_LENGTH = timedelta(minutes=30)
_OWN_UID = re.compile(r"^lead-(\d+)@pipectl$")
# Errors the parsers raise on a malformed calendar (theirs are ValueErrors; a VEVENT without
# DTSTART in a series surfaces as a KeyError, a year-9999 rule as an OverflowError).
_BAD_CALENDAR = (ValueError, KeyError, TypeError, OverflowError)


@dataclass(frozen=True)
class CalendarRecord:
    """One occurrence of an event, known by (uid, recurrence_id).

    ``start`` and ``end`` are UTC; for an all-day event (``all_day``) they are the local midnights
    that begin its first day and end its last (DTEND is exclusive). ``recurrence_id`` is None for a
    one-off event, else the occurrence's original start as stored text (``2026-11-16T15:00:00Z``,
    or ``2026-11-16`` for an all-day series). Addresses are lowercased, without ``mailto:``.
    """

    uid: str
    recurrence_id: str | None
    start: datetime
    end: datetime
    all_day: bool
    summary: str
    status: str  # confirmed, tentative or cancelled
    method: str | None  # the calendar's METHOD: REQUEST, CANCEL, PUBLISH...
    organizer: str | None
    attendees: tuple[str, ...]  # the participants: no rooms, resources or who declined
    source: str

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled" or self.method == "CANCEL"


@dataclass(frozen=True)
class Unreadable:
    """A file inside a folder that is not a calendar: what the sync reports before carrying on."""

    source: str
    reason: str


class NextStep(Protocol):
    """What :func:`write` needs of a lead (a :class:`pipectl.model.Lead` is one)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def company(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def next_action(self) -> str | None: ...
    @property
    def next_action_due(self) -> str | None: ...


def read(paths: str | Path | Iterable[str | Path], now: datetime) -> Iterator[CalendarRecord | Unreadable]:
    """The events of .ics files and folders of them, one file at a time.

    Every path is checked before anything is read: one that does not exist, or is neither an .ics
    file nor a folder, raises PipectlError. A named file that does not parse raises too; a file
    found in a folder yields an :class:`Unreadable` instead. Hidden files and folders are skipped.
    """
    targets = [Path(paths)] if isinstance(paths, str | Path) else [Path(path) for path in paths]
    for path in targets:
        if not path.exists():
            raise NotFound(f"no such calendar file or folder: {path}")
        if not path.is_dir() and not (path.is_file() and _is_ics(path.name)):
            raise PipectlError(f"{path} is not an .ics file or a folder of them")
    return _read(targets, now)


def _read(targets: list[Path], now: datetime) -> Iterator[CalendarRecord | Unreadable]:
    for path in targets:
        if path.is_file():
            yield from parse(_bytes(path), now, str(path))
            continue
        for file in _ics_files(path):
            try:
                records = parse(_bytes(file), now, str(file))
            except PipectlError as exc:
                yield Unreadable(str(file), exc.message)
            else:
                yield from records


def _is_ics(name: str) -> bool:
    return name.lower().endswith(".ics")


def _ics_files(folder: Path) -> Iterator[Path]:
    """The .ics files under ``folder``, in a stable order (os.walk does not follow symlinked folders)."""
    for root, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if _is_ics(name) and not name.startswith("."):
                yield Path(root, name)


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PipectlError(f"cannot read calendar file {path}: {exc.strerror}") from None


def parse(data: bytes, now: datetime, source: str) -> list[CalendarRecord]:
    """The events of one iCalendar text, recurring ones expanded around ``now``.

    A whole file or nothing: raises PipectlError naming ``source`` when it is not a calendar.
    """
    import icalendar

    if b"\0" in data:
        raise PipectlError(f"{source} is a binary file, not an iCalendar (.ics) file")
    try:
        with warnings.catch_warnings():
            # icalendar warns when it reads Evolution's "/vendor/Europe/Berlin" TZIDs as Europe/Berlin:
            # the reading pipectl wants, and a warning would only break into the sync's summary.
            warnings.simplefilter("ignore")
            calendars = [part for part in icalendar.Calendar.from_ical(data, multiple=True) if part.name == "VCALENDAR"]
            if not calendars:
                raise PipectlError(
                    f"{source} is not an iCalendar file: no complete BEGIN:VCALENDAR ... END:VCALENDAR in it"
                )
            return [record for calendar in calendars for record in _records(calendar, now, source)]
    except _BAD_CALENDAR as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise PipectlError(f"{source} is not a valid iCalendar file: {reason}") from None


def _records(calendar: Calendar, now: datetime, source: str) -> Iterator[CalendarRecord]:
    import icalendar
    import recurring_ical_events
    import x_wr_timezone

    # Google's X-WR-TIMEZONE, looked up as a TZID is (so a Windows name works too); a zone nobody
    # knows is passed over, as other clients do, rather than losing the whole calendar.
    name = str(calendar.get("X-WR-TIMEZONE", "")).strip()
    zone = icalendar.timezone.tzp.timezone(name) if name else None
    if zone is not None:
        calendar = x_wr_timezone.to_standard(calendar, timezone=zone)
    method = str(calendar.get("METHOD", "")).upper() or None
    # Without a UID an event cannot be known again on the next run; without DTSTART it has no time.
    events = [event for event in calendar.events if "UID" in event and "DTSTART" in event]
    recurring = {str(event["UID"]) for event in events if "RRULE" in event or "RDATE" in event}
    for event in events:
        if str(event["UID"]) not in recurring:
            yield _record(event, method, source)
    if recurring:
        series = icalendar.Calendar(calendar)  # the calendar's properties, and only the recurring events
        series.subcomponents = [part for part in calendar.subcomponents if part.name != "VEVENT"]
        series.subcomponents += [event for event in events if str(event["UID"]) in recurring]
        for occurrence in recurring_ical_events.CalendarQuery(series).between(now - WINDOW, now + WINDOW):
            yield _record(occurrence, method, source)


def _record(event: Event, method: str | None, source: str) -> CalendarRecord:
    start, end = event.start, event.end
    recurrence = event.get("RECURRENCE-ID")
    organizer = event.get("ORGANIZER")
    if isinstance(organizer, list):
        organizer = organizer[0] if organizer else None
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    participants = (_address(attendee) for attendee in attendees if _takes_part(attendee))
    return CalendarRecord(
        uid=str(event["UID"]),
        recurrence_id=None if recurrence is None else _stamp(recurrence.dt),
        start=_utc(start),
        end=_utc(end),
        all_day=not isinstance(start, datetime),
        summary=str(event.get("SUMMARY", "")).strip(),
        status=str(event.get("STATUS", "CONFIRMED")).lower(),
        method=method,
        organizer=None if organizer is None else _address(organizer),
        attendees=tuple(dict.fromkeys(address for address in participants if address)),
        source=source,
    )


def _utc(moment: date) -> datetime:
    """A DTSTART-like value in UTC: a date is the local midnight it begins with, floating time is local."""
    if not isinstance(moment, datetime):
        return dates.at_local(moment)
    return moment.astimezone(UTC)


def _stamp(moment: date) -> str:
    return dates.to_iso(_utc(moment)) if isinstance(moment, datetime) else moment.isoformat()


def _takes_part(attendee: Any) -> bool:
    params = attendee.params
    return str(params.get("CUTYPE", "")).upper() not in ("ROOM", "RESOURCE") and (
        str(params.get("PARTSTAT", "")).upper() != "DECLINED"
    )


def _address(person: Any) -> str | None:
    """The email address of an ORGANIZER or ATTENDEE: its EMAIL parameter, else a mailto: value."""
    text = str(person.params.get("EMAIL") or person).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :].strip()
    return text.lower() if "@" in text and ":" not in text else None


def lead_uid(lead_id: int) -> str:
    """The UID of a lead's next-step event: the same on every export, so calendars update it."""
    return f"lead-{lead_id}@pipectl"


def own_lead(uid: str) -> int | None:
    """The lead whose next step an exported event is, or None for anyone else's event."""
    match = _OWN_UID.match(uid)
    return int(match.group(1)) if match else None


def write(steps: Iterable[NextStep], now: datetime) -> bytes:
    """An iCalendar file with one event per lead's next step (leads without one are left out).

    A due date without a time of day (stored as the local end of day) is an all-day event on that
    day; a due time is a 30-minute event starting then. The events are transparent: a reminder to
    call someone should not show the rep as busy to colleagues booking meetings.
    """
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("PRODID", "-//pipectl//next steps//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", "pipectl next steps")
    for step in steps:
        if not step.next_action or not step.next_action_due:
            continue
        due = dates.from_iso(step.next_action_due).astimezone()
        company = f" ({step.company})" if step.company else ""
        event = Event()
        event.add("UID", lead_uid(step.id))
        event.add("DTSTAMP", now.astimezone(UTC))
        event.add("SUMMARY", f"{step.next_action} — {step.name}{company}")
        if due.time() == dates.END_OF_DAY:
            event.add("DTSTART", due.date())
            event.add("DTEND", due.date() + timedelta(days=1))
        else:
            event.add("DTSTART", due.astimezone(UTC))
            event.add("DTEND", due.astimezone(UTC) + STEP_LENGTH)
        event.add("TRANSP", "TRANSPARENT")
        contact = f"{step.name} <{step.email}>" if step.email else step.name
        # CONTACT, not ATTENDEE: an attendee is invited, and the lead must never get an invitation.
        event.add("CONTACT", contact)
        event.add("DESCRIPTION", f"pipectl lead #{step.id}: {step.name}{company}")
        calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
