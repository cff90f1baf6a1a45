"""CSV import and export, the pure streaming half: bytes in, lead attributes out; leads in, text out.

No database, no terminal, no clock (``now`` is passed in). A file is read lazily, one record at a
time, so memory stays flat whatever its size. The public API, in the order an import uses it:

- ``parse_pairs(items, option) -> dict[str, str]``: repeated ``--map "Header=field"`` or
  ``--map-stage "Value=stage"`` options as a dict.
- ``load_map_file(path) -> MapFile``: a checked ``--map-file`` TOML (``[map]``, ``[stages]``,
  ``dayfirst``, ``decimal_comma``, ``encoding``). The options win over it: pass
  ``{**map_file.columns, **parse_pairs(maps)}`` and ``{**map_file.stages, **parse_pairs(stages)}``.
- ``open_table(stream, encoding, overrides) -> Table``: decodes and sniffs a binary stream, finds the
  header row (``table.header``, ``table.header_line``; title rows before it are skipped) and gives
  the data rows lazily as ``(line, cells)`` in ``table.rows``, blank rows and report footers left
  out. ``read_rows(stream, encoding)`` is the level below: the same records, header and title rows
  included.
- ``Plan.from_header(header, config, overrides=, map_stage=, dayfirst=, decimal_comma=) -> Plan``:
  which column feeds which field (``plan.columns``), decided once; no name column is a
  PipectlError. ``plan.unused_overrides`` lists ``--map`` headers the file does not have.
- ``plan.parse(line, cells, now) -> ParsedRow | RowError``: one row validated into ``row.lead``, a
  dict of Lead attributes (only those the row gives, so ``--on-duplicate fill/update`` can tell),
  and ``row.note``; or ``RowError(line, value, reason)``.
- ``plan.fields`` and ``plan.has_notes``: the Lead attributes and notes rows can carry, so that the
  caller inserts exactly those columns.
- ``RejectsWriter(stream, header).write(line, cells, reason)``: the ``--rejects`` CSV.
- ``write_leads(leads, fmt, stream, bom)``, ``write_touchpoints(touchpoints, fmt, stream, bom)``:
  export as ``csv``, ``json`` (an array) or ``jsonl``. An exported CSV imports back into the same
  leads: cells neutralised on export are restored on import.
- ``parse_amount(text, decimal_comma) -> Decimal``: the money forms spreadsheets and CRMs write.

A problem with the whole file (its encoding, no name column, a bad map file or mapping) raises
PipectlError; a bad row is a RowError value, so the caller chooses between ``--strict`` and rejects.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple

from pipectl import dates
from pipectl.config import Config
from pipectl.errors import NotFound, PipectlError
from pipectl.leads import EMAIL, clean_tags, normalize_email, parse_money
from pipectl.model import Lead, Touchpoint
from pipectl.render import JSON_KEYS, lead_json, neutralise

FORMATS = ("csv", "json", "jsonl")
# Columns of pipectl's own export that the database sets itself: not imported from such a file.
# The activity counters derive from touchpoints, which a lead import does not bring: importing them
# would put a lead's counters out of step with its (empty) history.
ACTIVITY = ("touch_count", "last_touch_at", "attempts", "last_outbound_at", "last_reply_at", "last_chance_at")
_EXPORT_DERIVED = ("id", "updated_at", *ACTIVITY)
# Fields a column can feed (``note`` becomes the lead's first note); a column can also be kept in
# ``extra`` under its header (what unmapped columns get) or ignored (``-``).
IMPORT_FIELDS: tuple[str, ...] = (
    "name",
    "company",
    "email",
    "phone",
    "source",
    "value",
    "stage",
    "status",
    "owner",
    "tags",
    "created_at",
    "stage_entered_at",
    "next_action",
    "next_action_due",
    "expected_close",
    "snoozed_until",
    "qualified",
    "qualification_score",
    "lost_reason",
    "note",
)
# The other stored fields of a Lead (touch_count, the cadence's state...), so that pipectl's own export
# imports back whole, each by its type (see _KINDS): they have no aliases, only their own names.
IMPORT_FIELDS += tuple(f.name for f in fields(Lead) if f.name not in (*IMPORT_FIELDS, *_EXPORT_DERIVED, "extra"))
# The two halves of a name (First Name + Last Name, 姓 + 名), joined into ``name``.
NAME_PARTS = ("first_name", "last_name")
EXTRA = "extra"
IGNORE = "-"
EXTRA_JSON = "extra (JSON)"
TOUCHPOINT_KEYS = ("id", "lead_id", "kind", "direction", "outcome", "note", "at")

_SAMPLE_CHARS = 16384  # how much text the delimiter is sniffed from
_HEADER_SEARCH = 10  # non-blank rows searched for the header (title rows come before it)
_DELIMITERS = (",", ";", "\t")
# Report footers (Salesforce, spreadsheets) after a blank line: not leads.
_FOOTER_MARKERS = ("generated by", "copyright", "confidential", "salesforce.com", "total", "grand total")
# render.neutralise puts a quote before these; a quote before a quote is how csvio keeps a real one.
_QUOTED = ("=", "+", "-", "@", "\t", "\r", "'")
_CACHE_LIMIT = 8192
# What Plan.parse does with a column's cell; a field not listed is plain text.
_KIND_TEXT, _KIND_EXTRA, _KIND_NAME, _KIND_EMAIL, _KIND_VALUE, _KIND_POINT, _KIND_STAGE, _KIND_STATUS = range(8)
_KIND_TAGS, _KIND_FIRST, _KIND_LAST, _KIND_NOTE, _KIND_DUE, _KIND_DAY, _KIND_FLAG, _KIND_SCORE = range(8, 16)
_KIND_JSON, _KIND_COUNT, _KIND_NUMBER = range(16, 19)
_KINDS = {
    "name": _KIND_NAME,
    "first_name": _KIND_FIRST,
    "last_name": _KIND_LAST,
    "email": _KIND_EMAIL,
    "value": _KIND_VALUE,
    "stage": _KIND_STAGE,
    "status": _KIND_STATUS,
    "tags": _KIND_TAGS,
    "created_at": _KIND_POINT,
    "stage_entered_at": _KIND_POINT,
    "snoozed_until": _KIND_POINT,
    "next_action_due": _KIND_DUE,
    "expected_close": _KIND_DAY,
    "qualified": _KIND_FLAG,
    "qualification_score": _KIND_SCORE,
    "note": _KIND_NOTE,
    EXTRA_JSON: _KIND_JSON,
}
_TYPE_KINDS = {"int": _KIND_COUNT, "bool | None": _KIND_FLAG, "float | None": _KIND_NUMBER}
for _lead_field in fields(Lead):
    if _lead_field.name not in _KINDS:
        _moment = _lead_field.name.endswith(("_at", "_until"))  # times: closed_at, last_reply_at...
        _KINDS[_lead_field.name] = _KIND_POINT if _moment else _TYPE_KINDS.get(str(_lead_field.type), _KIND_TEXT)


def _key(text: str) -> str:
    """Header (or stage value) comparison form: width-folded, case-folded, letters and digits only."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


# Header spellings of HubSpot, Salesforce (labels and API names), Pipedrive, Zoho and spreadsheets,
# "|"-separated. A weak alias (rank 1) yields to a strong one when a file has both (Amount beats
# Expected Revenue, Phone beats Mobile).
_STRONG: dict[str, str] = {
    "name": "Name|Full Name|Contact|Contact Name|Person - Name|Person Name|Lead Name|氏名|名前|お名前|担当者名",
    "first_name": "First Name|FirstName|Given Name|Person - First name|名|下の名前",
    "last_name": "Last Name|LastName|Surname|Family Name|Person - Last name|姓|苗字",
    "email": "Email|Email Address|Person - Email|Person - Email - Work|Contact Email|Work Email|Primary Email"
    "|Email 1|E-mail 1 - Value|メールアドレス|メール|Eメール|Eメールアドレス",
    "company": "Company|Company Name|Organization|Organisation|Organization Name|Organisation Name|Account Name"
    "|Organization - Name|Person - Organization|Deal - Organization|Company / Account"
    "|会社名|企業名|会社|法人名|組織名|取引先名",
    "phone": "Phone|Phone Number|Telephone|Tel|Person - Phone|Person - Phone - Work|Work Phone|Business Phone"
    "|電話番号|電話",
    "source": "Lead Source|Source|LeadSource|Deal - Source|Person - Source|リードソース|流入元",
    "value": "Value|Amount|Deal Value|Deal - Value|Deal Amount|Opportunity Amount|金額|見込み金額|受注金額|商談金額",
    "stage": "Stage|Deal Stage|StageName|Deal - Stage|Opportunity Stage|Pipeline Stage|ステージ|商談ステージ|フェーズ",
    "status": "Status|Deal - Status|Deal Status|ステータス",
    "owner": "Owner|Lead Owner|Deal Owner|Contact Owner|Record Owner|OwnerId|Owner Name|Deal - Owner"
    "|Person - Owner|Sales Rep|担当者|所有者|営業担当|担当営業",
    "tags": "Tags|Tag|Labels|Label|Deal - Label|Person - Label|Person - Labels|タグ|ラベル",
    "created_at": "Create Date|Created|Created Time|Created Date|Date Created|Created At|Created On|Creation Date"
    "|CreatedDate|Deal - Deal created|作成日|登録日|作成日時|登録日時",
    "expected_close": "Close Date|Expected Close Date|Expected Close|CloseDate|Closing Date"
    "|Deal - Expected close date|完了予定日|受注予定日|クローズ予定日",
    "next_action": "Next Step|Next Action|NextStep|次のステップ|次回アクション",
    "next_action_due": "Next Action Due|Next Step Date|Next Activity Date|次回アクション期限|次回予定日",
    "lost_reason": "Lost Reason|Loss Reason|Closed Lost Reason|Reason Lost|Deal - Lost reason|失注理由",
    "note": "Notes|Note|Comments|Comment|Deal - Note|メモ|備考|コメント",
}
_WEAK: dict[str, str] = {
    "email": "Person - Email - Home|Person - Email - Other",
    "company": "Account",
    "phone": "Mobile|Mobile Phone|Mobile Phone Number|MobilePhone|Person - Phone - Mobile|Person - Phone - Home"
    "|Person - Phone - Other|携帯電話|携帯電話番号",
    "source": "Original Source",
    "value": "Expected Revenue",
    "stage": "Lead Status",
    "created_at": "Add time|Person - Add time|Deal - Add time",
    "note": "Description",
}
_ALIASES: dict[str, tuple[str, int]] = {}
for _rank, _table in ((1, _WEAK), (0, _STRONG)):
    for _field, _spellings in _table.items():
        for _spelling in _spellings.split("|"):
            _ALIASES[_key(_spelling)] = (_field, _rank)
# The canonical field names (as in pipectl's own export) always map, and first. The export's own
# ``extra`` column holds a JSON object, merged into the lead's extra.
for _field in IMPORT_FIELDS + NAME_PARTS:
    _ALIASES[_key(_field)] = (_field, 0)
_ALIASES["extra"] = (EXTRA_JSON, 0)
_JAPANESE_PARTS = {_key("姓"), _key("苗字")}
_TARGETS = {_key(name): name for name in (*IMPORT_FIELDS, *NAME_PARTS, EXTRA)}

# Stage or status cells that name an outcome rather than a stage.
_STATUS_VALUES = {
    "won": "won", "closedwon": "won", "受注": "won", "成約": "won",
    "lost": "lost", "closedlost": "lost", "失注": "lost",
    "disqualified": "disqualified", "unqualified": "disqualified",
    "open": "open",
}  # fmt: skip


# --- options and the map file ---------------------------------------------------------------------


def parse_pairs(items: Iterable[str], option: str = "--map") -> dict[str, str]:
    """Repeated ``LEFT=right`` options as a dict (the last ``=`` splits: a header may hold one)."""
    pairs: dict[str, str] = {}
    for item in items:
        left, sep, right = item.rpartition("=")
        if not sep or not left.strip() or not right.strip():
            raise PipectlError(f'{option} expects "COLUMN=field" (got {item!r})')
        pairs[left.strip()] = right.strip()
    return pairs


@dataclass(frozen=True)
class MapFile:
    """A ``--map-file``: column and stage mappings kept for a source imported again and again."""

    columns: dict[str, str] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)
    dayfirst: bool | None = None
    decimal_comma: bool | None = None
    encoding: str | None = None


def _target(header: str, target: str) -> str:
    """The field a mapping names (``"Expected Close"`` = ``expected_close``), ``extra`` or ``-``."""
    wanted = target.strip()
    if wanted == IGNORE:
        return IGNORE
    found = _TARGETS.get(_key(wanted))
    if found is None:
        known = ", ".join((*IMPORT_FIELDS, *NAME_PARTS, EXTRA))
        raise PipectlError(
            f"cannot map {header!r} to {target!r}: not a lead field; fields: {known} (or - to ignore the column)"
        )
    return found


def load_map_file(path: Path) -> MapFile:
    """Read and check a ``--map-file``; every problem names the file and the key."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise NotFound(f"map file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipectlError(f"cannot read map file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PipectlError(f"map file {path}: {exc}") from None
    known = ("map", "stages", "dayfirst", "decimal_comma", "encoding")
    for key in data:
        if key not in known:
            raise PipectlError(f"map file {path}: {key} is not a known key (a typo?); known: {', '.join(known)}")
    tables: dict[str, dict[str, str]] = {}
    for name in ("map", "stages"):
        raw = data.get(name, {})
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise PipectlError(f'map file {path}: [{name}] must be a table of "text" = "text"')
        tables[name] = raw
    try:
        columns = {header: _target(header, target) for header, target in tables["map"].items()}
    except PipectlError as exc:
        raise PipectlError(f"map file {path}: [map] {exc.message}") from None
    flags: dict[str, bool | None] = {}
    for name in ("dayfirst", "decimal_comma"):
        flags[name] = data.get(name)
        if flags[name] is not None and not isinstance(flags[name], bool):
            raise PipectlError(f"map file {path}: {name} must be true or false (got {flags[name]!r})")
    encoding = data.get("encoding")
    if encoding is not None:
        if not isinstance(encoding, str):
            raise PipectlError(f'map file {path}: encoding must be a string such as "cp932" (got {encoding!r})')
        try:
            _codec(encoding)
        except PipectlError as exc:
            raise PipectlError(f"map file {path}: {exc.message}") from None
    return MapFile(columns, tables["stages"], flags["dayfirst"], flags["decimal_comma"], encoding)


# --- reading records ------------------------------------------------------------------------------


def _codec(encoding: str | None) -> str:
    if not encoding:
        return "utf-8-sig"
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise PipectlError(f"unknown encoding {encoding!r}; e.g. utf-8, cp1252, cp932, shift_jis") from None
    # UTF-8 files from Excel start with a BOM; "utf-8-sig" reads both kinds.
    return "utf-8-sig" if info.name == "utf-8" else info.name


def _decode_error(exc: UnicodeError, lines_read: int, codec: str, stream: IO[bytes]) -> PipectlError:
    line, what = lines_read + 1, str(exc)
    if isinstance(exc, UnicodeDecodeError):
        what = "bytes " + bytes(exc.object[exc.start : exc.end]).hex(" ")
        counted = _count_lines(stream, exc, codec)
        if counted is None:
            # The decoder failed inside the chunk it was given and every line before that chunk was
            # read, so: those lines plus the breaks before the bad bytes (one short for a file with
            # bare CR line ends when a chunk ends on one; exact counting needs a seekable file).
            before = bytes(exc.object[: exc.start]).decode(codec, errors="replace")
            counted = line + before.count("\n") + before.count("\r") - before.count("\r\n")
        line = counted
    name = "UTF-8" if codec == "utf-8-sig" else codec
    return PipectlError(
        f"line {line} is not valid {name} text ({what}); name the file's encoding with --encoding, "
        "e.g. --encoding cp1252 (Excel) or --encoding cp932 (Japanese Excel)"
    )


def _count_lines(stream: IO[bytes], exc: UnicodeDecodeError, codec: str) -> int | None:
    """The line of the bad bytes, counted in the file itself: None unless it is seekable and line
    ends are single bytes in the encoding (they are in UTF-8, cp932, cp1252..., not in UTF-16)."""
    try:
        plain = "utf-8" if codec == "utf-8-sig" else codec  # the BOM aside, it is UTF-8
        if codecs.encode("\r\n", plain) != b"\r\n" or not stream.seekable():
            return None
        # What the decoder was given is the tail of what was read so far.
        remaining = stream.tell() - len(exc.object) + exc.start
        stream.seek(0)
        breaks, after_cr = 0, False
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
            breaks += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            breaks -= after_cr and chunk.startswith(b"\n")
            after_cr = chunk.endswith(b"\r")
        return breaks + 1
    except (OSError, ValueError, LookupError):
        return None


def _sniff(lines: list[str]) -> str:
    """The delimiter that splits the most sample rows into the same number (more than one) of cells."""
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        try:
            counts = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter) if any(row))
        except csv.Error:
            continue
        if not counts:
            continue
        # The most common width wins; ties go to the wider one (a title row has one cell).
        width, score = max(counts.items(), key=lambda item: (item[1], item[0]))
        if width > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _is_footer(cells: list[str]) -> bool:
    return sum(1 for cell in cells if cell.strip()) <= 2


def read_rows(stream: IO[bytes], encoding: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV byte stream, lazily, as (the line each starts on, its cells).

    ``encoding`` None means UTF-8 with or without BOM. The delimiter (comma, semicolon or tab) is
    sniffed from the first 16 KB; quoted cells may hold newlines. A byte sequence invalid in the
    encoding raises PipectlError naming the line. Blank rows are left out, and so are report
    footers: after a blank line, a row whose first cell starts with a marker ("Generated By:",
    "Copyright", "Confidential", "Salesforce.com", "Total") and that has at most 2 non-empty cells
    starts a footer, and the narrow rows after it belong to it. A wider row is data again: a footer
    never swallows leads.
    """
    codec = _codec(encoding)
    try:
        text = io.TextIOWrapper(stream, encoding=codec, errors="strict", newline="")
    except LookupError as exc:  # a codec that is not a text encoding ("base64")
        raise PipectlError(f"unusable encoding {encoding!r}: {exc}") from None
    try:
        sample: list[str] = []
        size = 0
        try:
            for line in text:
                sample.append(line)
                size += len(line)
                if size >= _SAMPLE_CHARS:
                    break
        except UnicodeError as exc:
            raise _decode_error(exc, len(sample), codec, stream) from None
        # newline="" keeps line ends as written, so quoted cells may hold newlines.
        reader = csv.reader(itertools.chain(sample, text), delimiter=_sniff(sample))
        last = yielded = 0
        after_blank = in_footer = False
        try:
            for cells in reader:
                start = last + 1
                last = reader.line_num
                # The join runs only when the first cell is empty, so data rows pay one strip.
                if not any(cells) or (not cells[0].strip() and not "".join(cells).strip()):
                    after_blank = yielded >= 2  # a footer needs a header and some data above it
                    continue
                if after_blank or in_footer:
                    after_blank = False
                    if in_footer and _is_footer(cells):
                        continue
                    in_footer = cells[0].strip().lower().startswith(_FOOTER_MARKERS) and _is_footer(cells)
                    if in_footer:
                        continue
                yielded += 1
                yield start, cells
        except UnicodeError as exc:
            raise _decode_error(exc, reader.line_num, codec, stream) from None
        except csv.Error as exc:
            hint = " (a quote that is never closed?)" if "field limit" in str(exc) else ""
            raise PipectlError(f"line {last + 1}: not readable as CSV: {exc}{hint}") from None
    finally:
        # Leave the caller's stream open: a collected TextIOWrapper would close it.
        with contextlib.suppress(ValueError):
            text.detach()


@dataclass
class Table:
    """A CSV file opened for import: its header row and an iterator over its data rows."""

    header: list[str]
    header_line: int
    rows: Iterator[tuple[int, list[str]]]


def _override_keys(overrides: Mapping[str, str] | None) -> dict[str, str]:
    return {_key(header): _target(header, target) for header, target in (overrides or {}).items()}


def _field_of(header: str, overrides: dict[str, str]) -> str | None:
    key = _key(header)
    if key in overrides:
        return overrides[key]
    alias = _ALIASES.get(key)
    return alias[0] if alias else None


def open_table(stream: IO[bytes], encoding: str | None = None, overrides: Mapping[str, str] | None = None) -> Table:
    """Open a CSV byte stream for import: find its header row, then stream the data rows.

    The header is the first of the first 10 non-blank rows with two cells that map to fields
    (title and instruction rows before it are skipped); failing that, the first row with a name
    column, or else the first row (``Plan.from_header`` then says what is missing).
    """
    keys = _override_keys(overrides)
    records = read_rows(stream, encoding)
    seen = list(itertools.islice(records, _HEADER_SEARCH))
    if not seen:
        raise PipectlError("the file is empty: expected a header row (e.g. name,email,company) and rows of leads")
    mapped = [sum(1 for cell in cells if _field_of(cell, keys) not in (None, EXTRA, IGNORE)) for _, cells in seen]
    found = next((i for i, count in enumerate(mapped) if count >= 2), None)
    if found is None:
        names = ("name", *NAME_PARTS)
        found = next((i for i, (_, cells) in enumerate(seen) if any(_field_of(c, keys) in names for c in cells)), 0)
    header_line, header = seen[found]
    return Table(header, header_line, itertools.chain(seen[found + 1 :], records))


# --- values -----------------------------------------------------------------------------------------

_CURRENCY_SIGNS = "$¥￥€£₩₹円元 \u00a0\u202f"
_THOUSANDS_SPACES = (" ", "\u00a0", "\u202f", "'")


def parse_amount(text: str, decimal_comma: bool = False) -> Decimal:
    """An amount as spreadsheets and CRMs write it: ``1,200.50``, ``¥1,200,000``, ``€ 1.200,50``
    (with ``decimal_comma``), ``1 200``, ``JPY 1,200,000``; non-negative, 2 decimals at most."""
    raw = text.strip()
    # Fast path: plain digits with an optional 1-2 digit fraction (most exports); 13 digits or fewer
    # before the point cannot exceed MAX_VALUE.
    whole, dot, fraction = raw.partition(".")
    if whole.isdigit() and raw.isascii() and (not dot or (fraction.isdigit() and len(fraction) <= 2)):
        return Decimal(raw) if len(whole) <= 13 else parse_money(raw)
    core = raw.strip(_CURRENCY_SIGNS)
    # A currency code before or after the number: "JPY 1,200,000", "1.200,50 EUR".
    if len(core) > 3 and core[:3].isascii() and core[:3].isalpha() and core[:3].isupper() and not core[3].isalpha():
        core = core[3:].strip(_CURRENCY_SIGNS)
    if len(core) > 3 and core[-3:].isascii() and core[-3:].isalpha() and core[-3:].isupper() and not core[-4].isalpha():
        core = core[:-3].strip(_CURRENCY_SIGNS)
    if decimal_comma:
        core = core.replace(",", "\0").replace(".", ",").replace("\0", ".")
    for space in _THOUSANDS_SPACES:
        if space in core:
            core = core.replace(space, ",")
    try:
        return parse_money(core)
    except PipectlError as exc:
        message = exc.message.replace(repr(core), repr(text))
        if not decimal_comma and "," in core and "." in core and core.rfind(",") > core.rfind("."):
            message += "; for a decimal comma (1.200,50) set decimal_comma = true in the --map-file"
        raise PipectlError(message) from None


def _clock(text: str) -> time | None:
    """``9:00``, ``09:00:00``, ``9:00 PM``; None when it is something else."""
    upper = text.strip().upper()
    meridian = ""
    for suffix in ("AM", "PM", "A.M.", "P.M."):
        if upper.endswith(suffix):
            meridian = suffix[0]
            upper = upper[: -len(suffix)].strip()
            break
    parts = upper.split(":")
    if not 2 <= len(parts) <= 3 or not all(part.isdigit() and part.isascii() for part in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    second = int(parts[2]) if len(parts) == 3 else 0
    if meridian:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridian == "P" else 0)
    try:
        return time(hour, minute, second)
    except ValueError:
        return None


def _numeric_date(text: str, dayfirst: bool) -> tuple[date, time | None] | None:
    """``11/30/2026``, ``30.11.2026`` (dayfirst), ``2026/11/30 9:00``, ``2026年11月30日``, quickly.

    None when the text has another shape (dateutil then tries).
    """
    if "年" in text:
        text = text.replace("年", "/").replace("月", "/").replace("日", " ").strip()
    head, _, rest = text.partition(" ")
    for separator in "/.-":
        if separator in head:
            parts = head.split(separator)
            break
    else:
        return None
    if len(parts) != 3 or not all(part.isdigit() and part.isascii() for part in parts):
        return None
    if len(parts[0]) == 4:
        year, month, day = (int(part) for part in parts)
    elif len(parts[2]) == 4:
        first, second, year = (int(part) for part in parts)
        month, day = (second, first) if dayfirst else (first, second)
        if month > 12 >= day:  # 30/11/2026 can only be day first (dateutil decides the same way)
            month, day = day, month
    else:
        return None
    moment = None
    if rest.strip():
        moment = _clock(rest)
        if moment is None:
            return None
    return date(year, month, day), moment


class _Dates:
    """Date parsing for one import: ISO first, then common numeric forms, then dateutil; memoised."""

    def __init__(self, dayfirst: bool) -> None:
        self.dayfirst = dayfirst
        self.cache: dict[tuple[str, str], str] = {}

    def _loose(self, text: str, now: datetime, mode: str) -> datetime:
        """A datetime (naive = local) from a non-ISO text; a date alone is the start (or end) of the day."""
        numeric = _numeric_date(text, self.dayfirst)
        if numeric is not None:
            day, moment = numeric
            if moment is None:
                moment = dates.END_OF_DAY if mode == "due" else time(0)
            return datetime.combine(day, moment)
        if text.isdigit():
            raise ValueError("a bare number is not a date")
        from dateutil import parser

        local = now.astimezone()
        try:
            # Parsing against two default hours tells whether the text named a time of day.
            first: datetime = parser.parse(text, dayfirst=self.dayfirst, default=datetime(local.year, 1, 1, 0))
            if mode == "due":
                second = parser.parse(text, dayfirst=self.dayfirst, default=datetime(local.year, 1, 1, 12))
                if first == second:
                    return first
                return datetime.combine(first.date(), dates.END_OF_DAY, first.tzinfo)
        except Exception as exc:  # dateutil raises assorted types on garbage (ParserError, OverflowError...)
            raise ValueError(str(exc)) from None
        return first

    def moment(self, text: str, now: datetime, mode: str) -> str:
        """A point in time as stored (UTC ISO with ``Z``); naive times are local."""
        cached = self.cache.get((mode, text))
        if cached is not None:
            return cached
        try:
            if len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[13] == ":":
                datetime.fromisoformat(text)  # the stored form already (pipectl's export): only check it
                result = text
            elif len(text) == 10 and text[4] == "-":
                day = date.fromisoformat(text)
                result = dates.to_iso(dates.at_local(day, dates.END_OF_DAY if mode == "due" else time(0)))
            else:
                try:
                    parsed = datetime.fromisoformat(text)
                    if mode == "due" and not any(mark in text for mark in ("T", " ", ":")):
                        parsed = datetime.combine(parsed.date(), dates.END_OF_DAY)  # a compact date: 20261130
                except ValueError:
                    parsed = self._loose(text, now, mode)
                if parsed.tzinfo is None:
                    parsed = parsed.astimezone()
                result = parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (ValueError, OverflowError):
            raise PipectlError(f"unrecognised date {text!r}: use 2026-11-30 or 2026-11-30 09:00") from None
        self._remember((mode, text), result)
        return result

    def day(self, text: str, now: datetime) -> str:
        """A calendar date (expected close) as ``YYYY-MM-DD``: the local day of what the cell says."""
        cached = self.cache.get(("day", text))
        if cached is not None:
            return cached
        try:
            if len(text) == 10 and text[4] == "-":
                result = date.fromisoformat(text).isoformat()
            else:
                try:
                    parsed = datetime.fromisoformat(text)
                except ValueError:
                    parsed = self._loose(text, now, "point")
                result = (parsed.astimezone() if parsed.tzinfo else parsed).date().isoformat()
        except (ValueError, OverflowError):
            raise PipectlError(f"unrecognised date {text!r}: use 2026-11-30") from None
        self._remember(("day", text), result)
        return result

    def _remember(self, key: tuple[str, str], result: str) -> None:
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()  # bounded: distinct timestamps would otherwise grow it with the file
        self.cache[key] = result


_TRUE = {"true", "yes", "y", "1", "qualified"}
_FALSE = {"false", "no", "n", "0", "notqualified", "unqualified"}


def _flag(text: str) -> bool:
    key = _key(text)
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise PipectlError(f"qualified must be true or false (got {text!r})")


def _score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        score = -1.0
    if not 0 <= score <= 1:
        raise PipectlError(f"qualification_score must be a number from 0 to 1 (got {text!r})")
    return score


def _count(text: str, field_name: str) -> int:
    if not (text.isdigit() and text.isascii() and len(text) < 10):
        raise PipectlError(f"{field_name} must be a whole number, 0 or more (got {text!r})")
    return int(text)


def _number(text: str, field_name: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise PipectlError(f"{field_name} must be a number (got {text!r})")
    return number


# --- the plan -----------------------------------------------------------------------------------------


class ParsedRow(NamedTuple):
    """A valid row: the Lead attributes it gives (only those) and the text of its note, if any."""

    line: int
    lead: dict[str, Any]
    note: str | None


class RowError(NamedTuple):
    """A row that cannot be imported: where, the offending value, and why."""

    line: int
    value: str
    reason: str


_Outcome = tuple[str | None, str | None]  # (stage, status) a stage or status cell names
# Column kinds that do not put their own key in a row's lead dict.
_NOT_FIELDS = {_KIND_EXTRA, _KIND_JSON, _KIND_NAME, _KIND_FIRST, _KIND_LAST, _KIND_NOTE, _KIND_STAGE, _KIND_STATUS}


class Plan:
    """Which column feeds which field, decided once from the header; ``parse`` applies it per row.

    Per row only the non-empty mapped cells are looked at, stage values and dates are memoised, and
    nothing is serialised: the import budget is a few microseconds a row.
    """

    def __init__(
        self,
        header: list[str],
        config: Config,
        columns: list[str],
        map_stage: dict[str, str],
        dayfirst: bool,
        decimal_comma: bool,
        unused: list[str],
    ) -> None:
        self.header = header
        self.width = len(header)
        self.columns = columns
        self.unused_overrides = unused
        self.decimal_comma = decimal_comma
        self.stages = config.stage_names
        self._stage_keys = {_key(name): name for name in self.stages}
        self._map_stage = map_stage
        self._dates = _Dates(dayfirst)
        self._outcomes: dict[str, _Outcome | None] = {}
        self._tag_lists: dict[str, list[str]] = {}
        self._amounts: dict[str, Decimal] = {}
        self._pairs: dict[tuple[str | None, str | None], _Outcome] = {}
        # One step per column that feeds anything, in column order: (index, key, kind).
        self._steps: list[tuple[int, str, int]] = []
        extra_keys: list[str] = []
        for i, name in enumerate(columns):
            if name == EXTRA:
                extra_keys.append(_extra_key(header, i, extra_keys))
                self._steps.append((i, extra_keys[-1], _KIND_EXTRA))
            elif name != IGNORE:
                self._steps.append((i, name, _KINDS.get(name, _KIND_TEXT)))
        index = {name: i for i, name in enumerate(columns) if name not in (EXTRA, IGNORE)}
        # 姓 + 名 (family name first) when the headers are Japanese.
        self._family_first = "last_name" in index and _key(header[index["last_name"]]) in _JAPANESE_PARTS
        self.name_columns = [header[index[name]] for name in ("name", *NAME_PARTS) if name in index]

    @property
    def fields(self) -> set[str]:
        """The Lead attributes a parsed row can carry (``parse`` leaves out those of empty cells)."""
        kinds = {kind for _, _, kind in self._steps}
        found = {"name"}
        found.update(key for _, key, kind in self._steps if kind not in _NOT_FIELDS)
        if kinds & {_KIND_STAGE, _KIND_STATUS}:
            found.update(("stage", "status"))
        if kinds & {_KIND_EXTRA, _KIND_JSON}:
            found.add("extra")
        if _KIND_DUE in kinds:
            found.add("next_action")
        return found

    @property
    def has_notes(self) -> bool:
        return any(kind == _KIND_NOTE for _, _, kind in self._steps)

    @classmethod
    def from_header(
        cls,
        header: list[str],
        config: Config,
        *,
        overrides: Mapping[str, str] | None = None,
        map_stage: Mapping[str, str] | None = None,
        dayfirst: bool = False,
        decimal_comma: bool = False,
    ) -> Plan:
        """Decide each column's field: ``overrides`` (``--map``, then the map file), aliases, else extra.

        When two columns map to one field, the stronger alias (or the first) wins and the other goes
        to extra. Raises PipectlError when no column maps to name, or a mapping names no field.
        """
        keys = _override_keys(overrides)
        used: set[str] = set()
        cells = [cell.strip() for cell in header]
        pipectl_export = {"touch_count", "stage_entered_at"} <= set(cells)
        rejects_file = cells[-2:] == ["line", "reason"]  # a --rejects file, fixed and imported again
        wanted: list[tuple[str, int]] = []
        for i, cell in enumerate(cells):
            key = _key(cell)
            if key in keys:
                used.add(key)
                wanted.append((keys[key], -1))
            elif (pipectl_export and cell in _EXPORT_DERIVED) or (rejects_file and i >= len(cells) - 2):
                wanted.append((IGNORE, 0))
            else:
                wanted.append(_ALIASES.get(key, (EXTRA, 0)))
        best: dict[str, tuple[int, int]] = {}
        for i, (name, rank) in enumerate(wanted):
            if name not in (EXTRA, IGNORE) and (name not in best or rank < best[name][0]):
                best[name] = (rank, i)
        columns = [
            name if name in (EXTRA, IGNORE) or best[name][1] == i else EXTRA for i, (name, _) in enumerate(wanted)
        ]
        if "name" not in columns and not any(part in columns for part in NAME_PARTS):
            found = ", ".join(f'"{cell}"' for cell in cells if cell) or "none"
            example = next((cell for cell in cells if cell), "COLUMN")
            raise PipectlError(
                f'no column maps to name; columns found: {found}; use --map "COLUMN=name", e.g. --map "{example}=name"'
            )
        stages = _stage_targets(map_stage or {}, config)
        unused = [header for header in (overrides or {}) if _key(header) not in used]
        return cls(header, config, columns, stages, dayfirst, decimal_comma, unused)

    def _outcome(self, text: str) -> _Outcome | None:
        """The (stage, status) a stage or status cell names, or None when it names nothing known."""
        if text in self._outcomes:
            return self._outcomes[text]
        key = _key(text)
        result: _Outcome | None = None
        target = self._map_stage.get(key)
        if target is not None:
            result = (None, target) if target in _STATUS_VALUES.values() else (target, None)
        elif key in self._stage_keys:
            result = (self._stage_keys[key], None)
        elif key in _STATUS_VALUES:
            result = (None, _STATUS_VALUES[key])
        if len(self._outcomes) < _CACHE_LIMIT:
            self._outcomes[text] = result
        return result

    def _unknown_stage(self, text: str) -> PipectlError:
        return PipectlError(
            f'unknown stage {text!r}; use --map-stage "{text}=STAGE" (stages: {", ".join(self.stages)}; '
            "or won, lost, disqualified)"
        )

    def parse(self, line: int, cells: list[str], now: datetime) -> ParsedRow | RowError:
        """Validate one data row: a ParsedRow, or a RowError naming the offending value and why."""
        if len(cells) != self.width and (len(cells) < self.width or any(c.strip() for c in cells[self.width :])):
            return RowError(line, "", f"row has {len(cells)} cells, the header has {self.width}")
        lead: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        name = first = last = note = stage = status = None
        cell = ""
        try:
            # Kinds are tested most common first; only non-empty cells cost more than a truth test.
            for index, key, kind in self._steps:
                cell = cells[index]
                if not cell:
                    continue
                text = cell.strip()
                if not text:
                    continue
                if text[0] == "'" and len(text) > 1 and text[1] in _QUOTED:
                    # An exporter's guard against formulas (render.neutralise), or csvio's doubled quote.
                    text = text[1:].strip()
                    if not text:
                        continue
                if kind == _KIND_TEXT:
                    lead[key] = text
                elif kind == _KIND_EXTRA:
                    extra[key] = text
                elif kind == _KIND_NAME:
                    name = text
                elif kind == _KIND_FIRST:
                    first = text
                elif kind == _KIND_LAST:
                    last = text
                elif kind == _KIND_EMAIL:
                    email = text.lower()  # leads.normalize_email, without its second strip
                    lead[key] = email if EMAIL.match(email) else normalize_email(text)
                elif kind == _KIND_VALUE:
                    amount = self._amounts.get(text)
                    if amount is None:
                        amount = parse_amount(text, self.decimal_comma)
                        if len(self._amounts) >= _CACHE_LIMIT:
                            self._amounts.clear()
                        self._amounts[text] = amount  # Decimals are immutable: safe to share
                    lead[key] = amount
                elif kind == _KIND_POINT:
                    lead[key] = self._dates.moment(text, now, "point")
                elif kind == _KIND_STAGE:
                    stage = text
                elif kind == _KIND_STATUS:
                    status = text
                elif kind == _KIND_TAGS:
                    lead[key] = self._tags(text)
                elif kind == _KIND_NOTE:
                    note = text
                elif kind == _KIND_DUE:
                    lead[key] = self._dates.moment(text, now, "due")
                elif kind == _KIND_DAY:
                    lead[key] = self._dates.day(text, now)
                elif kind == _KIND_FLAG:
                    lead[key] = _flag(text)
                elif kind == _KIND_SCORE:
                    lead[key] = _score(text)
                elif kind == _KIND_COUNT:
                    lead[key] = _count(text, key)
                elif kind == _KIND_NUMBER:
                    lead[key] = _number(text, key)
                else:  # _KIND_JSON
                    self._merge_json(text, index, extra)
            cell = ""
            if stage is not None or status is not None:
                outcome = self._pairs.get((stage, status))
                if outcome is None:
                    outcome = self._stage_status(stage, status)
                    if len(self._pairs) < _CACHE_LIMIT:
                        self._pairs[stage, status] = outcome
                if outcome[0] is not None:
                    lead["stage"] = outcome[0]
                if outcome[1] is not None:
                    lead["status"] = outcome[1]
        except PipectlError as exc:
            return RowError(line, exc.value if isinstance(exc, _CellError) else cell, exc.message)
        if name is None:
            if first is not None and last is not None:
                # Chinese, Japanese and Korean names read family name first, whatever the headers say.
                name = f"{last} {first}" if self._family_first or "\u2e80" <= last[0] <= "\ud7af" else f"{first} {last}"
            else:
                name = first or last
            if name is None:
                columns = " + ".join(repr(column) for column in self.name_columns)
                return RowError(line, "", f"name is empty (column {columns})")
        lead["name"] = name
        if extra:
            lead["extra"] = extra
        if "next_action_due" in lead and "next_action" not in lead:
            lead["next_action"] = "follow up"  # as `add --due` without --next
        return tuple.__new__(ParsedRow, (line, lead, note))  # NamedTuple's own constructor is 2x slower

    def _tags(self, text: str) -> list[str]:
        # A few distinct tag cells repeat down a file: split each once (a copy: lists are mutable).
        tags = self._tag_lists.get(text)
        if tags is None:
            tags = clean_tags(text.replace(";", ",").split(","))
            if len(self._tag_lists) < _CACHE_LIMIT:
                self._tag_lists[text] = tags
        return list(tags)

    def _stage_status(self, stage_text: str | None, status_text: str | None) -> _Outcome:
        """The (stage, status) a row's stage and status cells give together."""
        stage = status = None
        for text, is_status in ((stage_text, False), (status_text, True)):
            if text is None:
                continue
            outcome = self._outcome(text)
            if outcome is None:
                raise _CellError(text, self._unknown_stage(text).message)
            stage = stage or outcome[0]
            # The status column decides the outcome; the stage column's outcome yields to it.
            status = outcome[1] if is_status and outcome[1] else status or outcome[1]
        if status in ("won", "lost", "disqualified") and stage is None:
            # A closed outcome with no stage: won deals went through every stage, lost ones left early.
            stage = self.stages[-1] if status == "won" else self.stages[0]
        return stage, status

    def _merge_json(self, text: str, index: int, extra: dict[str, Any]) -> None:
        """pipectl's own ``extra`` column: a JSON object merged in (plain text is kept under the header)."""
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            for key, value in loaded.items():
                extra.setdefault(key, value)
        else:
            extra[_extra_key(self.header, index, list(extra))] = text


class _CellError(PipectlError):
    """A row problem found below ``parse``: carries the offending value with it."""

    def __init__(self, value: str, message: str) -> None:
        super().__init__(message)
        self.value = value


def _extra_key(header: list[str], index: int, taken: list[str]) -> str:
    """The key a column has in ``extra``: its header; an empty or repeated header gets its position."""
    name = header[index].strip()
    if not name:
        return f"column {index + 1}"
    return f"{name} (column {index + 1})" if name in taken else name


def _stage_targets(map_stage: Mapping[str, str], config: Config) -> dict[str, str]:
    """``--map-stage`` values checked against the configured stages (and the closed statuses)."""
    by_key = {_key(name): name for name in config.stage_names}
    by_key.update({status: status for status in ("won", "lost", "disqualified", "open")})
    targets: dict[str, str] = {}
    for value, target in map_stage.items():
        found = by_key.get(_key(target))
        if found is None:
            choices = ", ".join([*config.stage_names, "won", "lost", "disqualified"])
            raise PipectlError(f"cannot map stage {value!r} to {target!r}: not a stage; use one of {choices}")
        targets[_key(value)] = found
    return targets


# --- writing ----------------------------------------------------------------------------------------


class RejectsWriter:
    """The ``--rejects`` file: the input's own header plus ``line`` and ``reason``, cells unchanged.

    ``stream`` is a text stream opened with ``encoding="utf-8", newline=""``. A short row is padded
    and a long row's surplus cells go after ``reason``, so every column stays under its header.
    """

    def __init__(self, stream: IO[str], header: Sequence[str]) -> None:
        self.width = len(header)
        self.count = 0
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow([*header, "line", "reason"])

    def write(self, line: int, cells: Sequence[str], reason: str) -> None:
        padded = [*cells[: self.width], *[""] * (self.width - len(cells))]
        self._writer.writerow([*padded, str(line), reason, *cells[self.width :]])
        self.count += 1


def _cell(value: Any) -> str:
    """An exported CSV cell: neutralised, and a leading quote of its own doubled, so that import (which
    takes off one quote before formula-like text or a quote) gives back exactly the value."""
    text = neutralise(value)
    return "'" + text if isinstance(value, str) and value.startswith("'") else text


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PipectlError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


def _write_json(items: Iterable[dict[str, Any]], fmt: str, stream: IO[str]) -> int:
    count = 0
    for item in items:
        text = json.dumps(item, ensure_ascii=False, default=str)
        if fmt == "jsonl":
            stream.write(text + "\n")
        else:
            stream.write(("[\n" if count == 0 else ",\n") + text)
        count += 1
    if fmt == "json":
        stream.write("\n]\n" if count else "[]\n")
    return count


def write_leads(leads: Iterable[Lead], fmt: str, stream: IO[str], bom: bool = False) -> int:
    """Export leads with every field of SPEC §3, streaming; returns how many were written.

    CSV: tags joined with ";", extra as JSON text, formula-like cells neutralised, ``bom`` writes the
    BOM Excel needs to read UTF-8. JSON is an array, JSONL one object a line, values as ``--json``.
    ``stream`` is a text stream (``encoding="utf-8", newline=""``).
    """
    _check_format(fmt)
    if fmt != "csv":
        return _write_json((lead_json(lead) for lead in leads), fmt, stream)
    if bom:
        stream.write("\ufeff")
    writer = csv.writer(stream, lineterminator="\r\n")  # \r\n: a lone \r in a cell gets quoted too
    writer.writerow(JSON_KEYS)
    count = 0
    for lead in leads:
        data = lead_json(lead)
        data["tags"] = ";".join(lead.tags)
        data["extra"] = json.dumps(lead.extra, ensure_ascii=False, default=str) if lead.extra else ""
        data["value"] = "" if lead.value is None else f"{lead.value:f}"
        writer.writerow([_cell(data[key]) for key in JSON_KEYS])
        count += 1
    return count


def write_leads_with_touchpoints(leads: Iterable[tuple[Lead, list[Touchpoint]]], fmt: str, stream: IO[str]) -> int:
    """JSON or JSONL export with each lead's touchpoints nested under ``touchpoints``."""
    _check_format(fmt)
    if fmt == "csv":
        raise PipectlError("CSV cannot nest touchpoints: they go to a second file")
    items = (
        {**lead_json(lead), "touchpoints": [{key: getattr(p, key) for key in TOUCHPOINT_KEYS} for p in points]}
        for lead, points in leads
    )
    return _write_json(items, fmt, stream)


def write_touchpoints(touchpoints: Iterable[Touchpoint], fmt: str, stream: IO[str], bom: bool = False) -> int:
    """Export touchpoints (id, lead_id, kind, direction, outcome, note, at) like ``write_leads``."""
    _check_format(fmt)
    rows = ({key: getattr(point, key) for key in TOUCHPOINT_KEYS} for point in touchpoints)
    if fmt != "csv":
        return _write_json(rows, fmt, stream)
    if bom:
        stream.write("\ufeff")
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(TOUCHPOINT_KEYS)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[key]) for key in TOUCHPOINT_KEYS])
        count += 1
    return count
