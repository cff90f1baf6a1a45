"""Bad input: one `Error:` line on stderr, exit 2, no traceback, and the database unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import add, assert_error, db_path, ok, run, snapshot

pytestmark = pytest.mark.backends


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    add("Jane Doe", "--company", "Acme", "--email", "jane@acme.com")
    add("John Doe", "--company", "Globex")
    return db_path(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nobody"], "no lead matches 'nobody'"),
        (["show", "99"], "no lead with id 99"),
        (["touch", "doe", "call"], "'doe' matches 2 leads"),
        (["advance", "acme", "--to", "negotiating"], "unknown stage 'negotiating'"),
        (["add", "X", "--stage", "won"], "unknown stage 'won'"),
        (["list", "--stage", "nope"], "unknown stage 'nope'"),
        (["add", "X", "--email", "not-an-email"], "malformed email"),
        (["edit", "acme", "--email", "a@b"], "malformed email"),
        (["add", "X", "--email", "JANE@acme.com"], "#1 Jane Doe (Acme) already has the email jane@acme.com"),
        (["add", "X", "--value", "-5"], "must not be negative"),
        (["add", "X", "--value", "lots"], "must be an amount"),
        (["add", "X", "--value", "1.234"], "more than 2 decimals"),
        (["add", "X", "--value", "99999999999999"], "too large"),
        (["won", "acme", "--value", "ten"], "must be an amount"),
        (["add", "X", "--due", "someday soon"], "unrecognised date 'someday soon'"),
        (["touch", "acme", "call", "--at", "next week-ish"], "unrecognised date"),
        (["touch", "acme", "call", "--at", "tomorrow"], "is in the future"),
        (["add", "X", "--due", "Feb 30"], "unrecognised date 'Feb 30'"),
        (["add", "X", "--due", "tomorow"], "unrecognised date 'tomorow'"),
        (["add", "X", "--due", "2月30日"], "unrecognised date '2月30日'"),
        (["add", "X", "--due", "03/04"], "'03/04' reads two ways (2027-03-04 or 2027-04-03): pass an ISO date"),
        (["add", "X", "--due", "+400d"], "'+400d' reads as Tue 2028-01-04, more than a year away"),
        (["add", "X", "--due", "Feb 29"], "pass the full date (2028-02-29)"),
        (["snooze", "acme", "--until", "in 500 days"], "more than a year away"),
        (["touch", "acme", "call", "--at", "3/4/2026"], "reads two ways (2026-03-04 or 2026-04-03)"),
        (["--as-of", "Feb 30", "list"], "bad --as-of / PIPECTL_NOW: unrecognised date 'Feb 30'"),
        (["add", ""], "name must not be empty"),
        (["add", "   "], "name must not be empty"),
        (["edit", "acme", "--name", ""], "name must not be empty"),
        (["edit", "acme"], "nothing to change"),
        (["edit", "acme", "--stage", "closing"], "use `pipectl advance"),
        (["add", "X", "--valu", "3"], "no such option: --valu"),
        (["list", "--status", "pending"], "invalid value for '--status'"),
        (["add"], "missing argument 'NAME'"),
        (["lost", "acme"], "missing option '--reason'"),
        (["lost", "acme", "--reason", " "], "lost reason must not be empty"),
        (["touch", "acme", "fax"], "unknown touchpoint kind 'fax'"),
        (["note", "acme", "hello", "--json", "--in"], "no such option: --in"),
        (["touch", "acme", "note", "--in"], "a note has no direction"),
        (["reopen", "acme"], "already open"),
        (["--as-of", "whenever", "list"], "bad --as-of / PIPECTL_NOW"),
        (["frobnicate"], "no such command"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(pipeline: Path, args: list[str], message: str) -> None:
    before = snapshot(pipeline)
    assert_error(run(*args), message)
    assert snapshot(pipeline) == before


def test_closed_lead_refusals(pipeline: Path) -> None:
    ok("won", "acme")
    before = snapshot(pipeline)
    assert_error(run("won", "acme"), "already won")
    assert_error(run("lost", "acme", "--reason", "x"), "already won")
    assert_error(run("advance", "acme"), "reopen it first")
    assert snapshot(pipeline) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("owner = 3\n", "owner must be a non-empty string"),
        ('[review]\nidle_days = "seven"\n', "review.idle_days must be a whole number"),
        ("[review]\nidel_days = 3\n", "review.idel_days is not a known key"),
        ("[cadence]\ncycle_tolerance = 0.5\n", "cadence.cycle_tolerance must be between 1 and 10"),
        ('[targets]\nperiod = "week"\n', "targets.period must be one of"),
        ('[qualification]\ngate_stage = "qualfying"\n', "qualification.gate_stage names no stage"),
        ('[[stages]]\nname = "a"\nprobability = 2\nmax_days = 3\nmax_open = 4\n', "stages[1].probability"),
        ('[[stages]]\nname = "won"\nprobability = 1\nmax_days = 3\nmax_open = 4\n', "reserved"),
        ('[[stages]]\nname = "a"\nprobability = 0.5\nmax_days = 3\n', "stages[1].max_open is missing"),
        ("[calendar]\nworkday = []\n", "calendar.workday is not a known key"),
        ('[calendar]\nworkdays = ["mon", "fryday"]\n', "calendar.workdays must be a non-empty list of weekday names"),
        ("[calendar]\nworkdays = []\n", "calendar.workdays must be a non-empty list"),
        ('[calendar]\ncountry = "Japan"\n', "calendar.country must be a two-letter country code"),
        ("[calendar]\ncountry = 81\n", "calendar.country must be a two-letter country code"),
        ('[calendar]\nholidays = ["2026-12-32"]\n', "calendar.holidays must be a list of dates"),
        ('[calendar]\nholidays = "2026-12-31"\n', "calendar.holidays must be a list of dates"),
        ("calendar = 3\n", "[calendar] must be a table"),
        ('owner = "kim"\n[review\n', "TOML syntax error"),
        ('currency = "JPY"\ncurrency = "USD"\n', "TOML syntax error"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, pipeline: Path, text: str, message: str) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(text, encoding="utf-8")
    before = snapshot(pipeline)
    result = run("add", "X")
    assert_error(result, message)
    assert str(config) in result.stderr
    assert snapshot(pipeline) == before


def test_a_country_the_holidays_package_does_not_know_names_file_and_key(tmp_path: Path, pipeline: Path) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[calendar]\ncountry = "XX"\n', encoding="utf-8")
    before = snapshot(pipeline)
    result = run("add", "X", "--due", "+3bd")
    assert_error(result, "calendar.country 'XX' is not a country the holidays package knows")
    assert str(config) in result.stderr
    assert_error(run("touch", "acme", "call"), "calendar.country 'XX'")  # the cadence counts working days
    assert snapshot(pipeline) == before
    doctor = run("doctor")
    assert doctor.exit_code == 1 and "calendar.country 'XX' is not a country" in doctor.stdout


def test_syntax_error_says_where(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('owner = "kim"\n[review\n', encoding="utf-8")
    assert_error(run("--config", str(config), "list"), "line 2")


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    assert_error(run("--config", str(tmp_path / "nope.toml"), "list"), "no such file")


def test_read_on_missing_database_creates_nothing(tmp_path: Path) -> None:
    assert_error(run("list"), "no database at")
    assert_error(run("show", "1"), "no database at")
    assert not db_path(tmp_path).parent.exists()


@pytest.mark.sqlite_only
def test_database_from_newer_pipectl_is_refused_untouched(pipeline: Path) -> None:
    conn = sqlite3.connect(pipeline)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = pipeline.read_bytes()
    assert_error(run("list"), "written by a newer pipectl")
    assert_error(run("add", "X"), "written by a newer pipectl")
    assert pipeline.read_bytes() == before


@pytest.mark.sqlite_only
def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = snapshot(other)
    assert_error(run("--db", str(other), "add", "X"), "not a pipectl one")
    assert snapshot(other) == before


def test_not_a_database_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello, I am text\n" * 100)
    assert_error(run("--db", str(junk), "list"), "cannot use")


def test_debug_shows_tracebacks_only_for_unexpected_errors(pipeline: Path) -> None:
    result = run("--debug", "show", "nobody")
    assert_error(result, "no lead matches")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "99999999999999999999"], "no lead with id 99999999999999999999"),
        (["show", "\u00b9"], "no lead matches"),
        (["add", "Old", "--at=0500-01-01"], "out of range: years 1900 to 2999"),
        (["--as-of=9999-12-31", "review"], "out of range"),
        (["snooze", "1", "--until=99999w"], "out of range"),
    ],
)
def test_out_of_range_ids_and_dates(pipeline: Path, args: list[str], message: str) -> None:
    before = snapshot(pipeline)
    assert_error(run(*args), message)
    assert snapshot(pipeline) == before


def test_an_error_quoting_a_newline_stays_one_line(pipeline: Path) -> None:
    add("Multi\nLine One")
    add("Multi\nLine Two")
    result = run("show", "multi")
    assert_error(result, "'multi' matches 2 leads")
    assert "Multi\\nLine One" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[review]\noverload_share = nan\n", "review.overload_share must be a number"),
        ("[review]\nidle_days = 1000000\n", "review.idle_days must be between 1 and 36,500"),
        ("[cadence]\ncycle_tolerance = inf\n", "cadence.cycle_tolerance must be a number"),
        ("[targets]\nquota = 1e300\n", "targets.quota must be between"),
    ],
)
def test_config_numbers_are_finite_and_bounded(pipeline: Path, tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(text, encoding="utf-8")
    assert_error(run("list"), message)
