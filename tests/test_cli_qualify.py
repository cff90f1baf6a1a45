"""Qualification through the CLI: checklist show/check, qualify by flags, file and prompts, the gate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import add, assert_error, ok, run, snapshot
from pipectl import cli

pytestmark = pytest.mark.backends

ALL_YES = ["-a", "budget=yes", "-a", "authority=yes", "-a", "need=yes", "-a", "timeline=yes"]


def test_checklist_show_uses_the_built_in_default_before_init() -> None:
    result = ok("checklist")
    assert "built-in BANT checklist" in result.stdout
    assert "budget" in result.stdout and "pass at 60%" in result.stdout
    assert ok("checklist", "show").stdout == result.stdout


def test_checklist_show_after_init_reads_the_file(tmp_path: Path) -> None:
    ok("init")
    path = tmp_path / "config" / "pipectl" / "checklist.toml"
    path.write_text('threshold = 0.5\n[[criteria]]\nkey = "fit"\nquestion = "Fits?"\nweight = 1\n', encoding="utf-8")
    result = ok("checklist", "show")
    assert str(path) in result.stdout and "fit" in result.stdout and "budget" not in result.stdout


def test_checklist_check(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('threshold = 0.5\n[[criteria]]\nkey = "fit"\nquestion = "Fits?"\nweight = 2\n', encoding="utf-8")
    assert ok("checklist", "check", str(good)).stdout.startswith(f"ok: {good}: 1 criteria, total weight 2")
    bad = tmp_path / "bad.toml"
    bad.write_text('threshold = 2\n[[criteria]]\nkey = "fit"\nquestion = "Fits?"\nwieght = 2\n', encoding="utf-8")
    result = run("checklist", "check", str(bad))
    assert_error(result, f"checklist {bad}: 2 problems")
    assert "threshold: must be a share" in result.stdout and "criteria[1] (fit).wieght" in result.stdout
    assert_error(run("checklist", "check", str(tmp_path / "none.toml")), "no such file")


def test_qualify_with_flags_passes_and_opens_the_gate() -> None:
    add("Acme", "--company", "Acme")
    ok("advance", "acme")
    assert_error(run("advance", "acme"), "not qualified")
    result = ok("qualify", "acme", "-a", "budget=yes", "--answer", "authority=no", "-a", "need=y", "-a", "timeline=?")
    assert result.stdout.strip() == "#1 Acme (Acme): qualified, score 60% (pass at 60%); open questions: timeline"
    lead = ok("show", "acme", "--json").json()
    assert lead["qualified"] is True and lead["qualification_score"] == 0.6
    assert lead["qualification"] == {
        "at": "2026-11-30T09:00:00Z",
        "answers": {"budget": "yes", "authority": "no", "need": "yes", "timeline": "unknown"},
        "score": 0.6,
        "threshold": 0.6,
        "verdict": "qualified",
        "knocked_out": [],
        "open_questions": ["timeline"],
        "checklist": lead["qualification"]["checklist"],
    }
    assert re.search(r"qualification +qualified, score 60% \(pass at 60%\)", ok("show", "acme").stdout)
    ok("advance", "acme")
    assert ok("show", "acme", "--json").json()["stage"] == "connecting"


def test_failed_knock_out_disqualifies_with_reason() -> None:
    add("Acme")
    result = ok("qualify", "acme", "-a", "budget=no", "--partial")
    assert "disqualified" in result.stdout and "budget = no (required)" in result.stdout
    lead = ok("show", "acme", "--json").json()
    assert lead["status"] == "disqualified" and lead["qualified"] is False
    assert lead["lost_reason"] == "failed qualification: budget = no (required)"
    assert ok("list", "--json").json() == []
    assert [lead["id"] for lead in ok("list", "--status", "disqualified", "--json").json()] == [1]
    assert_error(run("qualify", "acme", *ALL_YES), "reopen it before qualifying")
    ok("reopen", "acme")
    ok("qualify", "acme", *ALL_YES)  # new information: a new run
    lead = ok("show", "acme", "--json").json()
    assert lead["qualified"] is True and lead["status"] == "open"
    assert [e["verdict"] for e in lead["timeline"] if e["type"] == "qualified"] == ["disqualified", "qualified"]


def test_keep_open_and_open_questions() -> None:
    add("Acme")
    result = ok(
        "qualify",
        "acme",
        "-a",
        "budget=no",
        "-a",
        "authority=yes",
        "-a",
        "need=yes",
        "-a",
        "timeline=yes",
        "--keep-open",
    )
    assert "not qualified" in result.stdout
    lead = ok("show", "acme", "--json").json()
    assert lead["status"] == "open" and lead["qualified"] is False
    add("Globex")
    assert "not qualified yet" in ok("qualify", "globex", "-a", "budget=yes", "--partial").stdout
    assert ok("show", "globex", "--json").json()["status"] == "open"
    assert [lead["id"] for lead in ok("list", "--unqualified", "--json").json()] == [1, 2]


def test_answers_file_and_flags_win(tmp_path: Path) -> None:
    add("Acme")
    answers = tmp_path / "answers.toml"
    answers.write_text('[answers]\nbudget = "yes"\nauthority = false\nneed = true\ntimeline = "?"\n', encoding="utf-8")
    ok("qualify", "acme", "--answers-file", str(answers), "-a", "authority=yes")
    assert ok("show", "acme", "--json").json()["qualification"]["answers"] == {
        "budget": "yes",
        "authority": "yes",
        "need": "yes",
        "timeline": "unknown",
    }


def test_qualify_prompts_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    add("Acme")
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = ok("qualify", "acme", "-a", "budget=yes", input="maybe\ny\nn\n?\n")
    assert "authority (weight 2): Are you talking to the person who decides" in result.stdout
    assert "need (weight 3, required)" in result.stdout
    assert "budget" not in result.stdout.split("\n", 1)[1]  # answered by flag, not asked
    assert "must be yes, no or unknown" in result.stderr  # "maybe" was asked again
    assert ok("show", "acme", "--json").json()["qualification"]["answers"] == {
        "budget": "yes",
        "authority": "yes",
        "need": "no",
        "timeline": "unknown",
    }


def test_interrupted_prompt_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add("Acme")
    before = snapshot()
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = run("qualify", "acme", input="y\n")
    assert result.exit_code == 130 and "Error:" in result.stderr
    assert snapshot() == before


def test_undo_reverts_a_qualify() -> None:
    add("Acme")
    ok("qualify", "acme", "-a", "budget=no", "--partial")
    ok("undo")
    lead = ok("show", "acme", "--json").json()
    assert lead["status"] == "open" and lead["qualified"] is None and lead["qualification"] is None
    assert lead["lost_reason"] is None and lead["qualification_score"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qualify", "acme"], "no answer for budget, authority, need, timeline"),
        (["qualify", "acme", "-a", "budget=yes"], "no answer for authority, need, timeline"),
        (["qualify", "acme", "-a", "budgt=yes", "--partial"], "no question with key 'budgt'"),
        (["qualify", "acme", "-a", "budget=maybe"], "must be yes, no or unknown"),
        (["qualify", "acme", "-a", "budget"], "must look like KEY=yes"),
        (["qualify", "nobody", *ALL_YES], "no lead matches"),
        (["qualify", "acme", "--answers-file", "/nonexistent.toml"], "no such file"),
    ],
)
def test_bad_answers_store_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    add("Acme")
    before = snapshot()
    assert_error(run(*args), message)
    assert snapshot() == before


def test_bad_checklist_is_one_error(tmp_path: Path) -> None:
    ok("init")
    (tmp_path / "config" / "pipectl" / "checklist.toml").write_text("threshold = -1\n", encoding="utf-8")
    add("Acme")
    result = run("qualify", "acme", *ALL_YES)
    assert_error(result, "threshold: must be a share between 0 and 1 (got -1); criteria: missing")


def test_missing_checklist_named_by_config(tmp_path: Path) -> None:
    ok("init")
    (tmp_path / "config" / "pipectl" / "checklist.toml").unlink()
    assert_error(run("checklist"), "does not exist")
