"""Checklist validation and scoring, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl import qualify
from pipectl.errors import PipectlError
from pipectl.qualify import NO, UNKNOWN, YES, Checklist, Criterion

CHECKLISTS = Path(__file__).parent.parent / "src" / "pipectl" / "data" / "checklists"


@pytest.mark.parametrize("name", ["bant.toml", "meddic.toml", "fit.toml"])
def test_shipped_checklists_are_valid(name: str) -> None:
    checklist, problems = qualify.read((CHECKLISTS / name).read_text(encoding="utf-8"))
    assert problems == [] and checklist is not None and len(checklist.criteria) >= 4


def test_every_problem_is_listed_with_its_key() -> None:
    text = """
threshold = 1.5
colour = "red"
[[criteria]]
key = "budget"
question = "Budget?"
wieght = 3
[[criteria]]
key = "budget"
question = ""
weight = 0
[[criteria]]
question = "No key?"
weight = "heavy"
required = "yes"
"""
    checklist, problems = qualify.read(text)
    assert checklist is None
    assert problems == [
        "colour: not a known key (a typo?); known: criteria, name, threshold",
        "threshold: must be a share between 0 and 1 (got 1.5)",
        "criteria[1] (budget).wieght: not a known field (a typo?); known: help, key, question, required, weight",
        "criteria[2] (budget).key: 'budget' appears twice",
        "criteria[2] (budget).question: missing",
        "criteria[2] (budget).weight: must be a number greater than 0, at most 1,000,000 (got 0)",
        "criteria[3].key: missing or not a word of letters, digits, - and _ (got None)",
        "criteria[3].weight: must be a number greater than 0, at most 1,000,000 (got 'heavy')",
        "criteria[3].required: must be true or false (got 'yes')",
    ]


def test_syntax_error_names_the_line() -> None:
    _, problems = qualify.read('threshold = 0.5\n[[criteria]\nkey = "x"\n')
    assert len(problems) == 1 and "line 2" in problems[0]


def test_empty_checklist() -> None:
    _, problems = qualify.read("")
    assert problems == [
        "threshold: missing (the share of the total weight a lead must score, 0..1)",
        "criteria: missing; add at least one [[criteria]] table",
    ]


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("yes", YES),
        ("Y", YES),
        ("true", YES),
        (True, YES),
        ("no", NO),
        ("n", NO),
        ("FALSE", NO),
        (False, NO),
        ("unknown", UNKNOWN),
        ("?", UNKNOWN),
        (" ? ", UNKNOWN),
    ],
)
def test_answers(raw: object, answer: str) -> None:
    assert qualify.parse_answer("k", raw) == answer


@pytest.mark.parametrize("raw", ["maybe", "", "1", "yess"])
def test_bad_answers(raw: str) -> None:
    with pytest.raises(PipectlError):
        qualify.parse_answer("k", raw)


BANT = Checklist(
    0.6,
    (
        Criterion("budget", "?", 3, True),
        Criterion("authority", "?", 2),
        Criterion("need", "?", 3, True),
        Criterion("timeline", "?", 2),
    ),
)


def test_scoring_examples() -> None:
    passed = qualify.score(BANT, {"budget": YES, "authority": NO, "need": YES, "timeline": UNKNOWN})
    assert (passed.score, passed.passed, passed.verdict, passed.open_questions) == (
        0.6,
        True,
        "qualified",
        ("timeline",),
    )
    knocked = qualify.score(BANT, {"budget": NO, "authority": YES, "need": YES, "timeline": YES})
    assert (knocked.score, knocked.passed, knocked.verdict, knocked.knocked_out) == (
        0.7,
        False,
        "disqualified",
        ("budget",),
    )
    open_ = qualify.score(BANT, {"budget": YES})
    assert (open_.score, open_.passed, open_.verdict) == (0.3, False, "open")
    low = qualify.score(BANT, {"budget": YES, "authority": NO, "need": UNKNOWN, "timeline": NO})
    assert low.verdict == "open"  # need could still lift it to 60 %
    hopeless = qualify.score(BANT, {"budget": YES, "authority": NO, "need": YES, "timeline": NO})
    assert hopeless.score == 0.6 and hopeless.passed  # exactly at the threshold passes
    failed = qualify.score(Checklist(0.8, BANT.criteria), {"budget": YES, "authority": NO, "need": YES, "timeline": NO})
    assert failed.verdict == "disqualified" and qualify.failure_reason(BANT, failed).endswith("below the 60% threshold")


criteria = st.lists(st.tuples(st.floats(min_value=0.01, max_value=100), st.booleans()), min_size=1, max_size=8).map(
    lambda items: tuple(Criterion(f"k{i}", "?", w, r) for i, (w, r) in enumerate(items))
)
checklists = st.builds(Checklist, st.floats(min_value=0, max_value=1), criteria)


@st.composite
def checklist_and_answers(draw: st.DrawFn) -> tuple[Checklist, dict[str, str]]:
    checklist = draw(checklists)
    answers = {c.key: draw(st.sampled_from([YES, NO, UNKNOWN])) for c in checklist.criteria}
    return checklist, answers


@given(checklist_and_answers())
def test_score_stays_within_0_and_1(case: tuple[Checklist, dict[str, str]]) -> None:
    checklist, answers = case
    assert 0 <= qualify.score(checklist, answers).score <= 1


@given(checklist_and_answers(), st.data())
def test_adding_a_yes_never_lowers_the_score(case: tuple[Checklist, dict[str, str]], data: st.DataObject) -> None:
    checklist, answers = case
    key = data.draw(st.sampled_from(checklist.keys))
    before = qualify.score(checklist, answers)
    after = qualify.score(checklist, {**answers, key: YES})
    assert after.score >= before.score
    assert after.passed >= before.passed or answers[key] == YES


@given(checklist_and_answers())
def test_a_knock_out_no_always_fails(case: tuple[Checklist, dict[str, str]]) -> None:
    checklist, answers = case
    outcome = qualify.score(checklist, answers)
    if any(c.required and answers[c.key] == NO for c in checklist.criteria):
        assert not outcome.passed and outcome.verdict == "disqualified"


@given(checklist_and_answers())
def test_all_yes_passes(case: tuple[Checklist, dict[str, str]]) -> None:
    checklist, _ = case
    assert qualify.score(checklist, dict.fromkeys(checklist.keys, YES)).passed
