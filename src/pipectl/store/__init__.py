"""The store: the only code that speaks SQL.

It opens the database (a SQLite file, or a PostgreSQL server for a team: see ``backend.py``), keeps
its schema current, reads leads, touchpoints and history as domain objects, and writes. Every write
happens inside :meth:`Store.transaction` (holding the write lock) together with its event-log rows,
so the history that ``undo`` and the reports read is never out of step with the data. The SQL here
is the same for both backends; what differs lives in the backend.

Events: one row per change, grouped by ``batch`` (one command). ``data`` is JSON holding what undo
needs: ``lead`` (a row inserted), ``old``/``new`` (lead columns changed), ``touchpoint`` (a row
inserted), ``deleted`` (a lead's whole row removed: by a merge, with what moved from it, or by a
delete, with its ``touchpoints`` rows), plus descriptive keys (``from``, ``to``, ``forced``,
``reason``...).
"""

from __future__ import annotations

import functools
import gc
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipectl.errors import DatabaseError, PipectlError, Refused
from pipectl.leads import search_column, search_query
from pipectl.model import CLOSED, Event, Lead, Touchpoint, from_hundredths, to_column
from pipectl.store.backend import Backend, is_postgres

if TYPE_CHECKING:
    from pipectl.metrics import LeadFacts, Move
    from pipectl.review import Rules
    from pipectl.store.team import Who

LEAD_COLUMNS = tuple(f.name for f in fields(Lead))
TOUCHPOINT_COLUMNS = ("id", "lead_id", "kind", "direction", "outcome", "note", "at", "created_at", "external_id")
_SELECT_LEAD = "SELECT " + ", ".join(LEAD_COLUMNS) + " FROM leads"
_TAGS, _EXTRA = LEAD_COLUMNS.index("tags"), LEAD_COLUMNS.index("extra")
# What the daily review may read of a lead (a kind reads some of them: ``review.READS``), in the order
# they are selected.
BRIEF_COLUMNS = (
    *LEAD_COLUMNS[:7],
    "value",
    "last_touch_at",
    "touch_count",
    "next_action",
    "next_action_due",
    "snoozed_until",
    "qualified",
    "attempts",
    "last_outbound_at",
    "last_chance_at",
)
# Sort keys of `list`: a column, or (for text compared without case) a column marked "nocase".
SORT_KEYS = {
    "id": "id",
    "name": "name nocase",
    "company": "company nocase",
    "value": "value",
    "created": "created_at",
    "updated": "updated_at",
    "due": "next_action_due",
    "touched": "last_touch_at",
}
# Every column of each table, in the order copies read and write them. ``search`` (see ``leads.search_column``) is
# kept by the store on every write and never read into a Lead.
TABLE_COLUMNS = {
    "leads": (*LEAD_COLUMNS, "search"),
    "touchpoints": TOUCHPOINT_COLUMNS,
    "events": ("id", "batch", "at", "command", "actor", "lead_id", "type", "data", "undone_by"),
    # What mail sync keeps (SPEC §12): rows without ids of their own, keyed by their first column.
    "lead_emails": ("email", "lead_id"),
    "bounces": ("email", "at", "message_id"),
    "mail_seen": ("mailbox", "name", "batch"),
    "imap_folders": ("mailbox", "uidvalidity", "last_uid"),
    # What sending keeps (SPEC §13).
    "outbox": ("message_id", "campaign", "lead_id", "address", "subject", "state", "at"),
    "optouts": ("lead_id", "at", "how"),
}
COPY_ROWS = 5000
# The closed statuses as an SQL list: named, an index finds each, where "not open" walks every open lead.
_CLOSED = "(" + ", ".join(f"'{status.value}'" for status in CLOSED) + ")"
_NO_COMPANY = "COALESCE(company, '')"
# An outbox row (alias ``o``) left ``sending`` is settled once an outbound email to its lead was logged
# at or after it (by hand with ``touch``, a sync of the Sent folder, or a later message): no longer unknown.
_SETTLED = (
    "EXISTS (SELECT 1 FROM touchpoints t WHERE t.lead_id = o.lead_id AND t.kind = 'email'"
    " AND t.direction = 'out' AND (t.at >= o.at OR t.external_id = o.message_id))"
)


def default_database() -> str:
    """Where the pipeline lives: $PIPECTL_DB (a path or a postgresql:// URL), else the XDG data folder."""
    if os.environ.get("PIPECTL_DB"):
        return os.environ["PIPECTL_DB"]
    return str(data_folder() / "pipeline.db")


def data_folder() -> Path:
    """pipectl's folder in the XDG data folder (the default database's, and backups')."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pipectl"


def is_url(database: str) -> bool:
    """Whether ``database`` names a server (a URL or a libpq ``key=value`` string), not a file."""
    return is_postgres(database)


def open_backend(database: str, create: bool, currency: str) -> Backend:
    """The backend ``database`` names: a ``postgresql://`` URL, or else a SQLite file path; ``currency``
    is what a database created or migrated now records."""
    if not is_url(database):
        from pipectl.store.sqlite import SQLite

        return SQLite.open(Path(database), create, currency)
    scheme = database.split("://", 1)[0].lower() if "://" in database else "postgresql"
    if scheme not in ("postgresql", "postgres"):
        raise DatabaseError(f"unknown database URL scheme {scheme!r}: use a file path or postgresql://...")
    try:
        from pipectl.store.postgres import Postgres
    except ImportError:
        raise DatabaseError(
            "a postgresql:// database needs the PostgreSQL extra: pip install 'pipectl[postgres]'"
        ) from None
    return Postgres.open(database, create, currency)


# --- lead <-> row ------------------------------------------------------------------------------


# The page cache while a bulk insert builds indexes afresh (``Store.view_indexes_built_after``).
INDEX_SORT_CACHE_MIB = 4
INDEX_SORT_THREADS = 1


def _money(total: int | Decimal | None) -> Decimal:
    """A sum of stored values: nothing (only leads without a value, or none) is 0, as Python's sum
    of values, each missing one taken as 0, would have it."""
    return Decimal(0) if total is None else from_hundredths(total)


@functools.cache
def _sparse_lead(columns: tuple[str, ...]) -> Any:
    """A named tuple of ``columns``: what a kind of the review reads of a lead, made from a row at a
    third of the cost of a Lead (100,000 leads a kind)."""
    import collections

    return collections.namedtuple("SparseLead", columns)


@contextmanager
def bulk() -> Iterator[None]:
    """Read and compute over many leads without the cyclic garbage collector: what is built holds no
    cycles, and its passes over a growing heap would make a million leads take far more than ten
    times 100,000 (measured: review --json 28 s instead of 14)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _json_or_empty(text: str, empty: str) -> Any:
    # Most leads have no tags and no extra: skip the parser for those (the review reads every lead).
    return ([] if empty == "[]" else {}) if text == empty else json.loads(text)


def lead_from_row(row: Sequence[Any]) -> Lead:
    lead = Lead(*row)  # the columns are selected in the dataclass's field order (LEAD_COLUMNS)
    if lead.value is not None:
        lead.value = from_hundredths(lead.value)
    if lead.qualified is not None:
        lead.qualified = bool(lead.qualified)
    lead.tags = _json_or_empty(row[_TAGS], "[]")
    lead.extra = _json_or_empty(row[_EXTRA], "{}")
    return lead


def lead_to_row(lead: Lead) -> dict[str, Any]:
    return {name: to_column(name, getattr(lead, name)) for name in LEAD_COLUMNS}


class StageCount(NamedTuple):
    """A stage's open leads as ``Store.stays`` counts them: how many and their value at each moment
    (``counted``), and how many at the first had been in it too long (``stale``)."""

    counted: list[tuple[int, Decimal]]
    stale: int


@dataclass
class Filter:
    """What ``list`` asks for; ``None`` means any."""

    statuses: tuple[str, ...] | None = ("open",)
    stage: str | None = None
    tag: str | None = None
    owner: str | None = None
    qualified: bool | None = None


def stage_case(values: Iterable[tuple[str, float]]) -> str:
    """A SQL expression worth the value paired with the lead's stage (NULL for another stage): the
    names are the config's own, written inline so that the expression can order rows."""
    whens = " ".join(f"WHEN '{name.replace(chr(39), chr(39) * 2)}' THEN {value!r}" for name, value in values)
    return f"CASE stage {whens} END"


# A variant of a review kind in SQL: condition, parameters, order, served in order by an index.
Variant = tuple[str, list[Any], str, bool]


class Store:
    def __init__(self, backend: Backend) -> None:
        self.db = backend
        self.conn = backend.conn
        self._batch: int | None = None
        self._command = ""
        self._actor: str | None = None
        self._now = ""

    # --- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, database: str, create: bool, currency: str) -> Store:
        """Open the database (a file path or a URL); ``create`` makes it when missing, recording
        ``currency`` (the config's) as the pipeline's.

        A read command passes ``create=False`` and gets a clear error instead of a new empty database.
        """
        return cls(open_backend(database, create, currency))

    @property
    def shared(self) -> bool:
        return self.db.shared

    @property
    def who(self) -> Who | None:
        """The login on a team's database (SPEC §16), None elsewhere."""
        return self.db.who

    def may_change(self, lead: Lead, changes: dict[str, Any] | None = None) -> None:
        """Refuse, naming the owner, a change the team's rules forbid (the server would refuse it too,
        but silently: an UPDATE that row-level security hides changes no row)."""
        who = self.db.who
        if who is None or who.sees_all:
            return
        if lead.owner != who.login:
            owner = lead.owner or "nobody"
            raise Refused(
                f"{lead.label} is {owner}'s lead: only {owner} or a manager can change it; nothing was changed"
            )
        if changes and changes.get("owner", who.login) != who.login:
            raise Refused(f"only a manager gives a lead to someone else: {lead.label} stays yours; nothing was changed")

    @property
    def currency(self) -> str:
        """The pipeline's currency, as the database records it."""
        return self.db.currency

    @property
    def created(self) -> bool:
        return self.db.created

    @property
    def label(self) -> str:
        """The database as messages name it (a path, or a URL without its password)."""
        return self.db.label

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole pipeline in a new SQLite file, readable by the user only."""
        self.db.backup(target)

    # --- copying a whole pipeline ----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many rows each table holds."""
        return {table: int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLE_COLUMNS}

    def copy_into(self, target: Store, replace: bool) -> dict[str, int]:
        """Every lead, touchpoint and event (ids, history and id sequences included) and the pipeline's
        currency into ``target``, read from one consistent snapshot and written in one transaction,
        checked by counting both sides.
        ``replace`` empties a target that holds a pipeline first; without it such a target is refused."""
        with self.db.snapshot():
            expected = self.counts()
            with target.db.writing():
                found = target.counts()
                if any(found.values()):
                    if not replace:
                        raise DatabaseError(
                            f"{target.label} already holds {found['leads']} leads: --force replaces them"
                        )
                    for table in reversed(TABLE_COLUMNS):
                        target.conn.execute(f"DELETE FROM {table}")
                for table, columns in TABLE_COLUMNS.items():
                    rows = self.db.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}")
                    while chunk := list(itertools.islice(rows, COPY_ROWS)):
                        target.db.insert_rows(table, columns, chunk)
                target.db.set_last_ids(self.db.last_ids())
                # The amounts keep their currency, whatever the target recorded when it was created.
                target.conn.execute("UPDATE settings SET value = ? WHERE key = 'currency'", (self.currency,))
                target.db.currency = self.currency
                if target.counts() != expected:
                    raise DatabaseError(f"the copy into {target.label} does not match its source; nothing was written")
        return expected

    def close(self) -> None:
        self.db.close()

    # --- writing --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, command: str, actor: str | None, now: str) -> Iterator[Store]:
        """Writes and their events, all or nothing.

        All transactions of one Store (one command: a `review --apply` session writes in several,
        so that it never holds the lock while waiting for the user) share one event batch, so
        ``undo`` reverts the command as a whole.
        """
        had_batch = self._batch is not None
        self._command, self._actor, self._now = command, actor, now
        try:
            with self.db.writing():
                yield self
        except BaseException:
            if not had_batch:
                self._batch = None  # its number was never written: another process may take it
            raise

    def _record(self, lead_id: int | None, type_: str, data: dict[str, Any]) -> None:
        if self._batch is None:
            self._batch = self.db.next_batch()
        self.conn.execute(
            "INSERT INTO events (batch, at, command, actor, lead_id, type, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self._batch, self._now, self._command, self._actor, lead_id, type_, json.dumps(data, ensure_ascii=False)),
        )

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        if table == "leads":
            row = {**row, "search": search_column(row["name"], row["company"])}
        names = [name for name in row if not (name == "id" and row[name] is None)]
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) RETURNING id"
        try:
            return int(self.conn.execute(sql, [row[name] for name in names]).fetchone()[0])
        except self.db.integrity_errors as exc:
            raise _integrity(exc) from None

    def _update(self, lead_id: int, columns: dict[str, Any]) -> None:
        if "name" in columns or "company" in columns:
            row = self.conn.execute("SELECT name, company FROM leads WHERE id = ?", (lead_id,)).fetchone()
            if row is None:  # gone: undoing an import deletes its leads before the edits made to them
                return
            current = {"name": row[0], "company": row[1], **columns}
            columns = {**columns, "search": search_column(current["name"], current["company"])}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        try:
            cursor = self.conn.execute(f"UPDATE leads SET {assignments} WHERE id = ?", [*columns.values(), lead_id])
        except self.db.integrity_errors as exc:
            raise _integrity(exc) from None
        self._changed(cursor.rowcount, lead_id)

    def _changed(self, rows: int, lead_id: int) -> None:
        """On a team's database, a change row-level security hid from this login is a refusal."""
        if rows == 0 and self.db.who is not None:
            row = self.conn.execute("SELECT owner FROM leads WHERE id = ?", (lead_id,)).fetchone()
            owner = row[0] if row else "someone else"
            raise Refused(f"lead #{lead_id} is {owner}'s: only {owner} or a manager can change it; nothing was changed")

    # --- bulk (import) ----------------------------------------------------------------------------

    def use_cache(self, mib: int) -> None:
        """Give this connection ``mib`` MiB of page cache: a bulk insert touches index pages all over."""
        self.db.use_cache(mib)

    def is_large_import(self, rows: int) -> bool:
        """Whether adding ``rows`` leads is a bulk load, for ``view_indexes_built_after``: more than the
        pipeline holds, on a database nobody shares (there, dropping an index would lock every reader
        out of the table until the import ends)."""
        return not self.db.shared and self.conn.execute("SELECT count(*) FROM leads").fetchone()[0] < rows

    @contextmanager
    def view_indexes_built_after(self, large: bool, filled: set[str]) -> Iterator[None]:
        """While the new leads of a ``large`` import go in, leave out the indexes only the daily views
        read whose entries for those leads go all over the index (``migrations.scattered``: those placed
        by a column in ``filled``, the columns the leads' rows fill each their own way), and build them
        afresh when the block ends, in the same transaction; should the block fail, the transaction
        rolls back, and the indexes with it. Building such an index from all the rows at once costs less
        than keeping it up for each (1,000,000 leads with their own creation dates: inserted with the
        indexes by first contact and by time in stage kept up, 15.9 s; with them built at the end,
        6.7 s). The others take each new entry beside the last one, which costs less than building
        them (the same leads: 1.2 s against 1.5 s)."""
        from pipectl.migrations import INDEXES, scattered

        present = self.index_names() if large else set()
        deferred = [name for name in scattered(filled) if name in present]
        for name in deferred:
            self.conn.execute(f"DROP INDEX {name}")
        yield
        if deferred:
            # SQLite sorts an index's rows in as much memory as the page cache may take: a smaller
            # cache keeps the peak down (building them for 1,000,000 leads: 21 MiB instead of 77), and
            # sorts no slower. A helper thread sorts beside this one (the file's reader is done by
            # then): the three indexes of 1,000,000 leads with their own dates and values, 3.7 s -> 2.7 s.
            self.db.use_cache(INDEX_SORT_CACHE_MIB)
            self.db.sort_threads(INDEX_SORT_THREADS)
        for name in deferred:
            self.db.run_script(INDEXES[name])

    def last_lead_id(self) -> int:
        """The highest id a lead ever had (ids are never reused): new leads get higher ones."""
        return self.db.last_ids()["leads"]

    def has_emails(self) -> bool:
        """Whether any lead has an email."""
        return self.conn.execute("SELECT 1 FROM leads WHERE email IS NOT NULL LIMIT 1").fetchone() is not None

    def existing_emails(self, emails: list[str]) -> set[str]:
        """Which of ``emails`` a lead already has: a query per 999 (SQLite's least limit of
        parameters; 40 % faster than passing them all as one JSON array)."""
        taken: set[str] = set()
        for start in range(0, len(emails), 999):
            part = emails[start : start + 999]
            # Padded to a power of two (the last email repeated): a few distinct statements, not one
            # per length, each kept prepared (SQLite: 128 of them, 10 MB for lists of this size).
            part += part[-1:] * (min(999, 1 << (len(part) - 1).bit_length()) - len(part))
            marks = ", ".join("?" * len(part))
            sql = (
                f"SELECT email FROM leads WHERE email IN ({marks})"
                f" UNION SELECT email FROM lead_emails WHERE email IN ({marks})"
            )
            taken.update(row[0] for row in self.conn.execute(sql, part + part))
        return taken

    def insert_new_leads(self, columns: Sequence[str], rows: list[Any], notes: list[tuple[int, str, str]]) -> int:
        """Insert ``rows`` of ``columns`` (stored form, ``search`` among them: ``leads.search_column``; none
        may have a taken email) and their first notes (index of the row, at, text); returns the id of the first. Ids are
        consecutive: the write lock is held."""
        first = self.last_lead_id() + 1
        try:
            self.db.insert_rows("leads", columns, rows)
        except self.db.integrity_errors as exc:
            raise _integrity(exc) from None
        if notes:
            self.db.insert_rows(
                "touchpoints",
                ("lead_id", "kind", "at", "created_at", "note"),
                [(first + index, "note", at, at, text) for index, at, text in notes],
            )
        return first

    def merge_leads(self, keep: Lead, other: Lead, changes: dict[str, Any]) -> None:
        """Move ``other``'s touchpoints, history and addresses to ``keep``, delete ``other`` and apply ``changes``
        to ``keep``: one event holding all undo needs (``other``'s whole row, what moved)."""
        self.may_change(keep)
        self.may_change(other)
        moved_points = [r[0] for r in self.conn.execute("SELECT id FROM touchpoints WHERE lead_id = ?", (other.id,))]
        moved_events = [r[0] for r in self.conn.execute("SELECT id FROM events WHERE lead_id = ?", (other.id,))]
        moved_emails = [r[0] for r in self.conn.execute("SELECT email FROM lead_emails WHERE lead_id = ?", (other.id,))]
        self.conn.execute("UPDATE touchpoints SET lead_id = ? WHERE lead_id = ?", (keep.id, other.id))
        self.conn.execute("UPDATE lead_emails SET lead_id = ? WHERE lead_id = ?", (keep.id, other.id))
        self.conn.execute("UPDATE events SET lead_id = ? WHERE lead_id = ?", (keep.id, other.id))
        deleted = lead_to_row(other)
        self._changed(self.conn.execute("DELETE FROM leads WHERE id = ?", (other.id,)).rowcount, other.id)
        # OTHER's main address stays KEEP's (mail from it is still the lead's), as another address.
        kept = [other.email] if other.email and other.email != changes.get("email", keep.email) else []
        for email in kept:
            self.conn.execute("INSERT INTO lead_emails (email, lead_id) VALUES (?, ?)", (email, keep.id))
        # Whoever asked pipectl for no more mail is KEEP now: their opt-out goes with them.
        opted = self.opted_out([keep.id, other.id])
        optout_moved = other.id in opted and keep.id not in opted
        if optout_moved:
            self.conn.execute("UPDATE optouts SET lead_id = ? WHERE lead_id = ?", (keep.id, other.id))
        self.change_lead(
            keep,
            changes,
            "merge",
            deleted=deleted,
            moved_touchpoints=moved_points,
            moved_events=moved_events,
            moved_emails=moved_emails,
            emails_added=kept,
            merged=other.label,
            optout_moved=optout_moved,
        )

    def delete_leads(self, doomed: list[Lead]) -> None:
        """Delete leads and their touchpoints: one ``delete`` event each, holding the lead's whole row
        and its touchpoints' rows, so undo puts them back with the same ids."""
        columns = ", ".join(TOUCHPOINT_COLUMNS)
        for lead in doomed:
            self.may_change(lead)
            points = [
                dict(zip(TOUCHPOINT_COLUMNS, row, strict=True))
                for row in self.conn.execute(
                    f"SELECT {columns} FROM touchpoints WHERE lead_id = ? ORDER BY id", (lead.id,)
                ).fetchall()
            ]
            emails = self.emails_of(lead.id)
            self.conn.execute("DELETE FROM touchpoints WHERE lead_id = ?", (lead.id,))
            self.conn.execute("DELETE FROM lead_emails WHERE lead_id = ?", (lead.id,))
            self._changed(self.conn.execute("DELETE FROM leads WHERE id = ?", (lead.id,)).rowcount, lead.id)
            self._record(lead.id, "delete", {"deleted": lead_to_row(lead), "touchpoints": points, "emails": emails})

    def record_import(self, info: dict[str, Any]) -> None:
        self._record(None, "import", info)

    def record_copy(self, info: dict[str, Any]) -> None:
        """That a whole pipeline was copied in over what was here (``info``: from where, the backup)."""
        self._record(None, "copy", info)

    def duplicate_of(
        self, email: str | None, name: str, company: str | None, source: tuple[str, str] | None = None
    ) -> Lead | None:
        """The lead a new one would duplicate: the same record of the same CRM (``source``: its id and
        system), else the same email, else without one the same name and company, unless that lead
        is another record of the same CRM."""
        if source is not None:
            row = self.conn.execute(
                f"{_SELECT_LEAD} WHERE source_id = ? AND source_system = ? LIMIT 1", source
            ).fetchone()
            if row:
                return lead_from_row(row)
        if email:
            return self.lead_by_email(email)
        nocase = self.db.nocase
        other_record = ""
        params: tuple[str, ...] = (name, company or "")
        if source is not None:
            other_record = " AND (source_id IS NULL OR source_system <> ?)"
            params += (source[1],)
        # The partial index leads_name_company holds exactly the leads without an email.
        row = self.conn.execute(
            f"{_SELECT_LEAD} WHERE {self.db.likely('email IS NULL')} AND {nocase('name')} = {nocase('?')}"
            f" AND {nocase(_NO_COMPANY)} = {nocase('?')}{other_record} LIMIT 1",
            params,
        ).fetchone()
        return lead_from_row(row) if row else None

    def import_of(self, lead_id: int) -> Event | None:
        """The import that brought a lead, if one did."""
        for event in self._events("WHERE type = 'import' AND undone_by IS NULL ORDER BY id DESC", ()):
            first, last = event.data.get("lead_range") or (0, -1)
            if first <= lead_id <= last:
                return event
        return None

    def create_lead(self, lead: Lead) -> Lead:
        """Insert a new lead (its ``id`` is assigned here) and record it."""
        who = self.db.who
        if who is not None and not who.sees_all and lead.owner != who.login:
            raise Refused(f"only a manager adds a lead for someone else ({lead.owner}); nothing was changed")
        row = lead_to_row(lead)
        row["id"] = None
        lead.id = self._insert("leads", row)
        row["id"] = lead.id
        self._record(lead.id, "create", {"lead": row})
        return lead

    def change_lead(
        self,
        lead: Lead,
        changes: dict[str, Any],
        type_: str,
        touchpoint: Touchpoint | None = None,
        **info: Any,
    ) -> Lead:
        """Apply ``changes`` (lead attributes) and, when given, insert ``touchpoint``: one event."""
        self.may_change(lead, changes)
        data: dict[str, Any] = dict(info)
        old = {name: to_column(name, getattr(lead, name)) for name in changes}
        new = {name: to_column(name, value) for name, value in changes.items()}
        if changes:
            self._update(lead.id, new)
            data.update(old=old, new=new)
            for name, value in changes.items():
                setattr(lead, name, value)
        if touchpoint is not None:
            row = {name: getattr(touchpoint, name, None) for name in TOUCHPOINT_COLUMNS}
            row["id"] = None
            row["created_at"] = self._now
            touchpoint.id = row["id"] = self._insert("touchpoints", row)
            data["touchpoint"] = row
        self._record(lead.id, type_, data)
        return lead

    # --- undo -------------------------------------------------------------------------------------

    def last_batch(self, actor: str | None = None) -> list[Event]:
        """The events of the most recent command not yet undone (undo commands themselves excluded);
        with ``actor``, of the most recent command that actor ran (on a shared pipeline, each rep's
        undo reverts their own last change)."""
        sql = "SELECT batch FROM events WHERE undone_by IS NULL AND type <> 'undo'"
        params: tuple[str, ...] = ()
        if actor is not None:
            # On a team's database only the login's own (the log lets no one mark others' undone).
            anyone = "" if self.db.who is not None else " OR actor IS NULL"
            sql, params = sql + f" AND (actor = ?{anyone})", (actor,)
        row = self.conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        if row is None:
            return []
        return self._events("WHERE batch = ? ORDER BY id", (row[0],))

    def changed_since(self, events: list[Event]) -> tuple[int, str | None, str] | None:
        """A later change, still standing, to a lead that ``events`` touched: (lead id, actor, command)
        of the first one, or None. Undoing over it would throw that change away."""
        ids = sorted({event.lead_id for event in events if event.lead_id is not None})
        ranges = [event.data["lead_range"] for event in events if "lead_range" in event.data]
        if not ids and not ranges:
            return None
        touched = [f"lead_id IN ({', '.join('?' for _ in ids)})"] if ids else []
        touched += ["lead_id BETWEEN ? AND ?" for _ in ranges]
        params: list[Any] = [events[-1].id, events[0].batch, *ids, *(bound for pair in ranges for bound in pair)]
        row = self.conn.execute(
            "SELECT lead_id, actor, command FROM events WHERE id > ? AND batch <> ? AND undone_by IS NULL"
            f" AND type <> 'undo' AND ({' OR '.join(touched)}) ORDER BY id LIMIT 1",
            params,
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def revert(self, events: list[Event]) -> None:
        """Undo ``events`` (newest first) and mark them undone by the current batch."""
        for event in reversed(events):
            data = event.data
            if "touchpoint" in data:
                self.conn.execute("DELETE FROM touchpoints WHERE id = ?", (data["touchpoint"]["id"],))
            if "old" in data:
                self._update(event.lead_id or 0, data["old"])
            if "deleted" in data:  # a merge or a delete: bring the lead back with what moved from it
                self._insert("leads", data["deleted"])
                other = data["deleted"]["id"]
                for table, key, column in (
                    ("touchpoints", "moved_touchpoints", "id"),
                    ("events", "moved_events", "id"),
                    ("lead_emails", "moved_emails", "email"),
                ):
                    ids = data.get(key)
                    if ids:  # PostgreSQL refuses an empty IN ()
                        self.conn.execute(
                            f"UPDATE {table} SET lead_id = ? WHERE {column} IN ({', '.join('?' for _ in ids)})",
                            [other, *ids],
                        )
                for point in data.get("touchpoints", []):
                    self._insert("touchpoints", point)
                for email in data.get("emails", []):
                    self.conn.execute("INSERT INTO lead_emails (email, lead_id) VALUES (?, ?)", (email, other))
                if data.get("optout_moved"):
                    self.conn.execute("UPDATE optouts SET lead_id = ? WHERE lead_id = ?", (other, event.lead_id))
            self._revert_mail(event)
            if "lead" in data:
                self.conn.execute("DELETE FROM leads WHERE id = ?", (event.lead_id,))
            if "lead_range" in data:
                self.conn.execute("DELETE FROM touchpoints WHERE lead_id BETWEEN ? AND ?", data["lead_range"])
                self.conn.execute("DELETE FROM lead_emails WHERE lead_id BETWEEN ? AND ?", data["lead_range"])
                self.conn.execute("DELETE FROM leads WHERE id BETWEEN ? AND ?", data["lead_range"])
        first = events[0]
        # The Maildir files a sync read while it logged: forgotten, so that running it again logs them again.
        self.conn.execute("DELETE FROM mail_seen WHERE batch = ?", (first.batch,))
        self._record(None, "undo", {"batch": first.batch, "command": first.command})
        self.conn.execute("UPDATE events SET undone_by = ? WHERE batch = ?", (self._batch, first.batch))

    # --- reading ----------------------------------------------------------------------------------

    def get_lead(self, lead_id: int) -> Lead | None:
        row = self.conn.execute(_SELECT_LEAD + " WHERE id = ?", (lead_id,)).fetchone()
        return lead_from_row(row) if row else None

    def lead_by_email(self, email: str) -> Lead | None:
        """The lead that has ``email`` as its main address or as one of its others."""
        address = email.strip().lower()
        row = self.conn.execute(_SELECT_LEAD + " WHERE email = ?", (address,)).fetchone()
        if row is None:
            row = self.conn.execute(
                _SELECT_LEAD + " WHERE id = (SELECT lead_id FROM lead_emails WHERE email = ?)", (address,)
            ).fetchone()
        return lead_from_row(row) if row else None

    def leads_matching(self, text: str, limit: int = 50) -> list[Lead]:
        """Leads whose name or company contains ``text`` without regard to case, width or (in CJK
        scripts) spaces (``leads.search_query``), open ones first."""
        like = self.db.like
        rows = self.conn.execute(
            f"{_SELECT_LEAD} WHERE search LIKE :text ESCAPE '\\' OR (search IS NULL AND"
            f" (name {like} :text ESCAPE '\\' OR company {like} :text ESCAPE '\\'))"
            " ORDER BY status <> 'open', id LIMIT :limit",
            {"text": _like_pattern(search_query(text)), "limit": limit},
        ).fetchall()
        return [lead_from_row(row) for row in rows]

    def list_leads(
        self,
        where: Filter,
        sort: str = "id",
        desc: bool = False,
        limit: int | None = None,
        stage_order: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Lead]:
        """Leads matching ``where``, sorted by a key of SORT_KEYS (``stage`` in ``stage_order``); with a
        ``limit``, a page of them from ``offset``."""
        clauses, params = self._filter_sql(where)
        if sort == "id" and limit is not None and len(clauses) == 1 and where.statuses is not None:
            # By status alone, a page in id order is read from the table in that order: most leads have
            # the status asked for, and SQLite (no statistics) would rather sort them all from a status
            # index (100,000 open leads: 10 ms instead of nothing).
            clauses = [f"({clause}) IS TRUE" for clause in clauses]
        sql = _SELECT_LEAD + (" WHERE " + " AND ".join(clauses) if clauses else "")
        if sort == "stage":
            term = stage_case((name, rank) for rank, name in enumerate(stage_order))
        else:
            column, _, nocase = SORT_KEYS[sort].partition(" ")
            term = self.db.nocase(column) if nocase else column
        direction = " DESC" if desc else ""
        if sort == "id":  # never empty, never tied: in the order of the table itself, read only to the page
            sql += f" ORDER BY id{direction}"
        else:  # empty values sort last whichever way; id breaks ties so the order is stable
            sql += f" ORDER BY {term} IS NULL, {term}{direction}, id{direction}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [lead_from_row(row) for row in self.conn.execute(sql, params)]

    def count_leads(self, where: Filter) -> int:
        """How many leads match ``where`` (what a page of ``list_leads`` is out of)."""
        clauses, params = self._filter_sql(where)
        sql = "SELECT count(*) FROM leads" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return int(self.conn.execute(sql, params).fetchone()[0])

    @staticmethod
    def _open(owner: str | None, indexed: bool = True) -> tuple[str, list[Any]]:
        """The open leads (of ``owner``). The status is written so that no index can start from it
        (``(status = 'open') IS TRUE``) with an owner, so that the query starts from the owner's leads
        (leads_owner_status): a rep's command costs what the rep's leads cost; and, without
        ``indexed``, for a query no status index serves in its order: read the table through. SQLite,
        without statistics, would otherwise walk every open lead of a status index, each read out of
        order (measured at 1,000,000 leads: 19 s instead of 0.6)."""
        if owner is not None:
            return "owner = ? AND (status = 'open') IS TRUE", [owner]
        return ("status = 'open'" if indexed else "(status = 'open') IS TRUE"), []

    def _awake(self, now: str, owner: str | None, indexed: bool = True) -> tuple[str, list[Any]]:
        """The open leads not snoozed at ``now`` (of ``owner``): what the review and today look at."""
        sql, params = self._open(owner, indexed)
        return f"{sql} AND (snoozed_until IS NULL OR snoozed_until <= ?)", [*params, now]

    def _sparse(self, where: str, params: list[Any], order: str, limit: int | None, reads: set[str]) -> Iterator[Lead]:
        """The leads' id, name, stage and the fields in ``reads`` (of ``BRIEF_COLUMNS`` but the value), as
        named tuples: a field costs its share of the time, and a kind of the review reads a few of them,
        of 100,000 leads; streamed in ``order``."""
        columns = ("id", "name", "stage", *(column for column in BRIEF_COLUMNS[3:] if column in reads))
        sql = f"SELECT {', '.join(columns)} FROM leads WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        make = _sparse_lead(columns)._make
        flag = columns.index("qualified") if "qualified" in columns else None
        for row in self.db.stream(sql, params):
            if flag is not None and row[flag] is not None:
                row = (*row[:flag], bool(row[flag]), *row[flag + 1 :])
            yield make(row)

    @staticmethod
    def _kinds_sql(rules: Rules) -> dict[str, list[Variant]]:
        """Each lead-level kind of the review as SQL: per variant (a branch of ``review.lead_findings``),
        the condition, its parameters, the order of its urgency (most urgent first, then id) and
        whether an index that leads with the status serves that order (migration 8)."""
        cut = rules.cut

        def among(names: Sequence[str]) -> str:
            return f"stage IN ({', '.join('?' for _ in names)})"

        in_stage = [
            ("stage = ? AND stage_entered_at < ?", [name, entered]) for name, entered in cut.stage_entered.items()
        ]
        any_in_stage = " OR ".join(f"({sql})" for sql, _ in in_stage) or "1 = 0"
        any_params = [value for _, params in in_stage for value in params]
        unqualified = "(qualified IS NULL OR qualified = 0)"
        forced = f"{unqualified} AND {among(rules.past_gate)}" if rules.past_gate else "1 = 0"
        answered = "last_chance_at IS NOT NULL AND last_chance_at <= ?"
        kinds: dict[str, list[Variant]] = {
            "overdue": [("next_action_due <= ?", [cut.now], "next_action_due, id", True)],
            "uncontacted": [
                ("last_outbound_at IS NULL AND created_at <= ?", [cut.uncontacted], "created_at, id", True)
            ],
            "close_out": [
                (answered, [cut.last_chance], "last_chance_at, id", False),
                (
                    "created_at < ? AND (last_chance_at IS NULL OR last_chance_at > ?)",
                    [cut.cycle, cut.last_chance],
                    "created_at, id",
                    False,
                ),
            ],
            "last_chance": [
                ("last_chance_at IS NULL AND attempts >= ?", [rules.max_attempts], "attempts DESC, id", False)
            ],
            "stale": [
                *((sql, params, "stage_entered_at, id", True) for sql, params in in_stage),
                (
                    f"NOT ({any_in_stage}) AND COALESCE(last_touch_at, created_at) <= ?"
                    " AND (next_action_due IS NULL OR next_action_due <= ?)",
                    [*any_params, cut.idle, cut.now],
                    "COALESCE(last_touch_at, created_at), id",
                    False,
                ),
            ],
            "no_next_step": [
                (
                    f"next_action_due IS NULL AND {among(rules.later_stages)}",
                    [*rules.later_stages],
                    "stage_entered_at, id",
                    False,
                )
            ]
            if rules.later_stages
            else [],
            "unqualified_effort": [
                (
                    f"{unqualified} AND NOT ({forced}) AND touch_count >= ?",
                    [*rules.past_gate, rules.max_unqualified_touches],
                    "touch_count DESC, id",
                    False,
                )
            ],
        }
        if rules.past_gate:
            kinds["unqualified_effort"].append(
                (
                    forced,
                    [*rules.past_gate],
                    f"{stage_case((name, rank) for rank, name in enumerate(rules.past_gate))} DESC, id",
                    False,
                )
            )
        return kinds

    def finding_leads(
        self, rules: Rules, kind: str, owner: str | None, limit: int | None, counts: Sequence[int]
    ) -> list[Iterator[Lead]]:
        """The awake open leads (of ``owner``) a lead-level ``kind`` of the review finds: one stream
        per variant, each most urgent first, at most ``limit`` each; a variant that ``counts`` (of
        ``finding_counts``) says is empty is not read."""
        streams = []
        for (sql, values, order, indexed), count in zip(self._kinds_sql(rules)[kind], counts, strict=True):
            if count:
                awake, params = self._awake(rules.cut.now, owner, indexed)
                where = f"{awake} AND {sql}"
                streams.append(self._sparse(where, [*params, *values], order, limit, rules.reads[kind]))
        return streams

    def finding_counts(self, rules: Rules, owner: str | None) -> dict[str, list[int]]:
        """How many awake open leads (of ``owner``) each variant of each lead-level kind finds (the
        variants of a kind exclude each other), in one pass."""
        awake, params = self._awake(rules.cut.now, owner, indexed=False)
        kinds = self._kinds_sql(rules)
        variants = [variant for kind in kinds.values() for variant in kind]
        # FILTER rather than SUM(CASE ...): a fifth less time over 100,000 leads (SQLite 3.30+, PostgreSQL).
        terms = ", ".join(f"COUNT(*) FILTER (WHERE {variant[0]})" for variant in variants)
        values = [value for variant in variants for value in variant[1]]
        row = iter(self.conn.execute(f"SELECT {terms} FROM leads WHERE {awake}", [*values, *params]).fetchone())
        return {kind: [int(next(row) or 0) for _ in variants_] for kind, variants_ in kinds.items()}

    def stage_totals(self, owner: str | None = None) -> dict[str, tuple[int, Decimal]]:
        """The open leads (of ``owner``; snoozed ones too) per stage: how many, and their total value."""
        where, params = self._open(owner)
        rows = self.conn.execute(
            f"SELECT stage, count(*), COALESCE(SUM(value), 0) FROM leads WHERE {where} GROUP BY stage", params
        )
        return {row[0]: (int(row[1]), from_hundredths(row[2])) for row in rows}

    def column(self, stage: str, owner: str | None = None, limit: int | None = None) -> Iterator[Lead]:
        """The open leads of a board column (of ``owner``), streamed: the most valuable first, those
        without a value last, then the newest; at most ``limit``. Read in two parts, each in the order
        of the (status, stage, value) index, so the top of a long column costs what it shows."""
        where, params = self._open(owner)
        where, params = f"{where} AND stage = ?", [*params, stage]
        shown = 0
        for part, order in (("value IS NOT NULL", "value DESC, id DESC"), ("value IS NULL", "id DESC")):
            if limit is not None and shown >= limit:
                return
            sql = f"{_SELECT_LEAD} WHERE {where} AND {part} ORDER BY {order}"
            values = params if limit is None else [*params, limit - shown]
            for row in self.db.stream(sql if limit is None else sql + " LIMIT ?", values):
                shown += 1
                yield lead_from_row(row)

    def agenda(
        self,
        now: str,
        day: tuple[str, str],
        probabilities: Iterable[tuple[str, float]],
        best: int,
        limit: int | None,
        owner: str | None = None,
    ) -> tuple[list[Lead], dict[str, int]]:
        """What today's plan is made of, without loading every open lead: the first ``limit`` of each
        section of ``agenda.plan`` (overdue, never contacted, due today or back from a snooze ``day``
        = its first and last second) in the section's order, and the ``best`` others by weighted
        value; and how many awake open leads each of those three sections holds."""
        not_overdue = "(next_action_due IS NULL OR next_action_due > ?)"
        contacted = f"{not_overdue} AND last_outbound_at IS NOT NULL"
        # Each section in parts that an index serves, in their order and for their count (the indexes
        # of migration 8 hold the columns these conditions read): due today and back from a snooze
        # today apart, and, without an index to start from, the few snoozed leads by leads_snoozed.
        parts = [
            ("overdue", "next_action_due <= ?", [now], "next_action_due, id", True),
            ("uncontacted", f"{not_overdue} AND last_outbound_at IS NULL", [now], "created_at DESC, id DESC", True),
            ("due_today", f"{contacted} AND next_action_due <= ?", [now, day[1]], "next_action_due, id", True),
            (
                "due_today",
                f"{contacted} AND snoozed_until >= ? AND (next_action_due IS NULL OR next_action_due > ?)",
                [now, day[0], day[1]],
                "COALESCE(next_action_due, ''), id",
                False,
            ),
        ]
        leads: list[Lead] = []
        counts = dict.fromkeys(("overdue", "uncontacted", "due_today"), 0)
        for section, sql, values, order, indexed in parts:
            awake, params = self._awake(now, owner, indexed)
            where, where_params = f"{awake} AND {sql}", [*params, *values]
            leads += self._full(where, where_params, order, limit)
            if section == "uncontacted" and owner is None:
                counts[section] += self._uncontacted(now)
            else:
                counts[section] += self._count(where, where_params)
        return leads + self._closest(now, day, probabilities, best, owner), counts

    def _count(self, where: str, params: list[Any]) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM leads WHERE {where}", params).fetchone()[0])

    def _uncontacted(self, now: str) -> int:
        """How many awake open leads were never contacted and have no step overdue: those never
        contacted, less the snoozed and the overdue among them, each few counted from the index that
        finds them (leads_snoozed, leads_status_due) rather than every lead tested for them (100,000
        untouched leads: 3 ms instead of 9). On SQLite, which counts a whole table by its pages, those
        never contacted are all the leads less the closed and the contacted ones, few in a list nobody
        worked (1 ms instead of 3.7 with a cold cache, as every command starts)."""
        never = "status = 'open' AND last_outbound_at IS NULL"
        asleep = "(status = 'open') IS TRUE AND last_outbound_at IS NULL AND snoozed_until > ?"  # by leads_snoozed
        if self.db.file is None:  # a server: it counts a table by reading it
            all_never = self._count(never, [])
        else:
            all_never = (
                int(self.conn.execute("SELECT count(*) FROM leads").fetchone()[0])
                - sum(self.closed_counts().values())
                - self._count("status = 'open' AND last_outbound_at IS NOT NULL", [])
            )
        return (
            all_never
            - self._count(asleep, [now])
            - self._count(f"{never} AND next_action_due <= ?", [now])
            + self._count(f"{asleep} AND next_action_due <= ?", [now, now])
        )

    def _closest(
        self, now: str, day: tuple[str, str], probabilities: Iterable[tuple[str, float]], best: int, owner: str | None
    ) -> list[Lead]:
        """The ``best`` awake open leads by weighted value among those in no section of today's plan:
        the best of each stage by value (the weight is the stage's), then, when those are fewer, the
        ones whose weighted value is nothing (no probability, or a stage no longer configured)."""
        rest = (
            "(next_action_due IS NULL OR next_action_due > ?) AND last_outbound_at IS NOT NULL"
            " AND (snoozed_until IS NULL OR snoozed_until < ?) AND value > 0"
        )
        weighted = [name for name, probability in probabilities if probability > 0]
        leads: list[Lead] = []
        awake, params = self._awake(now, owner)
        for name in weighted:
            where = f"{awake} AND {rest} AND stage = ?"
            leads += self._full(where, [*params, day[1], day[0], name], "value DESC, id", best)
        others = [stage for stage in self._open_stages(owner) if stage not in weighted] if len(leads) < best else []
        if others:
            where = f"{awake} AND {rest} AND stage IN ({', '.join('?' for _ in others)})"
            leads += self._full(where, [*params, day[1], day[0], *others], "id", best)
        return leads

    def _open_stages(self, owner: str | None) -> list[str]:
        """The stages open leads (of ``owner``) are in, in order: each found by one step in an index that
        begins with the status and stage (or the owner, status and stage), not by reading every open lead."""
        mine, params = ("owner = ? AND ", [owner, owner]) if owner is not None else ("", [])
        sql = (
            f"WITH RECURSIVE present(stage) AS (SELECT min(stage) FROM leads WHERE {mine}status = 'open'"
            f" UNION ALL SELECT (SELECT min(stage) FROM leads WHERE {mine}status = 'open' AND stage > present.stage)"
            " FROM present WHERE present.stage IS NOT NULL) SELECT stage FROM present WHERE stage IS NOT NULL"
        )
        return [row[0] for row in self.conn.execute(sql, params)]

    def _full(self, where: str, params: list[Any], order: str, limit: int | None) -> list[Lead]:
        sql = f"{_SELECT_LEAD} WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return [lead_from_row(row) for row in self.conn.execute(sql, params)]

    def report_facts(self, owner: str | None = None) -> tuple[list[LeadFacts], list[Move]]:
        """What the report reads: every lead's facts (of ``owner``), and every move of theirs in the
        event log (stage changes, closes, reopens, disqualifications) that still stands, in order."""
        from pipectl.metrics import LeadFacts, Move

        mine, params = ("", []) if owner is None else (" WHERE owner = ?", [owner])
        leads = [
            LeadFacts(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                None if row[5] is None else from_hundredths(row[5]),
                row[6],
                row[7],
                row[8],
                row[9],
                row[10],
                tuple(_json_or_empty(row[11], "[]")),
            )
            for row in self.conn.execute(
                "SELECT id, created_at, stage, status, closed_at, value, touch_count, lost_reason, expected_close,"
                f" source, owner, tags FROM leads{mine}",
                params,
            )
        ]
        kinds = {"stage": "stage", "won": "won", "lost": "lost", "reopen": "reopen", "qualify": "disqualified"}
        theirs = "" if owner is None else " AND lead_id IN (SELECT id FROM leads WHERE owner = ?)"
        field = functools.partial(self.db.json_text, "data")
        rows = self.conn.execute(
            f"SELECT lead_id, at, type, {field('to')}, {field('from')}, {field('stage')} FROM events"
            " WHERE undone_by IS NULL AND (type IN ('stage', 'won', 'lost', 'reopen')"
            f" OR (type = 'qualify' AND {field('verdict')} = 'disqualified')){theirs} ORDER BY lead_id, id",
            params,
        )
        moves = [Move(row[0], row[1], kinds[row[2]], row[3] or row[5], row[4]) for row in rows]
        return leads, moves

    # --- the report's aggregates (SPEC §8), counted in the database -----------------------------------

    def _stays(self, owner: str | None) -> tuple[str, list[Any]]:
        """A ``WITH`` clause naming ``stays``: every stretch a lead (of ``owner``) spent in a stage, rebuilt
        from its creation and its moves in the event log, as ``metrics.visits`` rebuilds them (its rules,
        in SQL): ``stage``, ``entered``, ``left_at`` (NULL: still there), ``exit`` and the lead's ``value``.
        A stage move without a destination changes nothing; the first stage move's origin is where the
        lead started; a close ends the stay; a reopen starts one."""
        field = functools.partial(self.db.json_text, "data")
        theirs, mine, params = "", "", []
        if owner is not None:
            theirs, mine, params = " AND lead_id IN (SELECT id FROM leads WHERE owner = ?)", " AND l.owner = ?", [owner]

        def origin(lead: str) -> str:  # where the lead's first stage move says it came from, or its stage
            first = (
                f"SELECT NULLIF({field('from')}, '') FROM events WHERE lead_id = {lead} AND type = 'stage'"
                " AND undone_by IS NULL ORDER BY id LIMIT 1"
            )
            return f"COALESCE(({first}), l.stage)"

        sql = f"""WITH moves AS (
            SELECT lead_id, id, at, CASE type WHEN 'qualify' THEN 'disqualified' ELSE type END AS kind,
                COALESCE(NULLIF({field("to")}, ''), NULLIF({field("stage")}, '')) AS dest
            FROM events WHERE undone_by IS NULL AND (type IN ('stage', 'won', 'lost', 'reopen')
                OR (type = 'qualify' AND {field("verdict")} = 'disqualified')){theirs}
        ), moved AS (
            SELECT DISTINCT lead_id FROM moves
        ), steps AS (
            SELECT lead_id, at, kind, dest, LAG(kind) OVER w AS before_kind, LAG(dest) OVER w AS before_dest,
                LAG(at) OVER w AS before_at, LEAD(id) OVER w AS next_id
            FROM moves WHERE kind <> 'stage' OR dest IS NOT NULL
            WINDOW w AS (PARTITION BY lead_id ORDER BY id)
        ), stays AS (
            SELECT * FROM (
                SELECT CASE WHEN s.before_kind IS NULL THEN {origin("s.lead_id")}
                        WHEN s.before_kind = 'stage' THEN s.before_dest
                        WHEN s.before_kind = 'reopen' THEN COALESCE(s.before_dest, l.stage) END AS stage,
                    COALESCE(s.before_at, l.created_at) AS entered, s.at AS left_at,
                    CASE s.kind WHEN 'stage' THEN s.dest ELSE s.kind END AS exit, NULLIF(l.value, 0) AS value
                FROM steps s JOIN leads l ON l.id = s.lead_id
                WHERE s.kind <> 'reopen'{mine}
                UNION ALL
                SELECT CASE WHEN s.lead_id IS NOT NULL THEN (CASE s.kind WHEN 'stage' THEN s.dest
                        WHEN 'reopen' THEN COALESCE(s.dest, l.stage) END)
                        WHEN m.lead_id IS NOT NULL THEN {origin("l.id")} ELSE l.stage END,
                    COALESCE(s.at, l.created_at), CASE WHEN l.status = 'open' THEN NULL ELSE l.closed_at END,
                    CASE WHEN l.status = 'open' THEN NULL ELSE l.status END, NULLIF(l.value, 0)
                FROM leads l LEFT JOIN steps s ON s.lead_id = l.id AND s.next_id IS NULL
                    LEFT JOIN moved m ON m.lead_id = l.id
                WHERE (l.status = 'open' OR (l.status IN {_CLOSED}
                    AND l.closed_at IS NOT NULL AND l.closed_at <> '')) IS TRUE{mine}
            ) AS all_stays WHERE stage IS NOT NULL
        )"""
        return sql, [*params, *params, *params]

    def stays(
        self,
        owner: str | None,
        moments: Sequence[str],
        limits: dict[str, str],
        since: str,
        until: str,
        counts: dict[str, StageCount],
    ) -> Iterator[tuple[str, str, str, str]]:
        """What the report reads of the stays of ``owner``'s leads in stages, in one statement (they
        are rebuilt once): each stay that ended from ``since`` to ``until`` (both included), as stage,
        entered, left, where the lead went (streamed, in no set order, as plain rows: a report reads
        a hundred thousand of them); and, into ``counts`` as they come, per stage, the leads open in it
        at each of ``moments``, how many and their total value, and how many of those at the first
        moment entered it before its ``limits`` time (``stale``: in it too long)."""
        at = "entered <= ? AND (left_at IS NULL OR left_at > ?)"
        limit = " ".join("WHEN ? THEN ?" for _ in limits)
        columns = [f"SUM(CASE WHEN {at} THEN 1 ELSE 0 END), SUM(CASE WHEN {at} THEN value END)" for _ in moments]
        stale = f"SUM(CASE WHEN {at} AND entered < (CASE stage {limit} END) THEN 1 ELSE 0 END)" if limits else "0"
        empty = ", ".join("NULL" for _ in range(2 * len(moments) + 1))
        sql, params = self._stays(owner)
        rows = self.db.stream(
            f"{sql} SELECT stage, entered, left_at, exit, {empty} FROM stays WHERE left_at >= ? AND left_at <= ?"
            f" UNION ALL SELECT stage, NULL, NULL, NULL, {', '.join(columns)}, {stale} FROM stays WHERE {at}"
            " GROUP BY stage",
            [
                *params,
                since,
                until,
                *(moment for moment in moments for _ in range(4)),
                *([moments[0], moments[0], *itertools.chain.from_iterable(limits.items())] if limits else []),
                max(moments),  # only the stays open at one of the moments count (a third of them)
                min(moments),
            ],
        )
        for row in rows:
            if row[1] is None:  # a stage's count (a stay has always entered)
                counted = [(int(row[4 + 2 * n]), _money(row[5 + 2 * n])) for n in range(len(moments))]
                counts[row[0]] = StageCount(counted, int(row[-1]))
            else:
                yield row[:4]

    @staticmethod
    def _closed(status: str, owner: str | None, since: str, until: str, until_included: bool) -> tuple[str, list[Any]]:
        end = "<=" if until_included else "<"
        where = f"status = ? AND closed_at >= ? AND closed_at {end} ?"
        params: list[Any] = [status, since, until]
        if owner is not None:
            where, params = f"owner = ? AND {where}", [owner, *params]
        return where, params

    def won_value(self, owner: str | None, since: str, before: str) -> Decimal:
        """The value of the leads (of ``owner``) won from ``since`` to just ``before``."""
        where, params = self._closed("won", owner, since, before, until_included=False)
        return _money(self.conn.execute(f"SELECT SUM(NULLIF(value, 0)) FROM leads WHERE {where}", params).fetchone()[0])

    def won_deals(self, owner: str | None, since: str, until: str) -> Iterator[tuple[Decimal, int, str, str]]:
        """The leads (of ``owner``) won from ``since`` to ``until``, both included: value (0 without
        one), touchpoints, created, closed; streamed."""
        where, params = self._closed("won", owner, since, until, until_included=True)
        sql = f"SELECT value, touch_count, created_at, closed_at FROM leads WHERE {where}"
        for value, touches, created, closed in self.db.stream(sql, params):
            yield (from_hundredths(value) if value else Decimal(0)), touches, created, closed

    def lost(self, owner: str | None, since: str, until: str) -> list[tuple[str | None, int, Decimal]]:
        """The leads (of ``owner``) lost from ``since`` to ``until``, per reason: how many, their value."""
        where, params = self._closed("lost", owner, since, until, until_included=True)
        rows = self.conn.execute(
            f"SELECT lost_reason, COUNT(*), SUM(NULLIF(value, 0)) FROM leads WHERE {where} GROUP BY lost_reason", params
        )
        return [(row[0], int(row[1]), _money(row[2])) for row in rows]

    def status_counts(self, owner: str | None = None) -> dict[str, int]:
        """How many leads (of ``owner``) have each status."""
        mine, params = ("", []) if owner is None else (" WHERE owner = ?", [owner])
        return {
            row[0]: int(row[1])
            for row in self.conn.execute(f"SELECT status, COUNT(*) FROM leads{mine} GROUP BY status", params)
        }

    def expected_closes(self, owner: str | None, months: Sequence[str]) -> list[tuple[str, str, int, Decimal]]:
        """The open leads (of ``owner``) expected to close in ``months`` (YYYY-MM), per month and stage:
        how many, their value."""
        where, params = self._open(owner, indexed=False)
        rows = self.conn.execute(
            f"SELECT substr(expected_close, 1, 7), stage, COUNT(*), SUM(NULLIF(value, 0)) FROM leads WHERE {where}"
            f" AND substr(expected_close, 1, 7) IN ({', '.join('?' for _ in months)}) GROUP BY 1, 2",
            [*params, *months],
        )
        return [(row[0], row[1], int(row[2]), _money(row[3])) for row in rows]

    def _filter_sql(self, where: Filter) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if where.statuses is not None:
            clauses.append(f"status IN ({', '.join('?' for _ in where.statuses)})")
            params.extend(where.statuses)
        if where.stage is not None:
            clauses.append("stage = ?")
            params.append(where.stage)
        if where.owner is not None:
            clauses.append("owner = ?")
            params.append(where.owner)
        if where.tag is not None:
            clauses.append(self.db.has_tag())
            params.append(where.tag)
        if where.qualified is not None:
            clauses.append("qualified = 1" if where.qualified else "(qualified IS NULL OR qualified = 0)")
        return clauses, params

    # --- health (doctor) ---------------------------------------------------------------------------

    def integrity(self) -> list[str]:
        """What the database's integrity and reference checks report (empty: healthy)."""
        return self.db.integrity()

    def create_missing_indexes(self) -> None:
        from pipectl.migrations import INDEXES

        present = self.index_names()
        for name, ddl in INDEXES.items():
            if name not in present:  # creating one, even "IF NOT EXISTS", is for the tables' owner only
                self.db.run_script(ddl)

    def index_names(self) -> set[str]:
        return self.db.index_names()

    def schema_version(self) -> int:
        return self.db.schema_version()

    def stages_in_use(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT stage, count(*) FROM leads WHERE status = 'open' GROUP BY stage")
        return {row[0]: row[1] for row in rows}

    def activity(self) -> Iterator[tuple[Lead, list[Touchpoint]]]:
        """Every lead with its touchpoints (streamed in id order; touchpoints in time order)."""
        points = iter(self.iter_touchpoints())
        pending = next(points, None)
        for lead in self.iter_leads():
            own = []
            while pending is not None and pending.lead_id <= lead.id:
                if pending.lead_id == lead.id:
                    own.append(pending)
                pending = next(points, None)
            yield lead, own

    def won_cycles(self, owner: str | None = None) -> list[tuple[str, str]]:
        """(created_at, closed_at) of every won lead (of ``owner``)."""
        mine, params = _owned(owner)
        rows = self.conn.execute(
            f"SELECT created_at, closed_at FROM leads WHERE status = 'won' AND closed_at IS NOT NULL{mine}", params
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def closed_counts(self, owner: str | None = None) -> dict[str, int]:
        mine, params = _owned(owner)
        sql = f"SELECT status, count(*) FROM leads WHERE status IN {_CLOSED}{mine} GROUP BY status"
        rows = self.conn.execute(sql, params)
        return {row[0]: row[1] for row in rows}

    def won_value_between(self, start: str, end: str, owner: str | None = None) -> Decimal:
        mine, params = _owned(owner)
        row = self.conn.execute(
            "SELECT COALESCE(SUM(value), 0) FROM leads WHERE status = 'won' AND closed_at >= ? AND closed_at < ?"
            + mine,
            [start, end, *params],
        ).fetchone()
        return from_hundredths(row[0])

    def iter_leads(self) -> Iterator[Lead]:
        """Every lead in id order, streamed (export: memory stays flat)."""
        for row in self.db.stream(_SELECT_LEAD + " ORDER BY id"):
            yield lead_from_row(row)

    def iter_touchpoints(self) -> Iterator[Touchpoint]:
        rows = self.db.stream(
            "SELECT id, lead_id, kind, at, direction, outcome, note, external_id FROM touchpoints"
            " ORDER BY lead_id, at, id"
        )
        for row in rows:
            yield Touchpoint(*row)

    def touchpoints_of(self, lead_id: int) -> list[Touchpoint]:
        rows = self.conn.execute(
            "SELECT id, lead_id, kind, at, direction, outcome, note, external_id FROM touchpoints"
            " WHERE lead_id = ? ORDER BY at, id",
            (lead_id,),
        )
        return [Touchpoint(*row) for row in rows]

    def history_of(self, lead_id: int) -> list[Event]:
        """The lead's recorded changes that still stand (undone ones left out), oldest first."""
        return self._events("WHERE lead_id = ? AND undone_by IS NULL ORDER BY id", (lead_id,))

    def _events(self, where: str, params: Sequence[Any]) -> list[Event]:
        rows = self.conn.execute(
            "SELECT id, batch, at, command, type, lead_id, data FROM events " + where, params
        ).fetchall()
        return [Event(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6])) for row in rows]

    # --- a lead's other addresses, bounces and mail sync state (SPEC §12) --------------------------------

    def emails_of(self, lead_id: int) -> list[str]:
        """A lead's other addresses (its main one is ``Lead.email``), sorted."""
        rows = self.conn.execute("SELECT email FROM lead_emails WHERE lead_id = ? ORDER BY email", (lead_id,))
        return [row[0] for row in rows]

    def other_emails_of(self, lead_ids: Sequence[int]) -> dict[int, list[str]]:
        """The other addresses of ``lead_ids`` (those that have any), each lead's sorted."""
        found: dict[int, list[str]] = {}
        for lead_id, email in self._rows_in("SELECT lead_id, email FROM lead_emails WHERE lead_id IN ({})", lead_ids):
            found.setdefault(lead_id, []).append(email)
        return {lead_id: sorted(emails) for lead_id, emails in found.items()}

    def change_emails(self, lead: Lead, added: list[str], removed: list[str], changes: dict[str, Any]) -> None:
        """Give ``lead`` the other addresses ``added`` and take ``removed`` away (and apply ``changes``):
        one event, which undo reverses."""
        for email in removed:
            self.conn.execute("DELETE FROM lead_emails WHERE email = ? AND lead_id = ?", (email, lead.id))
        for email in added:
            try:
                self.conn.execute("INSERT INTO lead_emails (email, lead_id) VALUES (?, ?)", (email, lead.id))
            except self.db.integrity_errors as exc:
                raise _integrity(exc) from None
        self.change_lead(lead, changes, "edit", emails_added=added, emails_removed=removed)

    def add_other_emails(self, lead_id: int, emails: Sequence[str]) -> None:
        """Give a lead the import just inserted its other addresses (no lead has them): the import's
        event owns them, as it owns the lead (undo deletes its range's)."""
        for email in emails:
            self.conn.execute("INSERT INTO lead_emails (email, lead_id) VALUES (?, ?)", (email, lead_id))

    def other_addresses(self) -> dict[int, list[str]]:
        """Every lead's other addresses, sorted (for the export)."""
        found: dict[int, list[str]] = {}
        for email, lead_id in self.conn.execute("SELECT email, lead_id FROM lead_emails ORDER BY email"):
            found.setdefault(lead_id, []).append(email)
        return found

    def all_addresses(self) -> Iterator[tuple[str, int]]:
        """Every address a lead has (main and others) with the lead's id: what mail is matched against."""
        for sql in ("SELECT email, id FROM leads WHERE email IS NOT NULL", "SELECT email, lead_id FROM lead_emails"):
            for row in self.db.stream(sql):
                yield row[0], row[1]

    def bounces_of(self, emails: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Of ``emails``, those that bounced: address -> (when, the bounce's Message-ID)."""
        rows = self._rows_in("SELECT email, at, message_id FROM bounces WHERE email IN ({})", emails)
        return {row[0]: (row[1], row[2]) for row in rows}

    def mark_bounced(self, lead: Lead, email: str, at: str, message_id: str) -> None:
        """Record that ``email`` (one of ``lead``'s addresses) bounced: one event, which undo reverses."""
        old = self.bounces_of([email]).get(email)
        self.conn.execute(
            "INSERT INTO bounces (email, at, message_id) VALUES (?, ?, ?)"
            " ON CONFLICT (email) DO UPDATE SET at = excluded.at, message_id = excluded.message_id",
            (email, at, message_id),
        )
        self._record(lead.id, "bounce", {"bounce": [email, at, message_id], "was": list(old) if old else None})

    def bad_email_leads(self) -> dict[int, str]:
        """Open leads whose main address bounced and whose other addresses all bounced too (or that have
        none): lead id -> the main address. Read from the bounces (few) to their leads, never the other
        way: from a status index, SQLite would test every open lead of a team (1,000,000: 3 s)."""
        rows = self.conn.execute(
            "SELECT l.id, l.email FROM bounces b CROSS JOIN leads l WHERE l.email = b.email"
            " AND (l.status = 'open') IS TRUE AND NOT EXISTS (SELECT 1 FROM lead_emails e WHERE e.lead_id = l.id"
            " AND NOT EXISTS (SELECT 1 FROM bounces o WHERE o.email = e.email))"
        )
        return {row[0]: row[1] for row in rows}

    def logged_leads(self, external_id: str) -> set[int]:
        """The leads a touchpoint with this source id (a Message-ID) was already logged for."""
        rows = self.conn.execute("SELECT lead_id FROM touchpoints WHERE external_id = ?", (external_id,))
        return {row[0] for row in rows}

    def seen_names(self, mailbox: str) -> set[str]:
        """The Maildir file names a sync of ``mailbox`` already read."""
        return {row[0] for row in self.db.stream("SELECT name FROM mail_seen WHERE mailbox = ?", (mailbox,))}

    def add_seen_names(self, mailbox: str, names: Sequence[str]) -> None:
        """Remember that ``names`` of ``mailbox`` were read, by this command (so undoing it forgets them)."""
        self.db.insert_rows("mail_seen", ("mailbox", "name", "batch"), [(mailbox, name, self._batch) for name in names])

    def imap_state(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID read) of an IMAP folder (``mailbox``: account and folder), or None."""
        row = self.conn.execute(
            "SELECT uidvalidity, last_uid FROM imap_folders WHERE mailbox = ?", (mailbox,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def set_imap_state(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        """Advance an IMAP folder's state. Once this command has logged anything, an event keeps the old
        state, so that undo forgets what the command read along with what it logged."""
        old = self.imap_state(mailbox)
        self.conn.execute(
            "INSERT INTO imap_folders (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?) ON CONFLICT (mailbox)"
            " DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
            (mailbox, uidvalidity, last_uid),
        )
        if self._batch is not None:
            self._record(None, "sync-state", {"imap": [mailbox, *old] if old else [mailbox]})

    def record_sync(self, info: dict[str, Any]) -> None:
        """The event that says what one sync did (and owns the Maildir names it read)."""
        self._record(None, "sync", info)

    # --- mail out -------------------------------------------------------------------------------

    def outbox_reached(self, campaign: str) -> set[int]:
        """The leads ``campaign`` sent to or was handing a message to."""
        return {row[0] for row in self.db.stream("SELECT lead_id FROM outbox WHERE campaign = ?", (campaign,))}

    def outbox_unsettled(self, lead_id: int | None = None) -> dict[int, tuple[str, str]]:
        """The leads (all, or ``lead_id``) a killed run was handing a message to, whether it went unknown,
        and nobody settled it since: lead id -> (subject, when) of the latest such message."""
        where = "" if lead_id is None else " AND lead_id = ?"
        rows = self.conn.execute(
            f"SELECT lead_id, subject, at FROM outbox o WHERE state = 'sending'{where} AND NOT {_SETTLED} ORDER BY at",
            () if lead_id is None else (lead_id,),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def outbox_count_since(self, at: str) -> int:
        """Messages handed over (or being handed over) since ``at``: what the daily limit counts."""
        return int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE at >= ?", (at,)).fetchone()[0])

    def outbox_begin(self, message_id: str, campaign: str | None, lead: Lead, address: str, subject: str) -> None:
        """Record that a message is about to be handed over (committed before it is)."""
        self.conn.execute(
            "INSERT INTO outbox (message_id, campaign, lead_id, address, subject, state, at)"
            " VALUES (?, ?, ?, ?, ?, 'sending', ?)",
            (message_id, campaign, lead.id, address, subject, self._now),
        )

    def outbox_end(self, message_id: str, sent: bool) -> None:
        """The hand-over's result: ``sent``, or not sent at all (the row goes, so a later run tries again)."""
        if sent:
            self.conn.execute("UPDATE outbox SET state = 'sent' WHERE message_id = ?", (message_id,))
        else:
            self.conn.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))

    def opted_out(self, lead_ids: Sequence[int]) -> dict[int, str]:
        """Of ``lead_ids``, those opted out: lead id -> when."""
        return {
            row[0]: row[1] for row in self._rows_in("SELECT lead_id, at FROM optouts WHERE lead_id IN ({})", lead_ids)
        }

    def _rows_in(self, sql: str, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of ``sql`` with its ``IN ({})`` holding ``values``: a query per 999 of them (SQLite's
        least limit of parameters; PostgreSQL's is 65,535)."""
        for start in range(0, len(values), 999):
            part = list(values[start : start + 999])
            yield from self.conn.execute(sql.format(", ".join("?" * len(part))), part)

    def opt_out(self, lead: Lead, at: str, how: str) -> bool:
        """Mark ``lead`` opted out (``how``: the command, or the message that asked): one event, which undo
        reverses; False when it already was."""
        if self.opted_out([lead.id]):
            return False
        self.may_change(lead)
        self.conn.execute("INSERT INTO optouts (lead_id, at, how) VALUES (?, ?, ?)", (lead.id, at, how))
        self._record(lead.id, "optout", {"optout": [lead.id, at, how]})
        return True

    def _revert_mail(self, event: Event) -> None:
        data = event.data
        for email in data.get("emails_added", []):
            self.conn.execute("DELETE FROM lead_emails WHERE email = ?", (email,))
        for email in data.get("emails_removed", []):
            self.conn.execute("INSERT INTO lead_emails (email, lead_id) VALUES (?, ?)", (email, event.lead_id))
        if "bounce" in data:
            email = data["bounce"][0]
            self.conn.execute("DELETE FROM bounces WHERE email = ?", (email,))
            if data["was"]:
                self.conn.execute("INSERT INTO bounces (email, at, message_id) VALUES (?, ?, ?)", (email, *data["was"]))
        if "optout" in data:
            self.conn.execute("DELETE FROM optouts WHERE lead_id = ?", (data["optout"][0],))
        if "imap" in data:
            mailbox, *old = data["imap"]
            self.conn.execute("DELETE FROM imap_folders WHERE mailbox = ?", (mailbox,))
            if old:
                self.conn.execute(
                    "INSERT INTO imap_folders (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)", (mailbox, *old)
                )


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching values that contain ``text`` (its wildcards taken literally)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _owned(owner: str | None) -> tuple[str, list[Any]]:
    """The condition (after another) that keeps ``owner``'s leads, and its parameters; none for None."""
    return ("", []) if owner is None else (" AND owner = ?", [owner])


def _integrity(exc: Exception) -> PipectlError:
    if "email" in str(exc):
        return PipectlError("another lead already has that email")
    return PipectlError(f"the database refused the change: {exc}")
