"""Moving leads in and out: CSV import, export, backup, and merging duplicates (actions, like actions.py).

An import is one transaction: killed half way, the database holds all of it or none of it. New leads
are inserted in batches with their ids assigned here (the write lock is held, so the range of ids is
the import's own), and one ``import`` event records that range: ``undo`` removes exactly those leads.
Duplicates (the same email; without an email, the same name and company) follow ``--on-duplicate``.

Two halves do an import: ``_Batcher`` parses rows and gathers batches without the database,
``_Writer`` inserts them and settles what needs the database. For a large file the batcher's half
moves to a forked copy of the process after the first rows (``_read_in_parallel``): it sends its
batches through a pipe, so parsing and inserting each take a core.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from pipectl import cadence, csvio, leads
from pipectl.actions import Context, ensure_unchanged, resolve
from pipectl.errors import PipectlError, Refused
from pipectl.model import Lead, Status
from pipectl.store import Store, bulk, data_folder, is_url

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
PROGRESS_EVERY = 10_000  # rows
# A file with more rows than this (one batch) goes on being read and parsed by a second process while
# this one inserts (where the system can fork): the two halves of the work take about as long as each
# other, and every row read before the fork is a row read serially (at 20,000, a 100,000-row import
# spent 0.15 s more CPU on the critical path; a fork costs a few ms).
PARALLEL_AFTER = 5_000
# Forking is safe where nothing the process loaded (SQLite, libpq) holds state a copy could trip on:
# on Linux; elsewhere a file is read and inserted by one process.
PARALLEL = sys.platform.startswith("linux")
PIPE_BYTES = 1 << 20  # lets the reader run a batch or two ahead of the writer
WRITER_BEHIND = 0.002  # seconds the reader waited to hand a batch over: the writer is behind (_Pipe)
# The emails of earlier batches, as a Bloom filter of one hash: 4 MiB holding 1,000,000 emails
# answers "maybe" for 3 % of new ones, and only a "maybe" costs a lookup in the database.
SEEN_BITS = 1 << 25
# SQLite's page cache for an import: past the default 2 MiB, inserting 1,000,000 leads spends a fifth
# of its time reading back index pages (measured: 29 s -> 23 s), at 67 MiB peak memory.
IMPORT_CACHE_MIB = 32
NOT_NULL = {"touch_count": 0, "tags": "[]", "extra": "{}"}  # stored form
_OPEN = Status.OPEN.value
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
    guessed_encoding: str | None = None  # the file's, told from its bytes (no --encoding, not UTF-8)
    stage_mapping: dict[str, str] = field(default_factory=dict)  # stage values met -> stage or status
    unknown_stages: str | None = None  # the line listing the stage values that named nothing, with a hint
    warnings: list[str] = field(default_factory=list)  # about the file's header


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
    stages = {
        **ctx.config.import_stages,
        **(map_file.stages if map_file else {}),
        **csvio.parse_pairs(options.map_stages, "--map-stage"),
    }
    encoding = options.encoding or (map_file.encoding if map_file else None)
    started = time.perf_counter()
    result = ImportResult()
    # Without the cyclic collector (nothing an import builds holds a cycle): its passes over each
    # batch's rows cost a tenth of a large import.
    with _opened(path) as stream, bulk():
        table = csvio.open_table(stream, encoding, overrides)
        plan = csvio.Plan.from_header(
            table.header,
            ctx.pipeline_config(),
            overrides=overrides,
            map_stage=stages,
            dayfirst=options.dayfirst or bool(map_file and map_file.dayfirst),
            decimal_comma=options.decimal_comma or bool(map_file and map_file.decimal_comma),
        )
        result.unused_maps = plan.unused_overrides
        result.warnings = plan.warnings
        result.guessed_encoding = table.guessed
        rejected = csvio.RejectsWriter(rejects, table.header) if rejects is not None else None
        try:
            ctx.store(create=True).use_cache(IMPORT_CACHE_MIB)
            first = list(itertools.islice(table.rows, PARALLEL_AFTER))
            # How many rows the file holds, told from the first ones: a large file into a smaller
            # pipeline is a bulk load.
            expected = _rows_expected(stream, len(first)) if len(first) == PARALLEL_AFTER else 0
            rows = _again(first, table.rows)
            with ctx.writing() as store:
                large = expected > 0 and store.is_large_import(expected)
                with store.view_indexes_built_after(large, _filled(plan)):
                    writer = _Writer(ctx, store, plan, options, result, rejected, progress)
                    # Rows with other addresses give the database emails the batcher's filter never saw.
                    fresh = not store.has_emails() and not plan.other_columns
                    batcher = _Batcher(ctx, plan, options, writer, fresh=fresh)
                    if not batcher.feed(rows, PARALLEL_AFTER if PARALLEL else None):
                        _read_in_parallel(batcher, rows, writer)
                    result.rows = batcher.read
                    result.skipped += batcher.skipped
                    result.stage_mapping = plan.stage_mapping
                    result.unknown_stages = plan.unknown_stages_hint()
                    writer.finish(path)
                    if options.dry_run:
                        raise _DryRun  # before the indexes left out are built: the rollback puts them back
        except _DryRun:
            pass
    result.seconds = time.perf_counter() - started
    return result


def _filled(plan: csvio.Plan) -> set[str]:
    """The columns a new lead's row takes from the file rather than from the defaults they all share:
    the plan's fields, and what ``_Batcher.gather`` fills from its creation time."""
    fields = plan.fields
    return fields | {"stage_entered_at", "last_touch_at"} if "created_at" in fields else fields


def _again(first: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    """``first``, then ``rest``: each of ``first`` let go as it is taken (the reading process must not
    carry them)."""
    first.reverse()
    while first:
        yield first.pop()
    yield from rest


def _rows_expected(stream: IO[bytes], read: int) -> int:
    """How many rows a file holds, told from the ``read`` rows its first part had: as many again for
    every part of that size (a pipe's count is unknown: those read so far)."""
    try:
        return int(read * os.fstat(stream.fileno()).st_size / stream.tell())
    except (OSError, ValueError, ZeroDivisionError):
        return read


class _Writer:
    """The database side of an import: inserts the gathered batches, settles duplicates and rejects,
    and counts what happened in ``result``."""

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
        self.ctx, self.store, self.options, self.result = ctx, store, options, result
        self.plan = plan
        self.columns = (*plan.row_columns, "search")  # of the rows inserted: the batches', then search
        self.rejects, self.tick = rejects, progress
        self.last_id_before = store.last_lead_id()
        self.matched: set[int] = set()  # leads of before the import that a row with a record id found

    def batch(self, pending: list[Any], notes: list[tuple[int, str, str]], ask: list[tuple[int, str]]) -> None:
        """Insert gathered leads but those whose email a lead already has, of the rows in ``ask``
        (position in ``pending``, email)."""
        taken = self.store.existing_emails([email for _, email in ask]) if ask else set()
        if taken:  # leads already in the database: take them out of the batch (and their notes)
            dropped = [position for position, email in ask if email in taken]
            edges = itertools.pairwise([-1, *dropped, len(pending)])
            pending = list(itertools.chain.from_iterable(pending[after + 1 : before] for after, before in edges))
            gone = set(dropped)
            notes = [(i - bisect.bisect(dropped, i), at, text) for i, at, text in notes if i not in gone]
            self.result.skipped += len(dropped)
        self.result.inserted += len(pending)
        if pending:
            if len(pending[0]) < len(self.columns):  # the reading process left it to this one (_Pipe)
                _add_search(pending, self.plan)
            self.store.insert_new_leads(self.columns, pending, notes)

    def single(
        self, row: csvio.ParsedRow, cells: list[str], pending: list[Any], notes: list[tuple[int, str, str]]
    ) -> None:
        """A row checked against the database on its own (no email, other addresses, a CRM's record
        id, or --on-duplicate other than skip): inserted as ``pending`` unless it duplicates a lead; a
        record id that an earlier row of the file had is rejected. A lead that has one of the row's
        other addresses is one it duplicates; a row whose addresses belong to two leads is rejected."""
        lead = row.lead
        record, system = lead.get("source_id"), lead.get("source_system")
        source = (record, system) if record and system else None
        existing = self.store.duplicate_of(lead.get("email"), lead["name"], lead.get("company"), source)
        owners = {address: owner for address in row.others if (owner := self.store.lead_by_email(address))}
        if existing is None and owners:
            existing = next(iter(owners.values()))
        if existing is not None:
            for address, owner in owners.items():
                if owner.id != existing.id:
                    reason = f"{address} is an address of {owner.label}, the row's lead is {existing.label}"
                    self.reject(csvio.RowError(row.line, address, reason), cells)
                    return
        if existing is None:
            self.batch(pending, notes, [])
            if row.others:
                self.store.add_other_emails(self.store.last_lead_id(), row.others)
            return
        if source is not None:
            earlier = existing.id > self.last_id_before or existing.id in self.matched
            if earlier and (existing.source_id, existing.source_system) == source:
                reason = f"{system} record id repeated in the file (an earlier row has it)"
                self.reject(csvio.RowError(row.line, str(record), reason), cells)
                return
            self.matched.add(existing.id)  # it may take this row's id (--on-duplicate update, fill)
        self.duplicate(existing, row, cells, [address for address in row.others if address not in owners])

    def reject(self, error: csvio.RowError, cells: list[str]) -> None:
        if self.options.strict:
            raise PipectlError(f"line {error.line}: {error.reason} ({error.value!r}); --strict: nothing was imported")
        self.result.rejected += 1
        if len(self.result.errors) < SHOWN_ERRORS:
            self.result.errors.append(error)
        if self.rejects is not None:
            self.rejects.write(error.line, cells, error.reason)

    def duplicate(self, existing: Lead, row: csvio.ParsedRow, cells: list[str], added: list[str]) -> None:
        """Settle a row that duplicates ``existing`` per --on-duplicate; update and fill also give it
        the row's other addresses that no lead has (``added``)."""
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
        if "status" in changes:
            close_date = changes.get("expected_close", existing.expected_close)
            changes["closed_at"] = _closing_time(
                changes["status"], row.lead.get("closed_at"), close_date, self.ctx.now_iso
            )
        if not changes and not added:
            self.result.skipped += 1
            return
        changes["updated_at"] = self.ctx.now_iso
        if "stage" in changes:
            changes.setdefault("stage_entered_at", self.ctx.now_iso)
            self.store.change_lead(existing, changes, "stage", **{"from": existing.stage, "to": changes["stage"]})
            changes = {}
        if added:
            self.store.change_emails(existing, added, [], changes)
        elif changes:
            self.store.change_lead(existing, changes, "edit")
        self.result.updated += 1

    def progress(self, read: int) -> None:
        if self.tick is not None:
            self.tick(read)

    def finish(self, path: str) -> None:
        """Record the import: one event with the file, the counts and the range of new ids."""
        info = {
            "file": "stdin" if path == "-" else str(Path(path).resolve()),
            "rows": self.result.rows,
            "inserted": self.result.inserted,
            "updated": self.result.updated,
            "skipped": self.result.skipped,
            "rejected": self.result.rejected,
        }
        if self.result.stage_mapping:
            info["stages"] = self.result.stage_mapping
        if self.result.inserted:
            info["lead_range"] = [self.last_id_before + 1, self.store.last_lead_id()]
        if self.result.inserted or self.result.updated:  # an import that changed nothing is nothing to undo
            self.store.record_import(info)


class _Batcher:
    """The side of an import that needs no database: parses rows, drops a file's repeated emails and
    gathers new leads into batches for a ``_Writer`` (its ``sink``). For a large file it goes on in a
    second process (``_read_in_parallel``), so parsing and inserting take a core each."""

    def __init__(self, ctx: Context, plan: csvio.Plan, options: ImportOptions, sink: Any, fresh: bool) -> None:
        """``fresh``: no lead had an email before the import, so only the file's own emails can be taken."""
        self.plan, self.options, self.sink, self.now, self.now_iso = plan, options, sink, ctx.now, ctx.now_iso
        self.read = self.skipped = 0
        self.skip_repeats = options.on_duplicate == "skip"
        now = ctx.now_iso
        # What a row leaves out takes the defaults of `add` (--stage and --source for rows without).
        defaults: dict[str, Any] = {
            **NOT_NULL,
            "stage": options.stage or ctx.config.stage_names[0],
            "status": _OPEN,
            "owner": ctx.me,
            "source": options.source,
            "created_at": now,
            "updated_at": now,
        }
        self.template = plan.template(defaults)
        slots = plan.slots
        self.created, self.entered, self.status = slots["created_at"], slots["stage_entered_at"], slots["status"]
        self.closed, self.touches, self.touched = slots["closed_at"], slots["touch_count"], slots["last_touch_at"]
        self.email, self.close_date = slots.get("email"), slots.get("expected_close")
        self.pending: list[list[Any]] = []
        self.notes: list[tuple[int, str, str]] = []
        self.emails: set[str] = set()  # of the rows gathered, not yet sent (one batch: memory stays flat)
        # With ``fresh``, the emails of the earlier batches (see SEEN_BITS): only those of this batch
        # that may be among them are asked about (position in the batch, email); else all are.
        self.seen = bytearray(SEEN_BITS // 8) if fresh else None
        self.ask: list[tuple[int, str]] = []

    def feed(self, rows: Iterator[tuple[int, list[str]]], limit: int | None = None) -> bool:
        """Take rows until the file ends (True) or ``limit`` rows were read in all (False)."""
        # This loop runs once a row: what it uses is in locals (the batch's lists are cleared in
        # place by flush, so they stay these), and a new row with an email is gathered right here.
        read_row, template, gather, now = self.plan.read, self.template, self.gather, self.now
        sink, every, read, seen = self.sink, PROGRESS_EVERY, self.read, self.seen
        pending, emails, ask = self.pending, self.emails, self.ask
        # Rows that carry a CRM's record id are matched one by one (on it first: _Writer.single).
        email_at = self.email if self.skip_repeats and "source_id" not in self.plan.slots else None
        # Rows that give other addresses too, so that an address never goes to two leads.
        others_in = self.plan.has_other_emails if self.plan.other_columns else None
        for line, cells in rows:
            read += 1
            parsed = read_row(line, cells, now, template)
            if isinstance(parsed, csvio.RowError):
                sink.reject(parsed, cells)
            else:
                row, note = parsed
                email = None if email_at is None else row[email_at]
                if email is None or (others_in is not None and others_in(cells)):
                    self.take_alone(line, cells, row, note)
                elif email in emails:
                    self.skipped += 1
                else:
                    # Repeats of earlier batches' emails are found a batch at a time (_Writer.batch).
                    emails.add(email)
                    maybe = True
                    if seen is not None:
                        bit = hash(email) % SEEN_BITS
                        byte, mask = seen[bit >> 3], 1 << (bit & 7)
                        seen[bit >> 3] = byte | mask
                        maybe = bool(byte & mask)
                    if maybe:
                        ask.append((len(pending), email))
                    gather(row, note)
                    if len(pending) >= BATCH:
                        self.flush()
            if read % every == 0:
                sink.progress(read)
            if read == limit:
                self.read = read
                return False
        self.read = read
        self.flush()
        return True

    def take_alone(self, line: int, cells: list[str], row: list[Any], note: str | None) -> None:
        """A row the writer checks against the database on its own: without an email, with other
        addresses, or when duplicates are not skipped (it settles them with the fields the row gives)."""
        self.flush()  # the lookup must see every lead taken so far
        self.gather(row, note)
        pending, notes = self.pending.copy(), self.notes.copy()
        self.pending.clear()
        self.notes.clear()
        self.sink.single(self.plan.parse(line, cells, self.now), cells, pending, notes)

    def gather(self, row: list[Any], note: str | None) -> None:
        """Add a new lead's row to the batch with what follows from the rest, and its note."""
        created = row[self.created]
        if row[self.entered] is None:
            row[self.entered] = created
        if row[self.status] != _OPEN and row[self.closed] is None:
            close_date = None if self.close_date is None else row[self.close_date]
            row[self.closed] = _closing_time(row[self.status], None, close_date, self.now_iso)
        if note:
            row[self.touches], row[self.touched] = 1, created
            self.notes.append((len(self.pending), created, note))
        self.pending.append(row)

    def flush(self) -> None:
        """Send the batch, then empty its lists in place (the sink is done with them when it returns)."""
        if self.pending:
            self.sink.batch(self.pending, self.notes, self.ask)
        for gathered in (self.pending, self.notes, self.emails, self.ask):
            gathered.clear()


def _add_search(rows: list[list[Any]], plan: csvio.Plan) -> None:
    """End each row of a batch (``plan``'s row columns) with its ``search`` column (``leads.search_column``)."""
    search_column, name, company = leads.search_column, plan.slots["name"], plan.slots.get("company")
    for row in rows:
        row.append(search_column(row[name], None if company is None else row[company]))


class _Pipe:
    """The batcher's sink in the reading process: each call becomes a message to the writing one.

    Either process may compute a batch's ``search`` column: this one does while the writer is behind
    (handing it the last batch took waiting), and leaves it to the writer otherwise. Which of the two
    waits for the other depends on the file and the database (100,000 leads into an empty one: the
    reader, by a little; 1,000,000: the writer, as each new email lands further from the last), and a
    batch's search columns cost a tenth of reading it: shared so, neither waits long."""

    def __init__(self, out: IO[bytes], plan: csvio.Plan) -> None:
        self.out, self.plan = out, plan
        self.behind = False  # the writer, at the last batch

    def send(self, *message: Any) -> None:
        pickle.dump(message, self.out, protocol=pickle.HIGHEST_PROTOCOL)
        self.out.flush()  # the writer may be waiting for it

    def batch(self, pending: list[list[Any]], *rest: Any) -> None:
        if self.behind:
            _add_search(pending, self.plan)
        wall, cpu = time.perf_counter(), time.thread_time()
        self.send("batch", pending, *rest)
        self.behind = (time.perf_counter() - wall) - (time.thread_time() - cpu) > WRITER_BEHIND

    def single(self, *args: Any) -> None:
        self.send("single", *args)

    def reject(self, *args: Any) -> None:
        self.send("reject", *args)

    def progress(self, *args: Any) -> None:
        self.send("progress", *args)


def _read_in_parallel(batcher: _Batcher, rows: Iterator[tuple[int, list[str]]], writer: _Writer) -> None:
    """Read the rest of the file in a forked copy of this process, which sends what ``batcher``
    gathers through a pipe, while this one gives it to ``writer`` in the order it was sent."""
    batcher.flush()  # the copy must not send these again
    receiving, sending = os.pipe()
    _widen(sending)
    pid = os.fork()
    if pid == 0:
        os.close(receiving)
        _read_and_send(batcher, rows, sending)
    os.close(sending)
    batcher.seen = None  # the copy goes on with it: free this process's pages
    try:
        with open(receiving, "rb") as messages:
            handlers: dict[str, Callable[..., None]] = {
                "batch": writer.batch,
                "single": writer.single,
                "reject": writer.reject,
                "progress": writer.progress,
            }
            while True:
                try:
                    kind, *args = pickle.load(messages)
                except EOFError:
                    raise PipectlError(
                        "the process reading the file stopped before its end; nothing was imported"
                    ) from None
                if kind == "done":
                    # The copy's plan met the later rows' stage values (it began with this one's).
                    batcher.read, batcher.skipped, batcher.plan.stage_mapping, batcher.plan.unknown_stages = args
                    return
                if kind == "error":
                    raise PipectlError(args[0])
                if kind == "crash":
                    failure = RuntimeError(f"the process reading the file failed with {args[0]}")
                    failure.add_note(args[1])  # its traceback, shown with --debug
                    raise failure
                handlers[kind](*args)
    finally:
        os.kill(pid, signal.SIGKILL)  # when this one failed first; nothing is lost once "done" came
        os.waitpid(pid, 0)


def _read_and_send(batcher: _Batcher, rows: Iterator[tuple[int, list[str]]], fd: int) -> NoReturn:
    """The reading process: feed the batcher the rest of the rows, then leave at once (no cleanup
    of the parent's state: its database connection, open files and exit handlers are not ours)."""
    code = 0
    try:
        with open(fd, "wb") as out:
            pipe = _Pipe(out, batcher.plan)
            batcher.sink = pipe
            try:
                batcher.feed(rows)
                plan = batcher.plan
                pipe.send("done", batcher.read, batcher.skipped, plan.stage_mapping, plan.unknown_stages)
            except PipectlError as exc:
                pipe.send("error", exc.message)
            except Exception as exc:
                pipe.send("crash", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    except BaseException:  # the writer is gone (it failed, or was interrupted): nobody to tell
        code = 1
    finally:
        os._exit(code)


def _widen(fd: int) -> None:
    import fcntl

    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _closing_time(status: str, closed_at: str | None, close_date: str | None, now_iso: str) -> str | None:
    """When an imported lead closed: the file's closed date, else its close date (a CRM's close date
    of a closed deal), else the import's time, so that the report counts it; None while it is open."""
    if status == _OPEN:
        return None
    return closed_at or (f"{close_date}T00:00:00Z" if close_date else now_iso)


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
    stream; JSON/JSONL: a ``touchpoints`` list in each lead, so ``touchpoints`` is ``stream``).
    ICS: the open leads' next steps, one event each (the count is of the leads that have one)."""
    store = ctx.store()
    if fmt == "ics":
        from pipectl import ics

        steps = [lead for lead in store.iter_leads() if lead.is_open and lead.next_action and lead.next_action_due]
        stream.write(ics.write(steps, ctx.now).decode("utf-8"))
        return len(steps)
    if fmt == "csv" or touchpoints is None:
        others = store.other_addresses() if fmt == "csv" else None
        count = csvio.write_leads(store.iter_leads(), fmt, stream, bom, others)
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


def copy(ctx: Context, source: str | None, target: str, replace: bool) -> tuple[str, str, dict[str, int], Path | None]:
    """Copy a whole pipeline (every lead, touchpoint and event, ids and history included) from
    ``source`` (default: the current database) to ``target``, a file path or URL; a new target file
    is removed again when the copy fails. Returns both databases' labels, how many rows of each
    table moved, and the backup of what it replaced on a team's database."""
    origin = Store.open(source or ctx.database, create=False, currency=ctx.config.currency)
    if _same_database(origin.label, target):
        raise Refused(f"{target} is the pipeline being copied: name another database with --to")
    new_file = not is_url(target) and not Path(target).exists()
    try:
        destination = Store.open(target, create=True, currency=origin.currency)
        try:
            saved = _guard_team(ctx, destination, replace)
            counts = origin.copy_into(destination, replace)
            if destination.who is not None:
                info = {"from": origin.label, "replaced": bool(saved), "backup": str(saved) if saved else None}
                with destination.transaction(ctx.command, destination.who.login, ctx.now_iso):
                    destination.record_copy({**info, **counts})
        finally:
            destination.close()
    except BaseException:
        if new_file:
            from pipectl.store.sqlite import remove

            remove(Path(target))
        raise
    finally:
        origin.close()
    return origin.label, destination.label, counts, saved


def _guard_team(ctx: Context, destination: Store, replace: bool) -> Path | None:
    """A copy onto a team's database is its owner's alone (it writes everyone's leads and history);
    with ``replace``, what it replaces is first saved in a backup file (returned)."""
    who = destination.who
    if who is None:
        return None
    if not who.admin:
        raise Refused(
            f"a copy onto the team's database {destination.label} writes everyone's pipeline: only its owner,"
            f" {who.owner}, can do it; nothing was changed"
        )
    if not replace or not any(destination.counts().values()):
        return None
    saved = data_folder() / "backups" / f"replaced-{ctx.now.strftime('%Y%m%dT%H%M%S')}.db"
    saved.parent.mkdir(parents=True, exist_ok=True)
    destination.backup(saved)
    return saved


def _same_database(label: str, target: str) -> bool:
    if is_url(target) or is_url(label):
        return label == target
    return Path(label).resolve() == Path(target).resolve()


# --- merge ---------------------------------------------------------------------------------------


@dataclass
class MergePlan:
    """What merging ``other`` into ``keep`` does: ``changes`` to KEEP, and how alike the two are."""

    keep: Lead
    other: Lead
    changes: dict[str, Any]
    likeness: leads.Likeness
    touchpoints: tuple[int, int]  # KEEP's and OTHER's

    @property
    def filled(self) -> list[str]:
        """KEEP's empty fields that OTHER fills (tags and extra are united, not filled)."""
        return [name for name in MERGED_FIELDS if name in self.changes and name not in ("tags", "extra")]


def plan_merge(ctx: Context, keep_ref: str, other_ref: str, force: bool) -> MergePlan:
    """The merge of OTHER into KEEP, refused unless ``force`` when the two differ in status or owner
    or have nothing in common (nothing is written here)."""
    store = ctx.store()
    keep, other = resolve(store, keep_ref), resolve(store, other_ref)
    if keep.id == other.id:
        raise PipectlError(f"{keep_ref!r} and {other_ref!r} are the same lead ({keep.label})")
    return _plan(ctx, store, keep, other, force)


def _plan(ctx: Context, store: Store, keep: Lead, other: Lead, force: bool) -> MergePlan:
    likeness = leads.likeness(keep, other)
    if likeness.refusals and not force:
        raise Refused(
            f"not merging {other.label} into {keep.label}: {'; '.join(likeness.refusals)}"
            " (check they are the same person; --force merges anyway)"
        )
    given = {name: getattr(other, name) for name in MERGED_FIELDS}
    changes = _changes(keep, given, fill=True)
    own, theirs = store.touchpoints_of(keep.id), store.touchpoints_of(other.id)
    points = sorted(own + theirs, key=lambda point: point.at)
    changes.update(cadence.state(points).as_changes())
    changes["touch_count"] = len(points)
    changes["last_touch_at"] = max((point.at for point in points), default=None)
    changes["created_at"] = min(keep.created_at, other.created_at)
    changes["updated_at"] = ctx.now_iso
    changes = {name: value for name, value in changes.items() if getattr(keep, name) != value}
    return MergePlan(keep, other, changes, likeness, (len(own), len(theirs)))


def merge(ctx: Context, plan: MergePlan, force: bool) -> Lead:
    """Fold OTHER into KEEP as ``plan`` says: its touchpoints and history move to KEEP, KEEP's empty
    fields are filled from it, tags and extra are united, the counters recomputed; OTHER's whole
    record stays in the event log, so ``undo`` restores it. Refused when either lead changed since
    the plan was shown."""
    with ctx.writing() as store:
        keep, other = ensure_unchanged(store, [plan.keep, plan.other], "merged")
        store.merge_leads(keep, other, _plan(ctx, store, keep, other, force).changes)
    return keep
