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
    return unicodedata.normalize("NFKC", text).casefold()


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
