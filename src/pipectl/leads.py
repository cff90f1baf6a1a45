"""Lead fields: parsing and validating what users type (amounts, emails, tags), pure.

Used by every way a lead comes in (add, edit, import), so one rule holds everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from pipectl.errors import PipectlError

# Largest amount kept: 15 significant digits with the 2 decimals, so JSON numbers stay exact.
MAX_VALUE = Decimal("9999999999999.99")
_ATOM = r"[^@\s<>(),;:\"\[\].]+"
EMAIL = re.compile(rf"^[^@\s<>(),;:\"\[\]]+@(?:{_ATOM}\.)+[^@\s<>(),;:\"\[\].]{{2,}}$")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$|^\d+(\.\d+)?$")


def parse_money(text: str) -> Decimal:
    """An amount such as ``1200000``, ``1,200,000.50`` or ``1_200_000``: non-negative, 2 decimals at most."""
    raw = text.strip().replace("_", "")
    if raw.startswith("-"):
        raise PipectlError(f"value must not be negative (got {text!r})")
    if not _GROUPED.match(raw):
        raise PipectlError(f"value must be an amount like 1200000 or 1,200,000.50 (got {text!r})")
    try:
        amount = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise PipectlError(f"value must be an amount like 1200000 or 1,200,000.50 (got {text!r})") from None
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise PipectlError(f"value has more than 2 decimals (got {text!r}); amounts are kept exactly")
    if amount > MAX_VALUE:
        raise PipectlError(f"value is too large (got {text!r}); the largest is {MAX_VALUE:,}")
    return amount


def fold(text: str) -> str:
    """Text as compared without case or width, for every script: NFKC (full-width Latin letters and
    half-width ｶﾅ become their usual forms), then casefold (MÜLLER and müller, Straße and STRASSE)."""
    if text.isascii():  # NFKC leaves ASCII as it is, and casefold is lower there: a third of the time
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


# Scripts written without spaces between words, as ``fold`` leaves them: CJK radicals and punctuation,
# kana, Han (with the compatibility and supplementary planes' ideographs), Yi, Hangul.
_CJK = re.compile("[\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]")
# Between the fields of a search text: never inside one, since ``fold_words`` makes all whitespace a space.
SEARCH_SEPARATOR = "\n"


def fold_words(text: str) -> str:
    """``fold``, with every run of whitespace (tabs, ideographic and no-break spaces) one space, none
    at the ends."""
    folded = fold(text)
    # Printable text with no double space holds no whitespace but single spaces (NFKC made the
    # other spaces plain ones; tabs, newlines and the rest are not printable): no need to split it.
    if folded.isprintable() and "  " not in folded:
        return folded.strip(" ")
    return " ".join(folded.split())


def search_text(*texts: str | None) -> str:
    """What a lookup by text searches in (stored as the ``search`` column for a lead's name and company):
    each text ``fold_words``-ed, one a line, and for one in a CJK script that has spaces, the same
    without them, so that 山田太郎 finds 山田 太郎."""
    parts = [fold_words(text) for text in texts if text]
    parts += [part.replace(" ", "") for part in parts if " " in part and not part.isascii() and _CJK.search(part)]
    return SEARCH_SEPARATOR.join(parts)


def search_query(text: str) -> str:
    """What a lookup looks for in a ``search_text``: ``text`` folded, without spaces when it holds a CJK
    character (those scripts put none between words, so a space typed there is not the point). In other
    scripts a space still separates words: "ann lee" is not "annlee". Never holds SEARCH_SEPARATOR,
    so a match is always inside one field."""
    folded = fold_words(text)
    return folded.replace(" ", "") if _CJK.search(folded) else folded


def normalize_email(text: str) -> str | None:
    """Emails are stored lowercased (they compare case-insensitively); empty means none."""
    email = text.strip().lower()
    if not email:
        return None
    if not EMAIL.match(email):
        raise PipectlError(f"malformed email {text!r}: expected something like name@example.com")
    return email


def clean_text(text: str | None, field: str, required: bool = False) -> str | None:
    """Trim a free-text field; empty means none (an error when required)."""
    value = (text or "").strip()
    if not value:
        if required:
            raise PipectlError(f"{field} must not be empty")
        return None
    return value


def clean_tags(tags: list[str]) -> list[str]:
    """Tags without duplicates, in the order given; a tag is one word-like token (no commas)."""
    result: list[str] = []
    for tag in tags:
        for part in tag.split(","):
            item = part.strip()
            if item and item not in result:
                result.append(item)
    return result
