"""The life of a lead through the CLI: add, list, show, touch, note, advance, edit, close, reopen, merge,
delete, undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import NOW, add, assert_error, database, db_path, ok, query, run, snapshot
from pipectl import actions, cli, config, dates
from pipectl.errors import Refused
from pipectl.render import width

pytestmark = pytest.mark.backends


def test_add_prints_id_and_stores_every_field() -> None:
    lead_id = add(
        "山田 太郎",
        "--company",
        "Acme 株式会社",
        "--email",
        "Taro@Acme.jp",
        "--value",
        "1200000",
        "--source",
        "referral",
        "--next",
        "intro call",
        "--due",
        "tomorrow",
        "--tag",
        "hot",
        "--tag",
        "jp",
        "--phone",
        "+81 3-1234-5678",
        "--expected-close",
        "2027-01-15",
    )
    assert lead_id == 1
    lead = ok("show", "1", "--json").json()
    assert lead["name"] == "山田 太郎"
    assert lead["company"] == "Acme 株式会社"
    assert lead["email"] == "taro@acme.jp"  # stored lowercased
    assert lead["value"] == 1200000
    assert lead["stage"] == "prospecting" and lead["status"] == "open"
    assert lead["owner"] == "taro"
    assert lead["tags"] == ["hot", "jp"]
    assert lead["next_action"] == "intro call"
    assert lead["next_action_due"] == "2026-12-01T23:59:59Z"  # by the end of tomorrow
    assert lead["expected_close"] == "2027-01-15"
    assert lead["created_at"] == lead["stage_entered_at"] == NOW
    assert lead["touch_count"] == 0 and lead["last_touch_at"] is None
    assert lead["qualified"] is None and lead["extra"] == {}
    assert lead["timeline"] == [{"at": NOW, "type": "created"}]
    assert lead["qualification"] is None


def test_add_json_prints_the_lead() -> None:
    lead = ok("add", "Jane Doe", "--value", "1,500.50", "--json").json()
    assert lead["id"] == 1 and lead["value"] == 1500.5


def test_values_are_kept_exactly_in_sums(tmp_path: Path) -> None:
    for _ in range(10):
        add("Penny", "--value", "0.10")
    result = ok("list")
    assert "10 leads, 1 USD" in result.stderr
    conn_values = [lead["value"] for lead in ok("list", "--json").json()]
    assert conn_values == [0.1] * 10


def test_list_filters_sort_and_limit() -> None:
    add("Ann", "--value", "300", "--tag", "hot", "--owner", "kim")
    add("Bob", "--value", "100", "--stage", "connecting")
    add("Cid", "--value", "200", "--tag", "hot")
    ok("lost", "Cid", "--reason", "no budget")

    def ids(*args: str) -> list[int]:
        return [lead["id"] for lead in ok("list", "--json", *args).json()]

    assert ids() == [1, 2]
    assert ids("--status", "all") == [1, 2, 3]
    assert ids("--status", "closed") == [3]
    assert ids("--status", "lost") == [3]
    assert ids("--stage", "connecting") == [2]
    assert ids("--stage", "conn") == [2]  # a unique prefix names a stage
    assert ids("--tag", "hot", "--status", "all") == [1, 3]
    assert ids("--owner", "kim") == [1]
    assert ids("--sort", "value") == [2, 1]
    assert ids("--sort", "value", "--desc") == [1, 2]
    assert ids("--sort", "stage", "--desc") == [2, 1]
    assert ids("--status", "all", "--sort", "value", "--limit", "2") == [2, 3]
    assert ids("--unqualified") == [1, 2]
    assert ids("--qualified") == []


def test_ls_is_list_and_table_shows_leads() -> None:
    add("山田 太郎", "--company", "Acme 株式会社", "--value", "1200000")
    result = ok("ls")
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "id",
        "name",
        "company",
        "stage",
        "status",
        "value",
        "days",
        "next",
        "action",
        "due",
        "touches",
    ]
    assert "山田 太郎" in row and "1,200,000" in row and "prospecting" in row
    # wide characters are padded by display width, so the columns line up
    assert width(row[: row.index("prospecting")]) == header.index("stage")


def test_list_csv_neutralises_formulas() -> None:
    add('=HYPERLINK("x")', "--company", "Acme, Inc.", "--phone", "+1 555 0100")
    lines = ok("list", "--csv").stdout.splitlines()
    assert lines[0].startswith("id,name,company,email")
    assert "'=HYPERLINK" in lines[1] and '"Acme, Inc."' in lines[1] and "'+1 555 0100" in lines[1]


def test_touch_updates_counters_and_next_step() -> None:
    add("Acme Person", "--company", "Acme", "--next", "intro call", "--due", "today")
    ok(
        "touch",
        "acme",
        "call",
        "--outcome",
        "no-answer",
        "--note",
        "left voicemail",
        "--next",
        "call again",
        "--due",
        "+2d",
        "--at",
        "2026-11-30T08:00:00Z",
    )
    lead = ok("show", "acme", "--json").json()
    assert lead["touch_count"] == 1
    assert lead["last_touch_at"] == "2026-11-30T08:00:00Z"
    assert lead["next_action"] == "call again" and lead["next_action_due"] == "2026-12-02T23:59:59Z"
    touch = lead["timeline"][0]  # logged as earlier than the lead's entry: the timeline is in time order
    assert touch == {
        "at": "2026-11-30T08:00:00Z",
        "type": "touchpoint",
        "kind": "call",
        "direction": "out",
        "outcome": "no-answer",
        "note": "left voicemail",
    }


def test_contact_without_next_clears_the_done_step_but_a_note_keeps_it() -> None:
    add("Lead", "--next", "call", "--due", "today")
    ok("note", "1", "asked for pricing in yen")
    assert ok("show", "1", "--json").json()["next_action"] == "call"
    ok("touch", "1", "email", "--in", "--outcome", "replied")
    lead = ok("show", "1", "--json").json()
    assert lead["next_action"] is None and lead["next_action_due"] is None
    assert [(e["kind"], e["direction"]) for e in lead["timeline"][1:]] == [("note", None), ("email", "in")]
    assert lead["touch_count"] == 2


def test_backdated_touch_keeps_latest_touch_time() -> None:
    add("Lead")
    ok("touch", "1", "call", "--at", "2026-11-29T10:00:00Z")
    ok("touch", "1", "call", "--at", "2026-11-20T10:00:00Z")
    lead = ok("show", "1", "--json").json()
    assert lead["last_touch_at"] == "2026-11-29T10:00:00Z"
    # the timeline is in time order, not in the order things were logged
    assert [e["at"] for e in lead["timeline"]] == ["2026-11-20T10:00:00Z", "2026-11-29T10:00:00Z", NOW]


def test_advance_moves_and_records_with_gate_and_force() -> None:
    add("Acme", "--company", "Acme")
    assert "now in qualifying" in ok("advance", "acme").stdout
    refused = run("advance", "acme")
    assert refused.exit_code == 2 and "not qualified" in refused.stderr and "--force" in refused.stderr
    assert ok("show", "acme", "--json").json()["stage"] == "qualifying"
    ok("advance", "acme", "--force")
    ok("advance", "acme", "--to", "prospecting")  # backwards is never gated
    ok("advance", "acme", "--to", "closing", "--force")  # skipping past the gate is gated too
    lead = ok("show", "acme", "--json").json()
    moves = [(e["from"], e["to"], e["forced"]) for e in lead["timeline"] if e["type"] == "stage"]
    assert moves == [
        ("prospecting", "qualifying", False),
        ("qualifying", "connecting", True),
        ("connecting", "prospecting", False),
        ("prospecting", "closing", True),
    ]
    last = run("advance", "acme")
    assert last.exit_code == 2 and "last stage" in last.stderr


def test_skipping_past_the_gate_is_refused() -> None:
    add("Lead")
    result = run("advance", "1", "--to", "closing")
    assert result.exit_code == 2 and "not qualified" in result.stderr


def test_edit_changes_fields_tags_and_clears() -> None:
    add("Acme", "--company", "Acme", "--phone", "123", "--tag", "cold")
    ok("edit", "acme", "--value", "1500000", "--tag", "hot", "--untag", "cold", "--phone", "")
    lead = ok("show", "acme", "--json").json()
    assert lead["value"] == 1500000 and lead["tags"] == ["hot"] and lead["phone"] is None
    assert lead["timeline"][-1] == {"at": NOW, "type": "edited", "fields": ["phone", "tags", "value"]}


def test_won_lost_reopen() -> None:
    add("Acme", "--company", "Acme", "--value", "100")
    add("Globex", "--company", "Globex")
    ok("won", "acme", "--value", "120")
    ok("lost", "globex", "--reason", "went with competitor")
    assert ok("show", "acme", "--json").json()["status"] == "won"
    globex = ok("show", "globex", "--json").json()
    assert globex["status"] == "lost" and globex["lost_reason"] == "went with competitor"
    refused = run("advance", "globex")
    assert refused.exit_code == 2 and "reopen it first" in refused.stderr
    ok("reopen", "globex")
    globex = ok("show", "globex", "--json").json()
    assert globex["status"] == "open" and globex["lost_reason"] is None
    assert [e["type"] for e in globex["timeline"]] == ["created", "lost", "reopened"]
    assert ok("show", "acme", "--json").json()["value"] == 120


def test_undo_reverts_whole_commands_in_order(tmp_path: Path) -> None:
    add("Acme", "--company", "Acme", "--note", "met at the fair")
    before_touch = snapshot()
    ok("touch", "acme", "call", "--next", "demo", "--due", "fri")
    ok("advance", "acme")
    assert "undid: pipectl advance acme" in ok("undo").stdout
    assert "undid: pipectl touch acme call" in ok("undo").stdout
    lead = ok("show", "acme", "--json").json()
    assert lead["stage"] == "prospecting" and lead["touch_count"] == 1 and lead["next_action"] is None
    assert snapshot()["leads"] == before_touch["leads"]
    ok("undo")  # the add, with its note
    assert ok("list", "--json").json() == []
    assert ok("undo").stdout.strip() == "nothing to undo"


def test_undo_on_missing_database_creates_nothing(tmp_path: Path) -> None:
    result = run("undo")
    assert result.exit_code == 2 and "no database" in result.stderr
    assert not db_path(tmp_path).exists()


def test_lead_references() -> None:
    add("Jane Doe", "--company", "Acme", "--email", "jane@acme.com")
    add("John Doe", "--company", "Globex")
    add("Old Globex Deal", "--company", "Initech")
    ok("lost", "old globex", "--reason", "timing")
    assert ok("show", "JANE@ACME.COM", "--json").json()["id"] == 1
    assert ok("show", "#2", "--json").json()["id"] == 2
    # one open match wins over closed ones
    assert ok("show", "globex", "--json").json()["id"] == 2
    # no open match: a single closed one is meant (so `reopen initech` works)
    assert ok("show", "initech", "--json").json()["id"] == 3
    ambiguous = run("show", "doe")
    assert ambiguous.exit_code == 2
    assert "#1 Jane Doe (Acme)" in ambiguous.stderr and "#2 John Doe (Globex)" in ambiguous.stderr


def test_global_db_config_and_as_of(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    ok("--db", str(other), "--as-of", "2026-01-02T10:00:00Z", "add", "Elsewhere")
    assert other.exists() and not db_path(tmp_path).exists()
    lead = ok("--db", str(other), "show", "1", "--json").json()
    assert lead["created_at"] == "2026-01-02T10:00:00Z"
    assert oct(other.stat().st_mode & 0o777) == "0o600"
    config = tmp_path / "my.toml"
    config.write_text('owner = "kim"\ncurrency = "JPY"\n', encoding="utf-8")
    ok("--db", str(other), "--config", str(config), "add", "Second")
    assert ok("--db", str(other), "show", "2", "--json").json()["owner"] == "kim"
    os.environ["PIPECTL_DB"] = str(other)
    try:
        assert len(ok("list", "--json").json()) == 2
    finally:
        del os.environ["PIPECTL_DB"]


def test_times_show_in_local_time() -> None:
    import time

    add("Lead", "--due", "2026-12-01 15:00")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        assert "2026-12-02 00:00" in ok("show", "1").stdout  # 15:00 UTC is midnight in Tokyo
        ok("edit", "1", "--due", "2026-12-02 10:00")
        lead = ok("show", "1", "--json").json()
        assert lead["next_action_due"] == "2026-12-02T01:00:00Z"  # 10:00 in Tokyo is 01:00 UTC
        assert "2026-12-02 10:00" in ok("show", "1").stdout
    finally:
        os.environ["TZ"] = "UTC"
        time.tzset()


# --- edit changes only what it is given ----------------------------------------------------------


def test_edit_due_alone_keeps_the_next_step_text() -> None:
    add("Acme", "--company", "Acme", "--next", "send proposal", "--due", "tomorrow")
    ok("edit", "acme", "--due", "+3d")
    lead = ok("show", "acme", "--json").json()
    assert (lead["next_action"], lead["next_action_due"]) == ("send proposal", "2026-12-03T23:59:59Z")
    ok("edit", "acme", "--due", "")  # clears the due, keeps the text
    lead = ok("show", "acme", "--json").json()
    assert (lead["next_action"], lead["next_action_due"]) == ("send proposal", None)


def test_edit_due_on_a_lead_without_a_next_step_is_a_follow_up() -> None:
    add("Acme")
    add("Globex", "--due", "fri")  # add without --next: a plain follow-up, as before
    ok("edit", "acme", "--due", "+2d")
    assert ok("show", "acme", "--json").json()["next_action"] == "follow up"
    assert ok("show", "globex", "--json").json()["next_action"] == "follow up"


def test_edit_next_empty_clears_the_step_and_its_due() -> None:
    add("Acme", "--next", "send proposal", "--due", "tomorrow")
    add("Globex", "--next", "send proposal", "--due", "tomorrow")
    ok("edit", "acme", "--next", "")
    lead = ok("show", "acme", "--json").json()
    assert (lead["next_action"], lead["next_action_due"]) == (None, None)
    ok("edit", "globex", "--next", "", "--due", "+3d")  # a new due with the text cleared: a plain follow-up
    lead = ok("show", "globex", "--json").json()
    assert (lead["next_action"], lead["next_action_due"]) == ("follow up", "2026-12-03T23:59:59Z")


# --- merge: shown, confirmed, refused when the two do not look alike --------------------------------


def _pair() -> tuple[int, int]:
    keep = add("Jane Doe", "--company", "Acme", "--email", "jane@acme.com", "--tag", "hot")
    other = add("J. Doe", "--email", "j.doe@ACME.com", "--phone", "555", "--value", "100", "--tag", "eu")
    ok("touch", str(other), "call", "--outcome", "no-answer")
    ok("note", str(other), "met at the fair")
    ok("touch", str(keep), "email", "--outcome", "sent")
    return keep, other


def test_merge_without_a_terminal_needs_yes() -> None:
    keep, other = _pair()
    before = snapshot()
    assert_error(run("merge", str(keep), str(other)), "use --yes")
    assert snapshot() == before
    ok("merge", str(keep), str(other), "--yes")
    assert ok("show", str(keep), "--json").json()["touch_count"] == 3


def test_merge_at_a_terminal_shows_both_and_the_result_then_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    keep, other = _pair()
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    before = snapshot()
    shown = ok("merge", str(keep), str(other), input="n\n").stdout
    assert snapshot() == before and "nothing was changed" in shown
    assert "keep      #1 Jane Doe (Acme): open in prospecting, owner taro, jane@acme.com, 1 touchpoint" in shown
    assert "merge in  #2 J. Doe: open in prospecting, owner taro, j.doe@acme.com, 2 touchpoints, tags eu" in shown
    assert "in common: email domain acme.com" in shown
    assert "  phone: 555 (from #2)\n  value: 100 USD (from #2)\n  tags: hot, eu\n  touchpoints: 3 (1 + 2)" in shown
    assert "email" not in shown.split("will hold:")[1].split("tags")[0]  # KEEP's own email stays
    result = ok("merge", str(keep), str(other), input="y\n")
    assert "merged into #1 Jane Doe (Acme)" in result.stdout
    merged = ok("show", str(keep), "--json").json()
    assert (merged["phone"], merged["value"], merged["tags"], merged["touch_count"]) == ("555", 100, ["hot", "eu"], 3)
    assert run("show", str(other)).exit_code == 2


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (("won", "2"), "status differs: open vs won"),
        (("edit", "2", "--owner", "kim"), "owner differs: taro vs kim"),
        (("edit", "2", "--email", "jd@initech.com"), "nothing in common"),
    ],
)
def test_merge_refuses_leads_that_do_not_look_alike(setup: tuple[str, ...], reason: str) -> None:
    keep, other = _pair()
    ok(*setup)
    before = snapshot()
    result = run("merge", str(keep), str(other), "--yes")
    assert_error(result, reason)
    assert "--force" in result.stderr
    assert snapshot() == before
    ok("merge", str(keep), str(other), "--yes", "--force")
    merged = ok("show", str(keep), "--json").json()
    assert merged["status"] == "open" and merged["owner"] == "taro" and merged["touch_count"] == 3


def test_merge_free_mail_is_nothing_in_common_but_a_folded_company_is() -> None:
    add("Jane Doe", "--email", "jane@gmail.com")
    add("Bob Roe", "--email", "bob@gmail.com")
    add("Mei Tanaka", "--company", "ACME  Corp")
    add("M. Tanaka", "--company", "\uff41\uff43\uff4d\uff45 corp")  # full-width letters
    assert_error(run("merge", "1", "2", "--yes"), "nothing in common")
    ok("merge", "3", "4", "--yes")
    assert ok("show", "3", "--json").json()["company"] == "ACME  Corp"


def test_merge_with_itself_is_an_error() -> None:
    add("Jane Doe", "--company", "Acme", "--email", "jane@acme.com")
    assert_error(run("merge", "1", "jane@acme.com", "--yes"), "the same lead")


def test_undo_of_a_merge_restores_both_leads_and_their_histories() -> None:
    keep, other = _pair()
    before = snapshot()
    history = ok("show", str(other), "--json").json()
    ok("merge", str(keep), str(other), "--yes")
    ok("undo")
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])
    assert ok("show", str(other), "--json").json() == history


def test_undo_of_a_merge_of_a_lead_without_touchpoints() -> None:
    add("Jane Doe", "--company", "Acme")
    add("Jane Doe", "--phone", "555")
    before = snapshot()
    ok("merge", "1", "2", "--yes")
    ok("undo")
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_leads_with_their_touchpoints_and_undo_brings_them_back() -> None:
    keep = add("Keep me", "--company", "Initech")
    doomed = add("Typo Lead", "--company", "Acme", "--value", "1,200.50", "--tag", "x", "--next", "call")
    second = add("Test", "--email", "test@example.com", "--note", "oops")
    ok("touch", str(doomed), "call", "--outcome", "no-answer")
    ok("advance", str(doomed))
    before = snapshot()
    shown = {lead_id: ok("show", str(lead_id), "--json").json() for lead_id in (doomed, second)}
    result = ok("delete", "typo", "test@example.com", "--yes")
    assert "deleted 2 leads: #2 Typo Lead (Acme), #3 Test" in result.stdout
    assert [lead["id"] for lead in ok("list", "--status", "all", "--json").json()] == [keep]
    for lead_id in (doomed, second):
        assert_error(run("show", str(lead_id)), f"no lead with id {lead_id}")
    assert query(f"SELECT count(*) FROM touchpoints WHERE lead_id IN ({doomed}, {second})") == [(0,)]
    batches = query("SELECT DISTINCT batch, command FROM events WHERE type = 'delete'")
    assert len(batches) == 1 and "delete" in batches[0][1]
    assert "undid: pipectl delete typo test@example.com --yes (2 changes)" in ok("undo").stdout
    after = snapshot()
    assert (after["leads"], after["touchpoints"]) == (before["leads"], before["touchpoints"])
    for lead_id, lead in shown.items():
        assert ok("show", str(lead_id), "--json").json() == lead


def test_delete_resolves_every_lead_before_removing_any() -> None:
    add("Acme", "--company", "Acme")
    add("Globex", "--company", "Globex")
    before = snapshot()
    assert_error(run("delete", "1", "99", "--yes"), "no lead with id 99")
    assert_error(run("delete", "acme", "e", "--yes"), "matches 2 leads")
    assert snapshot() == before
    assert "deleted 1 lead: #1 Acme (Acme)" in ok("delete", "1", "acme", "#1", "--yes").stdout


def test_delete_asks_at_a_terminal_and_needs_yes_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    add("Acme", "--company", "Acme", "--email", "a@acme.com")
    ok("touch", "acme", "call")
    before = snapshot()
    assert_error(run("delete", "acme"), "use --yes")
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    shown = ok("delete", "acme", input="n\n").stdout
    assert "delete  #1 Acme (Acme): open in prospecting, owner taro, a@acme.com, 1 touchpoint" in shown
    assert "nothing was changed" in shown and snapshot() == before
    ok("delete", "acme", input="y\n")
    assert ok("list", "--json").json() == []


def test_a_lead_changed_after_it_was_shown_is_not_deleted() -> None:
    add("Acme", "--company", "Acme")
    ctx = actions.Context(config=config.load(), database=database(), now=dates.clock(NOW), command="t")
    try:
        doomed = actions.find_all(ctx, ["acme"])
        ok("note", "acme", "they called back")
        with pytest.raises(Refused, match="changed while you were deciding"):
            actions.delete(ctx, doomed)
    finally:
        ctx.close()
    assert ok("show", "acme", "--json").json()["touch_count"] == 1
