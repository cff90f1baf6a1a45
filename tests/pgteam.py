"""A team's PostgreSQL database with real, non-superuser logins, for the team and secrets tests.

Roles are the whole server's, so every name starts with this test run's pid; the database and every
role made here (including the logins `team add` creates) are dropped afterwards. Unix-socket
connections are trusted by the test server; TCP on 127.0.0.1 needs the login's password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from conftest import POSTGRES

# A password with every character a URL or a libpq string treats specially.
OWNER_PASSWORD = "o/wn#er?p@ss w%rd"


@dataclass
class Server:
    socket: str
    port: str
    database: str
    prefix: str

    def role(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def url(self, login: str, password: str | None = None) -> str:
        """A login's URL: over the Unix socket, or over TCP with the password as the user typed it."""
        if password is None:
            return f"postgresql://{self.role(login)}@/{self.database}?host={self.socket}&port={self.port}"
        return f"postgresql://{self.role(login)}:{password}@127.0.0.1:{self.port}/{self.database}"

    def connect(self, login: str | None = None) -> Any:
        """psycopg on the team database, as ``login`` (None: the superuser)."""
        import psycopg

        user = "postgres" if login is None else self.role(login)
        return psycopg.connect(host=self.socket, port=self.port, dbname=self.database, user=user, autocommit=True)


def server() -> Iterator[Server]:
    """A database owned by a login with CREATEROLE (not a superuser); everything dropped afterwards."""
    import psycopg

    assert POSTGRES
    query = parse_qs(urlsplit(POSTGRES).query)
    prefix = f"t{os.getpid()}"
    made = Server(query["host"][0], query["port"][0], f"{prefix}_sales", prefix)
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        _drop(admin, made)
        escaped = OWNER_PASSWORD.replace("'", "''")
        admin.execute(f"CREATE ROLE {made.role('owner')} LOGIN CREATEROLE PASSWORD '{escaped}'")
        admin.execute(f"CREATE DATABASE {made.database} OWNER {made.role('owner')}")
    try:
        yield made
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            _drop(admin, made)


def _drop(admin: Any, made: Server) -> None:
    admin.execute(f"DROP DATABASE IF EXISTS {made.database} WITH (FORCE)")
    rows = admin.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (made.prefix + "\\_%",)).fetchall()
    for (name,) in sorted(rows, key=lambda row: row[0].endswith("owner")):
        admin.execute(f"DROP ROLE {name}")


def encoded(password: str) -> str:
    return quote(password, safe="")
