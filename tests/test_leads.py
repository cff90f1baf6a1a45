"""Lead fields: money, emails, tags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl.errors import PipectlError
from pipectl.leads import MAX_VALUE, clean_tags, normalize_email, parse_money
from pipectl.model import Lead
from pipectl.render import lead_json, money
from pipectl.store import lead_from_row, lead_to_row


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1200000", "1200000"),
        ("1,200,000.50", "1200000.50"),
        ("1_200", "1200"),
        (" 0.1 ", "0.1"),
        ("0", "0"),
        ("12.5", "12.5"),
    ],
)
def test_money_forms(text: str, value: str) -> None:
    assert parse_money(text) == Decimal(value)


@pytest.mark.parametrize("text", ["-1", "abc", "1.234", "1,20,0", "1e5", "NaN", "Infinity", "", "1..2", "¥"])
def test_money_rejects(text: str) -> None:
    with pytest.raises(PipectlError):
        parse_money(text)


cents = st.integers(min_value=0, max_value=int(MAX_VALUE * 100))


@given(cents)
def test_money_round_trips_exactly_through_text_storage_and_json(hundredths: int) -> None:
    value = Decimal(hundredths).scaleb(-2)
    assert parse_money(f"{value:,.2f}") == value
    assert parse_money(money(value).replace(",", "")) == value
    lead = Lead(1, "x", "prospecting", "open", "t", "t", "t", value=value)
    assert lead_from_row(tuple(lead_to_row(lead).values())).value == value
    assert Decimal(repr(lead_json(lead)["value"])) == value


@given(st.lists(cents, max_size=50))
def test_sums_are_exact(amounts: list[int]) -> None:
    values = [Decimal(a).scaleb(-2) for a in amounts]
    assert sum(values, Decimal(0)) * 100 == sum(amounts)


@pytest.mark.parametrize("text", ["Jane@Example.COM", "a.b+c@sub.example.co.jp", "x_y@ex-ample.org"])
def test_emails_are_lowercased(text: str) -> None:
    assert normalize_email(text) == text.lower()


@pytest.mark.parametrize("text", ["plain", "a@b", "a@b.c", "a b@c.com", "@c.com", "a@@c.com", "a@c..com"])
def test_malformed_emails(text: str) -> None:
    with pytest.raises(PipectlError):
        normalize_email(text)


def test_tags_dedupe_and_split_commas() -> None:
    assert clean_tags(["hot", "eu, hot", " ", "jp"]) == ["hot", "eu", "jp"]
