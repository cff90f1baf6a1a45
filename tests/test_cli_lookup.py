"""Referring to a lead by part of its name or company (SPEC §3), as a rep types it: without regard to
case or width in any script, and without spaces in a CJK name; after every kind of write."""

# ruff: noqa: RUF001 (full-width and other look-alike letters are what these tests type)
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import NOW, add, assert_error, database, ok, query, run
from pipectl.leads import fold, fold_words, search_query, search_text
from pipectl.store import Store, open_backend

pytestmark = pytest.mark.backends


def shown(*ref: str, db: str | None = None) -> str:
    """The name of the lead ``ref`` names (``show --json``)."""
    where = ("--db", db) if db else ()
    return str(ok(*where, "show", *ref, "--json").json()["name"])


def not_found(ref: str) -> None:
    assert_error(run("show", ref), f"no lead matches {ref!r}")


def test_case_width_and_cjk_spaces() -> None:
    add("Jürgen Müller", "--company", "Zyx GmbH")
    add("山田 太郎", "--company", "Acme 株式会社")
    add("ヤマダ 花子", "--company", "Yamada Trading")
    add("Ann  Lee", "--company", "Straße AG")
    assert shown("MÜLLER") == shown("müller") == shown("ＭＵ\u0308ＬＬＥＲ") == "Jürgen Müller"
    assert shown("ＺＹＸ") == "Jürgen Müller"  # the company
    assert "logged call for #1 Jürgen Müller" in ok("touch", "ｊüｒｇｅｎ", "call").stdout
    assert ok("show", "1", "--json").json()["touch_count"] == 1
    for ref in ("山田太郎", "山田 太郎", "山田　太郎", "田太", "ａｃｍｅ株式会社", "ACME 株式"):
        assert shown(ref) == "山田 太郎"
    assert shown("ﾔﾏﾀﾞ") == shown("ﾔﾏﾀﾞ花子") == "ヤマダ 花子"
    # Latin names keep their spaces (a run of them counts as one); ß is ss
    assert shown("ann lee") == shown("ANN\u3000LEE") == shown("STRASSE") == "Ann  Lee"
    not_found("annlee")
    not_found("ann_lee")  # LIKE's wildcards are taken literally
    not_found("müller zyx")  # never across name and company


def test_ambiguous_still_lists_and_open_leads_come_first() -> None:
    add("Jürgen Müller", "--company", "Acme")
    add("Zoë Müller", "--company", "ＡＣＭＥ Japan")
    add("Jürgen Klein", "--company", "Globex")
    ambiguous = "'ＭÜＬＬＥＲ' matches 2 leads: #1 Jürgen Müller (Acme) [open]; #2 Zoë Müller"
    assert_error(run("show", "ＭÜＬＬＥＲ"), ambiguous)
    assert_error(run("touch", "acme", "call"), "'acme' matches 2 leads")
    ok("won", "1")
    assert shown("MÜLLER") == "Zoë Müller"  # the one open lead, though a closed one matches too
    ok("lost", "2", "--reason", "budget")
    assert_error(run("show", "müller"), "matches 2 leads")  # no open one: both closed ones listed
    ok("won", "3")
    ok("reopen", "ＫＬＥＩＮ")  # matching no open lead, it names the one closed lead
    assert ok("show", "3", "--json").json()["status"] == "open"


def test_edits_merges_and_undo_keep_lookups_current() -> None:
    add("Jürgen Müller", "--company", "Zyx GmbH")
    ok("edit", "MÜLLER", "--name", "Jürgen Schäfer")
    assert shown("SCHÄFER") == "Jürgen Schäfer"
    not_found("müller")
    ok("edit", "schäfer", "--company", "Ｂergmann AG")
    assert shown("BERGMANN") == "Jürgen Schäfer"
    not_found("zyx")
    ok("undo")
    assert shown("zyx") == "Jürgen Schäfer"
    ok("undo")
    assert shown("MÜLLER") == "Jürgen Müller"
    not_found("schäfer")
    # a merge fills the kept lead's company from the duplicate's; undone, the duplicate is back. (The
    # store's merge, as the command runs it: whether the command asks first is not the point here.)
    keep, other = add("山田 太郎"), add("Taro Yamada", "--company", "株式会社 ヤマダ")
    ok("note", "taro", "met at the fair")
    store = Store.open(database(), create=False, currency="USD")
    try:
        with store.transaction("merge", None, NOW):
            kept, duplicate = store.get_lead(keep), store.get_lead(other)
            assert kept is not None and duplicate is not None
            store.merge_leads(kept, duplicate, {"company": duplicate.company})
    finally:
        store.close()
    assert shown("ﾔﾏﾀﾞ") == "山田 太郎"
    not_found("taro")
    ok("undo")
    assert shown("taro") == "Taro Yamada" and shown("山田太郎") == "山田 太郎"
    assert shown("株式会社ヤマダ") == "Taro Yamada"


def test_imported_and_copied_leads_are_found(tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    source.write_text(
        "First Name,Last Name,Company\nJürgen,Müller,Zyx GmbH\n太郎,山田,ヤマダ商事\nAnn,Lee,\n", encoding="utf-8"
    )
    ok("import", str(source))
    assert shown("MÜLLER") == "Jürgen Müller"
    assert shown("山田太郎") == shown("ﾔﾏﾀﾞ") == "山田 太郎"
    assert shown("ANN LEE") == "Ann Lee"
    copy = tmp_path / "copy.db"
    ok("copy", "--to", str(copy))
    assert shown("ｍüｌｌｅｒ", db=str(copy)) == "Jürgen Müller"
    assert shown("山田　太郎", db=str(copy)) == "山田 太郎"
    ok("undo")  # the import
    not_found("müller")


def test_plain_ascii_leads_and_those_another_program_wrote_are_found_without_search() -> None:
    add("Jane Doe", "--company", "Acme")
    backend = open_backend(database(), create=False, currency="USD")
    try:
        backend.conn.execute(
            "INSERT INTO leads (name, company, stage, created_at, updated_at, stage_entered_at)"
            " VALUES ('Kim Park', 'Globex', 'prospecting', ?, ?, ?)",
            ("2026-11-01T00:00:00Z",) * 3,
        )
    finally:
        backend.close()
    add("Zoë  Smith")
    # plain ASCII needs no folded copy: compared as it is, like what another program wrote
    assert query("SELECT name, search FROM leads ORDER BY id") == [
        ("Jane Doe", None),
        ("Kim Park", None),
        ("Zoë  Smith", "zoë smith"),
    ]
    assert shown("KIM") == shown("ＧＬＯＢＥＸ") == "Kim Park"
    assert shown("JANE D") == shown("acme") == "Jane Doe"
    assert shown("zoë smith") == "Zoë  Smith"


# --- the folding (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        (("Jürgen  MÜLLER", "Straße\tAG"), "jürgen müller\nstrasse ag"),
        (("山田\u3000太郎", "Acme 株式会社"), "山田 太郎\nacme 株式会社\n山田太郎\nacme株式会社"),
        (("ﾔﾏﾀﾞ ﾊﾅｺ", None), "ヤマダ ハナコ\nヤマダハナコ"),
        (("\uff21\uff23\uff2d\uff25", ""), "acme"),
    ],
)
@pytest.mark.sqlite_only
def test_search_text_folds_each_field_on_its_own_line(fields: tuple[str, str | None], stored: str) -> None:
    assert search_text(*fields) == stored


@pytest.mark.parametrize(
    ("typed", "query"),
    [("MÜLLER", "müller"), (" ann   LEE ", "ann lee"), ("山田 太郎", "山田太郎"), ("acme\u3000株式", "acme株式")],
)
@pytest.mark.sqlite_only
def test_search_query_keeps_latin_spaces_and_drops_cjk_ones(typed: str, query: str) -> None:
    assert search_query(typed) == query


@pytest.mark.sqlite_only
@given(st.text(alphabet="a\uff22üßﾀﾞ山 \u3000\u00a0\t\n\u2028\u1680"))
def test_fold_words_is_fold_with_whitespace_runs_as_one_space(text: str) -> None:
    assert fold_words(text) == " ".join(fold(text).split())


# --- property: any substring of a name, typed in any of its folded forms, finds the lead ----------


def _latin(letter: str) -> list[str]:
    return [form for c in (letter, letter.upper()) for form in (c, chr(ord(c) - 0x21 + 0xFF01))]


# Units of a name, each with forms that fold alike whatever stands beside them (so a unit's
# neighbours never change how it folds: no lone combining marks).
UNITS: list[list[str]] = [
    *(_latin(c) for c in "aeiknorsz19"),
    ["ü", "Ü", "u\u0308", "U\u0308"],
    ["ß", "ẞ", "ss", "SS", "ｓｓ"],
    ["σ", "Σ", "ς"],
    ["ヤ", "ﾔ"],
    ["ダ", "ﾀﾞ"],
    ["マ", "ﾏ"],
    ["山"],
    ["田"],
    ["郎"],
    ["김"],
    ["%", "％"],
    ["_", "＿"],
    ["\\", "＼"],
    ["'", "＇"],
]
SPACE = [" ", "\u3000", "\u00a0", "  "]
CJK = {"ヤ", "ダ", "マ", "山", "田", "郎", "김"}


@st.composite
def name_and_part(draw: st.DrawFn) -> tuple[str, str]:
    units = draw(st.lists(st.sampled_from([*UNITS, SPACE]), min_size=1, max_size=12))
    assume(any(unit is not SPACE for unit in units))
    name = "".join(draw(st.sampled_from(unit)) for unit in units)
    start = draw(st.integers(0, len(units) - 1))
    part = units[start : draw(st.integers(start + 1, len(units)))]
    cjk = any(unit[0] in CJK for unit in part)
    # In a part holding a CJK character, spaces may be left out or put in anywhere.
    forms = [draw(st.sampled_from([*unit, ""] if cjk and unit is SPACE else unit)) for unit in part]
    if cjk:
        forms = [form + draw(st.sampled_from(["", "", " "])) for form in forms]
    text = "".join(forms)
    assume(text.strip() and name.strip())
    return name.strip(), text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=name_and_part())
def test_any_part_of_a_name_in_any_folded_form_finds_it(case: tuple[str, str]) -> None:
    name, text = case
    lead = add(name)
    store = Store.open(database(), create=False, currency="USD")
    try:
        found: list[Any] = [found.id for found in store.leads_matching(text, limit=10**6)]
    finally:
        store.close()
    assert lead in found, (name, text)
