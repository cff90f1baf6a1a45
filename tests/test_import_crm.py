"""Importing the big CRMs' exports: no cell lost, their stages understood, their record ids kept."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import database, ok, query, run
from pipectl import transfer
from pipectl.importmap import ALIASES, EXTRA_JSON

_files = itertools.count()
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÉéü山田太郎 ", min_size=1, max_size=8)
# A cell each field keeps as written (stored forms of dates, a plain amount...), so that the test can
# look for the cell itself in what `show --json` gives back.
LITERAL = {
    "email": st.just("{token}@example.com"),
    "other_emails": st.just("{token}@example.org"),
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


# --- each CRM's own export ---------------------------------------------------------------------------

CRM = Path(__file__).parent / "fixtures" / "crm"


def leads_by_name() -> dict[str, dict]:
    return {lead["name"]: lead for lead in ok("list", "--status", "all", "--json").json()}


def import_event() -> dict:
    [(data,)] = query("SELECT data FROM events WHERE type = 'import' ORDER BY id DESC LIMIT 1")
    return json.loads(data)


@pytest.mark.backends
def test_salesforce_opportunities_map_their_stages_out_of_the_box() -> None:
    result = ok("import", str(CRM / "salesforce-opportunities.csv"))
    assert "0 rejected" in result.stdout
    stages_line = (
        "stages: Qualification -> qualifying, Needs Analysis -> qualifying, Value Proposition -> connecting, "
        "Id. Decision Makers -> connecting, Perception Analysis -> connecting, Proposal/Price Quote -> closing, "
        "Negotiation/Review -> closing, Closed Won -> won, Closed Lost -> lost "
        "(--map-stage or [import.stages] in the config to change)"
    )
    assert stages_line in result.stdout.splitlines()
    leads = leads_by_name()
    assert (leads["Tyrell - Replicants"]["stage"], leads["Tyrell - Replicants"]["next_action"]) == (
        "closing",
        "Legal review",
    )
    won = leads["Cyberdyne - Phase 1"]
    assert (won["status"], won["stage"], won["closed_at"], won["value"]) == (
        "won",
        "closing",
        "2026-10-30T00:00:00Z",
        50000,
    )
    assert leads["Soylent - Trial"]["status"] == "lost"
    assert import_event()["stages"]["Id. Decision Makers"] == "connecting"


@pytest.mark.backends
def test_map_stage_and_import_stages_in_the_config_override_the_defaults(tmp_path: Path) -> None:
    settings_file = tmp_path / "config.toml"
    settings_file.write_text('[import.stages]\n"Lead In" = "qualifying"\n"Contact Made" = "connecting"\n')
    result = ok(
        "--config", str(settings_file), "import", str(CRM / "pipedrive-deals.csv"), "--map-stage", "Lead In=closing"
    )
    assert "Lead In -> closing" in result.stdout and "Contact Made -> connecting" in result.stdout
    leads = leads_by_name()
    assert leads["Jonas Keller"]["stage"] == "closing"  # --map-stage wins over the config
    assert leads["Ingrid Dahl"]["stage"] == "connecting"
    assert import_event()["stages"]["Contact Made"] == "connecting"


def test_a_config_mapping_to_no_stage_is_an_error(tmp_path: Path) -> None:
    settings_file = tmp_path / "config.toml"
    settings_file.write_text('[import.stages]\n"Lead In" = "nowhere"\n')
    result = run("--config", str(settings_file), "import", str(CRM / "pipedrive-deals.csv"))
    assert result.exit_code == 2
    assert "import.stages.'Lead In' must name a stage: prospecting, qualifying" in result.stderr
    assert not Path(database()).exists()


@pytest.mark.backends
def test_unknown_stages_are_listed_once_with_one_hint_from_the_probability(tmp_path: Path) -> None:
    source = tmp_path / "hubspot.csv"
    rows = (CRM / "hubspot-deals.csv").read_text().splitlines()
    rows.append(rows[-1].replace("9837465008", "9837465009").replace("Weston's", "Miss Patty's"))
    rows.append(rows[-1].replace("9837465009", "9837465010").replace("1073741891", "1073741999").replace(",0.5,", ",,"))
    source.write_text("\n".join(rows) + "\n")
    rejects = tmp_path / "rejects.csv"
    result = run("import", str(source), "--rejects", str(rejects))
    assert result.exit_code == 1
    hint = [line for line in result.stdout.splitlines() if line.startswith("unknown stages")]
    assert hint == [
        "unknown stages: '1073741891' (2 rows, probability 0.5), '1073741999' (1 row); map them with "
        '--map-stage "1073741891=connecting" --map-stage "1073741999=STAGE" '
        "(stages: prospecting, qualifying, connecting, closing; or won, lost, disqualified); "
        "the stages named are those nearest the file's probability"
    ]
    assert "appointmentscheduled -> prospecting" in result.stdout
    reasons = [row["reason"] for row in csv.DictReader(rejects.open(encoding="utf-8"))]
    assert reasons == ["unknown stage '1073741891'"] * 2 + ["unknown stage '1073741999'"]
    assert len(ok("list", "--status", "all", "--json").json()) == 7


def test_dry_run_shows_the_mapping_and_writes_nothing() -> None:
    result = ok("import", str(CRM / "zoho-deals.csv"), "--dry-run")
    assert result.stdout.startswith("would import 8 rows: 8 inserted")
    assert "Identify Decision Makers -> connecting" in result.stdout
    assert "Closed-Lost to Competition -> lost" in result.stdout
    assert ok("list", "--status", "all", "--json").json() == []


@pytest.mark.backends
def test_the_second_reading_process_reports_the_stages_it_met(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 2)
    monkeypatch.setattr(transfer, "BATCH", 2)
    result = run("import", str(CRM / "hubspot-deals.csv"))
    assert result.exit_code == 1
    assert "closedlost -> lost" in result.stdout  # met by the copy, on line 8
    assert "unknown stages: '1073741891' (1 row, probability 0.5)" in result.stdout
    assert import_event()["stages"]["closedwon"] == "won"


# --- record ids ----------------------------------------------------------------------------------------


@pytest.mark.backends
def test_record_ids_are_kept_and_an_updated_export_updates_instead_of_duplicating(tmp_path: Path) -> None:
    export = CRM / "salesforce-opportunities.csv"
    assert "11 inserted" in ok("import", str(export)).stdout  # two "Acme - 200 Widgets": two records
    acme = [lead for lead in ok("list", "--status", "all", "--json").json() if lead["name"] == "Acme - 200 Widgets"]
    assert [(lead["source_id"], lead["source_system"]) for lead in acme] == [
        ("0065g00000XyZ01AAA", "salesforce"),
        ("0065g00000XyZ11AAA", "salesforce"),
    ]
    shown = [line.split() for line in ok("show", str(acme[0]["id"])).stdout.splitlines()]
    assert ["source", "record", "0065g00000XyZ01AAA", "(salesforce)"] in shown
    next_week = tmp_path / "next-week.csv"
    next_week.write_text(
        export.read_text()
        .replace('"Acme - 200 Widgets","First contact', '"Acme - 250 Widgets","First contact')
        .replace('"Prospecting","25000.0"', '"Needs Analysis","31000.0"')
    )
    result = ok("import", str(next_week), "--on-duplicate", "update")
    assert "0 inserted, 1 updated, 10 skipped as duplicates" in result.stdout
    renamed = ok("show", str(acme[0]["id"]), "--json").json()
    assert (renamed["name"], renamed["stage"], renamed["value"]) == ("Acme - 250 Widgets", "qualifying", 31000)
    assert ok("show", str(acme[1]["id"]), "--json").json()["name"] == "Acme - 200 Widgets"


@pytest.mark.backends
def test_a_record_id_repeated_in_the_file_is_rejected(tmp_path: Path) -> None:
    rows = (CRM / "hubspot-deals.csv").read_text().splitlines()[:3]
    source = tmp_path / "deals.csv"
    source.write_text("\n".join([*rows, rows[1].replace("Dragonfly Inn - Booking", "Dragonfly Inn - Spa")]) + "\n")
    rejects = tmp_path / "rejects.csv"
    result = run("import", str(source), "--rejects", str(rejects))
    assert result.exit_code == 1
    assert "line 4: hubspot record id repeated in the file (an earlier row has it): '9837465001'" in result.stderr
    assert "2 inserted" in result.stdout
    [rejected] = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert (rejected["Record ID"], rejected["Deal Name"], rejected["line"]) == (
        "9837465001",
        "Dragonfly Inn - Spa system",
        "4",
    )


def test_two_record_id_columns_the_first_wins_and_the_import_says_so(tmp_path: Path) -> None:
    source = tmp_path / "pipedrive.csv"
    source.write_text("Deal - ID,Person - ID,Deal - Contact person,Deal - Stage\n7,70,Jonas Keller,Lead In\n")
    result = ok("import", str(source))
    assert "warning: more than one record id column: 'Deal - ID' is the source id, 'Person - ID' kept in extra" in (
        result.stderr
    )
    [lead] = ok("list", "--json").json()
    assert (lead["source_id"], lead["source_system"], lead["extra"]) == ("7", "pipedrive", {"Person - ID": "70"})


@pytest.mark.backends
def test_each_systems_export_names_its_system_and_survives_export_and_import(tmp_path: Path) -> None:
    systems = {"hubspot-deals": "hubspot", "pipedrive-deals": "pipedrive", "zoho-deals": "zoho"}
    for name in systems:
        run("import", str(CRM / f"{name}.csv"))
    leads = ok("list", "--status", "all", "--json").json()
    assert {lead["source_system"] for lead in leads} == set(systems.values())
    nordwind = [lead for lead in leads if lead["company"] == "Nordwind GmbH"]
    assert [(lead["name"], lead["source_id"], lead["status"]) for lead in nordwind] == [
        ("Jonas Keller", "101", "open"),
        ("Jonas Keller", "107", "won"),
    ]
    arjun = next(lead for lead in leads if lead["source_id"] == "zcrm_5725767000000412001")
    assert (arjun["name"], arjun["company"], arjun["value"], arjun["extra"]["Deal Name"]) == (
        "Arjun Mehta",
        "Lotus Textiles",
        15000,
        "Lotus Textiles - ERP",
    )
    exported = tmp_path / "all.csv"
    exported.write_text(ok("export").stdout, encoding="utf-8")
    assert "source_id,source_system" in exported.read_text().splitlines()[0]
    copy = str(tmp_path / "copy.db")
    ok("--db", copy, "import", str(exported))
    again = ok("--db", copy, "list", "--status", "all", "--json").json()
    assert [(lead["source_id"], lead["source_system"]) for lead in again] == [
        (lead["source_id"], lead["source_system"]) for lead in leads
    ]
    assert "0 inserted" in ok("--db", copy, "import", str(exported)).stdout  # matched on the ids


def test_a_repeated_record_id_is_caught_after_a_row_gave_it_to_an_existing_lead(tmp_path: Path) -> None:
    ok("add", "Jane Doe", "--email", "jane@acme.example")
    source = tmp_path / "contacts.csv"
    source.write_text("Record ID,First Name,Last Name,Email\n501,Jane,Doe,jane@acme.example\n501,Jane,Doe,\n")
    result = run("import", str(source), "--on-duplicate", "fill")
    assert result.exit_code == 1
    assert "line 3: hubspot record id repeated in the file (an earlier row has it): '501'" in result.stderr
    [jane] = ok("list", "--json").json()
    assert (jane["source_id"], jane["source_system"]) == ("501", "hubspot")


# --- other addresses (SPEC §12) ----------------------------------------------------------------------


def emails_of(ref: str) -> list[tuple[str, bool]]:
    return [(entry["email"], entry["main"]) for entry in ok("show", ref, "--json").json()["emails"]]


@pytest.mark.backends
@pytest.mark.parametrize(
    ("header", "cell"),
    [
        ("Work email", "ADA@Work.example"),  # HubSpot, beside Email
        ("Additional email addresses", "ada@work.example; ada@x.example ;ada@home.example"),  # HubSpot
        ("Secondary Email", "ada@work.example"),  # Salesforce, Zoho
        ("Other Email", "ada@work.example"),
        ("Person - Email - Home", "ada@work.example"),  # Pipedrive
        ("Person - Email - Other", "ada@work.example"),
        ("Email 2", "ada@work.example"),
        ("メールアドレス2", "ada@work.example"),
    ],
)
def test_secondary_email_columns_become_the_leads_other_addresses(tmp_path: Path, header: str, cell: str) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(f'Name,Email,{header}\nAda,ada@x.example,"{cell}"\nBob,bob@x.example,\n', encoding="utf-8")
    assert "2 inserted" in ok("import", str(source)).stdout
    others = [("ada@home.example", False)] if "home" in cell else []
    assert emails_of("ada@x.example") == [("ada@x.example", True), *others, ("ada@work.example", False)]
    assert ok("show", "ada@work.example", "--json").json()["name"] == "Ada"
    assert emails_of("bob@x.example") == [("bob@x.example", True)]
    assert ok("show", "ada@x.example", "--json").json()["extra"] == {}


@pytest.mark.backends
def test_a_malformed_other_address_rejects_its_row(tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_text("Name,Email,Secondary Email\nAda,ada@x.example,ada@\nBob,bob@x.example,bob@work.example\n")
    result = run("import", str(source))
    assert result.exit_code == 1
    assert "1 inserted" in result.stdout and "1 rejected" in result.stdout
    assert "line 2: malformed email 'ada@'" in result.stderr
    assert query("SELECT email FROM leads") == [("bob@x.example",)]


@pytest.mark.backends
@pytest.mark.parametrize("parallel", [False, True])
def test_an_address_of_another_lead_makes_the_row_its_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    if parallel:  # the second reading process, and batches of two
        monkeypatch.setattr(transfer, "PARALLEL_AFTER", 2)
        monkeypatch.setattr(transfer, "BATCH", 2)
    ok("add", "Ada", "--email", "ada@x.example")
    source = tmp_path / "crm.csv"
    source.write_text(
        "Name,Email,Other Email\n"
        "Ann,ann@x.example,\n"
        "Ada Lovelace,ada@new.example,ada@x.example\n"  # Ada's main address: Ada's duplicate
        "Cy,cy@x.example,cy@work.example\n"
        "Cyril,cyril@x.example,cy@work.example\n"  # an earlier row's other address
        "Dee,cy@work.example,\n"  # as a main address
        "Eve,ada@x.example,cy@x.example\n"  # two leads' addresses: rejected
    )
    result = run("import", str(source), "--on-duplicate", "skip")
    assert "2 inserted, 0 updated, 3 skipped as duplicates, 1 rejected" in result.stdout, result.stdout
    assert "cy@x.example is an address of" in result.stderr
    addresses = query("SELECT email FROM leads WHERE email IS NOT NULL UNION ALL SELECT email FROM lead_emails")
    assert sorted(email for (email,) in addresses) == [
        "ada@x.example",
        "ann@x.example",
        "cy@work.example",
        "cy@x.example",
    ]
    assert ok("show", "cy@work.example", "--json").json()["name"] == "Cy"


@pytest.mark.backends
def test_update_gives_a_duplicate_the_rows_new_addresses_and_undo_takes_them_back(tmp_path: Path) -> None:
    ok("add", "Ada", "--email", "ada@x.example")
    source = tmp_path / "crm.csv"
    source.write_text("Name,Email,Email 2\nAda,ada@x.example,ada@work.example\nBob,bob@x.example,bob@home.example\n")
    result = ok("import", str(source), "--on-duplicate", "update")
    assert "1 inserted, 1 updated" in result.stdout
    assert emails_of("ada@x.example") == [("ada@x.example", True), ("ada@work.example", False)]
    assert emails_of("bob@x.example") == [("bob@x.example", True), ("bob@home.example", False)]
    ok("undo")
    assert query("SELECT email, lead_id FROM lead_emails") == []
    assert query("SELECT name FROM leads") == [("Ada",)]


@pytest.mark.backends
def test_export_writes_other_addresses_and_imports_them_back(tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_text("Name,Email,Additional email addresses\nAda,ada@x.example,ada@b.example;ada@a.example\n")
    ok("import", str(source))
    exported = tmp_path / "export.csv"
    ok("export", "--format", "csv", "--output", str(exported))
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert rows[0]["other_emails"] == "ada@a.example;ada@b.example"
    result = run("--db", str(tmp_path / "copy.db"), "import", str(exported))
    assert "1 inserted" in result.stdout, result.stderr
    shown = ok("--db", str(tmp_path / "copy.db"), "show", "ada@b.example", "--json").json()
    assert [entry["email"] for entry in shown["emails"]] == ["ada@x.example", "ada@a.example", "ada@b.example"]
