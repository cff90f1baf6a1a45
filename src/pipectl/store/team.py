"""The team room (SPEC §16): who may do what on a shared PostgreSQL pipeline, kept by the server.

Everything here is PostgreSQL's own machinery, installed by ``pipectl team init`` (run by the login
that owns the pipeline's tables, with CREATEROLE): two group roles (reps, managers), row-level
security on ``leads``, ``touchpoints``, ``lead_emails`` and ``events``, grants (sequences included), a
trigger that makes every event carry its login (``session_user``) and the server's clock and lets
nobody but the owner rewrite the log, a sequence for the log's batch numbers (a rep cannot see the
whole log to count past its end), and ``session_user`` as the default owner of a lead. psql with a
rep's login obeys the same rules as pipectl; the Python side only asks :func:`who` and names the owner
when a change is refused.
Nothing of it exists on SQLite (one file, one person).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipectl.errors import PipectlError, Refused

VISIBILITIES = ("all", "own")
# What a rep may see of the leads (`team visibility`): everything, or only their own.
_READ = {"all": "true", "own": "owner = session_user::text"}
# What a rep may read of the log: everything, or what is theirs, concerns a lead they see, or concerns
# no lead (an import's, a copy's or a sync's files and counts) unless it is an undo (which quotes the
# command line it undid: a lead's name, a note).
_READ_EVENTS = {
    "all": "true",
    "own": "actor = session_user::text OR (lead_id IS NULL AND type <> 'undo')"
    " OR EXISTS (SELECT 1 FROM leads l WHERE l.id = lead_id)",
}
# Each command's batch number on a team's database: MAX(batch) + 1 would count only the events a rep sees.
BATCHES = "events_batch_seq"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
# The server's clock in pipectl's storage form (dates.to_iso): UTC, seconds, "Z".
CLOCK = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


@dataclass(frozen=True)
class Who:
    """The login a command runs as, on a team database."""

    login: str
    manager: bool
    #: Owns the pipeline's tables: row-level security does not apply to it; it alone runs `team`.
    admin: bool
    owner: str
    visibility: str
    reps: str
    managers: str
    #: The log's batch numbers come from the sequence BATCHES (installed by this pipectl's `team init`).
    batches: bool

    @property
    def sees_all(self) -> bool:
        return self.manager or self.admin


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    open_leads: int
    last_activity: str | None
    quota: int | None  # hundredths


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def login_name(name: str) -> str:
    """A rep's login as typed (any case), checked: lower-case letters, digits and ``_``."""
    folded = name.strip().lower()
    if not _NAME.fullmatch(folded):
        raise PipectlError(f"{name!r} cannot be a login: use letters, digits and _ (starting with a letter)")
    return folded


def who(conn: Any) -> Who | None:
    """Who the connection is, when the database is a team's (``team init`` ran); None otherwise."""
    row = conn.execute(
        "SELECT session_user::text, pg_get_userbyid(c.relowner)::text, to_regclass('team_settings') IS NOT NULL,"
        f" to_regclass('{BATCHES}') IS NOT NULL FROM pg_class c WHERE c.oid = to_regclass('leads')"
    ).fetchone()
    if row is None or not row[2]:
        return None
    login, owner, batches = row[0], row[1], bool(row[3])
    reps, managers, visibility = conn.execute("SELECT reps, managers, visibility FROM team_settings").fetchone()
    manager = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?) AND pg_has_role(session_user, ?, 'MEMBER')",
        (managers, managers),
    ).fetchone()[0]
    return Who(login, bool(manager), login == owner, owner, visibility, reps, managers, batches)


def _require_admin(conn: Any, doing: str) -> str:
    login, owner, creator = conn.execute(
        "SELECT session_user::text, pg_get_userbyid(c.relowner)::text,"
        " (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = session_user)"
        " FROM pg_class c WHERE c.oid = to_regclass('leads')"
    ).fetchone()
    if login != owner:
        raise Refused(f"{doing} is for the pipeline's owner, {owner}; you are {login}")
    if not creator:
        raise Refused(f"{doing} needs a login with CREATEROLE; {login} has not (ALTER ROLE {login} CREATEROLE)")
    return str(owner)


def _role_exists(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)", (name,)).fetchone()[0])


def init(conn: Any, visibility: str) -> list[str]:
    """Install the team's roles and rules (again: idempotent); the caller holds the transaction."""
    owner = _require_admin(conn, "team init")
    database, schema = conn.execute("SELECT current_database()::text, current_schema()::text").fetchone()
    base = database if schema == "public" else f"{database}_{schema}"
    reps, managers = f"{base}_reps", f"{base}_managers"
    made = []
    for role in (reps, managers):
        if not _role_exists(conn, role):
            conn.execute(f"CREATE ROLE {ident(role)} NOLOGIN")
            made.append(role)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS team_settings"
        " (reps TEXT NOT NULL, managers TEXT NOT NULL, visibility TEXT NOT NULL)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS team_quotas (login TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
    conn.execute("DELETE FROM team_settings")
    conn.execute("INSERT INTO team_settings VALUES (?, ?, ?)", (reps, managers, visibility))
    conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {BATCHES}")
    advance_batches(conn)
    grant(conn)
    for statement in (
        "ALTER TABLE leads ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE touchpoints ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE lead_emails ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE events ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE leads ALTER COLUMN owner SET DEFAULT session_user",
        "ALTER TABLE events ALTER COLUMN actor SET DEFAULT session_user",
        f"ALTER TABLE events ALTER COLUMN at SET DEFAULT {CLOCK}",
        _events_guard(managers),
        "DROP TRIGGER IF EXISTS team_events_guard ON events",
        "CREATE TRIGGER team_events_guard BEFORE INSERT OR UPDATE ON events"
        " FOR EACH ROW EXECUTE FUNCTION team_events_guard()",
    ):
        conn.execute(statement)
    _policies(conn, reps, managers, visibility)
    done = [f"team rules installed on the pipeline of {owner} (reps see {visibility} leads)"]
    return done + [f"created group role {role}" for role in made]


def advance_batches(conn: Any) -> None:
    """Move the batch sequence past every batch in the log (never back): the owner, who sees the whole
    log, runs it when the sequence is made and after a copy brings in another pipeline's history."""
    conn.execute(
        f"SELECT setval('{BATCHES}', GREATEST(m.top, s.last, 1), GREATEST(m.top, s.last) > 0)"
        " FROM (SELECT COALESCE(MAX(batch), 0) AS top FROM events) m,"
        f" (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM {BATCHES}) s"
    )


# What `sync` keeps: what each mailbox has had read, and the addresses that bounced (state of a mailbox
# or of an address, not of a lead: every rep syncs their own mail into them); what `send` keeps: the
# outbox and the opt-outs (every rep sends their own mail).
MAIL_TABLES = "bounces, mail_seen, imap_folders, lead_emails, outbox, optouts"


def grant(conn: Any) -> None:
    """The team's privileges on the pipeline's tables, sequences included; run again after a migration
    (a table or sequence it adds is readable by the team too)."""
    reps, managers, schema = conn.execute("SELECT reps, managers, current_schema()::text FROM team_settings").fetchone()
    groups = f"{ident(reps)}, {ident(managers)}"
    for statement in (
        f"GRANT USAGE ON SCHEMA {ident(schema)} TO {groups}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {ident(schema)} TO {groups}",
        f"GRANT INSERT, UPDATE, DELETE ON leads, touchpoints, {MAIL_TABLES} TO {groups}",
        f"GRANT INSERT ON events TO {groups}",
        # undo marks its own events undone; a merge moves history between leads (the trigger checks both)
        f"GRANT UPDATE (lead_id, undone_by) ON events TO {groups}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {ident(schema)} TO {groups}",
    ):
        conn.execute(statement)


def _own_lead(lead: str) -> str:
    return f"EXISTS (SELECT 1 FROM leads l WHERE l.id = {lead} AND l.owner = session_user::text)"


def _policies(conn: Any, reps: str, managers: str, visibility: str) -> None:
    """Row-level security: a rep reads all leads (or only their own) and changes only their own; a
    manager reads and changes all; the log is read as its leads are (the trigger keeps its writes
    honest). Made anew each time, so `team visibility` is one call."""
    own = "owner = session_user::text"
    read_points = "true" if visibility == "all" else "EXISTS (SELECT 1 FROM leads l WHERE l.id = lead_id)"
    of_lead = [
        ("team_read", "SELECT", reps, read_points, None),
        ("team_add", "INSERT", reps, None, _own_lead("lead_id")),
        ("team_change", "UPDATE", reps, _own_lead("lead_id"), _own_lead("lead_id")),
        ("team_delete", "DELETE", reps, _own_lead("lead_id"), None),
        ("team_manage", "ALL", managers, "true", "true"),
    ]
    rules = {
        "leads": [
            ("team_read", "SELECT", reps, _READ[visibility], None),
            ("team_add", "INSERT", reps, None, own),
            ("team_change", "UPDATE", reps, own, own),
            ("team_delete", "DELETE", reps, own, None),
            ("team_manage", "ALL", managers, "true", "true"),
        ],
        # a lead's touchpoints and other addresses are its owner's, as the lead is
        "touchpoints": of_lead,
        "lead_emails": of_lead,
        "events": [
            ("team_read", "SELECT", reps, _READ_EVENTS[visibility], None),
            ("team_add", "INSERT", reps, None, "true"),
            ("team_change", "UPDATE", reps, _READ_EVENTS[visibility], "true"),
            ("team_manage", "ALL", managers, "true", "true"),
        ],
    }
    for table, policies in rules.items():
        for name, command, role, using, check in policies:
            conn.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
            sql = f"CREATE POLICY {name} ON {table} FOR {command} TO {ident(role)}"
            sql += f" USING ({using})" if using else ""
            sql += f" WITH CHECK ({check})" if check else ""
            conn.execute(sql)


def _events_guard(managers: str) -> str:
    """The trigger function that keeps the log honest for everyone but the tables' owner: an event
    is written by its login at the server's time; a login marks only its own events undone (undo)
    and moves history only between leads it may change (merge)."""
    may_change = (
        "EXISTS (SELECT 1 FROM leads l WHERE l.id = {0} AND (l.owner = session_user::text"
        f" OR pg_has_role(session_user, {literal(managers)}, 'MEMBER')))"
    )
    # No "%" in the body: the store's execute doubles it for psycopg's placeholders.
    return f"""
        CREATE OR REPLACE FUNCTION team_events_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
        DECLARE
            owner text := (SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = TG_RELID);
        BEGIN
            IF session_user::text = owner THEN
                NEW.actor := COALESCE(NEW.actor, session_user::text);
                NEW.at := COALESCE(NEW.at, {CLOCK});
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' THEN
                NEW.actor := session_user::text;
                NEW.at := {CLOCK};
                NEW.undone_by := NULL;
                RETURN NEW;
            END IF;
            IF NEW.undone_by IS DISTINCT FROM OLD.undone_by
                    AND (OLD.undone_by IS NOT NULL OR OLD.actor IS DISTINCT FROM session_user::text) THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = 'event ' || OLD.id || ' is ' || COALESCE(OLD.actor, 'nobody')
                        || '''s: only its own login can mark it undone';
            END IF;
            IF NEW.lead_id IS DISTINCT FROM OLD.lead_id
                    AND NOT ({may_change.format("OLD.lead_id")} AND {may_change.format("NEW.lead_id")}) THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = 'the history of lead ' || OLD.lead_id || ' is not yours to move';
            END IF;
            RETURN NEW;
        END
        $guard$
    """


def set_visibility(conn: Any, visibility: str) -> None:
    _require_admin(conn, "team visibility")
    found = who(conn)
    if found is None:
        raise Refused("this pipeline has no team yet: `pipectl team init` first")
    conn.execute("UPDATE team_settings SET visibility = ?", (visibility,))
    _policies(conn, found.reps, found.managers, visibility)


def _team(conn: Any, doing: str) -> Who:
    _require_admin(conn, doing)
    found = who(conn)
    if found is None:
        raise Refused("this pipeline has no team yet: `pipectl team init` first")
    return found


def add(conn: Any, name: str, password: str, manager: bool) -> str:
    """Create the login ``name`` in the reps' (or managers') group. The password reaches the server
    already hashed (SCRAM), so no server log ever holds it."""
    team = _team(conn, "team add")
    login = login_name(name)
    if _role_exists(conn, login):
        raise Refused(f"a login named {login} exists already on this server: choose another name")
    if not password:
        raise PipectlError("the password is empty")
    hashed = conn.raw.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256").decode()
    group = team.managers if manager else team.reps
    conn.execute(f"CREATE ROLE {ident(login)} LOGIN PASSWORD {literal(hashed)} IN ROLE {ident(group)}")
    return login


def members(conn: Any) -> list[Member]:
    team = _team_or_none(conn)
    rows = conn.execute(
        "SELECT r.rolname::text, g.rolname::text = ?,"
        " (SELECT count(*) FROM leads WHERE owner = r.rolname::text AND status = 'open'),"
        " (SELECT MAX(at) FROM events WHERE actor = r.rolname::text),"
        " (SELECT amount FROM team_quotas WHERE login = r.rolname::text)"
        " FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid"
        " WHERE g.rolname IN (?, ?) ORDER BY r.rolname",
        (team.managers, team.reps, team.managers),
    ).fetchall()
    return [Member(row[0], "manager" if row[1] else "rep", int(row[2]), row[3], row[4]) for row in rows]


def _team_or_none(conn: Any) -> Who:
    found = who(conn)
    if found is None:
        raise Refused("this pipeline has no team yet: its owner runs `pipectl team init`")
    return found


def names(conn: Any) -> list[str]:
    """The logins of the team (reps and managers)."""
    return [member.name for member in members(conn)]


def drop(conn: Any, name: str) -> None:
    """Remove the login from the team and the server (its leads are reassigned first, by the caller)."""
    team = _team(conn, "team remove")
    conn.execute(f"REVOKE {ident(team.reps)}, {ident(team.managers)} FROM {ident(name)}")
    conn.execute("DELETE FROM team_quotas WHERE login = ?", (name,))
    conn.execute(f"DROP ROLE {ident(name)}")


def set_quota(conn: Any, name: str, hundredths: int) -> None:
    _team(conn, "team quota")
    conn.execute(
        "INSERT INTO team_quotas (login, amount) VALUES (?, ?) ON CONFLICT (login) DO UPDATE SET amount = ?",
        (name, hundredths, hundredths),
    )


def quotas(conn: Any) -> dict[str, int]:
    """Each rep's own target (hundredths), when the team keeps one."""
    return {row[0]: int(row[1]) for row in conn.execute("SELECT login, amount FROM team_quotas")}
