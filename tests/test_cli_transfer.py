"""Import, export, backup and merge through the CLI, with real files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NOW, add, assert_error, database, db_path, ok, query, run, snapshot
from pipectl import config, csvio, dates, leads, migrations, transfer
from pipectl.actions import Context
from pipectl.store import Store
from pipectl.store.backend import Backend

pytestmark = pytest.mark.backends

EXAMPLE = Path(__file__).parent.parent / "examples" / "leads.csv"
HUBSPOT = (
    "First Name,Last Name,Email,Company Name,Amount,Lead Source,Create Date,Deal Stage,Job Title\n"
    'Jane,Doe,jane@acme.com,Acme,"$1,200.50",webinar,2026-11-01,Appointment Scheduled,CTO\n'
    "Bob,Roe,bob@globex.com,Globex,300,referral,2026-11-02,prospecting,\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def leads_json(*args: str) -> list[dict]:
    return ok(*args, "list", "--status", "all", "--json").json()


def test_import_example_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    first = ok("import", str(EXAMPLE))
    assert first.stdout.startswith("imported 52 rows: 52 inserted, 0 updated, 0 skipped as duplicates, 0 rejected")
    before = snapshot()
    second = ok("import", str(EXAMPLE))
    assert "0 inserted, 0 updated, 52 skipped as duplicates" in second.stdout
    assert snapshot()["leads"] == before["leads"]
    acme = ok("show", "acme", "--json").json()
    assert (acme["name"], acme["status"], acme["value"], acme["tags"]) == (
        "山田 太郎",
        "won",
        2400000,
        ["enterprise", "jp"],
    )
    assert acme["created_at"] == "2026-04-08T00:00:00Z"
    assert [e["type"] for e in acme["timeline"]][:3] == ["created", "imported", "touchpoint"]


def test_header_mapping_extra_and_map_stage(tmp_path: Path) -> None:
    source = write(tmp_path / "hubspot.csv", HUBSPOT)
    ok("import", str(source), "--map-stage", "Appointment Scheduled=connecting")
    jane = ok("show", "jane", "--json").json()
    assert (jane["name"], jane["company"], jane["value"], jane["source"], jane["stage"]) == (
        "Jane Doe",
        "Acme",
        1200.5,
        "webinar",
        "connecting",
    )
    assert jane["extra"] == {"Job Title": "CTO"}
    assert jane["created_at"] == "2026-11-01T00:00:00Z"


def test_stdin_with_source_and_stage() -> None:
    result = ok("import", "-", "--source", "webinar", "--stage", "qual", input="Name,Email\nAnn,ann@x.com\n")
    assert "1 inserted" in result.stdout
    ann = ok("show", "ann", "--json").json()
    assert (ann["source"], ann["stage"]) == ("webinar", "qualifying")


def test_rejects_file_and_exit_code(tmp_path: Path) -> None:
    source = write(
        tmp_path / "messy.csv", "Name,Email,Value\nAnn,ann@x.com,10\nBob,not-mail,20\n,c@x.com,5\nDee,d@x.com,-3\n"
    )
    rejects = tmp_path / "rejected.csv"
    result = run("import", str(source), "--rejects", str(rejects))
    assert result.exit_code == 1
    assert "1 inserted" in result.stdout and "3 rejected" in result.stdout
    assert "line 3: malformed email 'not-mail'" in result.stderr
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Name,Email,Value,line,reason"
    assert lines[1].startswith("Bob,not-mail,20,3,")
    assert lines[2].startswith(",c@x.com,5,4,") and lines[3].startswith("Dee,d@x.com,-3,5,")
    assert oct(rejects.stat().st_mode & 0o777) == "0o600"


def test_a_nul_character_is_a_row_error_on_every_backend(tmp_path: Path) -> None:
    source = write(tmp_path / "nul.csv", "Name,Email,Notes\nA\x00b,a@x.com,hi\nCy,c@x.com,fine\nDi,d@x.com,n\x00o\n")
    result = run("import", str(source))
    assert result.exit_code == 1 and "1 inserted" in result.stdout and "2 rejected" in result.stdout
    assert "line 2: a cell holds a NUL character (0x00)" in result.stderr
    assert [lead["name"] for lead in ok("list", "--json").json()] == ["Cy"]


def test_strict_and_dry_run_write_nothing(tmp_path: Path) -> None:
    add("Existing")
    before = snapshot()
    source = write(tmp_path / "messy.csv", "Name,Email\nAnn,ann@x.com\nBob,not-mail\n")
    assert_error(run("import", str(source), "--strict"), "line 3: malformed email")
    assert snapshot() == before
    good = write(tmp_path / "good.csv", "Name,Email\nAnn,ann@x.com\nBob,bob@x.com\n")
    assert ok("import", str(good), "--dry-run").stdout.startswith("would import 2 rows: 2 inserted")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Organisation,Phone\nAcme,123\n", 'no column maps to name; columns found: "Organisation", "Phone"'),
        ("", "the file is empty"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, message: str) -> None:
    source = write(tmp_path / "f.csv", text)
    assert_error(run("import", str(source)), message)


def test_missing_file_and_bad_option(tmp_path: Path) -> None:
    assert_error(run("import", str(tmp_path / "none.csv")), "no such file")
    source = write(tmp_path / "f.csv", "Name\nA\n")
    assert_error(run("import", str(source), "--on-duplicate", "merge"), "--on-duplicate must be one of")


def configure(tmp_path: Path, text: str) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")


# What Japanese Excel saves as CSV: cp932, its amounts with the yen sign it writes as a backslash.
EXCEL_JP = (
    "氏名,会社名,メールアドレス,金額,ステージ\n"
    '山田 太郎,株式会社ミナト,taro@minato.jp,"\\1,200,000",受注\n'
    "佐藤 花子,東邦精機株式会社,hanako@toho.jp,120万円,prospecting\n"
    "鈴木 一郎,株式会社ハマ,ichiro@hama.jp,500 USD,prospecting\n"
)


def test_a_cp932_file_is_read_as_such_and_says_so(tmp_path: Path) -> None:
    configure(tmp_path, 'currency = "JPY"\n')
    source = write(tmp_path / "excel-jp.csv", EXCEL_JP, "cp932")
    result = run("import", str(source))
    assert result.exit_code == 1 and "2 inserted" in result.stdout and "1 rejected" in result.stdout
    assert result.stderr.splitlines() == [
        "read as cp932 (not UTF-8); give --encoding to choose",
        "line 4: value is in USD but this pipeline's currency is JPY (got '500 USD'): '500 USD'",
    ]
    taro = ok("show", "ミナト", "--json").json()
    assert (taro["name"], taro["value"], taro["status"]) == ("山田 太郎", 1200000, "won")
    assert ok("show", "東邦", "--json").json()["value"] == 1200000


def test_a_cp1252_file_is_read_as_such(tmp_path: Path) -> None:
    configure(tmp_path, 'currency = "EUR"\n')
    text = "Name;Company;Amount\nJürgen Schäfer;Schäfer GmbH;€ 1.200,50\nRenée Pérez;Café Crème;300 €\n"
    source = write(tmp_path / "excel-de.csv", text, "cp1252")
    result = ok("import", str(source), "--decimal-comma")
    assert result.stderr == "read as cp1252 (not UTF-8); give --encoding to choose\n"
    assert ok("show", "schäfer", "--json").json()["value"] == 1200.5
    assert ok("show", "crème", "--json").json()["name"] == "Renée Pérez"


def test_encoding_given_wins_and_bom_utf8(tmp_path: Path) -> None:
    japanese = '氏名,会社名,メールアドレス,金額\n山田 太郎,株式会社ミナト,taro@minato.jp,"1,200,000"\n'
    cp932 = write(tmp_path / "excel-jp.csv", japanese, "cp932")
    result = ok("import", str(cp932), "--encoding", "cp932")
    assert result.stderr == ""
    taro = ok("show", "ミナト", "--json").json()
    assert (taro["name"], taro["value"]) == ("山田 太郎", 1200000)
    assert_error(run("import", str(cp932), "--encoding", "utf-8"), "line 1 is not valid UTF-8")
    bom = write(tmp_path / "bom.csv", "\ufeffName;Email\nZoë;zoe@x.com\n")
    assert ok("import", str(bom)).stderr == ""
    assert ok("show", "zoe@x.com", "--json").json()["name"] == "Zoë"


def test_a_cp932_pipe_on_stdin(tmp_path: Path) -> None:
    configure(tmp_path, 'currency = "JPY"\n')
    data = EXCEL_JP.encode("cp932")
    process = subprocess.run(
        [sys.executable, "-m", "pipectl", "import", "-"], input=data, capture_output=True, env=os.environ, check=False
    )
    assert process.returncode == 1, process.stderr
    assert process.stderr.decode().startswith("read as cp932 (not UTF-8); give --encoding to choose\n")
    assert ok("show", "ミナト", "--json").json()["value"] == 1200000


CLOSED_DEALS = (
    "Name,Email,Stage,Amount,Close Date\n"
    "Won A,a@x.com,Closed Won,1000,2026-11-20\n"
    "Won B,b@x.com,won,2000,\n"
    "Won C,c@x.com,受注,3000,\n"
    "Lost D,d@x.com,Closed Lost,500,\n"
    "Lost E,e@x.com,失注,700,2026-11-10\n"
    "Open F,f@x.com,prospecting,100,2026-12-15\n"
)


def test_imported_closed_deals_count_in_the_report(tmp_path: Path) -> None:
    source = write(tmp_path / "deals.csv", CLOSED_DEALS)
    ok("import", str(source))
    report = ok("report", "--json").json()
    assert (report["won_count"], report["lost_count"], report["win_rate"]) == (3, 2, 0.6)
    assert report["open_count"] == 1

    def closing(ref: str) -> tuple[str, str | None, str | None]:
        lead = ok("show", ref, "--json").json()
        return lead["status"], lead["closed_at"], lead["expected_close"]

    assert closing("a@x.com") == ("won", "2026-11-20T00:00:00Z", "2026-11-20")  # the CRM's close date
    assert closing("b@x.com") == ("won", NOW, None)  # no date in the file: when it was imported
    assert closing("e@x.com") == ("lost", "2026-11-10T00:00:00Z", "2026-11-10")
    assert closing("f@x.com") == ("open", None, "2026-12-15")


def test_a_re_import_that_closes_deals_dates_them(tmp_path: Path) -> None:
    ok("import", str(write(tmp_path / "open.csv", "Name,Email,Stage\nA,a@x.com,closing\nB,b@x.com,closing\n")))
    closed = "Name,Email,Stage,受注日\nA,a@x.com,受注,2026-11-12\nB,b@x.com,Closed Lost,\n"
    ok("import", str(write(tmp_path / "closed.csv", closed)), "--on-duplicate", "update")
    a, b = (ok("show", ref, "--json").json() for ref in ("a@x.com", "b@x.com"))
    assert (a["status"], a["closed_at"]) == ("won", "2026-11-12T00:00:00Z")
    assert (b["status"], b["closed_at"]) == ("lost", NOW)
    report = ok("report", "--json").json()
    assert (report["won_count"], report["lost_count"]) == (1, 1)
    reopened = "Name,Email,Stage,Status\nA,a@x.com,closing,open\n"
    ok("import", str(write(tmp_path / "reopened.csv", reopened)), "--on-duplicate", "update")
    a = ok("show", "a@x.com", "--json").json()
    assert (a["status"], a["closed_at"]) == ("open", None)


def test_on_duplicate_modes(tmp_path: Path) -> None:
    add("Jane", "--email", "jane@acme.com", "--company", "Acme", "--tag", "old")
    update = write(tmp_path / "u.csv", "Name,Email,Company,Phone,Tags\nJane D,jane@acme.com,Acme Inc,555,new\n")
    ok("import", str(update), "--on-duplicate", "fill")
    jane = ok("show", "jane", "--json").json()
    assert (jane["name"], jane["company"], jane["phone"], jane["tags"]) == ("Jane", "Acme", "555", ["old", "new"])
    assert "1 updated" in ok("import", str(update), "--on-duplicate", "update").stdout
    jane = ok("show", "jane", "--json").json()
    assert (jane["name"], jane["company"]) == ("Jane D", "Acme Inc")
    assert "0 updated, 1 skipped" in ok("import", str(update), "--on-duplicate", "update").stdout
    result = run("import", str(update), "--on-duplicate", "error")
    assert result.exit_code == 1 and "duplicate of #1 Jane D (Acme Inc)" in result.stderr
    # without an email, the same name and company is the same lead
    nomail = write(tmp_path / "n.csv", "Name,Company\nNo Mail,Nomail\nno mail,NOMAIL\n")
    assert "1 inserted, 0 updated, 1 skipped" in ok("import", str(nomail)).stdout
    ok("undo")
    ok("undo")
    assert ok("show", "jane", "--json").json()["name"] == "Jane"


def test_undo_reverts_a_whole_import(tmp_path: Path) -> None:
    add("Before")
    before = snapshot()
    ok("import", str(EXAMPLE))
    assert len(leads_json()) == 53
    ok("undo")
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])
    ok("add", "After")
    assert leads_json()[-1]["id"] == 54  # ids are never reused


def test_export_import_round_trip(tmp_path: Path) -> None:
    kept = tmp_path / "demo.db"
    ok("demo", "--keep", str(kept))
    exported = tmp_path / "leads.csv"
    ok("--db", str(kept), "export", "--output", str(exported), "--bom")
    assert exported.read_bytes().startswith(b"\xef\xbb\xbfid,name,")
    fresh = tmp_path / "fresh.db"
    ok("--db", str(fresh), "import", str(exported))
    derived = (
        "id",
        "updated_at",
        "touch_count",
        "last_touch_at",
        "attempts",
        "last_outbound_at",
        "last_reply_at",
        "last_chance_at",
    )

    def comparable(db: Path) -> list[dict]:
        return [{k: v for k, v in lead.items() if k not in derived} for lead in leads_json("--db", str(db))]

    assert comparable(fresh) == comparable(kept)


def test_export_formats_and_touchpoints(tmp_path: Path) -> None:
    add("Jane", "--company", "=cmd|' /C calc'!A0", "--note", "first")
    ok("touch", "jane", "call")
    csv_text = ok("export").stdout
    assert "'=cmd|" in csv_text
    lines = ok("export", "--format", "jsonl", "--touchpoints").stdout.splitlines()
    lead = json.loads(lines[0])
    assert lead["company"] == "=cmd|' /C calc'!A0"
    assert [tp["kind"] for tp in lead["touchpoints"]] == ["note", "call"]
    array = json.loads(ok("export", "--format", "json").stdout)
    assert [item["name"] for item in array] == ["Jane"] and "touchpoints" not in array[0]
    out = tmp_path / "leads.csv"
    ok("export", "--output", str(out), "--touchpoints")
    points = (tmp_path / "leads-touchpoints.csv").read_text(encoding="utf-8").splitlines()
    assert points[0] == "id,lead_id,kind,direction,outcome,note,at" and len(points) == 3
    assert_error(run("export", "--touchpoints"), "--output FILE")


def test_backup_is_a_consistent_private_copy(tmp_path: Path) -> None:
    add("Jane")
    copy = tmp_path / "backup.db"
    ok("backup", str(copy))
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert ok("--db", str(copy), "show", "jane", "--json").json()["name"] == "Jane"
    assert_error(run("backup", str(copy)), "exists")


def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    env = {**os.environ, "PIPECTL_DB": str(db_path(tmp_path))}
    add("First")
    writer = subprocess.Popen(
        ["bash", "-c", f'for i in $(seq 40); do {sys.executable} -m pipectl add "W $i" >/dev/null || exit 1; done'],
        env=env,
    )
    copies = []
    for number in range(3):
        time.sleep(0.3)
        copy = tmp_path / f"copy{number}.db"
        ok("backup", str(copy))
        copies.append(copy)
    assert writer.wait(timeout=120) == 0
    for copy in copies:
        conn = sqlite3.connect(copy)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] >= 1


def test_merge_and_undo(tmp_path: Path) -> None:
    keep = add("Jane Doe", "--company", "Acme", "--tag", "hot", "--at", "2026-11-10T09:00:00Z")
    other = add(
        "J. Doe",
        "--company",
        "ACME",
        "--email",
        "jane@acme.com",
        "--phone",
        "555",
        "--tag",
        "eu",
        "--value",
        "100",
        "--at",
        "2026-11-01T09:00:00Z",
        "--note",
        "met at fair",
    )
    ok("touch", str(other), "call", "--outcome", "no-answer")
    ok("touch", str(keep), "email", "--outcome", "no-answer")
    before = snapshot()
    assert "merged into #1 Jane Doe (Acme)" in ok("merge", str(keep), str(other), "--yes").stdout
    merged = ok("show", str(keep), "--json").json()
    assert (merged["email"], merged["phone"], merged["value"], merged["tags"]) == (
        "jane@acme.com",
        "555",
        100,
        ["hot", "eu"],
    )
    assert merged["touch_count"] == 3 and merged["attempts"] == 2
    assert merged["created_at"] == "2026-11-01T09:00:00Z"
    assert [e["kind"] for e in merged["timeline"] if e["type"] == "touchpoint"] == ["note", "call", "email"]
    assert_error(run("show", str(other)), f"no lead with id {other}")
    assert_error(run("merge", str(keep), str(keep)), "the same lead")
    ok("undo")
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])


def test_a_killed_import_leaves_all_or_nothing(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as out:
        out.write("Name,Email,Company,Amount\n")
        for number in range(60_000):
            out.write(f"Lead {number},lead{number}@example.com,Company {number % 500},{number}\n")
    env = {**os.environ, "PIPECTL_DB": str(db_path(tmp_path))}
    add("Before")
    for delay in (0.3, 0.8, 1.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "pipectl", "import", str(big)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert ok("doctor").exit_code == 0  # the database's own integrity check among others
        count = query("SELECT count(*) FROM leads")[0][0]
        assert count in (1, 60_001)
        if count == 60_001:
            ok("undo")


# --- a large file: read and parsed by a second process while this one inserts --------------------


def mixed_csv(path: Path, rows: int = 300) -> Path:
    """Rows of every kind an import meets: repeated emails (within and across batches), rows without
    an email (checked on their own, some repeating an earlier one), bad amounts, notes, and a lead
    the database already has."""
    lines = ["Name,Email,Company,Amount,Notes"]
    for number in range(rows):
        email = f"lead{number}@example.com"
        if number % 10 == 9:
            email = f"lead{number // 3}@example.com"
        elif number % 17 == 5:
            email = ""
        elif number == 120:
            email = "existing@example.com"
        name, company = (f"Lead {number % 250}", f"Company {number % 7}") if email else (f"Lone {number % 3}", "Solo")
        amount = "lots" if number % 23 == 11 else f"{number + 1000:,}.50"
        note = f'"note {number}, with a comma"' if number % 2 else ""
        lines.append(f'{name},{email},{company},"{amount}",{note}')
    return write(path, "\n".join(lines) + "\n")


def comparable(export: str) -> list[dict]:
    """Exported leads with their touchpoints, ids left out (an undone import's ids are not reused)."""
    leads = []
    for line in export.splitlines():
        lead = json.loads(line)
        del lead["id"]
        for point in lead["touchpoints"]:
            del point["id"], point["lead_id"]
        leads.append(lead)
    return leads


SUMMARIES = {
    "skip": "255 inserted, 0 updated, 32 skipped as duplicates, 13 rejected",
    "update": "255 inserted, 32 updated, 0 skipped as duplicates, 13 rejected",
}


@pytest.mark.parametrize(("mode", "via_stdin"), [("skip", False), ("update", True)])
def test_a_large_file_imports_the_same_in_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, via_stdin: bool
) -> None:
    source = mixed_csv(tmp_path / "mixed.csv")
    add("Existing", "--email", "existing@example.com")
    forks: list[int] = []
    fork = os.fork

    def counted_fork() -> int:
        forks.append(1)
        return fork()

    monkeypatch.setattr(os, "fork", counted_fork)
    monkeypatch.setattr(transfer, "BATCH", 7)
    outcomes = []
    for parallel_after in (10**9, 40):
        monkeypatch.setattr(transfer, "PARALLEL_AFTER", parallel_after)
        rejects = tmp_path / f"rejects-{parallel_after}.csv"
        args = ["import", "-" if via_stdin else str(source), "--on-duplicate", mode, "--rejects", str(rejects)]
        result = run(*args, input=source.read_text() if via_stdin else None)
        assert result.exit_code == 1, result.stderr  # some rows were rejected
        export = ok("export", "--format", "jsonl", "--touchpoints").stdout
        event = query("SELECT data FROM events WHERE type = 'import' ORDER BY id DESC LIMIT 1")[0][0]
        counts = {key: value for key, value in json.loads(event).items() if key != "lead_range"}
        outcomes.append(
            (result.stdout.rsplit("(", 1)[0], result.stderr, rejects.read_text(), comparable(export), counts)
        )
        ok("undo")
    assert forks == [1]  # only the second import went parallel
    assert outcomes[0] == outcomes[1]
    summary, errors, rejected, leads, counts = outcomes[1]
    assert summary == f"imported 300 rows: {SUMMARIES[mode]} "
    assert errors.count("value must be an amount") == rejected.count("value must be an amount") == 13
    assert len(leads) == 1 + counts["inserted"] and counts["rows"] == 300


@pytest.mark.parametrize("seen_bits", [8, transfer.SEEN_BITS])
def test_an_import_into_a_pipeline_without_emails_looks_up_only_emails_it_may_have_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen_bits: int
) -> None:
    small = seen_bits == 8
    # Only emails the batcher's filter has seen (or cannot tell) are looked up; with 8 bits it can
    # hardly ever tell, which must change nothing but the number of lookups.
    source = mixed_csv(tmp_path / "mixed.csv")
    looked_up: list[str] = []
    existing_emails = Store.existing_emails

    def counted(store: Store, emails: list[str]) -> set[str]:
        looked_up.extend(emails)
        return existing_emails(store, emails)

    monkeypatch.setattr(Store, "existing_emails", counted)
    monkeypatch.setattr(transfer, "BATCH", 7)
    monkeypatch.setattr(transfer, "SEEN_BITS", seen_bits)
    exports = []
    for parallel_after in (10**9, 40):
        monkeypatch.setattr(transfer, "PARALLEL_AFTER", parallel_after)
        result = run("import", str(source))
        assert "256 inserted, 0 updated, 31 skipped as duplicates, 13 rejected" in result.stdout
        exports.append(comparable(ok("export", "--format", "jsonl", "--touchpoints").stdout))
        ok("undo")
    assert exports[0] == exports[1]
    # Each import looks up the 18 emails that repeat one of an earlier batch (and rare false
    # positives); with 8 bits, nearly all of its 287.
    assert len(looked_up) > 400 if small else len(looked_up) < 60


def test_a_bad_row_read_by_the_second_process_aborts_a_strict_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = mixed_csv(tmp_path / "mixed.csv")
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 5)
    add("Existing")
    before = snapshot()
    assert_error(run("import", str(source), "--strict"), "line 13: value must be an amount")
    assert snapshot() == before


def indexes() -> list[tuple[str, str]]:
    """The name and definition (its words) of each index of the test's database."""
    if "://" in database():
        found = query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    else:
        found = query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return sorted((name, " ".join(sql.split())) for name, sql in found)


@pytest.mark.parametrize("strict", [False, True])
def test_a_large_import_into_a_small_pipeline_leaves_every_index_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    # SQLite builds the daily views' indexes afresh after such an import (cheaper than keeping them up
    # row by row); they are all there after it, and after one that failed (--strict: a bad row).
    source = mixed_csv(tmp_path / "mixed.csv")
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    add("Existing")
    before = indexes()
    assert {"leads_status_due", "leads_status_contact", "leads_status_value"} <= {name for name, _ in before}
    result = run("import", str(source), *(["--strict"] if strict else []))
    assert result.exit_code == (2 if strict else 1)
    assert indexes() == before
    if not strict:
        assert query("SELECT count(*) FROM leads") == [(257,)]
        assert ok("list", "--stage", "prospecting", "--limit", "3", "--json").stdout.count('"id"') == 3


def test_a_large_import_builds_afresh_only_the_indexes_its_rows_land_all_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An index placed by a column the rows fill each their own way (creation date, amount) is built
    # at the end; the others take each new lead's entry beside the last one, kept up as rows go in.
    built: list[str] = []
    run_script = Backend.run_script

    def recorded(backend: Backend, script: str) -> None:
        built.extend(word for word in script.split() if word in migrations.VIEW_INDEXES)
        run_script(backend, script)

    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    add("Existing")
    before = indexes()
    monkeypatch.setattr(Backend, "run_script", recorded)
    plain = "".join(f"Lead {n},lead{n}@example.com\n" for n in range(300))
    ok("import", str(write(tmp_path / "plain.csv", "Name,Email\n" + plain)))
    assert built == []
    ok("undo")
    dated = "".join(f"Lead {n},lead{n}@example.com,2026-{1 + n % 11:02d}-{1 + n % 28:02d},{n}\n" for n in range(300))
    ok("import", str(write(tmp_path / "dated.csv", "Name,Email,Created,Amount\n" + dated)))
    # PostgreSQL keeps them all up: its pipeline is a team's (is_large_import).
    scattered = ["leads_status_contact", "leads_status_entered", "leads_status_value"]
    assert sorted(built) == ([] if "://" in database() else scattered)
    assert indexes() == before
    assert ok("list", "--stage", "prospecting", "--limit", "2", "--json").stdout.count('"id"') == 2


def test_which_indexes_a_bulk_load_builds_afresh_follows_the_columns_its_rows_fill() -> None:
    assert migrations.scattered(set()) == []
    assert migrations.scattered({"name", "email", "stage", "status", "owner"}) == []
    assert migrations.scattered({"value"}) == ["leads_status_value"]
    assert migrations.scattered({"next_action_due", "created_at"}) == ["leads_status_due", "leads_status_contact"]
    every = {column for placed in migrations.VIEW_INDEXES.values() for column in placed}
    # An owner's leads by stage: owners, statuses and stages are a few values, whatever the file.
    assert migrations.scattered(every) == [name for name in migrations.VIEW_INDEXES if name != "leads_owner_status"]


@pytest.mark.parametrize("behind", [0.0, float("inf")])
def test_the_search_column_is_the_same_whichever_process_computes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behind: float
) -> None:
    # The reading process computes a batch's search column while the writer is behind (0: every batch
    # after the first), else the writer does (inf: every batch); a lookup finds the leads either way.
    names = ["Jürgen Müller", "山田 太郎", "Ｚｏë  Ｌｅｅ", "Plain Ascii", "Søren\tKim"]  # noqa: RUF001 (full width)
    company = "Ｓｏｃｉété"  # noqa: RUF001 (full width)
    lines = [f'"{names[n % 5]} {n}",lead{n}@example.com,{company if n % 2 else "Acme"} {n}' for n in range(200)]
    source = write(tmp_path / "names.csv", "Name,Email,Company\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    monkeypatch.setattr(transfer, "BATCH", 9)
    monkeypatch.setattr(transfer, "WRITER_BEHIND", behind)
    ok("import", str(source))
    stored = query("SELECT name, company, search FROM leads")
    assert len(stored) == 200
    assert all(search == leads.search_column(name, company) for name, company, search in stored)
    assert ok("show", "MÜLLER 195", "--json").stdout.count('"name": "Jürgen Müller 195"') == 1
    assert ok("show", "山田太郎 196", "--json").stdout.count('"name": "山田 太郎 196"') == 1


def test_a_bad_byte_read_by_the_second_process_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "latin1.csv"
    # UTF-8 for its first 64 KiB (which its encoding is told from), then a byte UTF-8 does not have.
    utf8 = mixed_csv(tmp_path / "mixed.csv", rows=2000).read_bytes()
    assert len(utf8) > 1 << 16
    source.write_bytes(utf8 + "Zoë,zoe@example.com,,1,\n".encode("latin-1"))
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    add("Existing")
    before = snapshot()
    assert_error(run("import", str(source)), "line 2002 is not valid UTF-8")
    assert snapshot() == before


def test_a_failure_in_the_second_process_is_one_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = mixed_csv(tmp_path / "mixed.csv")
    parse = csvio.Plan.parse

    def failing(self: csvio.Plan, line: int, cells: list[str], now: object) -> object:
        if line > 100:
            raise ValueError("boom")
        return parse(self, line, cells, now)

    monkeypatch.setattr(csvio.Plan, "parse", failing)
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    add("Existing")
    before = snapshot()
    result = run("import", str(source))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: unexpected RuntimeError: the process reading the file failed with ValueError: boom"
        " (run with --debug for details)"
    ]
    assert snapshot() == before


def test_a_reading_process_that_vanishes_fails_the_import_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = mixed_csv(tmp_path / "mixed.csv")
    monkeypatch.setattr(transfer, "_read_and_send", lambda *args: os._exit(0))  # as if killed
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 40)
    add("Existing")
    before = snapshot()
    assert_error(run("import", str(source)), "the process reading the file stopped before its end")
    assert snapshot() == before


def test_progress_counts_the_rows_read_in_either_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = mixed_csv(tmp_path / "mixed.csv")
    monkeypatch.setattr(transfer, "PROGRESS_EVERY", 50)
    monkeypatch.setattr(transfer, "PARALLEL_AFTER", 120)
    ticks: list[int] = []
    ctx = Context(config=config.load(None), database=database(), now=dates.clock("2026-11-30T09:00:00Z"), command="t")
    try:
        transfer.import_file(ctx, str(source), transfer.ImportOptions(), progress=ticks.append)
    finally:
        ctx.close()
    assert ticks == [50, 100, 150, 200, 250, 300]
