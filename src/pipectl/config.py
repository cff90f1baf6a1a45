"""Configuration: the TOML file, its validation and built-in defaults, and ``init``'s template.

A missing file means the built-in defaults; a key missing from the file takes its default. Every
problem (syntax, an unknown key, a wrong type, a stage that does not exist) is a ConfigError naming
the file and the key. Where each default comes from is in the README and the template
(``data/config.toml``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pipectl.dates import WEEKDAYS, Calendar
from pipectl.errors import ConfigError

RESERVED_STAGE_NAMES = {"won", "lost", "disqualified", "open", "closed", "all"}


@dataclass(frozen=True)
class Stage:
    name: str
    probability: float
    max_days: int
    max_open: int


@dataclass(frozen=True)
class Config:
    owner: str
    currency: str
    stages: tuple[Stage, ...]
    review: dict[str, Any]
    today: dict[str, Any]
    cadence: dict[str, Any]
    targets: dict[str, Any]
    calendar: Calendar
    mail: dict[str, Any]
    send: dict[str, Any]
    checklist: Path
    checklist_named: bool  # set in the file (must exist) rather than the default (built-in if missing)
    gate_stage: str | None
    path: Path | None
    folder: Path  # where the config lives (or would): the checklist and templates are beside it
    # [import.stages]: stage values of the files imported (another CRM's) and the stage each means.
    import_stages: dict[str, str] = field(default_factory=dict)

    @cached_property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    @cached_property
    def stage_index(self) -> dict[str, int]:
        return {stage.name: index for index, stage in enumerate(self.stages)}

    def stage(self, name: str) -> Stage:
        return self.stages[self.stage_index[name]]


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("prospecting", 0.10, 14, 100),
    Stage("qualifying", 0.25, 14, 50),
    Stage("connecting", 0.50, 21, 30),
    Stage("closing", 0.80, 30, 20),
)


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pipectl"


def default_config_path() -> Path:
    return Path(os.environ.get("PIPECTL_CONFIG") or config_home() / "config.toml")


def default_owner() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "me"


# --- validation --------------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns what is wrong, or None


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return "must be a number"
        return None if low <= value <= high else f"must be between {low:g} and {high:g}"

    return check


def _whole(low: int = 0, high: int = 36_500) -> Check:
    """A count (of days, by default: at most a hundred years)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if low <= value <= high else f"must be between {low} and {high:,}"

    return check


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _optional_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.isprintable() else "must be a string on one line"


def _sender(value: Any) -> str | None:
    if value == "":  # the default: checked by every command, which need not load the email package for it
        return None
    from email.utils import parseaddr

    if isinstance(value, str) and "@" in parseaddr(value)[1] and value.isprintable():
        return None
    return 'must be an address, e.g. "Taro Yamada <taro@example.co.jp>"'


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(repr(c) for c in choices)

    return check


def _auto_or(check: Check) -> Check:
    def combined(value: Any) -> str | None:
        return None if value == "auto" else (check(value) and f'{check(value)} or "auto"')

    return combined


def _intervals(value: Any) -> str | None:
    if isinstance(value, list):
        if value and all(_whole(1)(item) is None for item in value):
            return None
        return "must be a list of whole numbers of days, each at least 1"
    return _whole(1)(value)


def _weekday(name: Any) -> int | None:
    """0 for "mon" or "Monday", ..., None for what is not a weekday name."""
    if isinstance(name, str):
        for index, full in enumerate(WEEKDAYS):
            if name.lower() in (full, full[:3]):
                return index
    return None


def _workdays(value: Any) -> str | None:
    if isinstance(value, list) and value and all(_weekday(day) is not None for day in value):
        return None
    return 'must be a non-empty list of weekday names, e.g. ["mon", "tue", "wed", "thu", "fri"]'


def _country(value: Any) -> str | None:
    if value is None or (
        isinstance(value, str) and (value == "" or (len(value) == 2 and value.isascii() and value.isalpha()))
    ):
        return None
    return 'must be a two-letter country code (ISO 3166, e.g. "JP", "US") or "" for none'


def _days_off(value: Any) -> str | None:
    import datetime

    def is_day(item: Any) -> bool:
        if isinstance(item, datetime.date) and not isinstance(item, datetime.datetime):
            return True
        try:
            return isinstance(item, str) and len(item) == 10 and bool(datetime.date.fromisoformat(item))
        except ValueError:
            return False

    return (
        None
        if isinstance(value, list) and all(is_day(item) for item in value)
        else "must be a list of dates (YYYY-MM-DD)"
    )


def _addresses(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) and "@" in item.strip()[1:-1] for item in value):
        return None
    return 'must be a list of email addresses, e.g. ["taro@example.co.jp"]'


# The country whose public holidays are days off when [calendar] names none: the one a currency
# belongs to. None for a currency shared by many (EUR) or not listed.
CURRENCY_COUNTRIES = {
    "JPY": "JP", "USD": "US", "GBP": "GB", "CAD": "CA", "AUD": "AU", "NZD": "NZ", "CHF": "CH",
    "SEK": "SE", "NOK": "NO", "DKK": "DK", "PLN": "PL", "CZK": "CZ", "HUF": "HU", "INR": "IN",
    "CNY": "CN", "KRW": "KR", "SGD": "SG", "HKD": "HK", "TWD": "TW", "BRL": "BR", "MXN": "MX",
    "ZAR": "ZA", "ILS": "IL", "TRY": "TR",
}  # fmt: skip

# section -> key -> (default, check). The template in data/config.toml documents each one.
SECTIONS: dict[str, dict[str, tuple[Any, Check]]] = {
    "review": {
        "idle_days": (7, _whole(1)),
        "overload_share": (0.5, _number(0, 1)),
        "max_unqualified_touches": (4, _whole(1)),
        "min_open": (20, _whole(0, 10**9)),
        "min_front_share": (0.25, _number(0, 1)),
    },
    "today": {
        "capacity": (25, _whole(1, 10_000)),
    },
    "cadence": {
        "respond_within_hours": (1, _number(0, 24 * 365)),
        "max_attempts": (5, _whole(1)),
        "attempt_interval_days": ([3, 4, 5, 6], _intervals),
        "auto_schedule": (True, _flag),
        "last_chance_wait_days": (7, _whole(1)),
        "sales_cycle_days": ("auto", _auto_or(_whole(1, 3650))),
        "sales_cycle_fallback_days": (90, _whole(1, 3650)),
        "cycle_tolerance": (2.0, _number(1, 10)),
    },
    "targets": {
        "quota": (0, _number(0, 9_999_999_999_999.99)),
        "period": ("month", _one_of("month", "quarter", "year")),
        "coverage": ("auto", _auto_or(_number(0, 1000))),
        "max_win_rate_drop": (0.2, _number(0, 1)),
        "max_stale_share": (0.3, _number(0, 1)),
    },
    "calendar": {
        "workdays": (["mon", "tue", "wed", "thu", "fri"], _workdays),
        "country": (None, _country),  # None: from the currency
        "holidays": ([], _days_off),
    },
    "mail": {
        "me": ([], _addresses),  # empty: the owner, when the owner is an address
        "store_text": (True, _flag),
    },
    "send": {
        "method": ("", _one_of("", "smtp", "sendmail", "drafts")),  # empty: pipectl does not send
        "host": ("", _optional_text),
        "port": (587, _whole(1, 65535)),  # 587: STARTTLS; 465: TLS from the first byte
        "user": ("", _optional_text),  # empty: the address of `from`
        "from": ("", _sender),  # empty: the owner, when the owner is an address
        "command": ("msmtp -t", _text),
        "folder": ("", _optional_text),  # the drafts Maildir
        "max_per_minute": (20, _whole(0, 10**6)),  # 0: no limit
        "max_per_day": (500, _whole(0, 10**7)),
        "footer": ("", lambda value: None if isinstance(value, str) else "must be a string"),
    },
}
STAGE_KEYS: dict[str, tuple[Any, Check]] = {
    "name": (None, _text),
    "probability": (None, _number(0, 1)),
    "max_days": (None, _whole(1)),
    "max_open": (None, _whole(1, 10**9)),
}
TOP_KEYS = {"owner", "currency", "stages", "qualification", "import", *SECTIONS}
QUALIFICATION_KEYS = {"checklist", "gate_stage"}


class _Problems:
    def __init__(self, path: Path | None) -> None:
        self.where = f"config {path}" if path else "config"

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key} {what}")


def _check_keys(found: dict[str, Any], allowed: set[str] | dict[str, Any], prefix: str, p: _Problems) -> None:
    for key in found:
        if key not in allowed:
            raise p.fail(f"{prefix}{key}", "is not a known key (a typo?); known: " + ", ".join(sorted(allowed)))


def _section(data: dict[str, Any], name: str, p: _Problems) -> dict[str, Any]:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise p.fail(f"[{name}]", "must be a table")
    spec = SECTIONS[name]
    _check_keys(raw, spec, f"{name}.", p)
    result = {}
    for key, (default, check) in spec.items():
        value = raw.get(key, default)
        problem = check(value)
        if problem:
            raise p.fail(f"{name}.{key}", f"{problem} (got {value!r})")
        result[key] = value
    return result


def _stages(data: dict[str, Any], p: _Problems) -> tuple[Stage, ...]:
    raw = data.get("stages")
    if raw is None:
        return DEFAULT_STAGES
    if not isinstance(raw, list) or not raw:
        raise p.fail("stages", "must be a non-empty list of [[stages]] tables")
    stages: list[Stage] = []
    for index, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise p.fail(f"stages[{index}]", "must be a table")
        _check_keys(item, STAGE_KEYS, f"stages[{index}].", p)
        for key, (_, check) in STAGE_KEYS.items():
            if key not in item:
                raise p.fail(f"stages[{index}].{key}", "is missing")
            problem = check(item[key])
            if problem:
                raise p.fail(f"stages[{index}].{key}", f"{problem} (got {item[key]!r})")
        name = item["name"].strip()
        if not name.isprintable():
            raise p.fail(f"stages[{index}].name", f"{name!r} holds control characters")
        if name.lower() in RESERVED_STAGE_NAMES:
            raise p.fail(f"stages[{index}].name", f"{name!r} is reserved for a status; choose another name")
        if name in (stage.name for stage in stages):
            raise p.fail(f"stages[{index}].name", f"{name!r} appears twice")
        stages.append(Stage(name, float(item["probability"]), item["max_days"], item["max_open"]))
    return tuple(stages)


def parse(data: dict[str, Any], path: Path | None) -> Config:
    """Validate a parsed TOML document into a Config (defaults for what it leaves out)."""
    p = _Problems(path)
    _check_keys(data, TOP_KEYS, "", p)
    for key in ("owner", "currency"):
        if key in data and _text(data[key]):
            raise p.fail(key, f"must be a non-empty string (got {data[key]!r})")
    stages = _stages(data, p)
    names = [stage.name for stage in stages]
    qualification = data.get("qualification", {})
    if not isinstance(qualification, dict):
        raise p.fail("[qualification]", "must be a table")
    _check_keys(qualification, QUALIFICATION_KEYS, "qualification.", p)
    checklist = qualification.get("checklist", "checklist.toml")
    if _text(checklist):
        raise p.fail("qualification.checklist", f"must be a file path (got {checklist!r})")
    gate_stage = qualification.get("gate_stage", "qualifying" if "qualifying" in names else "")
    if not isinstance(gate_stage, str) or (gate_stage and gate_stage not in names):
        raise p.fail("qualification.gate_stage", f"names no stage (got {gate_stage!r}); stages: {', '.join(names)}")
    folder = path.parent if path else config_home()
    currency = data.get("currency", "USD")
    import_stages = _import_stages(data, names, p)
    return Config(
        owner=data.get("owner") or default_owner(),
        currency=currency,
        stages=stages,
        review=_section(data, "review", p),
        today=_section(data, "today", p),
        cadence=_section(data, "cadence", p),
        targets=_section(data, "targets", p),
        calendar=_calendar(_section(data, "calendar", p), currency, p),
        mail=_section(data, "mail", p),
        send=_send(data, p),
        checklist=(folder / checklist).expanduser(),
        checklist_named="checklist" in qualification,
        gate_stage=gate_stage or None,
        path=path,
        folder=folder,
        import_stages=import_stages,
    )


def _send(data: dict[str, Any], p: _Problems) -> dict[str, Any]:
    raw = data.get("send")
    if isinstance(raw, dict) and "password" in raw:  # its value is never repeated
        raise p.fail("send.password", "is not read from the config: set PIPECTL_SMTP_PASSWORD or use ~/.netrc")
    send = _section(data, "send", p)
    if send["method"] == "smtp" and not send["host"].strip():
        raise p.fail("send.host", 'is needed for method "smtp" (e.g. "smtp.example.co.jp")')
    if send["method"] == "drafts" and not send["folder"].strip():
        raise p.fail("send.folder", 'is needed for method "drafts" (a Maildir, e.g. "~/Mail/Drafts")')
    return send


def _import_stages(data: dict[str, Any], names: list[str], p: _Problems) -> dict[str, str]:
    """``[import.stages]``: "Value" = "stage" (or won, lost, disqualified), checked here so that a
    typo names the config rather than the first import that meets it."""
    section = data.get("import", {})
    if not isinstance(section, dict):
        raise p.fail("[import]", "must be a table")
    _check_keys(section, {"stages"}, "import.", p)
    stages = section.get("stages", {})
    if not isinstance(stages, dict):
        raise p.fail("[import.stages]", 'must be a table of "value" = "stage"')

    def plain(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    known = {plain(name) for name in [*names, "won", "lost", "disqualified", "open"]}
    for value, target in stages.items():
        if not isinstance(target, str) or plain(target) not in known:
            choices = ", ".join([*names, "won", "lost", "disqualified"])
            raise p.fail(f"import.stages.{value!r}", f"must name a stage: {choices} (got {target!r})")
    return dict(stages)


def _calendar(section: dict[str, Any], currency: str, p: _Problems) -> Calendar:
    import datetime

    country = section["country"]
    if country is None:
        country = CURRENCY_COUNTRIES.get(currency.strip().upper())
    return Calendar(
        workdays=frozenset(index for index in map(_weekday, section["workdays"]) if index is not None),
        country=country.upper() if country else None,
        extra=frozenset(
            d if isinstance(d, datetime.date) else datetime.date.fromisoformat(d) for d in section["holidays"]
        ),
        origin=f"{p.where}: calendar.country",
    )


def load(path: Path | None = None, explicit: bool = False) -> Config:
    """Read the config file; missing means defaults, unless the user named it (``--config``)."""
    path = path or default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config {path}: no such file") from None
        return parse({}, None)
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror})") from None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: TOML syntax error: {exc}") from None
    return parse(data, path)


def template(owner: str, currency: str = "USD") -> str:
    """The commented config that ``init`` writes (the defaults, spelled out, with this owner and currency)."""
    from importlib import resources

    text = resources.files("pipectl").joinpath("data/config.toml").read_text(encoding="utf-8")
    import tomli_w

    def quoted(value: str) -> str:
        return tomli_w.dumps({"o": value})[4:].strip()

    text = text.replace('owner = "me"', "owner = " + quoted(owner), 1)
    return text.replace('currency = "USD"', "currency = " + quoted(currency), 1)
