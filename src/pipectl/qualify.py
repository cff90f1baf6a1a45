"""Qualification: the TOML checklist, its validation, and scoring a lead's answers (pure).

A checklist has a pass ``threshold`` (a share, 0..1, of the total weight) and criteria, each with a
stable ``key``, a ``question``, an optional ``help``, a positive ``weight`` and ``required`` for
knock-outs. Answers are yes / no / unknown. The score is the share of the total weight answered
"yes"; a lead passes when the score reaches the threshold and no knock-out is answered "no".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipectl.errors import ConfigError, PipectlError

YES, NO, UNKNOWN = "yes", "no", "unknown"
ANSWER_WORDS = {
    "yes": YES,
    "y": YES,
    "true": YES,
    "no": NO,
    "n": NO,
    "false": NO,
    "unknown": UNKNOWN,
    "?": UNKNOWN,
}
KEY = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_WEIGHT = 1_000_000
# The checklist used until the config names one (`init` writes it): BANT, shipped in the package.
DEFAULT_CHECKLIST = "data/checklists/bant.toml"
CHECKLIST_KEYS = {"threshold", "criteria", "name"}
CRITERION_KEYS = {"key", "question", "help", "weight", "required"}

QUALIFIED, NOT_QUALIFIED, DISQUALIFIED, OPEN = "qualified", "not qualified", "disqualified", "open"


@dataclass(frozen=True)
class Criterion:
    key: str
    question: str
    weight: float
    required: bool = False
    help: str | None = None


@dataclass(frozen=True)
class Checklist:
    threshold: float
    criteria: tuple[Criterion, ...]
    name: str | None = None

    @property
    def total_weight(self) -> float:
        return sum(criterion.weight for criterion in self.criteria)

    @property
    def keys(self) -> list[str]:
        return [criterion.key for criterion in self.criteria]


@dataclass(frozen=True)
class Outcome:
    """What a set of answers means: the score, whether it passed, and why not."""

    score: float
    passed: bool
    knocked_out: tuple[str, ...]  # required criteria answered "no"
    open_questions: tuple[str, ...]  # criteria answered "unknown"
    can_still_pass: bool  # with every open question answered "yes"

    @property
    def verdict(self) -> str:
        if self.passed:
            return QUALIFIED
        return OPEN if self.can_still_pass else DISQUALIFIED


def problems(data: dict[str, Any]) -> list[str]:
    """Every problem of a parsed checklist document, each naming its key; empty when it is valid."""
    found: list[str] = []
    for name in data:
        if name not in CHECKLIST_KEYS:
            found.append(f"{name}: not a known key (a typo?); known: {', '.join(sorted(CHECKLIST_KEYS))}")
    threshold = data.get("threshold")
    if threshold is None:
        found.append("threshold: missing (the share of the total weight a lead must score, 0..1)")
    elif isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        found.append(f"threshold: must be a share between 0 and 1 (got {threshold!r})")
    criteria = data.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        found.append("criteria: missing; add at least one [[criteria]] table")
        return found
    seen: set[str] = set()
    for index, item in enumerate(criteria, 1):
        where = f"criteria[{index}]"
        if not isinstance(item, dict):
            found.append(f"{where}: must be a table")
            continue
        key = item.get("key")
        if isinstance(key, str) and key:
            where = f"criteria[{index}] ({key})"
        for name in item:
            if name not in CRITERION_KEYS:
                found.append(f"{where}.{name}: not a known field (a typo?); known: {', '.join(sorted(CRITERION_KEYS))}")
        if not isinstance(key, str) or not KEY.match(key):
            found.append(f"{where}.key: missing or not a word of letters, digits, - and _ (got {key!r})")
        elif key in seen:
            found.append(f"{where}.key: {key!r} appears twice")
        else:
            seen.add(key)
        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            found.append(f"{where}.question: missing")
        weight = item.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= MAX_WEIGHT:
            shown = weight if not isinstance(weight, int) or abs(weight) < 10**12 else "a huge number"
            found.append(f"{where}.weight: must be a number greater than 0, at most {MAX_WEIGHT:,} (got {shown!r})")
        if not isinstance(item.get("required", False), bool):
            found.append(f"{where}.required: must be true or false (got {item['required']!r})")
        if "help" in item and not isinstance(item["help"], str):
            found.append(f"{where}.help: must be text")
    return found


def parse(data: dict[str, Any]) -> Checklist:
    """A valid checklist document as a Checklist (call ``problems`` first)."""
    return Checklist(
        threshold=float(data["threshold"]),
        criteria=tuple(
            Criterion(
                key=item["key"],
                question=item["question"].strip(),
                weight=float(item.get("weight", 1)),
                required=item.get("required", False),
                help=item.get("help"),
            )
            for item in data["criteria"]
        ),
        name=data.get("name"),
    )


def read(text: str) -> tuple[Checklist | None, list[str]]:
    """Parse checklist TOML text: the checklist, or the list of its problems."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"TOML syntax error: {exc}"]
    found = problems(data)
    return (None, found) if found else (parse(data), [])


def load(path: Path | str, text: str) -> Checklist:
    checklist, found = read(text)
    if checklist is None:
        raise ConfigError(f"checklist {path}: " + "; ".join(found))
    return checklist


def parse_answer(key: str, value: object) -> str:
    """One answer: yes / no / unknown, also y, n, true, false, ? (and TOML booleans)."""
    if isinstance(value, bool):
        return YES if value else NO
    word = ANSWER_WORDS.get(str(value).strip().lower())
    if word is None:
        raise PipectlError(f"answer for {key!r} must be yes, no or unknown (or y, n, true, false, ?), got {value!r}")
    return word


def check_answers(checklist: Checklist, answers: dict[str, str]) -> None:
    unknown = [key for key in answers if key not in checklist.keys]
    if unknown:
        raise PipectlError(
            f"no question with key {', '.join(repr(k) for k in unknown)} in the checklist; "
            f"keys: {', '.join(checklist.keys)}"
        )


def score(checklist: Checklist, answers: dict[str, str]) -> Outcome:
    """Score answers (a missing answer counts as unknown)."""
    total = checklist.total_weight
    given = {c.key: answers.get(c.key, UNKNOWN) for c in checklist.criteria}
    yes = sum(c.weight for c in checklist.criteria if given[c.key] == YES)
    unknown = sum(c.weight for c in checklist.criteria if given[c.key] == UNKNOWN)
    knocked_out = tuple(c.key for c in checklist.criteria if c.required and given[c.key] == NO)
    share = min(1.0, yes / total) if total else 0.0
    reachable = min(1.0, (yes + unknown) / total) if total else 0.0
    return Outcome(
        score=round(share, 4),
        passed=not knocked_out and share >= checklist.threshold,
        knocked_out=knocked_out,
        open_questions=tuple(key for key, answer in given.items() if answer == UNKNOWN),
        can_still_pass=not knocked_out and reachable >= checklist.threshold,
    )


def failure_reason(checklist: Checklist, outcome: Outcome) -> str:
    """Why a lead failed, naming the failed criteria: the disqualification reason."""
    if outcome.knocked_out:
        return "failed qualification: " + ", ".join(f"{key} = no (required)" for key in outcome.knocked_out)
    return f"failed qualification: score {outcome.score:.0%} below the {checklist.threshold:.0%} threshold"


def answers_from_toml(text: str, source: str) -> dict[str, str]:
    """Answers saved in TOML: ``budget = "yes"`` lines, at the top or under ``[answers]``."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipectlError(f"answers file {source}: TOML syntax error: {exc}") from None
    table = data.get("answers", data)
    if not isinstance(table, dict):
        raise PipectlError(f'answers file {source}: [answers] must be a table of KEY = "yes"/"no"/"unknown"')
    return {str(key): parse_answer(str(key), value) for key, value in table.items()}
