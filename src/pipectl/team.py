"""`pipectl team`: the database owner sets up and runs a team on one PostgreSQL pipeline (SPEC §16).

The rules themselves are the server's (``store/team.py`` installs them); these actions check what the
user typed, run each in one transaction, and record a reassignment as ordinary lead changes, so the
history shows who got which lead and `undo` could put it back.
"""

from __future__ import annotations

from decimal import Decimal

from pipectl import leads
from pipectl.actions import Context, known_owner
from pipectl.errors import PipectlError
from pipectl.model import hundredths
from pipectl.store import Filter, Store
from pipectl.store import team as room


def _server(ctx: Context, create: bool = False) -> Store:
    store = ctx.store(create=create)
    if store.db.file is not None:
        raise PipectlError(
            f"{store.label} is a file, for one person: a team shares a PostgreSQL database (--db postgresql://...)"
        )
    return store


def init(ctx: Context, visibility: str) -> list[str]:
    store = _server(ctx, create=True)
    with store.db.writing():
        lines = room.init(store.conn, visibility)
    store.db.who = room.who(store.conn)
    return lines


def add(ctx: Context, name: str, password: str, manager: bool) -> str:
    store = _server(ctx)
    with store.db.writing():
        return room.add(store.conn, name, password, manager)


def members(ctx: Context) -> list[room.Member]:
    return room.members(_server(ctx).conn)


def remove(ctx: Context, name: str, reassign_to: str) -> int:
    """Give the rep's leads to ``reassign_to`` (one recorded change each) and drop the login."""
    store = _server(ctx)
    login = known_owner(ctx, name) or name
    heir = known_owner(ctx, reassign_to) or reassign_to
    if heir == login:
        raise PipectlError(f"--reassign-to names {login} itself: name who takes over the leads")
    theirs = store.list_leads(Filter(statuses=None, owner=login))
    with ctx.writing() as writer:
        for lead in theirs:
            writer.change_lead(lead, {"owner": heir, "updated_at": ctx.now_iso}, "reassign")
        room.drop(writer.conn, login)
    return len(theirs)


def set_visibility(ctx: Context, visibility: str) -> None:
    store = _server(ctx)
    with store.db.writing():
        room.set_visibility(store.conn, visibility)


def set_quota(ctx: Context, name: str, amount: str) -> tuple[str, Decimal]:
    store = _server(ctx)
    login = known_owner(ctx, name) or name
    value = leads.parse_money(amount, ctx.currency)
    with store.db.writing():
        room.set_quota(store.conn, login, hundredths(value))
    return login, value
