"""iCalendar in and out (pipectl.ics) on calendars as Google, Outlook, iCloud, Thunderbird and khal write them.

The fixtures in tests/ics/ copy the shapes those clients produce (line folding, CRLF, vendor properties,
Windows zone names). The clock is fixed at Monday 2026-11-30 09:00 UTC; the local zone is UTC
(conftest) unless a test says otherwise.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipectl import dates, ics
from pipectl.errors import NotFound, PipectlError

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "ics"
WEEKLY = "5q2e8hj0p4k1v0g7rsl9n3c6tm@google.com"


def records(path: str | Path) -> list[ics.CalendarRecord]:
    """The records of a fixture (or of any file: an absolute path stays itself), asserting none was unreadable."""
    found = list(ics.read(FIXTURES / path, NOW))
    assert all(isinstance(record, ics.CalendarRecord) for record in found)
    return [record for record in found if isinstance(record, ics.CalendarRecord)]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def test_google_weekly_series_is_expanded_90_days_each_side_in_x_wr_timezone() -> None:
    weekly = [record for record in records("google-export.ics") if record.uid == WEEKLY]
    starts = [record.start for record in weekly]
    # Written in UTC, meant at 10:00 Berlin (X-WR-TIMEZONE): 08:00Z in summer, 09:00Z after Oct 25.
    assert starts[0] == utc("2026-09-07T08:00")  # the first Monday after now - 90 days, not June
    assert utc("2026-10-19T08:00") in starts
    assert utc("2026-10-26T09:00") in starts
    assert starts[-1] == utc("2027-02-22T09:00")  # the last Monday before now + 90 days
    assert utc("2026-11-16T09:00") not in starts  # EXDATE
    assert len(weekly) == 24
    assert all(record.end - record.start == timedelta(minutes=30) for record in weekly)
    assert weekly[0].recurrence_id == "2026-09-07T08:00:00Z"
    assert weekly[0].organizer == "taro@example.co.jp"
    # the Google room (CUTYPE=RESOURCE) is no participant; addresses are lowercased
    assert weekly[0].attendees == ("taro@example.co.jp", "hanako.sato@acme.example")


def test_google_moved_and_cancelled_occurrences_replace_the_original() -> None:
    by_id = {record.recurrence_id: record for record in records("google-export.ics") if record.uid == WEEKLY}
    moved = by_id["2026-11-30T09:00:00Z"]
    assert (moved.start, moved.end) == (utc("2026-12-01T13:00"), utc("2026-12-01T13:30"))
    assert moved.summary == "Acme weekly (moved to Tuesday)"
    assert moved.attendees == ("hanako.sato@acme.example",)
    assert not any(record.start == utc("2026-11-30T09:00") for record in by_id.values())
    cancelled = by_id["2026-12-07T09:00:00Z"]
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled
    assert not by_id["2026-12-14T09:00:00Z"].cancelled


def test_google_one_off_events_tzid_and_floating_time() -> None:
    singles = {record.summary: record for record in records("google-export.ics") if record.uid != WEEKLY}
    intro = singles["Globex intro call"]
    assert intro.recurrence_id is None
    assert intro.start == utc("2026-11-20T10:00")  # 11:00 Europe/Berlin (its VTIMEZONE)
    assert intro.attendees == ("ken.ito@globex.example",)
    assert intro.method == "PUBLISH"
    hold = singles["Hold: Initech demo"]
    assert hold.start == utc("2026-12-03T14:00")  # floating 15:00, in the X-WR-TIMEZONE
    assert hold.status == "tentative"
    assert hold.organizer is None
    assert hold.attendees == ()


def test_outlook_invite_with_windows_zone_and_its_vtimezone() -> None:
    [invite] = records("outlook-request.ics")
    assert invite.uid.startswith("040000008200E00074C5B7101A82E008") and invite.uid.endswith("F3A2B1C0D")
    assert invite.method == "REQUEST"
    assert not invite.cancelled
    assert (invite.start, invite.end) == (utc("2026-12-03T13:00"), utc("2026-12-03T14:00"))  # 14:00 W. Europe
    assert invite.summary == "Contoso pricing review"
    assert invite.organizer == "jan.mueller@contoso.example"
    assert invite.attendees == ("taro@example.co.jp", "eva.weber@contoso.example")  # the room left out
    assert invite.all_day is False


def test_outlook_invite_with_windows_zone_and_no_vtimezone() -> None:
    [invite] = records("outlook-no-vtimezone.ics")
    assert invite.start == utc("2026-12-04T01:00")  # 10:00 "Tokyo Standard Time" = Asia/Tokyo
    assert invite.organizer == "keiko.tanaka@initech.example"  # MAILTO: in capitals
    assert invite.attendees == ("taro@example.co.jp",)  # PARTSTAT=DECLINED is no participant


def test_outlook_cancellation_is_known_by_the_invites_uid() -> None:
    [invite] = records("outlook-request.ics")
    [cancel] = records("outlook-cancel.ics")
    assert (cancel.uid, cancel.recurrence_id) == (invite.uid, invite.recurrence_id)
    assert cancel.method == "CANCEL"
    assert cancel.status == "cancelled"
    assert cancel.cancelled


def test_cancelling_one_occurrence_by_method_alone() -> None:
    # Exchange cancels one occurrence of a series with METHOD:CANCEL and its RECURRENCE-ID, no STATUS.
    data = (
        b"BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
        b"BEGIN:VEVENT\r\nORGANIZER;CN=Jan:mailto:jan.mueller@contoso.example\r\n"
        b"ATTENDEE;CN=Taro:mailto:taro@example.co.jp\r\nUID:040000008200E00074C5B7101A82E008-series\r\n"
        b"RECURRENCE-ID;TZID=W. Europe Standard Time:20261207T100000\r\n"
        b"SUMMARY:Canceled: Contoso weekly\r\nDTSTART;TZID=W. Europe Standard Time:20261207T100000\r\n"
        b"DTEND;TZID=W. Europe Standard Time:20261207T103000\r\nDTSTAMP:20261201T101500Z\r\nSEQUENCE:4\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    [cancel] = ics.parse(data, NOW, "cancel.ics")
    assert (cancel.status, cancel.method) == ("confirmed", "CANCEL")
    assert cancel.cancelled
    assert cancel.recurrence_id == "2026-12-07T09:00:00Z"


def test_icloud_event_addresses_from_email_parameters() -> None:
    [meeting] = records("icloud-event.ics")
    assert meeting.summary == "Acme 見積もりの打ち合わせ"
    assert meeting.start == utc("2026-11-25T07:00")  # 16:00 Asia/Tokyo
    assert meeting.method is None
    assert meeting.organizer == "taro@example.co.jp"
    # Hanako's address is only in EMAIL= (the value is a urn:uuid); Jiro declined
    assert meeting.attendees == ("taro@example.co.jp", "hanako.sato@acme.example")


def test_all_day_event_is_its_local_days(tokyo: None) -> None:
    [fair] = records("all-day.ics")
    assert fair.all_day
    assert fair.start == dates.at_local(date(2026, 12, 8)) == utc("2026-12-07T15:00")
    assert fair.end == dates.at_local(date(2026, 12, 10))  # DTEND is exclusive: the 8th and the 9th
    assert fair.start.astimezone().date() == date(2026, 12, 8)
    assert fair.attendees == ("hanako.sato@acme.example",)


def test_floating_time_is_local_time(tokyo: None) -> None:
    call = records("vdir/work/3b0e5f1c-8a2d-4c7e-9f6b-1d2e3f4a5b6c.ics")[0]
    assert call.summary == "Call Initech back"
    assert call.start == utc("2026-12-02T01:00")  # 10:00 in Tokyo


def test_vdir_reads_every_event_file_and_nothing_else() -> None:
    found = records("vdir")
    assert [(record.summary, Path(record.source).parent.name) for record in found] == [
        ("Dentist", "home"),
        ("Call Initech back", "work"),
        ("Demo for Globex", "work"),
    ]
    demo = found[2]
    assert demo.start == utc("2026-12-01T05:00")  # VTIMEZONE after the VEVENT, as khal writes it
    assert demo.source == str(FIXTURES / "vdir" / "work" / "V2Q4WKXAB1JF3SEXMPL6C3HBEE9LZ1W2KQRA.ics")
    assert found[0].end - found[0].start == timedelta(days=1)  # an all-day DTSTART alone is one day


def test_a_bad_file_in_a_folder_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    folder = tmp_path / "calendar"
    shutil.copytree(FIXTURES / "vdir", folder)
    shutil.copy(FIXTURES / "broken.ics", folder / "work" / "a-broken.ics")
    (folder / "home" / "photo.ics").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "home" / ".hidden.ics").write_bytes(b"not read at all")
    (folder / ".git").mkdir()
    (folder / ".git" / "x.ics").write_bytes(b"not read either")
    found = list(ics.read([folder], NOW))
    problems = [item for item in found if isinstance(item, ics.Unreadable)]
    assert [(Path(item.source).name, item.reason.split(" is ")[1][:9]) for item in problems] == [
        ("photo.ics", "a binary "),
        ("a-broken.ics", "not a val"),
    ]
    assert "a-broken.ics is not a valid iCalendar file: " in problems[1].reason
    assert "2026-12-01 10:00" in problems[1].reason
    assert len(found) - len(problems) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is a binary file, not an iCalendar (.ics) file"),
        (b"", "no complete BEGIN:VCALENDAR ... END:VCALENDAR in it"),
        (b"Subject: hello\r\n\r\nnot a calendar\r\n", "is not a valid iCalendar file"),
        (
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Taro\r\nEND:VCARD\r\n",
            "no complete BEGIN:VCALENDAR ... END:VCALENDAR in it",
        ),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20261201T1000\r\n", "no complete BEGIN:VCALENDAR"),
    ],
)
def test_a_named_file_that_is_not_a_calendar_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "export.ics"
    path.write_bytes(content)
    with pytest.raises(PipectlError) as info:
        list(ics.read(path, NOW))
    assert info.value.message.startswith(f"{path} ")
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_paths_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    with pytest.raises(PipectlError, match=r"notes\.txt is not an \.ics file or a folder of them"):
        ics.read([FIXTURES / "all-day.ics", notes], NOW)  # no iteration needed
    with pytest.raises(NotFound, match=r"no such calendar file or folder: .*missing\.ics"):
        ics.read(tmp_path / "missing.ics", NOW)
    assert list(ics.read(tmp_path, NOW)) == []  # an empty vdir is an empty calendar


def test_parse_reads_a_calendar_held_in_memory() -> None:
    data = (FIXTURES / "outlook-request.ics").read_bytes()
    [invite] = ics.parse(data, NOW, "mail <abc@contoso.example>")
    assert invite.source == "mail <abc@contoso.example>"
    assert invite.summary == "Contoso pricing review"
    with pytest.raises(PipectlError, match=r"^mail <abc@contoso\.example> is not an iCalendar file: no complete"):
        ics.parse(data[:-30], NOW, "mail <abc@contoso.example>")


def test_evolution_vendor_tzid_is_read_quietly() -> None:
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Ximian//NONSGML Evolution Calendar//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:20261125T101010Z-1234-1000-1-0@taro-laptop\r\nDTSTAMP:20261125T101010Z\r\n"
        b"DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20261201T100000\r\n"
        b"DTEND;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20261201T110000\r\n"
        b"SUMMARY:Acme call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would break into the sync's summary
        [call] = ics.parse(data, NOW, "evolution.ics")
    assert call.start == utc("2026-12-01T09:00")


def test_events_without_uid_or_start_are_left_out() -> None:
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\n"
        b"BEGIN:VEVENT\r\nDTSTART:20261201T100000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:no start\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20261201T100000Z\r\nSUMMARY:kept\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20261201T100000Z\r\nRRULE:FREQ=DAILY;COUNT=2\r\nSUMMARY:series\r\n"
        b"END:VEVENT\r\nBEGIN:VEVENT\r\nUID:c\r\nRECURRENCE-ID:20261202T100000Z\r\nSUMMARY:no start\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    assert [record.summary for record in ics.parse(data, NOW, "x")] == ["kept", "series", "series"]


@dataclass(frozen=True)
class Step:
    id: int
    name: str
    company: str | None
    email: str | None
    next_action: str | None
    next_action_due: str | None


STEPS = [
    Step(42, "Hanako Sato", "Acme", "hanako.sato@acme.example", "Send the revised quote", "2026-12-03T23:59:59Z"),
    Step(7, "Ken Ito", None, None, "Call about the pilot", "2026-12-02T05:30:00Z"),
    Step(9, "No Step", "Initech", None, None, None),
]


def test_write_makes_one_event_per_next_step_with_a_stable_uid() -> None:
    text = ics.write(STEPS, NOW).decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF line ends only
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))  # folded
    assert text.count("BEGIN:VEVENT") == 2
    assert "UID:lead-42@pipectl\r\n" in text and "UID:lead-7@pipectl\r\n" in text
    assert "DTSTAMP:20261130T090000Z\r\n" in text
    assert "DTSTART;VALUE=DATE:20261203\r\nDTEND;VALUE=DATE:20261204\r\n" in text
    assert "DTSTART:20261202T053000Z\r\nDTEND:20261202T060000Z\r\n" in text
    assert "ATTENDEE" not in text  # the lead must never be invited
    assert "CONTACT:Hanako Sato <hanako.sato@acme.example>\r\n" in text
    later = ics.write(STEPS[:1], NOW + timedelta(days=3)).decode()
    assert "UID:lead-42@pipectl\r\n" in later  # a newer export updates the same event


def test_what_write_produces_read_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "next-steps.ics"
    path.write_bytes(ics.write(STEPS, NOW))
    quote, call = records(path)
    assert (quote.uid, quote.summary, quote.all_day) == (
        "lead-42@pipectl",
        "Send the revised quote — Hanako Sato (Acme)",
        True,
    )
    assert (quote.start, quote.end) == (utc("2026-12-03T00:00"), utc("2026-12-04T00:00"))
    assert (call.uid, call.summary, call.all_day) == ("lead-7@pipectl", "Call about the pilot — Ken Ito", False)
    assert (call.start, call.end) == (utc("2026-12-02T05:30"), utc("2026-12-02T06:00"))
    assert (call.recurrence_id, call.organizer, call.attendees) == (None, None, ())
    assert ics.own_lead(quote.uid) == 42
    assert ics.own_lead(ics.lead_uid(7)) == 7
    assert ics.own_lead(WEEKLY) is None
    assert ics.own_lead("lead-42@pipectl.example.com") is None


def test_a_due_date_is_an_all_day_event_on_the_local_day(tokyo: None) -> None:
    due = dates.to_iso(dates.parse_when("2026-12-03", NOW, "due"))
    assert due == "2026-12-03T14:59:59Z"  # the end of the 3rd in Tokyo
    text = ics.write([Step(1, "Hanako Sato", None, None, "Quote", due)], NOW).decode()
    assert "DTSTART;VALUE=DATE:20261203\r\n" in text


ZONES = ["UTC", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe"]
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x3041, max_codepoint=0x30FF),  # kana
        st.sampled_from("見積打合せ会議営業東京本社"),
    ),
    min_size=1,
    max_size=80,
).map(str.strip)


@settings(max_examples=60, deadline=None)
@given(
    uid=TEXT,
    summary=TEXT,
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    zone=st.sampled_from(ZONES),
    with_vtimezone=st.booleans(),
    attendees=st.lists(st.emails(), max_size=4),
)
def test_events_written_by_icalendar_round_trip(
    uid: str,
    summary: str,
    instant: datetime,
    zone: str,
    with_vtimezone: bool,
    attendees: list[str],
) -> None:
    from icalendar import Calendar, Event, vCalAddress

    assume(uid and summary)
    start = instant.replace(microsecond=0, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assume(start.replace(fold=0).astimezone(UTC) == start.astimezone(UTC))  # a wall time that names one instant
    event = Event()
    event.add("UID", uid)
    event.add("SUMMARY", summary)
    event.add("DTSTAMP", NOW)
    event.add("DTSTART", start)
    event.add("DTEND", start + timedelta(hours=1))
    for address in attendees:
        event.add("ATTENDEE", vCalAddress(f"mailto:{address}"))
    calendar = Calendar()
    calendar.add("PRODID", "-//test//hypothesis//EN")
    calendar.add("VERSION", "2.0")
    calendar.add_component(event)
    if with_vtimezone:
        calendar.add_missing_timezones()
    [record] = ics.parse(calendar.to_ical(), NOW, "generated")
    assert (record.uid, record.summary, record.recurrence_id) == (uid, summary, None)
    assert record.start == start.astimezone(UTC)
    assert record.attendees == tuple(dict.fromkeys(address.lower() for address in attendees))


CONTENT_LINE = st.sampled_from(
    [
        "BEGIN:VCALENDAR",
        "END:VCALENDAR",
        "BEGIN:VEVENT",
        "END:VEVENT",
        "UID:x",
        "DTSTART:20261201T100000Z",
        "DTSTART;VALUE=DATE:20261201",
        "DTSTART;TZID=Nowhere/Else:20261201T100000",
        "DTEND:20261130T100000Z",
        "RRULE:FREQ=DAILY",
        "RRULE:FREQ=SOMETIMES",
        "RECURRENCE-ID:20261202T100000Z",
        "EXDATE:20261203T100000Z",
        "DURATION:PT1H",
        "DURATION:forever",
        "ATTENDEE:mailto:a@b.example",
        "ORGANIZER;CN=x",
        "STATUS:CANCELLED",
        "METHOD:CANCEL",
        " folded",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200), st.lists(CONTENT_LINE, max_size=14).map(lambda lines: "\r\n".join(lines).encode())
    )
)
def test_any_input_gives_records_or_one_clear_error(data: bytes) -> None:
    try:
        found = ics.parse(data, NOW, "fuzz.ics")
    except PipectlError as exc:
        assert exc.message.startswith("fuzz.ics ")
    else:
        assert all(record.start.tzinfo is not None and record.end.tzinfo is not None for record in found)


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Asia/Tokyo", "2026-12-01T01:00"),
        ("Tokyo Standard Time", "2026-12-01T01:00"),  # a Windows name, as TZIDs may be
        ("Customized Time Zone", "2026-12-01T10:00"),  # unknown: floating time stays local (UTC here)
        ("", "2026-12-01T10:00"),
    ],
)
def test_x_wr_timezone_names_and_unknown_ones(zone: str, start: str) -> None:
    data = (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
        f"X-WR-TIMEZONE:{zone}\r\nBEGIN:VEVENT\r\nUID:x@google.com\r\nDTSTART:20261201T100000\r\n"
        f"SUMMARY:Acme\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    [event] = ics.parse(data, NOW, "google.ics")
    assert event.start == utc(start)


@settings(max_examples=40, deadline=None)
@given(
    lead_id=st.integers(min_value=1, max_value=10**9),
    name=TEXT,
    action=TEXT,
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    moment=st.one_of(st.just(dates.END_OF_DAY), st.times().map(lambda moment: moment.replace(microsecond=0))),
)
def test_any_next_step_written_reads_back(lead_id: int, name: str, action: str, day: date, moment: time_of_day) -> None:
    assume(name and action)
    due = dates.at_local(day, moment)
    [record] = ics.parse(ics.write([Step(lead_id, name, None, None, action, dates.to_iso(due))], NOW), NOW, "export")
    assert ics.own_lead(record.uid) == lead_id
    assert record.summary == f"{action} — {name}"
    assert record.all_day == (moment == dates.END_OF_DAY)
    assert record.start == (dates.at_local(day) if record.all_day else due)
