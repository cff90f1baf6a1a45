"""Ordered schema migrations, keyed by the schema version (SQLite: ``PRAGMA user_version``;
PostgreSQL: the ``schema_version`` table).

Each migration is a function that returns the SQL script (statements separated by ``;``) that
brings the schema from version ``n - 1`` to ``n``. It is written once, in SQLite's words; each
backend's ``ddl`` translates the few types and collations that differ, so both backends always have
the same tables. A migration that needs what SQL lacks (Python's Unicode folding) is instead a
function given the database (a ``Backend``), working in the same transaction. Never edit a
released migration: add one. The schema they produce is the public one documented in the README
(tables ``leads``, ``touchpoints``, ``events``, ``settings``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipectl.store.backend import Backend

Migration = Callable[[], str]
Step = Callable[["Backend"], None]
MIGRATIONS: list[Step] = []
# Leads read and written at a time by a migration in Python: memory stays flat on a large pipeline.
FILL_ROWS = 5000


def migration(fn: Migration) -> Migration:
    """A migration in SQL."""
    MIGRATIONS.append(lambda db: db.run_script(fn()))
    return fn


def python_migration(fn: Step) -> Step:
    """A migration in Python, given the database."""
    MIGRATIONS.append(fn)
    return fn


def statements(script: str) -> list[str]:
    """A script's statements, one by one (executescript() would COMMIT the caller's transaction first)."""
    return [statement for statement in script.split(";") if statement.strip()]


@migration
def m001_initial() -> str:
    return """
        CREATE TABLE leads (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            company TEXT,
            email TEXT UNIQUE,
            phone TEXT,
            source TEXT,
            value INTEGER,
            stage TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            owner TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            stage_entered_at TEXT NOT NULL,
            last_touch_at TEXT,
            touch_count INTEGER NOT NULL DEFAULT 0,
            next_action TEXT,
            next_action_due TEXT,
            expected_close TEXT,
            snoozed_until TEXT,
            qualified INTEGER,
            qualification_score REAL,
            lost_reason TEXT,
            extra TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX leads_status_stage ON leads (status, stage);
        CREATE INDEX leads_owner ON leads (owner, status);
        CREATE INDEX leads_next_action_due ON leads (next_action_due);
        CREATE TABLE touchpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lead_id INTEGER NOT NULL REFERENCES leads (id),
            kind TEXT NOT NULL,
            direction TEXT,
            outcome TEXT,
            note TEXT,
            at TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX touchpoints_lead_at ON touchpoints (lead_id, at);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            batch INTEGER NOT NULL,
            at TEXT NOT NULL,
            command TEXT NOT NULL,
            actor TEXT,
            lead_id INTEGER,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            undone_by INTEGER
        );
        CREATE INDEX events_batch ON events (batch);
        CREATE INDEX events_lead ON events (lead_id, id);
        """


@migration
def m002_cadence_and_snooze() -> str:
    """Cadence state, snooze reason and close time on the lead, backfilled from the history."""
    return """
        ALTER TABLE leads ADD COLUMN snooze_reason TEXT;
        ALTER TABLE leads ADD COLUMN closed_at TEXT;
        ALTER TABLE leads ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE leads ADD COLUMN last_outbound_at TEXT;
        ALTER TABLE leads ADD COLUMN last_reply_at TEXT;
        ALTER TABLE leads ADD COLUMN last_chance_at TEXT;
        UPDATE leads SET last_outbound_at =
            (SELECT MAX(at) FROM touchpoints t WHERE t.lead_id = leads.id AND t.direction = 'out');
        UPDATE leads SET last_reply_at =
            (SELECT MAX(at) FROM touchpoints t WHERE t.lead_id = leads.id
             AND (t.direction = 'in' OR t.outcome IN ('replied', 'reached')));
        UPDATE leads SET attempts =
            (SELECT COUNT(*) FROM touchpoints t WHERE t.lead_id = leads.id AND t.direction = 'out'
             AND COALESCE(t.outcome, '') NOT IN ('replied', 'reached') AND t.at > COALESCE(leads.last_reply_at, ''));
        UPDATE leads SET last_chance_at =
            (SELECT MAX(at) FROM touchpoints t WHERE t.lead_id = leads.id AND t.outcome = 'last-chance'
             AND t.at > COALESCE(leads.last_reply_at, ''));
        UPDATE leads SET closed_at =
            (SELECT MAX(at) FROM events e WHERE e.lead_id = leads.id AND e.undone_by IS NULL
             AND e.type IN ('won', 'lost', 'qualify'))
            WHERE status <> 'open';
        CREATE INDEX leads_status_closed ON leads (status, closed_at)
        """


@migration
def m003_lookup_indexes() -> str:
    """Indexes for finding a duplicate without an email (import) and the import that brought a lead;
    and none that no query uses: every index slows every insert (measured: -25 % import time)."""
    return """
        CREATE INDEX leads_name_company ON leads (name COLLATE NOCASE, company COLLATE NOCASE);
        CREATE INDEX events_type ON events (type);
        DROP INDEX leads_owner;
        DROP INDEX leads_next_action_due;
        DROP INDEX leads_status_closed
        """


@migration
def m004_partial_name_index() -> str:
    """Duplicates by name and company are only looked for among leads without an email, so only those
    are indexed: inserting into the full index cost a third of a large import (measured at 1,000,000
    rows: 8.4 s -> 4.9 s for the leads' inserts)."""
    return """
        DROP INDEX leads_name_company;
        CREATE INDEX leads_name_company ON leads (name COLLATE NOCASE, company COLLATE NOCASE) WHERE email IS NULL
        """


@python_migration
def m005_search(db: Backend) -> None:
    """The ``search`` column: a lead's name and company as lookups compare them, filled for every lead
    (see ``leads.search_column``). A substring search in it is one scan of the table without any per-row
    function, so no index is needed (or usable)."""
    from pipectl.leads import search_column

    db.run_script("ALTER TABLE leads ADD COLUMN search TEXT")
    last = 0
    sql = "SELECT id, name, company FROM leads WHERE id > ? ORDER BY id LIMIT ?"
    while rows := db.conn.execute(sql, (last, FILL_ROWS)).fetchall():
        filled = [(row[0], search) for row in rows if (search := search_column(row[1], row[2])) is not None]
        if filled:
            db.update_rows("leads", ("search",), filled)
        last = rows[-1][0]


@migration
def m006_source_records() -> str:
    """The id a lead had in the CRM it was imported from, so that a re-import of that CRM's export
    finds it; indexed where set (most leads have none)."""
    return """
        ALTER TABLE leads ADD COLUMN source_id TEXT;
        ALTER TABLE leads ADD COLUMN source_system TEXT;
        CREATE INDEX leads_source ON leads (source_id, source_system) WHERE source_id IS NOT NULL
        """


@migration
def m007_mail_sync() -> str:
    """What syncing the rep's mail needs (SPEC §12): a lead's other addresses (each address, main or other,
    belongs to one lead: the store checks both tables), the id a touchpoint has in its source (a
    Message-ID; a calendar event's UID and RECURRENCE-ID) so that a message seen twice is logged once,
    the addresses that bounced, and what each mailbox has had read: an IMAP folder's UIDVALIDITY and last
    UID, a Maildir's file names. ``batch`` is the command that read them, so undoing it forgets them too."""
    return """
        CREATE TABLE lead_emails (
            email TEXT PRIMARY KEY,
            lead_id INTEGER NOT NULL REFERENCES leads (id)
        );
        CREATE INDEX lead_emails_lead ON lead_emails (lead_id);
        ALTER TABLE touchpoints ADD COLUMN external_id TEXT;
        CREATE INDEX touchpoints_external ON touchpoints (external_id) WHERE external_id IS NOT NULL;
        CREATE TABLE bounces (
            email TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            message_id TEXT
        );
        CREATE TABLE mail_seen (
            mailbox TEXT NOT NULL,
            name TEXT NOT NULL,
            batch INTEGER,
            PRIMARY KEY (mailbox, name)
        );
        CREATE INDEX mail_seen_batch ON mail_seen (batch) WHERE batch IS NOT NULL;
        CREATE TABLE imap_folders (
            mailbox TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL
        )
        """


@migration
def m008_daily_view_indexes() -> str:
    """Indexes that lead with what the daily views filter on (SPEC §15), so that today, review, board
    and list read what they show, not the whole table: an owner's open leads by stage; the open leads
    by next step due (overdue, due today), by first contact (never contacted, newest or oldest
    first; both with the id that breaks ties in those orders, and what today counts its sections
    by, so that it counts them in the index), by
    stage and time in it (stale) and by stage and value (board columns and totals, the
    deals closest to closing); and the few snoozed ones by their day (back from a snooze today)."""
    return """
        CREATE INDEX leads_owner_status ON leads (owner, status, stage);
        CREATE INDEX leads_status_due ON leads (status, next_action_due, id, snoozed_until, last_outbound_at);
        CREATE INDEX leads_status_contact
            ON leads (status, last_outbound_at, created_at, id, next_action_due, snoozed_until);
        CREATE INDEX leads_status_entered ON leads (status, stage, stage_entered_at);
        CREATE INDEX leads_status_value ON leads (status, stage, value);
        CREATE INDEX leads_snoozed ON leads (snoozed_until) WHERE snoozed_until IS NOT NULL
        """


@migration
def m009_mail_out() -> str:
    """What sending needs (SPEC §13). ``outbox``: one row per message pipectl hands to the rep's mail
    account, written (state ``sending``) before the hand-over and set to ``sent`` in the transaction that
    logs its touchpoint, so a run killed at any moment knows what may have gone: a campaign never sends
    a lead its message twice. ``optouts``: the leads never to be mailed by pipectl again."""
    return """
        CREATE TABLE outbox (
            message_id TEXT PRIMARY KEY,
            campaign TEXT,
            lead_id INTEGER NOT NULL,
            address TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX outbox_campaign ON outbox (campaign, lead_id) WHERE campaign IS NOT NULL;
        CREATE TABLE optouts (
            lead_id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            how TEXT NOT NULL
        )
        """


@python_migration
def m010_settings(db: Backend) -> None:
    """The pipeline's own settings, a row per key: its currency, which every view shows and ``--value``
    checks against, whatever config opens it later. A new database records the currency of the config
    that creates it; an older one, of the config that opens it first with this version (its amounts
    were shown in that currency until then)."""
    db.run_script("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.conn.execute("INSERT INTO settings (key, value) VALUES ('currency', ?)", (db.currency,))


@migration
def m011_one_index_less() -> str:
    """``leads_status_stage`` goes: ``leads_status_entered`` and ``leads_status_value`` begin with the same
    two columns and serve every lookup it served, and an import paid for keeping all three."""
    return "DROP INDEX leads_status_stage"


SCHEMA_VERSION = len(MIGRATIONS)
# The indexes the current schema has (what the migrations above leave), by name: `doctor` checks them
# and `doctor --fix` recreates a missing one.
INDEXES = {
    "leads_name_company": "CREATE INDEX IF NOT EXISTS leads_name_company"
    " ON leads (name COLLATE NOCASE, company COLLATE NOCASE) WHERE email IS NULL",
    "touchpoints_lead_at": "CREATE INDEX IF NOT EXISTS touchpoints_lead_at ON touchpoints (lead_id, at)",
    "events_batch": "CREATE INDEX IF NOT EXISTS events_batch ON events (batch)",
    "events_lead": "CREATE INDEX IF NOT EXISTS events_lead ON events (lead_id, id)",
    "events_type": "CREATE INDEX IF NOT EXISTS events_type ON events (type)",
    "leads_source": "CREATE INDEX IF NOT EXISTS leads_source ON leads (source_id, source_system)"
    " WHERE source_id IS NOT NULL",
    "lead_emails_lead": "CREATE INDEX IF NOT EXISTS lead_emails_lead ON lead_emails (lead_id)",
    "mail_seen_batch": "CREATE INDEX IF NOT EXISTS mail_seen_batch ON mail_seen (batch) WHERE batch IS NOT NULL",
    "touchpoints_external": "CREATE INDEX IF NOT EXISTS touchpoints_external"
    " ON touchpoints (external_id) WHERE external_id IS NOT NULL",
    "leads_owner_status": "CREATE INDEX IF NOT EXISTS leads_owner_status ON leads (owner, status, stage)",
    "leads_status_due": "CREATE INDEX IF NOT EXISTS leads_status_due"
    " ON leads (status, next_action_due, id, snoozed_until, last_outbound_at)",
    "leads_status_contact": "CREATE INDEX IF NOT EXISTS leads_status_contact"
    " ON leads (status, last_outbound_at, created_at, id, next_action_due, snoozed_until)",
    "leads_status_entered": "CREATE INDEX IF NOT EXISTS leads_status_entered"
    " ON leads (status, stage, stage_entered_at)",
    "leads_status_value": "CREATE INDEX IF NOT EXISTS leads_status_value ON leads (status, stage, value)",
    "leads_snoozed": "CREATE INDEX IF NOT EXISTS leads_snoozed ON leads (snoozed_until)"
    " WHERE snoozed_until IS NOT NULL",
    "outbox_campaign": "CREATE INDEX IF NOT EXISTS outbox_campaign ON outbox (campaign, lead_id)"
    " WHERE campaign IS NOT NULL",
}


# The indexes only the daily views read (no write looks a lead up in them), each with the columns
# that place a new lead's entry in it: those before the first that is unique (the id; SQLite ends every
# entry with it), but for status, stage and owner, which take a few values. A large import into a
# smaller table builds afresh at its end those whose placing columns its rows fill (their entries go
# all over the index) instead of keeping them up row by row; the others take each new lead's entry
# where the last one went, which costs little (``Store.view_indexes_built_after``).
VIEW_INDEXES = {
    "leads_owner_status": (),
    "leads_status_due": ("next_action_due",),
    "leads_status_contact": ("last_outbound_at", "created_at"),
    "leads_status_entered": ("stage_entered_at",),
    "leads_status_value": ("value",),
    "leads_snoozed": ("snoozed_until",),
}


def scattered(filled: set[str]) -> list[str]:
    """The indexes of ``VIEW_INDEXES`` whose entries for new leads go all over them: those placed by a
    column of ``filled``, the columns the new leads' rows fill each their own way."""
    return [name for name, placed in VIEW_INDEXES.items() if filled.intersection(placed)]


def migrate(db: Backend, current: int, record: Callable[[int], None]) -> None:
    """Apply the migrations after ``current`` to ``db`` and ``record`` each version reached; the caller
    holds the transaction."""
    for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
        step(db)
        record(version)
