"""Lead fields: parsing and validating what users type (amounts, emails, tags), and judging whether
two leads are the same person (merge), pure.

Used by every way a lead comes in (add, edit, won, import), so one rule holds everywhere.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from pipectl.errors import PipectlError

if TYPE_CHECKING:
    from pipectl.model import Lead

# Largest amount kept: 15 significant digits with the 2 decimals, so JSON numbers stay exact.
MAX_VALUE = Decimal("9999999999999.99")
_ATOM = r"[^@\s<>(),;:\"\[\].]+"
EMAIL = re.compile(rf"^[^@\s<>(),;:\"\[\]]+@(?:{_ATOM}\.)+[^@\s<>(),;:\"\[\].]{{2,}}$")
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

# --- money -----------------------------------------------------------------------------------------

# The currencies "$" stands for: every dollar, and the pesos written with it.
_DOLLARS = ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "ARS", "CLP", "COP")
# Currency signs and the ISO codes each can mean. "¥" is the yen and the yuan alike; "\" is the yen of
# cp932, whose 0x5C Japanese Windows shows as ¥ (Excel's \1,200,000), so it is never the yuan.
CURRENCY_SIGNS: dict[str, tuple[str, ...]] = {
    "$": _DOLLARS,
    **{f"{country}$": (code,) for country, code in (("US", "USD"), ("C", "CAD"), ("CA", "CAD"), ("A", "AUD"),
       ("AU", "AUD"), ("NZ", "NZD"), ("S", "SGD"), ("HK", "HKD"), ("NT", "TWD"), ("MX", "MXN"), ("R", "BRL"))},
    "¥": ("JPY", "CNY"),
    "\\": ("JPY",),
    "円": ("JPY",),
    "元": ("CNY",),
    "€": ("EUR",),
    "£": ("GBP",),
    "₩": ("KRW",),
    "₹": ("INR",),
}  # fmt: skip
_SIGN_NAMES = {"$": "dollars ($)", "¥": "JPY or CNY (¥)"}
_MARK = "|".join(re.escape(sign) for sign in sorted(CURRENCY_SIGNS, key=len, reverse=True))
# A currency mark before the number (a sign or an ISO code such as JPY), and after it (円, EUR, €).
# The money patterns are strings that re compiles on first use and keeps: start-up does not pay for them.
_BEFORE = rf"({_MARK}|[A-Za-z]{{3}}(?![A-Za-z]))\s*"
_AFTER = rf"\s*({_MARK}|(?<![A-Za-z])[A-Za-z]{{3}})$"
# Full-width forms (Japanese input: digits, commas, ￥) as their ASCII ones, and the other spellings
# of the multipliers (萬, 亿).
_NARROW = str.maketrans(
    {**{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}, "\u3000": " ", "￥": "¥", "￡": "£",
     "￦": "₩", "萬": "万", "亿": "億"}
)  # fmt: skip
# Thousands separators other than the comma: spaces (1 200 000) and the Swiss apostrophe (1'200'000).
_SEPARATORS = (" ", "\u00a0", "\u202f", "'")
_NUMBER = r"(?a:\d{1,3}(?:,\d{3})+|\d+)(?a:\.\d+)?"  # ASCII digits only
# 1億2000万5000: each part optional, in that order (万 = 10^4, 億 = 10^8); a plain number comes last.
_AMOUNT = rf"(?:({_NUMBER})億)?(?:({_NUMBER})万)?({_NUMBER})?"
_UNITS = (Decimal(10**8), Decimal(10**4), Decimal(1))
_CENT = Decimal("0.01")
_EXAMPLES = "1200000, 1,200,000.50, ¥1,200,000, $1,200, 120万円 or 1億2000万"


def parse_money(text: str, currency: str, *, decimal_comma: bool = False) -> Decimal:
    """An amount as people and spreadsheets write it, in the pipeline's ``currency`` (an ISO code).

    Accepted: digits with comma, space or apostrophe thousands separators and up to 2 decimals
    (``decimal_comma``: ``1.200,50``; ``_`` between digits is ignored, as in Python); full-width
    digits and signs; a currency sign (``$ ¥ ￥ \\ € £ ₩ ₹ 円 元``, ``US$``, ``HK$``...) or ISO code
    (``JPY 1200000``, ``1200 usd``) before or after; the multipliers 万 (10^4) and 億 (10^8), also
    combined (``1億2000万``, ``1.5万``). Non-negative, at most ``MAX_VALUE``. A sign or code of another
    currency than ``currency`` is an error naming both.
    """
    raw = (text if text.isascii() else text.translate(_NARROW)).strip()
    negative = raw[:1] in ("-", "\u2212")
    marks: list[str] = []
    core = raw[1:].lstrip() if negative else raw
    for _ in range(2):  # a sign and a code: "USD $1,200", "$1,200 USD"
        found = None if core[:1].isdigit() else re.match(_BEFORE, core)
        if found is None or found.end() == len(core):
            break
        marks.append(found.group(1))
        core = core[found.end() :]
    for _ in range(2):
        found = None if core[-1:].isdigit() else re.search(_AFTER, core)
        if found is None or found.start() == 0:
            break
        marks.append(found.group(1))
        core = core[: found.start()]
    if negative or core[:1] in ("-", "\u2212"):
        raise PipectlError(f"value must not be negative (got {text!r})")
    amount = _amount(core, decimal_comma)
    if amount is None:
        zeros = re.sub("[Oo]", "0", core)
        hint = "; a letter O for a zero?" if zeros != core and _amount(zeros, decimal_comma) is not None else ""
        raise PipectlError(f"value must be an amount like {_EXAMPLES} (got {text!r}{hint})")
    for mark in marks:
        _check_currency(mark, currency, text)
    if amount > MAX_VALUE:
        raise PipectlError(f"value is too large (got {text!r}); the largest is {MAX_VALUE:,}")
    exact = amount.quantize(_CENT)  # one form whatever was written: 15000.00, as stored and read back
    if exact != amount:
        raise PipectlError(f"value has more than 2 decimals (got {text!r}); amounts are kept exactly")
    return exact


def _amount(core: str, decimal_comma: bool) -> Decimal | None:
    """The number of an amount without its currency marks, or None when it is not one."""
    if decimal_comma:
        core = core.replace(",", "\0").replace(".", ",").replace("\0", ".")
    for separator in _SEPARATORS:
        if separator in core:
            core = core.replace(separator, ",")
    if "_" in core:
        core = re.sub(r"(?<=\d)_(?=\d)", "", core)
    if "万" not in core and "億" not in core:
        return Decimal(core.replace(",", "")) if re.fullmatch(_NUMBER, core) else None
    found = re.fullmatch(_AMOUNT, core)
    if found is None:
        return None
    parts = [Decimal(part.replace(",", "")) if part else None for part in found.groups()]
    if parts[0] is not None and parts[1] is None and parts[2] is not None:
        return None  # 1億5000: 100,005,000 as written, but said for 1億5000万; ask for the 万
    total, above = Decimal(0), None
    for part, unit in zip(parts, _UNITS, strict=True):
        if part is None:
            continue
        if part > MAX_VALUE:
            return part  # too large whatever its unit (and a huge one would overflow a product)
        if above is not None and part * unit >= above:
            return None  # under a larger unit a part counts less than it: 1億2000万, never 1億20000万
        total += part * unit
        above = unit
    return total


def _check_currency(mark: str, currency: str, text: str) -> None:
    codes = CURRENCY_SIGNS.get(mark) or (mark.upper(),)
    if currency.upper() not in codes:
        named = _SIGN_NAMES.get(mark) or codes[0]
        raise PipectlError(f"value is in {named} but this pipeline's currency is {currency} (got {text!r})")


def fold(text: str) -> str:
    """Text as compared without case or width, for every script: NFKC (full-width Latin letters and
    half-width ｶﾅ become their usual forms), then casefold (MÜLLER and müller, Straße and STRASSE)."""
    if text.isascii():  # NFKC leaves ASCII as it is, and casefold is lower there: a third of the time
        return text.lower()
    import unicodedata

    return unicodedata.normalize("NFKC", text).casefold()


# Scripts written without spaces between words, as ``fold`` leaves them: CJK radicals and punctuation,
# kana, Han (with the compatibility and supplementary planes' ideographs), Yi, Hangul.
# A string that re compiles on first use (and caches): compiling its wide ranges costs start-up 10 ms.
_CJK = "[\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]"
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


@functools.cache
def _cjk() -> re.Pattern[str]:
    return re.compile(_CJK)


def _is_cjk(text: str) -> bool:
    """Whether ``text`` holds a character of a script written without spaces between words."""
    return not text.isascii() and _cjk().search(text) is not None


def search_text(*texts: str | None) -> str:
    """What a lookup by text searches in (stored as the ``search`` column for a lead's name and company):
    each text ``fold_words``-ed, one a line, and for one in a CJK script that has spaces, the same
    without them, so that 山田太郎 finds 山田 太郎."""
    parts = [fold_words(text) for text in texts if text]
    parts += [part.replace(" ", "") for part in parts if " " in part and _is_cjk(part)]
    return SEARCH_SEPARATOR.join(parts)


def search_column(name: str, company: str | None) -> str | None:
    """The stored ``search`` column of a lead: its name and company as lookups compare them
    (``search_text``), or NULL when that is what they are already, but for ASCII case (plain ASCII,
    single spaces; most leads): a lookup compares those as they are, ignoring ASCII case. An import
    computes this for every row, and the NULL costs no room."""
    given = f"{name} {company}" if company else name
    if given.isascii() and given.isprintable() and "  " not in given:
        return None
    return search_text(name, company)


def search_query(text: str) -> str:
    """What a lookup looks for in a ``search_text``: ``text`` folded, without spaces when it holds a CJK
    character (those scripts put none between words, so a space typed there is not the point). In other
    scripts a space still separates words: "ann lee" is not "annlee". Never holds SEARCH_SEPARATOR,
    so a match is always inside one field."""
    folded = fold_words(text)
    return folded.replace(" ", "") if _is_cjk(folded) else folded


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
    """Whether two texts are one as a lookup compares them (case, width, spaces; 山田太郎 is 山田 太郎)."""
    return search_query(a or "") == search_query(b or "")


def _domain(email: str | None) -> str | None:
    domain = fold(email.rpartition("@")[2]) if email and "@" in email else None
    return None if domain in FREE_MAIL else domain


def likeness(keep: Lead, other: Lead) -> Likeness:
    """Whether ``other`` looks like a duplicate of ``keep``: a shared email domain (not a free-mail
    service), company or name is in common; a different status or owner is a conflict. Text is
    compared as lookups compare it (``search_query``)."""
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
