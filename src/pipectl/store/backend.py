"""What differs between the databases pipectl speaks, in one place per backend.

The store writes its SQL once, in the words both SQLite and PostgreSQL accept (``?`` and ``:name``
placeholders, ``INSERT ... RETURNING``, ``ON CONFLICT``, plain types and ISO text); a backend supplies
the connection (``execute`` returning a cursor of tuples) and the few fragments and
operations where the two differ: case-insensitive comparison, JSON access, the write lock, id
sequences, bulk inserts, streaming reads, schema version, health checks.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TABLES = ("leads", "touchpoints", "events")
_PASSWORDS = (re.compile(r"^\w+://[^/?#@:]*:([^/?#]*)@"), re.compile(r"[?&]password=([^&#]*)"))


def redact(text: str, url: str) -> str:
    """``text`` (the URL itself, or a message quoting it) without the URL's password, even when the URL
    is malformed: what messages, and the event log's command lines, may show."""
    for pattern in _PASSWORDS:
        match = pattern.search(url)
        if match and match.group(1):
            text = text.replace(match.group(1), "***")
    return text


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
    #: Whether opening it created it (a new file, or the schema in an empty server database).
    created = False
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

    @abstractmethod
    def last_ids(self) -> dict[str, int]:
        """The highest id each table ever handed out (ids are never reused, even after deletes)."""

    @abstractmethod
    def set_last_ids(self, ids: dict[str, int]) -> None:
        """Continue each table's ids after ``ids`` (after rows were inserted with their own ids)."""

    @abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows at once, by the fastest path the database has."""

    @abstractmethod
    def update_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Set ``columns`` of many rows at once: each row is the id, then the new values."""

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Any]]:
        """The rows of a big query, fetched a batch at a time so memory stays flat."""

    @abstractmethod
    def integrity(self) -> list[str]:
        """What the database's own checks report (empty: healthy)."""

    @abstractmethod
    def index_names(self) -> set[str]:
        """The names of the indexes on pipectl's tables."""

    def use_cache(self, mib: int) -> None:  # noqa: B027 (only SQLite lets a connection choose)
        """Give a bulk write ``mib`` MiB of page cache, where the database lets a connection choose."""

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
