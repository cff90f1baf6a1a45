"""Amounts through the CLI: add, edit and won --value in the forms a rep types, in the pipeline's currency."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import add, assert_error, ok, run, snapshot

pytestmark = pytest.mark.backends


@pytest.fixture
def yen(tmp_path: Path) -> None:
    config = tmp_path / "config" / "pipectl" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('currency = "JPY"\n', encoding="utf-8")


def value_of(lead_id: int) -> float:
    value: float = ok("show", str(lead_id), "--json").json()["value"]
    return value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("¥1,200,000", 1200000),
        ("￥1,200,000", 1200000),
        ("\\1,200,000", 1200000),
        ("1,200,000円", 1200000),
        ("120万", 1200000),
        ("120万円", 1200000),
        ("1.5万", 15000),
        ("1億2000万", 120000000),
        ("１，２００，０００", 1200000),  # noqa: RUF001 (full-width on purpose)
        ("JPY 1200000", 1200000),
        ("1200000.50 JPY", 1200000.5),
    ],
)
def test_add_reads_the_forms_of_a_yen_amount(yen: None, text: str, value: float) -> None:
    assert value_of(add("Acme", "--value", text)) == value


def test_edit_and_won_read_them_too(yen: None) -> None:
    lead_id = add("Acme", "--company", "Acme")
    ok("edit", "acme", "--value", "1億2000万円")
    assert value_of(lead_id) == 120000000
    ok("edit", "acme", "--value", "1.00505万")  # decimals under 万 that land on hundredths
    assert value_of(lead_id) == 10050.5
    ok("won", "acme", "--value", "\\1,450,000")
    lead = ok("show", "acme", "--json").json()
    assert (lead["status"], lead["value"]) == ("won", 1450000)


def test_dollars_of_any_kind_in_a_dollar_pipeline() -> None:
    lead_id = add("Acme", "--value", "$1,200.50")
    assert value_of(lead_id) == 1200.5
    ok("edit", str(lead_id), "--value", "US$ 99")
    assert value_of(lead_id) == 99


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "X", "--value", "12O0"], "value must be an amount like"),
        (["edit", "acme", "--value", "12O0"], "(got '12O0'; a letter O for a zero?)"),
        (["won", "acme", "--value", "12O0"], "a letter O for a zero?"),
        (["add", "X", "--value", "€500"], "value is in EUR but this pipeline's currency is JPY (got '€500')"),
        (["edit", "acme", "--value", "$5"], "value is in dollars ($) but this pipeline's currency is JPY"),
        (["won", "acme", "--value", "1200 USD"], "value is in USD but this pipeline's currency is JPY"),
        (["add", "X", "--value", "-¥5"], "value must not be negative"),
        (["edit", "acme", "--value", "1億20000万"], "value must be an amount like"),
        (["add", "X", "--value", "0.0000001万"], "more than 2 decimals"),
        (["add", "X", "--value", "100000億"], "value is too large"),
    ],
)
def test_bad_values_are_one_error_and_change_nothing(yen: None, args: list[str], message: str) -> None:
    add("Acme", "--company", "Acme", "--value", "100")
    before = snapshot()
    assert_error(run(*args), message)
    assert snapshot() == before


def test_yen_in_a_dollar_pipeline_is_refused() -> None:
    add("Acme", "--value", "100")
    before = snapshot()
    assert_error(
        run("add", "X", "--value", "¥1,200,000"), "value is in JPY or CNY (¥) but this pipeline's currency is USD"
    )
    assert snapshot() == before
