"""Hostile text in every free-text field: stored verbatim, never run, never reaching the terminal raw.

Lead names, companies, sources, tags, notes, next actions, lost and snooze reasons holding SQL, shell
metacharacters, ANSI escape sequences, Rich markup, emoji, right-to-left and zero-width characters:

- are stored as typed (after the documented trim of surrounding whitespace): ``show --json`` and
  ``list --json`` give them back exactly;
- run no SQL: the tables are all there and hold the rows the commands made;
- reach no human output raw: in a pipe (as CliRunner gives) and at a forced terminal (Rich), no ESC or
  BEL character of the user's text is printed; control characters are shown escaped (``\\x1b``), and
  Rich markup is printed as typed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from conftest import Result, add, ok, run, snapshot

pytestmark = pytest.mark.backends

SQL = [
    "'; DROP TABLE leads; --",
    '" OR 1=1 --',
    "Robert'); DROP TABLE touchpoints;--",
    "1; DELETE FROM events WHERE 1=1",
    "x' UNION SELECT name FROM sqlite_master --",
    "%_\\ LIKE wildcards",
]
SHELL = ["$(rm -rf ~)", "`reboot`", "; ls -la", "&& echo pwned", "| cat /etc/passwd", "${HOME} $USER", "$name $company"]
ANSI = [
    "\x1b[2J",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "before\x1b[1A\x1b[Kafter",
    "bell\x07\x07",
    "\x9b2J C1 CSI",
    "over\rwrite",
    "back\x08space",
]
MARKUP = ["[bold]x[/bold]", "[/]", "[link=file:///etc/passwd]x[/link]", "[red]unclosed", ":smile: :thumbs_up:", "\\[x]"]
UNICODE = [
    "🦄 Unicorn 株式会社",
    "👨\u200d👩\u200d👧 family",
    "مرحبا بالعالم",
    "\u202eevil\u202c txt.exe",
    "zero\u200bwidth\u2060joiner\ufeff",
    "  padded with spaces\t",
    "\u3000全角スペース\u3000",
]
PAYLOADS = SQL + SHELL + ANSI + MARKUP + UNICODE
TABLES = {"leads", "touchpoints", "events"}


def escaped(text: str) -> str:
    """How a human output shows ``text``: control characters as ``\\xNN`` text, the rest as typed."""
    return "".join(ch if ch.isprintable() or ch == "\n" else f"\\x{ord(ch):02x}" for ch in text)


def assert_no_raw_controls(result: Result) -> None:
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\x9b" not in stream, stream


def tables() -> dict[str, int]:
    """How many rows each table of the test's database holds."""
    return {name: len(rows) for name, rows in snapshot().items()}


def seed(payload: str) -> tuple[int, int]:
    """A lead with the payload in every text field, and a lost lead with it as the reason."""
    tag = payload.replace(",", " ")  # a comma separates tags
    lead = add(
        payload,
        "--company",
        payload,
        "--source",
        payload,
        "--tag",
        tag,
        "--next",
        payload,
        "--due",
        "yesterday",
        "--note",
        payload,
        "--at",
        "-3d",
        "--value",
        "1200",
    )
    ok("touch", str(lead), "email", "--note", payload, "--next", payload, "--due", "-1h")
    other = add("Lost Lead " + payload, "--company", "Other " + payload, "--at", "-20d")
    ok("lost", str(other), "--reason", payload)
    return lead, other


GROUPS = {"sql": SQL, "shell": SHELL, "ansi": ANSI, "markup": MARKUP, "unicode": UNICODE}
HUMAN = [
    ("list", "--status", "all"),
    ("today",),
    ("review", "--all"),
    ("board",),
    ("report", "--since", "30d", "--by", "tag"),
    ("report", "--since", "30d", "--by", "source"),
]


@pytest.fixture(params=list(GROUPS))
def seeded(request: pytest.FixtureRequest) -> dict[str, tuple[int, int]]:
    """One kind of payload (SQL, shell, ANSI, markup, unicode), each seeded as in ``seed``."""
    return {payload: seed(payload) for payload in GROUPS[request.param]}


def test_stored_verbatim_and_no_sql_runs(tmp_path: Path, seeded: dict[str, tuple[int, int]]) -> None:
    listed = {item["id"]: item for item in ok("list", "--status", "all", "--json").json()}
    for payload, (lead, other) in seeded.items():
        expected = payload.strip()
        tag = payload.replace(",", " ").strip()
        shown = ok("show", str(lead), "--json").json()
        for key in ("name", "company", "source", "next_action"):
            assert shown[key] == expected, (payload, key, shown[key])
        assert shown["tags"] == [tag], payload
        notes = [entry["note"] for entry in shown["timeline"] if entry["type"] == "touchpoint"]
        assert notes == [expected, expected], payload
        assert listed[lead] == {key: value for key, value in shown.items() if key in listed[lead]}, payload
        assert listed[other]["lost_reason"] == expected, payload
        assert listed[other]["name"] == ("Lost Lead " + payload).strip(), payload
        assert [item["id"] for item in ok("list", "--tag", tag, "--json").json()] == [lead], payload
        # As a LEAD, the payload is text to match (open leads first), not a pattern or SQL.
        assert ok("show", "--json", "--", payload).json()["id"] == lead, payload
        missing = run("show", "--", payload + " nobody")
        assert missing.exit_code == 2 and len(missing.stderr.splitlines()) == 1, (payload, missing.stderr)
        assert missing.stderr.startswith("Error: no lead matches "), (payload, missing.stderr)
        assert_no_raw_controls(missing)
    sleepy = add("Sleepy")
    reason = next(iter(seeded))
    ok("snooze", str(sleepy), "--until", "+3d", "--reason", reason)
    assert ok("show", str(sleepy), "--json").json()["snooze_reason"] == reason.strip()

    counts = tables()
    assert counts.keys() >= TABLES
    assert counts["leads"] == 2 * len(seeded) + 1
    assert counts["touchpoints"] == 2 * len(seeded)  # the first note and the email of each
    assert counts["events"] >= 4 * len(seeded)


def test_human_output_in_a_pipe(seeded: dict[str, tuple[int, int]]) -> None:
    outputs = {args: ok(*args) for args in HUMAN}
    for result in outputs.values():
        assert_no_raw_controls(result)
    for payload, (lead, other) in seeded.items():
        expected = escaped(payload.strip())
        show = ok("show", str(lead))
        assert_no_raw_controls(show)
        assert f"name            {expected}\n" in show.stdout, (payload, show.stdout)
        assert f"next action     {expected}\n" in show.stdout, (payload, show.stdout)
        assert f"(out) {expected}" in show.stdout, (payload, show.stdout)  # the email's note
        lost = ok("show", str(other))
        assert_no_raw_controls(lost)
        assert expected in lost.stdout, (payload, lost.stdout)  # the lost reason
        for args in (("today",), ("review", "--all"), ("board",), ("list", "--status", "all")):
            assert expected in outputs[args].stdout, (payload, args)


# What the user's sequences would look like raw (Rich's own styling, at a colour terminal, is other ESC text).
RAW = ["\x1b[2J", "\x1b]0;title", "\x07", "\x1b]8;;http://evil", "\x9b", "\x1b[1A", "\x1b[K", "\r", "\x08"]


def test_rich_path_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a forced terminal (render.is_terminal patched: Rich draws), with and without Rich's colours."""
    leads = {payload: seed(payload) for payload in ANSI + MARKUP}
    monkeypatch.setattr("pipectl.render.is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "50")
    monkeypatch.setenv("TERM", "xterm-256color")
    for colour in (False, True):
        if colour:
            monkeypatch.setenv("FORCE_COLOR", "1")
        for args in [("list",), ("board",), ("review",), ("today",)]:
            result = ok(*args)
            for raw in RAW:
                assert raw not in result.stdout and raw not in result.stderr, (colour, args, raw, result.stdout)
            if not colour:
                assert_no_raw_controls(result)
        for payload, (lead, _) in leads.items():
            show = ok("show", str(lead))
            for raw in RAW:
                assert raw not in show.stdout and raw not in show.stderr, (colour, payload, raw, show.stdout)
            if not colour:
                assert_no_raw_controls(show)
            assert escaped(payload) in show.stdout, (colour, payload, show.stdout)
            if payload.startswith("\x1b"):
                assert "\\x1b" in show.stdout, (colour, payload, show.stdout)
        if colour:
            assert "\x1b[1m" in ok("list").stdout  # Rich styled its own header: the colour path ran
    for columns in ("80", "200"):  # compact cards below 100 columns
        monkeypatch.setenv("COLUMNS", columns)
        result = ok("board")
        for raw in RAW:
            assert raw not in result.stdout, (columns, raw)
        assert "\\x" in result.stdout, columns  # the newest cards: escaped control characters


def test_json_and_csv_outputs_keep_the_text_exactly() -> None:
    """Scripts get the text itself (JSON escapes control characters as \\u001b, which is exact; CSV is data)."""
    payload = "\x1b]0;title\x07 [bold]x[/bold] '; DROP TABLE leads; -- 🦄"
    lead = add(payload, "--company", payload)
    line = ok("list", "--json").stdout
    assert "\x1b" not in line and "\\u001b" in line
    assert json.loads(line)[0]["name"] == payload
    assert ok("export", "--format", "jsonl").json()["name"] == payload
    assert ok("show", str(lead), "--json").json()["company"] == payload
    rows = list(csv.DictReader(io.StringIO(ok("export", "--format", "csv").stdout)))
    assert rows[0]["name"] == rows[0]["company"] == payload


STAGE = "[[stages]]\nname = {name}\nprobability = 0.5\nmax_days = 14\nmax_open = 100\n"


def _stages_config(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STAGE.format(name=name) + STAGE.format(name='"closing"'), encoding="utf-8")


@pytest.mark.parametrize(
    "name", ['"x\'; DROP TABLE leads; --"', "\"a' OR '1'='1\"", '"[bold]s[/bold]"', "'\"quoted\"'"]
)
def test_stage_names_from_the_config_are_not_sql(tmp_path: Path, name: str) -> None:
    """Stage names reach SQL (the stage sort, today's weights): they are quoted, never run."""
    _stages_config(tmp_path, name)
    lead = add("Staged", "--value", "10")
    for args in [("list", "--sort", "stage"), ("today",), ("board",), ("review",), ("report",)]:
        ok(*args)
    assert ok("show", str(lead), "--json").json()["stage"] == name[1:-1]
    counts = tables()
    assert counts.keys() >= TABLES and counts["leads"] == 1


def test_control_characters_in_a_stage_name_are_a_config_error(tmp_path: Path) -> None:
    _stages_config(tmp_path, '"a\\u001b[2Jb"')
    result = run("report")
    assert result.exit_code == 2 and "holds control characters" in result.stderr
    assert_no_raw_controls(result)


@pytest.mark.parametrize("args", [("list", "--sort", "stage"), ("today",)])
def test_stage_config_pasted_into_sql(tmp_path: Path, args: tuple[str, ...]) -> None:
    _stages_config(tmp_path, '"a\\u0000b"')
    result = run(*args)
    assert result.exit_code == 2 and "holds control characters" in result.stderr, result.stderr
