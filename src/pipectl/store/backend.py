"""What differs between the databases pipectl speaks, in one place per backend.

The store writes its SQL once, in the words both SQLite and PostgreSQL accept (``?`` and ``:name``
placeholders, ``INSERT ... RETURNING``, ``ON CONFLICT``, plain types and ISO text); a backend supplies
the connection (``execute`` returning a cursor of tuples) and the few fragments and
operations where the two differ: case-insensitive comparison, JSON access, the write lock, id
sequences, bulk inserts, streaming reads, schema version, health checks.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from pipectl.store.team import Who

TABLES = ("leads", "touchpoints", "events")
# The keywords that make a text a libpq connection string ("host=db.example dbname=sales ...").
_CONNINFO = re.compile(
    r"^\s*(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options|application_name"
    r"|connect_timeout|target_session_attrs)\s*=",
    re.IGNORECASE,
)
# A URL's password runs from the user's colon to the last "@" (a password may hold unencoded "@/?#");
# a libpq or query-string password is the value of password=, quoted or not.
_URL_PASSWORD = re.compile(r"\w+://[^:/?#@\s]*:(.*)@")
_KEY_PASSWORD = re.compile(r"(?:^|[\s?&])password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&#]*)", re.IGNORECASE)
# How long a password must be to be blanked wherever it appears, not only where a connection names it.
BARE_SECRET = 6
_UNRESERVED = re.compile(r"(?:[\w\-.~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*", re.ASCII)


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a server: a ``scheme://`` URL or a libpq ``key=value`` string."""
    return "://" in database or bool(_CONNINFO.match(database))


def secrets(source: str) -> list[str]:
    """Every password written in ``source`` (connection URLs or libpq strings, anywhere in it), in each
    form it may be shown in (as typed, percent-decoded, percent-encoded), longest first."""
    found: set[str] = set()
    for match in itertools.chain(_URL_PASSWORD.finditer(source), _KEY_PASSWORD.finditer(source)):
        raw = match.group(1)
        if raw.startswith("'") and raw.endswith("'") and len(raw) > 1:
            raw = raw[1:-1]
        for form in (raw, unquote(raw), quote(raw, safe=""), quote(unquote(raw), safe="")):
            if form:
                found.add(form)
    return sorted(found, key=len, reverse=True)


def redact(text: str, *sources: str) -> str:
    """``text`` without any password written in ``sources`` (the URL itself, or the arguments and
    database a message may quote), even when malformed: what messages and the event log may show."""
    for secret in sorted({secret for source in sources for secret in secrets(source)}, key=len, reverse=True):
        for before, after in ((":", "@"), ("password='", "'"), ("password=", "")):
            text = text.replace(f"{before}{secret}{after}", f"{before}***{after}")
        if len(secret) >= BARE_SECRET:  # a short one would also hit its like in a host or a name
            text = text.replace(secret, "***")
    return text


def encoded(url: str) -> str:
    """``url`` with its password percent-encoded where the user left "@", "/", "?" or "#" in it as typed,
    so that libpq reads it as a password (and never echoes a piece of it as a host or a port)."""
    match = re.match(r"^(\w+://[^:/?#@\s]*:)(.*)(@[^@]*)$", url, re.DOTALL)
    if match is None or _UNRESERVED.fullmatch(match.group(2)):
        return url
    return match.group(1) + quote(match.group(2), safe="") + match.group(3)


class IntegrityError(Exception):
    """A write that broke a constraint (a taken email), whichever database refused it."""


class Backend(ABC):
    """The interface; ``sqlite.SQLite`` and ``postgres.Postgres`` implement it."""

    conn: Any
    #: Where the data lives, as the user may be shown it (a path, or a URL without its password).
    label: str
    #: The database file, when there is one (SQLite).
    file: Path | None = None
    #: Whether a team shares it (undo then reverts the current owner's last change, not anyone's).
    shared = False
    #: Who the connection is, on a team's database (SPEC §16: `pipectl team init` ran); None elsewhere.
    who: Who | None = None
    #: Whether opening it created it (a new file, or the schema in an empty server database).
    created = False
    #: The pipeline's currency: before opening, the config's (what a new or migrated database records);
    #: once open, the one the database records (read with the schema version: no extra trip at start-up).
    currency = "USD"
    #: LIKE without regard to (ASCII) case: for a lead another program wrote without its ``search``.
    like = "LIKE"
    #: Starts a read-only transaction on one snapshot.
    snapshot_begin = "BEGIN"
    #: What the driver raises for a broken constraint.
    integrity_errors: tuple[type[Exception], ...] = (IntegrityError,)

    @abstractmethod
    def nocase(self, expr: str) -> str:
        """``expr`` compared and sorted without regard to (ASCII) case."""

    @abstractmethod
    def likely(self, condition: str) -> str:
        """``condition``, marked as true for most rows: steers a planner without statistics (SQLite)
        to the index that ``condition`` makes usable (a partial one) instead of one it matches."""

    @abstractmethod
    def json_text(self, column: str, key: str) -> str:
        """The text at ``key`` of the JSON object in ``column``."""

    @abstractmethod
    def has_tag(self) -> str:
        """A condition on ``leads`` with one parameter: the lead's tags include it."""

    @abstractmethod
    def ddl(self, script: str) -> list[str]:
        """A schema script written in SQLite's words, as this database's statements."""

    def run_script(self, script: str) -> None:
        """Run a schema script written in SQLite's words, statement by statement."""
        for statement in self.ddl(script):
            self.conn.execute(statement)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction (see ``begin``): committed when the block ends, rolled back when it raises."""
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    @abstractmethod
    def begin(self) -> None:
        """Start a write transaction that holds the database's write lock until it ends: writers take
        turns, so ids handed out inside one are consecutive and ``MAX(batch) + 1`` is never taken twice."""

    @abstractmethod
    def schema_version(self) -> int:
        """The version of the schema the database holds (0: none yet)."""

    def read_currency(self) -> None:
        """Take the currency the database records (its schema is up to date)."""
        self.currency = str(self.conn.execute("SELECT value FROM settings WHERE key = 'currency'").fetchone()[0])

    @abstractmethod
    def last_ids(self) -> dict[str, int]:
        """The highest id each table ever handed out (ids are never reused, even after deletes)."""

    @abstractmethod
    def set_last_ids(self, ids: dict[str, int]) -> None:
        """Continue each table's ids after ``ids`` (after rows were inserted with their own ids)."""

    def next_batch(self) -> int:
        """A new command's batch number for the log, inside the write transaction (whose lock keeps
        another process from taking the same one)."""
        return int(self.conn.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM events").fetchone()[0])

    @abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows at once, by the fastest path the database has."""

    @abstractmethod
    def update_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Set ``columns`` of many rows at once: each row is the id, then the new values."""

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a big query, fetched a batch at a time so memory stays flat."""

    @abstractmethod
    def integrity(self) -> list[str]:
        """What the database's own checks report (empty: healthy)."""

    @abstractmethod
    def index_names(self) -> set[str]:
        """The names of the indexes on pipectl's tables."""

    def transport(self) -> tuple[str, bool]:
        """How the connection travels, as a user may be shown it, and whether that is safe (a local
        file or socket, or TLS: not plaintext over a network)."""
        return "a file on this machine", True

    def use_cache(self, mib: int) -> None:  # noqa: B027 (only SQLite lets a connection choose)
        """Give a command that reads or writes many pages ``mib`` MiB of page cache, where the database lets a
        connection choose."""

    def temporaries_in_memory(self) -> None:  # noqa: B027 (only SQLite keeps a connection's temporary data)
        """For a command of many small writes, before its first transaction: keep the database's temporary
        data in memory. SQLite otherwise makes and unlinks a file in /var/tmp for every INSERT ... RETURNING
        (a campaign of 1,000: 0.1 s CPU, and up to 0.5 s waiting on the disk). Not for every command: a sort
        larger than the page cache would stay in memory too (importing 1,000,000 leads: 122 MiB, not 73)."""

    def sort_threads(self, threads: int) -> None:  # noqa: B027 (only SQLite lets a connection choose)
        """Let the database sort (as when it builds an index) with up to ``threads`` helper threads."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the database as it was when the first one ran, whatever others commit."""
        self.conn.execute(self.snapshot_begin)
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    @abstractmethod
    def backup(self, target: Path) -> None:
        """A consistent copy of the whole database in a new SQLite file, readable by the user only."""

    def close(self) -> None:
        self.conn.close()
