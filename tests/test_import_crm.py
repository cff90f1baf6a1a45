"""Importing the big CRMs' exports: no cell lost, their stages understood, their record ids kept."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import ok, run
from pipectl.importmap import ALIASES, EXTRA_JSON

_files = itertools.count()
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÉéü山田太郎 ", min_size=1, max_size=8)
# A cell each field keeps as written (stored forms of dates, a plain amount...), so that the test can
# look for the cell itself in what `show --json` gives back.
LITERAL = {
    "email": st.just("{token}@example.com"),
    "value": st.integers(1, 10**9).map(str),
    "stage": st.sampled_from(["prospecting", "qualifying", "connecting", "closing"]),
    "status": st.sampled_from(["open", "won", "lost", "disqualified"]),
    "tags": st.just("{token}"),
    "expected_close": st.just("2026-05-06"),
    "qualified": st.sampled_from(["true", "false"]),
    "qualification_score": st.just("0.5"),
    **dict.fromkeys(
        ("created_at", "stage_entered_at", "snoozed_until", "closed_at", "next_action_due"),
        st.sampled_from(["2026-03-04T09:00:00Z", "2026-10-01T17:30:00Z"]),
    ),
}
# The alias table's spellings by field: a field is drawn first, so that rare ones (the name columns,
# which collide most) come up as often as the many spellings of a company.
SPELLINGS: dict[str, list[str]] = {}
for _spelling, (_field, _) in sorted(ALIASES.items()):
    SPELLINGS.setdefault(_field, []).append(_spelling)
KNOWN_HEADERS = st.sampled_from(sorted(SPELLINGS)).flatmap(lambda field: st.sampled_from(SPELLINGS[field]))
UNKNOWN_HEADERS = st.sampled_from(["Job Title", "Lifecycle Stage", "Company Domain Name", "", "Fax", "IsWon"])


def cell_for(field: str, token: str) -> st.SearchStrategy[str]:
    """A cell of a column feeding ``field``; text columns end in ``token`` (one per row and column)."""
    if field in LITERAL:
        return LITERAL[field].map(lambda text: text.format(token=token))
    return WORD.map(lambda text: f"{text.strip()} {token}".strip())


@st.composite
def crm_file(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header of alias-table spellings and unknown columns, and 1 to 3 rows of cells for it."""
    header = draw(st.lists(st.one_of(KNOWN_HEADERS, UNKNOWN_HEADERS), min_size=1, max_size=9))
    if not any(ALIASES.get(cell, ("",))[0] in ("name", "first_name", "last_name") for cell in header):
        header.insert(draw(st.integers(0, len(header))), "name")
    fields = [ALIASES.get(cell, (EXTRA_JSON if cell == "extra" else "text",))[0] for cell in header]
    rows = []
    for row in range(draw(st.integers(1, 3))):
        rows.append([draw(st.one_of(st.just(""), cell_for(f, f"r{row}c{i}"))) for i, f in enumerate(fields)])
        for i, field in enumerate(fields):  # a row always has a name
            if field in ("name", "first_name", "last_name") and not rows[-1][i]:
                rows[-1][i] = f"Lead r{row}c{i}"
    return header, rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crm_file())
@example(  # HubSpot's contacts-with-companies template
    (
        ["First Name", "Last Name", "Email Address", "Name", "Company Domain Name"],
        [["Lorelai", "Gilmore", "lorelai@dragonfly.example", "Dragonfly Inn", "dragonfly.example"]],
    )
)
def test_every_cell_of_an_imported_row_is_in_show_json(
    tmp_path: Path, drawn: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = drawn
    number = next(_files)
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    source = tmp_path / f"crm{number}.csv"
    source.write_text(text.getvalue(), encoding="utf-8")
    database = str(tmp_path / f"crm{number}.db")
    result = run("--db", database, "import", str(source))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert f"{len(rows)} inserted" in result.stdout
    leads = ok("--db", database, "list", "--status", "all", "--json").json()
    shown = json.dumps(
        [ok("--db", database, "show", str(lead["id"]), "--json").json() for lead in leads], ensure_ascii=False
    )
    for row in rows:
        for column, cell in zip(header, row, strict=True):
            assert cell.strip() in shown, f"{column}={cell!r} is lost"
