"""Lead fields: parsing and validating what users type (amounts, emails, tags), and judging whether
two leads are the same person (merge), pure.

Used by every way a lead comes in (add, edit, import), so one rule holds everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pipectl.errors import PipectlError
from pipectl.model import Lead

# Largest amount kept: 15 significant digits with the 2 decimals, so JSON numbers stay exact.
MAX_VALUE = Decimal("9999999999999.99")
_ATOM = r"[^@\s<>(),;:\"\[\].]+"
EMAIL = re.compile(rf"^[^@\s<>(),;:\"\[\]]+@(?:{_ATOM}\.)+[^@\s<>(),;:\"\[\].]{{2,}}$")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$|^\d+(\.\d+)?$")
# Mail services anyone can sign up to: two leads at gmail.com are no more alike than two strangers.
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.jp",
        "yahoo.co.uk",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.jp",
        "hotmail.co.uk",
        "outlook.com",
        "outlook.jp",
        "live.com",
        "live.jp",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "nifty.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "btinternet.com",
        "fastmail.com",
        "zoho.com",
        "hey.com",
    }
)


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


@dataclass(frozen=True)
class Likeness:
    """What two leads share (``common``) and where they disagree (``conflicts``), each a short phrase."""

    common: tuple[str, ...]
    conflicts: tuple[str, ...]

    @property
    def refusals(self) -> tuple[str, ...]:
        """Why merging the two needs ``--force`` (empty: it does not)."""
        return self.conflicts if self.common else (*self.conflicts, "nothing in common (email domain, company, name)")


def _same(a: str | None, b: str | None) -> bool:
    return fold(" ".join((a or "").split())) == fold(" ".join((b or "").split()))


def _domain(email: str | None) -> str | None:
    domain = fold(email.rpartition("@")[2]) if email and "@" in email else None
    return None if domain in FREE_MAIL else domain


def likeness(keep: Lead, other: Lead) -> Likeness:
    """Whether ``other`` looks like a duplicate of ``keep``: a shared email domain (not a free-mail
    service), company or name is in common; a different status or owner is a conflict. Text is
    compared without case, width or repeated spaces."""
    common = []
    domain = _domain(keep.email)
    if domain and domain == _domain(other.email):
        common.append(f"email domain {domain}")
    if keep.company and other.company and _same(keep.company, other.company):
        common.append(f"company {keep.company}")
    if _same(keep.name, other.name):
        common.append(f"name {keep.name}")
    conflicts = []
    if keep.status != other.status:
        conflicts.append(f"status differs: {keep.status} vs {other.status}")
    if not _same(keep.owner, other.owner):
        conflicts.append(f"owner differs: {keep.owner or 'none'} vs {other.owner or 'none'}")
    return Likeness(tuple(common), tuple(conflicts))
