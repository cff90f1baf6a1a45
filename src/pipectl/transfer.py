"""Moving leads in and out: CSV import, export, backup, and merging duplicates (actions, like actions.py).

An import is one transaction: killed half way, the database holds all of it or none of it. New leads
are inserted in batches with their ids assigned here (the write lock is held, so the range of ids is
the import's own), and one ``import`` event records that range: ``undo`` removes exactly those leads.
Duplicates (the same email; without an email, the same name and company) follow ``--on-duplicate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pipectl import cadence, csvio, leads
from pipectl.actions import Context, resolve
from pipectl.errors import PipectlError, Refused
from pipectl.model import Lead, Status
from pipectl.store import NewLeads, Store, is_url

ON_DUPLICATE = ("skip", "update", "fill", "error")
# What a merge takes from the duplicate into KEEP's empty fields (tags and extra are united).
MERGED_FIELDS = (
    "company",
    "email",
    "phone",
    "source",
    "value",
    "owner",
    "tags",
    "extra",
    "next_action",
    "next_action_due",
    "expected_close",
)
BATCH = 5000
# SQLite's page cache for an import: past the default 2 MiB, inserting 1,000,000 leads spends a fifth
# of its time reading back index pages (measured: 29 s -> 23 s), at 67 MiB peak memory.
IMPORT_CACHE_MIB = 32
NOT_NULL = {"touch_count": 0, "tags": (), "extra": {}}
SHOWN_ERRORS = 20  # bad rows reported on stderr; all of them go to --rejects


@dataclass
class ImportResult:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    errors: list[csvio.RowError] = field(default_factory=list)
    seconds: float = 0.0
    unused_maps: list[str] = field(default_factory=list)


@dataclass
class ImportOptions:
    maps: list[str] = field(default_factory=list)
    map_file: Path | None = None
    map_stages: list[str] = field(default_factory=list)
    on_duplicate: str = "skip"
    dry_run: bool = False
    strict: bool = False
    stage: str | None = None
    source: str | None = None
    encoding: str | None = None
    dayfirst: bool = False
    decimal_comma: bool = False


class _DryRun(Exception):
    """Raised at the end of a dry run so that the transaction rolls back."""


@contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        import sys

        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 -- closed below, after the whole streaming import
    except FileNotFoundError:
        raise PipectlError(f"no such file: {path}") from None
    except OSError as exc:
        raise PipectlError(f"cannot read {path}: {exc.strerror}") from None
    with stream:
        yield stream


def import_file(
    ctx: Context,
    path: str,
    options: ImportOptions,
    rejects: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a CSV file (``-``: stdin) of leads; see the module docstring."""
    if options.on_duplicate not in ON_DUPLICATE:
        raise PipectlError(f"--on-duplicate must be one of {', '.join(ON_DUPLICATE)} (got {options.on_duplicate!r})")
    if options.stage is not None:
        from pipectl import pipeline

        options.stage = pipeline.resolve_stage(ctx.config, options.stage)
    map_file = csvio.load_map_file(options.map_file) if options.map_file else None
    overrides = {**(map_file.columns if map_file else {}), **csvio.parse_pairs(options.maps)}
    stages = {**(map_file.stages if map_file else {}), **csvio.parse_pairs(options.map_stages, "--map-stage")}
    encoding = options.encoding or (map_file.encoding if map_file else None)
    started = time.perf_counter()
    result = ImportResult()
    with _opened(path) as stream:
        table = csvio.open_table(stream, encoding, overrides)
        plan = csvio.Plan.from_header(
            table.header,
            ctx.config,
            overrides=overrides,
            map_stage=stages,
            dayfirst=options.dayfirst or bool(map_file and map_file.dayfirst),
            decimal_comma=options.decimal_comma or bool(map_file and map_file.decimal_comma),
        )
        result.unused_maps = plan.unused_overrides
        writer = csvio.RejectsWriter(rejects, table.header) if rejects is not None else None
        try:
            ctx.store(create=True).use_cache(IMPORT_CACHE_MIB)
            with ctx.writing() as store:
                _Importer(ctx, store, plan, options, result, writer, progress).run(table.rows, path)
                if options.dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    result.seconds = time.perf_counter() - started
    return result


class _Importer:
    def __init__(
        self,
        ctx: Context,
        store: Store,
        plan: csvio.Plan,
        options: ImportOptions,
        result: ImportResult,
        rejects: csvio.RejectsWriter | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.ctx, self.store, self.plan, self.options, self.result = ctx, store, plan, options, result
        self.rejects, self.progress = rejects, progress
        self.last_id_before = store.last_lead_id()
        now = ctx.now_iso
        # What a row leaves out takes the defaults of `add` (--stage and --source for rows without).
        self.defaults: dict[str, Any] = {
            "stage": options.stage or ctx.config.stage_names[0],
            "status": Status.OPEN.value,
            "owner": ctx.config.owner,
            "created_at": now,
            "updated_at": now,
        }
        if options.source:
            self.defaults["source"] = options.source
        columns = {*plan.fields, *self.defaults, "stage_entered_at", "closed_at"}
        if plan.has_notes:
            columns.update(("touch_count", "last_touch_at"))
        # Columns that may not be NULL, for the rows that leave them out.
        self.defaults.update({name: value for name, value in NOT_NULL.items() if name in columns})
        self.rows = NewLeads(columns)
        self.defaults = {**self.rows.empty, **self.defaults}
        self.notes: list[tuple[int, str, str]] = []
        self.emails: set[str] = set()  # of the rows gathered, not yet inserted (one batch: memory stays flat)

    def run(self, rows: Iterator[tuple[int, list[str]]], path: str) -> None:
        now = self.ctx.now
        for line, cells in rows:
            self.result.rows += 1
            parsed = self.plan.parse(line, cells, now)
            if isinstance(parsed, csvio.RowError):
                self.reject(parsed, cells)
            else:
                self.take(parsed, cells)
            if self.progress is not None and self.result.rows % 10_000 == 0:
                self.progress(self.result.rows)
        self.flush()
        info = {
            "file": "stdin" if path == "-" else str(Path(path).resolve()),
            "rows": self.result.rows,
            "inserted": self.result.inserted,
            "updated": self.result.updated,
            "skipped": self.result.skipped,
            "rejected": self.result.rejected,
        }
        if self.result.inserted:
            info["lead_range"] = [self.last_id_before + 1, self.store.last_lead_id()]
        if self.result.inserted or self.result.updated:  # an import that changed nothing is nothing to undo
            self.store.record_import(info)

    def reject(self, error: csvio.RowError, cells: list[str]) -> None:
        if self.options.strict:
            raise PipectlError(f"line {error.line}: {error.reason} ({error.value!r}); --strict: nothing was imported")
        self.result.rejected += 1
        if len(self.result.errors) < SHOWN_ERRORS:
            self.result.errors.append(error)
        if self.rejects is not None:
            self.rejects.write(error.line, cells, error.reason)

    def take(self, row: csvio.ParsedRow, cells: list[str]) -> None:
        data = {**self.defaults, **row.lead}
        email = data.get("email")
        if self.options.on_duplicate == "skip" and email is not None:
            # The fast path: duplicates by email are found a batch at a time (see flush).
            if email in self.emails:
                self.result.skipped += 1
                return
            self.emails.add(email)
        else:
            self.flush()  # the lookup must see every lead taken so far
            existing = self.store.duplicate_of(email, data["name"], data.get("company"))
            if existing is not None:
                self.duplicate(existing, row, cells)
                return
        self.gather(data, row.note)
        if len(self.rows.pending) >= BATCH or email is None or self.options.on_duplicate != "skip":
            self.flush()

    def gather(self, data: dict[str, Any], note: str | None) -> None:
        created = data["created_at"]
        if data["stage_entered_at"] is None:
            data["stage_entered_at"] = created
        if data["status"] != Status.OPEN and data["closed_at"] is None and data.get("expected_close"):
            data["closed_at"] = data["expected_close"] + "T00:00:00Z"  # a CRM's close date of a closed deal
        if note:
            data["touch_count"], data["last_touch_at"] = 1, created
            self.notes.append((len(self.rows.pending), created, note))
        self.rows.add(data)

    def flush(self) -> None:
        if not self.rows.pending:
            return
        taken = self.store.existing_emails(list(self.emails))
        if taken:  # leads already in the database: take them out of the batch (and their notes)
            emails = self.rows.columns.index("email")
            keep = [i for i, values in enumerate(self.rows.pending) if values[emails] not in taken]
            new_index = {old: new for new, old in enumerate(keep)}
            self.rows.pending = [self.rows.pending[i] for i in keep]
            self.notes = [(new_index[i], at, text) for i, at, text in self.notes if i in new_index]
            self.result.skipped += len(taken)
        self.result.inserted += len(self.rows.pending)
        if self.rows.pending:
            self.store.insert_new_leads(self.rows, self.notes)
        self.rows.pending, self.notes, self.emails = [], [], set()

    def duplicate(self, existing: Lead, row: csvio.ParsedRow, cells: list[str]) -> None:
        mode = self.options.on_duplicate
        if mode == "skip":
            self.result.skipped += 1
            return
        if mode == "error":
            key = f"email {existing.email}" if existing.email else "name and company"
            error = csvio.RowError(row.line, existing.email or existing.name, f"duplicate of {existing.label} ({key})")
            self.reject(error, cells)
            return
        changes = _changes(existing, row.lead, fill=mode == "fill")
        if not changes:
            self.result.skipped += 1
            return
        changes["updated_at"] = self.ctx.now_iso
        if "stage" in changes:
            changes.setdefault("stage_entered_at", self.ctx.now_iso)
            self.store.change_lead(existing, changes, "stage", **{"from": existing.stage, "to": changes["stage"]})
        else:
            self.store.change_lead(existing, changes, "edit")
        self.result.updated += 1


def _changes(lead: Lead, given: dict[str, Any], fill: bool) -> dict[str, Any]:
    """What a duplicate row changes: ``update`` takes the file's values, ``fill`` only empty fields."""
    changes: dict[str, Any] = {}
    for name, value in given.items():
        current = getattr(lead, name)
        if name == "tags":
            value = leads.clean_tags([*current, *value])
        elif name == "extra":
            value = {**value, **current} if fill else {**current, **value}
        elif fill and current not in (None, "", [], {}):
            continue
        if value != current:
            changes[name] = value
    return changes


# --- export and backup ---------------------------------------------------------------------------


def export(ctx: Context, fmt: str, stream: IO[str], touchpoints: IO[str] | None, bom: bool) -> int:
    """Every lead (all statuses), streamed in id order; with ``touchpoints``, theirs too (CSV: a second
    stream; JSON/JSONL: a ``touchpoints`` list in each lead, so ``touchpoints`` is ``stream``)."""
    store = ctx.store()
    if fmt == "csv" or touchpoints is None:
        count = csvio.write_leads(store.iter_leads(), fmt, stream, bom)
        if touchpoints is not None:
            csvio.write_touchpoints(store.iter_touchpoints(), fmt, touchpoints, bom)
        return count
    return csvio.write_leads_with_touchpoints(
        ((lead, store.touchpoints_of(lead.id)) for lead in store.iter_leads()), fmt, stream
    )


def backup(ctx: Context, target: Path) -> None:
    if target.exists():
        raise Refused(f"{target} exists: a backup never overwrites a file")
    ctx.store().backup(target)


def copy(ctx: Context, source: str | None, target: str, replace: bool) -> tuple[str, str, dict[str, int]]:
    """Copy a whole pipeline (every lead, touchpoint and event, ids and history included) from
    ``source`` (default: the current database) to ``target``, a file path or URL; a new target file
    is removed again when the copy fails. Returns both databases' labels and how many rows of each
    table moved."""
    origin = Store.open(source or ctx.database, create=False)
    if _same_database(origin.label, target):
        raise Refused(f"{target} is the pipeline being copied: name another database with --to")
    new_file = not is_url(target) and not Path(target).exists()
    try:
        destination = Store.open(target, create=True)
        try:
            counts = origin.copy_into(destination, replace)
        finally:
            destination.close()
    except BaseException:
        if new_file:
            from pipectl.store.sqlite import remove

            remove(Path(target))
        raise
    finally:
        origin.close()
    return origin.label, destination.label, counts


def _same_database(label: str, target: str) -> bool:
    if is_url(target) or is_url(label):
        return label == target
    return Path(label).resolve() == Path(target).resolve()


# --- merge ---------------------------------------------------------------------------------------


def merge(ctx: Context, keep_ref: str, other_ref: str) -> Lead:
    """Fold OTHER into KEEP: its touchpoints and history move to KEEP, KEEP's empty fields are filled
    from it, tags and extra are united, the counters recomputed; OTHER's whole record stays in the
    event log, so ``undo`` restores it."""
    with ctx.writing() as store:
        keep, other = resolve(store, keep_ref), resolve(store, other_ref)
        if keep.id == other.id:
            raise PipectlError(f"{keep_ref!r} and {other_ref!r} are the same lead ({keep.label})")
        given = {name: getattr(other, name) for name in MERGED_FIELDS}
        changes = _changes(keep, given, fill=True)
        points = store.touchpoints_of(keep.id) + store.touchpoints_of(other.id)
        points.sort(key=lambda point: point.at)
        state = cadence.state(points)
        changes.update(state.as_changes())
        changes["touch_count"] = len(points)
        changes["last_touch_at"] = max((point.at for point in points), default=None)
        changes["created_at"] = min(keep.created_at, other.created_at)
        changes["updated_at"] = ctx.now_iso
        changes = {name: value for name, value in changes.items() if getattr(keep, name) != value}
        store.merge_leads(keep, other, changes)
    return keep
