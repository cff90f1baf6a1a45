"""Lead fields: money (every form a rep or a spreadsheet writes, in the pipeline's currency), emails, tags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipectl.errors import PipectlError
from pipectl.leads import MAX_VALUE, clean_tags, likeness, normalize_email, parse_money
from pipectl.model import Lead
from pipectl.render import lead_json, money
from pipectl.store import lead_from_row, lead_to_row


@pytest.mark.parametrize(
    ("text", "currency", "value"),
    [
        ("1200000", "JPY", "1200000"),
        ("1,200,000.50", "USD", "1200000.50"),
        ("1_200", "USD", "1200"),
        (" 0.1 ", "USD", "0.1"),
        ("0", "USD", "0"),
        ("12.5", "USD", "12.5"),
        ("1.230", "USD", "1.23"),
        ("¥1,200,000", "JPY", "1200000"),
        ("￥1,200,000", "JPY", "1200000"),
        ("\\1,200,000", "JPY", "1200000"),
        ("1,200,000円", "JPY", "1200000"),
        ("1200000 円", "JPY", "1200000"),
        ("120万", "JPY", "1200000"),
        ("120万円", "JPY", "1200000"),
        ("1.5万", "JPY", "15000"),
        ("1億2000万", "JPY", "120000000"),
        ("1億2000万円", "JPY", "120000000"),
        ("3億", "JPY", "300000000"),
        ("1万5000", "JPY", "15000"),
        ("1,200万", "JPY", "12000000"),
        ("１，２００，０００", "JPY", "1200000"),  # noqa: RUF001 (full-width on purpose)
        ("￥１２０万円", "JPY", "1200000"),
        ("１２００．５０", "USD", "1200.50"),  # noqa: RUF001 (full-width on purpose)
        ("JPY 1200000", "JPY", "1200000"),
        ("JPY1,200", "JPY", "1200"),
        ("1200 USD", "USD", "1200"),
        ("1200 usd", "USD", "1200"),
        ("USD $1,200", "USD", "1200"),
        ("$1,200 USD", "USD", "1200"),
        ("$1,200", "CAD", "1200"),
        ("$5", "AUD", "5"),
        ("US$5", "USD", "5"),
        ("HK$ 5", "HKD", "5"),
        ("¥5", "CNY", "5"),
        ("5元", "CNY", "5"),
        ("£12.50", "GBP", "12.50"),
        ("€ 99", "EUR", "99"),
        ("99 €", "EUR", "99"),
        ("1 200", "EUR", "1200"),
        ("1'200'000", "CHF", "1200000"),
        ("1\u00a0200", "EUR", "1200"),
    ],
)
def test_money_forms(text: str, currency: str, value: str) -> None:
    assert parse_money(text, currency) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.200,50", "1200.50"), ("€ 1.200,50", "1200.50"), ("1.200,50 EUR", "1200.50"), ("1 200,5", "1200.5")],
)
def test_money_with_a_decimal_comma(text: str, value: str) -> None:
    assert parse_money(text, "EUR", decimal_comma=True) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12O0", "JPY", "value must be an amount like"),
        ("12O0", "JPY", "(got '12O0'; a letter O for a zero?)"),
        ("€500", "JPY", "value is in EUR but this pipeline's currency is JPY (got '€500')"),
        ("$5", "JPY", "value is in dollars ($) but this pipeline's currency is JPY"),
        ("¥5", "USD", "value is in JPY or CNY (¥) but this pipeline's currency is USD"),
        ("\\5", "CNY", "value is in JPY but this pipeline's currency is CNY"),
        ("5円", "CNY", "value is in JPY but"),
        ("5元", "JPY", "value is in CNY but"),
        ("US$5", "CAD", "value is in USD but"),
        ("1200 EUR", "USD", "value is in EUR but"),
        ("abc 5", "USD", "value is in ABC but"),
        ("USD 5 €", "USD", "value is in EUR but"),
        ("-5", "USD", "must not be negative"),
        ("$-5", "USD", "must not be negative"),
        ("-¥5", "JPY", "must not be negative"),
        ("\u22125", "USD", "must not be negative"),
        ("1.234", "USD", "more than 2 decimals"),
        ("0.0000001万", "JPY", "more than 2 decimals"),
        ("99999999999999", "USD", "too large"),
        ("1000000億", "JPY", "too large"),
        ("1" * 5000, "USD", "too large"),
        ("1" * 5000 + "億", "JPY", "too large"),
        ("1億20000万", "JPY", "must be an amount"),
        ("1万1億", "JPY", "must be an amount"),
        ("1万20000", "JPY", "must be an amount"),
        ("1億5000", "JPY", "must be an amount"),  # said for 1億5000万
        ("万", "JPY", "must be an amount"),
        ("abc", "USD", "must be an amount"),
        ("ten", "USD", "must be an amount"),
        ("USD", "USD", "must be an amount"),
        ("1,20,0", "USD", "must be an amount"),
        ("1 2", "USD", "must be an amount"),
        ("1e5", "USD", "must be an amount"),
        ("NaN", "USD", "must be an amount"),
        ("Infinity", "USD", "must be an amount"),
        ("", "USD", "must be an amount"),
        ("1..2", "USD", "must be an amount"),
        ("¥", "JPY", "must be an amount"),
        ("1.200,50", "EUR", "must be an amount"),
        ("(5)", "USD", "must be an amount"),
        ("\u0661\u0662", "USD", "must be an amount"),  # Arabic-Indic digits
        ("1\u00b200", "USD", "must be an amount"),  # a superscript two
        ("\u2460", "USD", "must be an amount"),  # a circled one
    ],
)
def test_money_rejects(text: str, currency: str, message: str) -> None:
    with pytest.raises(PipectlError) as caught:
        parse_money(text, currency)
    assert message in caught.value.message


cents = st.integers(min_value=0, max_value=int(MAX_VALUE * 100))
# Currencies and the marks each is written with (before or after the number).
MARKS = {
    "JPY": (("¥", ""), ("￥", ""), ("\\", ""), ("", "円"), ("JPY ", ""), ("", " JPY"), ("", "jpy")),
    "USD": (("$", ""), ("US$", ""), ("USD ", ""), ("", " USD"), ("USD $", "")),
    "EUR": (("€", ""), ("€ ", ""), ("", " €"), ("", " EUR")),
    "CNY": (("¥", ""), ("", "元"), ("CNY ", "")),
    "GBP": (("£", ""),),
}
WIDE = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789,."})


def written(value: Decimal, currency: str) -> list[tuple[str, bool]]:
    """Every way the amount may be written in ``currency``, each with whether it uses a decimal comma."""
    grouped, plain = f"{value:,}", f"{value:f}"
    numbers = [plain, grouped, grouped.translate(WIDE), grouped.replace(",", " "), grouped.replace(",", "_")]
    if currency == "JPY":
        oku, rest = divmod(value, 10**8)
        man, rest = divmod(rest, 10**4)
        numbers += [f"{value.scaleb(-4):f}万", f"{value.scaleb(-8):f}億"]
        if not (oku and rest and not man):  # 1億5000 is refused: said for 1億5000万
            parts = [f"{oku}億" if oku else "", f"{man}万" if man else "", f"{rest:f}" if rest or value == 0 else ""]
            numbers.append("".join(parts))
    forms = [(number, False) for number in numbers]
    forms += [(f"{before}{number}{after}", False) for before, after in MARKS[currency] for number in numbers[:3]]
    comma = grouped.translate(str.maketrans(",.", ".,"))
    forms += [(comma, True), (f"{MARKS[currency][0][0]}{comma}", True)]
    return forms


@given(cents, st.sampled_from(sorted(MARKS)))
def test_every_form_of_an_amount_reads_back_exactly(hundredths: int, currency: str) -> None:
    value = Decimal(hundredths).scaleb(-2)
    for text, decimal_comma in written(value, currency):
        assert parse_money(text, currency, decimal_comma=decimal_comma) == value, text


@given(cents, st.sampled_from(sorted(MARKS)), st.sampled_from(sorted(MARKS)))
def test_an_amount_in_another_currency_is_refused(hundredths: int, currency: str, pipeline: str) -> None:
    value = Decimal(hundredths).scaleb(-2)
    for before, after in MARKS[currency]:
        if currency == pipeline or (before.strip() in ("¥", "￥") and pipeline in ("JPY", "CNY")):
            continue  # ¥ is the yen and the yuan
        with pytest.raises(PipectlError, match=f"but this pipeline's currency is {pipeline}"):
            parse_money(f"{before}{value:,}{after}", pipeline)


GARBAGE = "OolxZéあ#*/;?!%+=~@()[]-"


@given(cents, st.sampled_from(sorted(MARKS)), st.data())
def test_garbage_in_an_amount_never_reads_as_a_number(hundredths: int, currency: str, data: st.DataObject) -> None:
    # One stray character anywhere in any accepted form: an error, never a number.
    forms = written(Decimal(hundredths).scaleb(-2), currency)
    text, decimal_comma = data.draw(st.sampled_from(forms))
    at = data.draw(st.integers(0, len(text)))
    spoilt = text[:at] + data.draw(st.sampled_from(GARBAGE)) + text[at:]
    with pytest.raises(PipectlError):
        parse_money(spoilt, currency, decimal_comma=decimal_comma)


@given(cents)
def test_money_round_trips_exactly_through_text_storage_and_json(hundredths: int) -> None:
    value = Decimal(hundredths).scaleb(-2)
    assert parse_money(f"{value:,.2f}", "USD") == value
    assert parse_money(money(value).replace(",", ""), "USD") == value
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


def _lead(name: str, company: str | None = None, email: str | None = None, **more: str) -> Lead:
    fields = {"status": "open", "owner": "taro", **more}
    return Lead(0, name, "prospecting", fields.pop("status"), "", "", "", company=company, email=email, **fields)


@pytest.mark.parametrize(
    ("a", "b", "common"),
    [
        (_lead("Jane", email="jane@acme.com"), _lead("Bob", email="bob@ACME.com"), ("email domain acme.com",)),
        (_lead("Jane", email="jane@gmail.com"), _lead("Bob", email="bob@gmail.com"), ()),
        (_lead("Jane", email="j@yahoo.co.jp"), _lead("Bob", email="b@Yahoo.co.jp"), ()),
        (_lead("Jane", "Acme  Corp"), _lead("Bob", "\uff41\uff43\uff4d\uff45 corp"), ("company Acme  Corp",)),
        (_lead("Jane", "Acme"), _lead("Bob"), ()),
        (_lead("Jane Doe"), _lead("JANE　DOE"), ("name Jane Doe",)),  # an ideographic space
        (_lead("山田 太郎"), _lead("山田太郎"), ("name 山田 太郎",)),  # no space needed between CJK words
        (_lead("Jane Doe"), _lead("JaneDoe"), ()),  # but Latin words are apart
        (_lead("Jane", None), _lead("Bob", None), ()),
        (
            _lead("Mei", "Initech", "mei@initech.jp"),
            _lead("mei", "INITECH", "m@initech.jp"),
            ("email domain initech.jp", "company Initech", "name Mei"),
        ),
    ],
)
def test_likeness_finds_what_two_leads_share(a: Lead, b: Lead, common: tuple[str, ...]) -> None:
    found = likeness(a, b)
    assert found.common == common and found.conflicts == ()
    assert found.refusals == (() if common else ("nothing in common (email domain, company, name)",))


def test_likeness_conflicts_on_status_and_owner_whatever_they_share() -> None:
    keep = _lead("Jane", "Acme")
    assert likeness(keep, _lead("Jane", "Acme", status="won")).refusals == ("status differs: open vs won",)
    assert likeness(keep, _lead("Jane", "Acme", owner="TARO")).refusals == ()
    assert likeness(keep, _lead("Jane", "Acme", owner="kim")).refusals == ("owner differs: taro vs kim",)
    both = likeness(keep, _lead("Bob", status="lost", owner="kim"))
    assert both.refusals == (
        "status differs: open vs lost",
        "owner differs: taro vs kim",
        "nothing in common (email domain, company, name)",
    )
