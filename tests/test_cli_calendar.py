"""`pipectl sync calendar` and `export --format ics` through the CLI, on both backends, with the client
calendars of tests/ics/: past meetings logged, upcoming ones as next steps, recurrences with EXDATE and a
moved occurrence, cancellations, all-day events, Google's X-WR-TIMEZONE, Outlook's Windows zone names;
re-runs, --dry-run, undo, bad input and the export round trip. The clock is Monday 2026-11-30 09:00 UTC."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import add, assert_error, ok, run, snapshot

pytestmark = pytest.mark.backends

ICS = Path(__file__).parent / "ics"
ME = "taro@example.co.jp"


@pytest.fixture(autouse=True)
def config(isolated: Path) -> Path:
    path = isolated / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'owner = "taro"\n[mail]\nme = ["{ME}"]\n', encoding="utf-8")
    return path


def sync(*paths: str | Path) -> dict[str, Any]:
    return ok("sync", "calendar", *map(str, paths), "--json").json()  # type: ignore[no-any-return]


def lead(ref: str) -> dict[str, Any]:
    return ok("show", ref, "--json").json()  # type: ignore[no-any-return]


def meetings(ref: str) -> list[tuple[str, str]]:
    return [(t["at"], t["note"]) for t in lead(ref)["timeline"] if t["type"] == "touchpoint" and t["kind"] == "meeting"]


def step(ref: str) -> tuple[str | None, str | None]:
    shown = lead(ref)
    return shown["next_action"], shown["next_action_due"]


def calendar(path: Path, *events: str) -> Path:
    """An .ics file holding ``events`` (each the properties of one VEVENT, a line each), with CRLF as clients write."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    path.write_bytes(("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode())
    return path


def test_google_export_meetings_recurrence_and_moved_occurrence() -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    add("Globex", "--email", "ken.ito@globex.example")
    summary = sync(ICS / "google-export.ics")
    logged = meetings("acme")
    # Weekly on Monday 10:00 in Berlin (X-WR-TIMEZONE; 08:00 UTC in summer, 09:00 in winter), 90 days back:
    # 2026-09-07 ... 2026-11-23, without the EXDATE of 2026-11-16.
    assert logged[0] == ("2026-09-07T08:00:00Z", "Acme weekly")
    assert logged[-1] == ("2026-11-23T09:00:00Z", "Acme weekly") and len(logged) == 11
    assert not any(at.startswith("2026-11-16") for at, _ in logged)
    # Today's occurrence was moved to Tuesday: the lead's next step, at the moved time.
    assert step("acme") == ("Acme weekly (moved to Tuesday)", "2026-12-01T13:00:00Z")
    # TZID=Europe/Berlin 11:00 is 10:00 UTC; the meeting room (a resource) is no one's lead.
    assert meetings("globex") == [("2026-11-20T10:00:00Z", "Globex intro call")]
    shown = lead("acme")
    assert shown["attempts"] == 0 and shown["touch_count"] == 11
    assert summary["logged"] == 12 and summary["matched_leads"] == 2
    assert summary["next_steps_set"] == 1 and summary["skipped"]["not about a lead"] == 1
    assert summary["skipped"]["cancelled"] == 1  # the cancelled occurrence of 2026-12-07


def test_a_rerun_logs_nothing_and_writes_nothing() -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    sync(ICS / "google-export.ics")
    before = snapshot()
    again = sync(ICS / "google-export.ics")
    assert again["logged"] == 0 and again["next_steps_set"] == 0
    assert again["skipped"]["already logged"] == 11
    assert snapshot() == before


def test_a_meeting_with_three_leads_is_three_touchpoints(tmp_path: Path) -> None:
    for name in ("Ann", "Bob", "Cy"):
        add(name, "--email", f"{name.lower()}@client.example")
    add("Dee", "--email", "dee@client.example")
    path = calendar(
        tmp_path / "meeting.ics",
        f"""UID:three@example.com
DTSTART:20261125T010000Z
DTEND:20261125T020000Z
SUMMARY:Steering committee
ORGANIZER:mailto:{ME}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@client.example
ATTENDEE;EMAIL=Bob@Client.example:urn:uuid:1234
ATTENDEE:mailto:cy@client.example
ATTENDEE;PARTSTAT=DECLINED:mailto:dee@client.example""",
    )
    summary = sync(path)
    assert summary["logged"] == 3 and summary["matched_leads"] == 3
    for name in ("ann", "bob", "cy"):
        assert meetings(name) == [("2026-11-25T01:00:00Z", "Steering committee")]
    assert meetings("dee") == []  # declined: not a participant


def test_an_event_the_rep_is_not_in_is_skipped(tmp_path: Path) -> None:
    add("Ann", "--email", "ann@client.example")
    path = calendar(
        tmp_path / "theirs.ics",
        """UID:theirs@example.com
DTSTART:20261125T010000Z
DTEND:20261125T020000Z
SUMMARY:Their internal meeting
ORGANIZER:mailto:boss@client.example
ATTENDEE:mailto:ann@client.example""",
    )
    assert sync(path)["skipped"] == {"you are not taking part": 1}
    assert meetings("ann") == []


def test_cancellation_removes_the_step_its_invitation_set() -> None:
    add("Contoso", "--email", "eva.weber@contoso.example")
    sync(ICS / "outlook-request.ics")
    # "W. Europe Standard Time" 14:00 is 13:00 UTC.
    assert step("contoso") == ("Contoso pricing review", "2026-12-03T13:00:00Z")
    summary = sync(ICS / "outlook-cancel.ics")
    assert summary["next_steps_removed"] == 1 and summary["logged"] == 0
    assert step("contoso") == (None, None)
    assert meetings("contoso") == []


def test_cancellation_leaves_a_step_the_rep_set() -> None:
    add("Contoso", "--email", "eva.weber@contoso.example")
    sync(ICS / "outlook-request.ics")
    ok("edit", "contoso", "--next", "send the quote", "--due", "2026-12-02")
    summary = sync(ICS / "outlook-cancel.ics")
    assert summary["next_steps_removed"] == 0
    assert step("contoso")[0] == "send the quote"


def test_a_later_step_already_set_stays_and_an_earlier_one_gives_way() -> None:
    add("Initech", "--email", "keiko.tanaka@initech.example", "--next", "send the contract", "--due", "2026-12-20")
    summary = sync(ICS / "outlook-no-vtimezone.ics")
    assert summary["skipped"] == {"a later next step is set": 1}
    assert step("initech")[0] == "send the contract"
    ok("edit", "initech", "--next", "call", "--due", "2026-12-01")
    sync(ICS / "outlook-no-vtimezone.ics")
    # "Tokyo Standard Time" (a Windows name, no VTIMEZONE) 10:00 is 01:00 UTC.
    assert step("initech") == ("Initech kickoff", "2026-12-04T01:00:00Z")


def test_a_moved_occurrence_moves_the_step_it_set(tmp_path: Path) -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    series = f"""UID:weekly@example.com
DTSTART:20261202T100000Z
DTEND:20261202T110000Z
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:Acme sync
ORGANIZER:mailto:{ME}
ATTENDEE:mailto:hanako.sato@acme.example"""
    sync(calendar(tmp_path / "cal.ics", series))
    assert step("acme") == ("Acme sync", "2026-12-02T10:00:00Z")
    moved = f"""UID:weekly@example.com
RECURRENCE-ID:20261202T100000Z
DTSTART:20261203T150000Z
DTEND:20261203T160000Z
SUMMARY:Acme sync (moved)
ORGANIZER:mailto:{ME}
ATTENDEE:mailto:hanako.sato@acme.example"""
    sync(calendar(tmp_path / "cal.ics", series, moved))
    assert step("acme") == ("Acme sync (moved)", "2026-12-03T15:00:00Z")
    # Cancelled as Google writes it, without attendees: the step it set goes, the next occurrence follows.
    cancelled = f"""UID:weekly@example.com
RECURRENCE-ID:20261202T100000Z
DTSTART:20261203T150000Z
DTEND:20261203T160000Z
STATUS:CANCELLED
SUMMARY:Acme sync (moved)
ORGANIZER:mailto:{ME}"""
    summary = sync(calendar(tmp_path / "cal.ics", series, cancelled))
    assert summary["next_steps_removed"] == 1 and summary["next_steps_set"] == 1
    assert step("acme") == ("Acme sync", "2026-12-09T10:00:00Z")


def test_an_all_day_event_is_due_by_the_end_of_its_day() -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    sync(ICS / "all-day.ics")  # the attendee's address is in an EMAIL= parameter
    assert step("acme") == ("Acme at the Tokyo trade fair", "2026-12-08T23:59:59Z")


def test_a_vdir_with_a_bad_file_warns_and_goes_on(tmp_path: Path) -> None:
    add("Globex", "--email", "ken.ito@globex.example")
    folder = tmp_path / "work"
    shutil.copytree(ICS / "vdir" / "work", folder)
    shutil.copy(ICS / "broken.ics", folder / "broken.ics")
    result = run("sync", "calendar", str(folder))
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr and "broken.ics" in result.stderr
    assert "skipped:" in result.stdout and "1 unreadable" in result.stdout
    # TZID=Asia/Tokyo 14:00 is 05:00 UTC.
    assert step("globex") == ("Demo for Globex", "2026-12-01T05:00:00Z")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (ICS / "broken.ics", "broken.ics is not a valid iCalendar file"),
        (Path(__file__), "is not an .ics file or a folder of them"),
        (ICS / "missing.ics", "no such calendar file or folder"),
    ],
)
def test_bad_input_is_one_error_and_nothing_written(path: Path, text: str) -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    before = snapshot()
    assert_error(run("sync", "calendar", str(ICS / "google-export.ics"), str(path)), text)
    assert snapshot() == before


def test_dry_run_shows_and_writes_nothing() -> None:
    add("Acme", "--email", "hanako.sato@acme.example")
    before = snapshot()
    summary = ok("sync", "calendar", str(ICS / "google-export.ics"), "--dry-run", "--json").json()
    assert summary["dry_run"] is True and summary["logged"] == 11
    assert summary["touchpoints"][-1] == {
        "lead_id": 1,
        "kind": "meeting",
        "direction": "out",
        "at": "2026-11-23T09:00:00Z",
        "note": "Acme weekly",
        "outcome": "reached",
        "event": "5q2e8hj0p4k1v0g7rsl9n3c6tm@google.com RECURRENCE-ID=2026-11-23T09:00:00Z",
    }
    assert [s["next_action"] for s in summary["next_steps"]] == ["Acme weekly (moved to Tuesday)"]
    text = ok("sync", "calendar", str(ICS / "google-export.ics"), "--dry-run").stdout
    assert "would log: #1 meeting out" in text and "would set next step: #1 Acme weekly (moved to Tuesday)" in text
    assert snapshot() == before


def test_undo_removes_what_the_sync_did() -> None:
    add("Acme", "--email", "hanako.sato@acme.example", "--next", "call", "--due", "2026-11-20")
    before = snapshot()
    sync(ICS / "google-export.ics")
    assert step("acme")[0] == "Acme weekly (moved to Tuesday)"
    ok("undo")
    assert step("acme") == ("call", "2026-11-20T23:59:59Z")
    assert meetings("acme") == []
    after = snapshot()
    assert after["leads"] == before["leads"] and after["touchpoints"] == before["touchpoints"]


def test_export_ics_round_trip(tmp_path: Path) -> None:
    add("Acme", "--email", "hanako.sato@acme.example", "--next", "send the quote", "--due", "2026-12-02")
    add("Globex", "--email", "ken.ito@globex.example", "--next", "call", "--due", "2026-12-03 10:00")
    add("Initech")  # no next step: no event
    lost = add("Lost Co", "--next", "nothing", "--due", "2026-12-04")
    ok("lost", str(lost), "--reason", "price")
    target = tmp_path / "steps.ics"
    result = ok("export", "--format", "ics", "--output", str(target))
    assert "exported 2 next steps" in result.stderr
    text = target.read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 2
    assert "UID:lead-1@pipectl" in text and "UID:lead-2@pipectl" in text
    assert ok("export", "--format", "ics").stdout.replace("\r\n", "\n") == text.replace("\r\n", "\n")
    before = snapshot()
    summary = sync(target)
    assert summary["logged"] == 0 and summary["skipped"] == {"pipectl's own export": 2}
    assert snapshot() == before


def test_export_ics_refuses_touchpoints() -> None:
    add("Acme")
    assert_error(run("export", "--format", "ics", "--touchpoints"), "next steps only")
