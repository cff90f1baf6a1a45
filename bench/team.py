"""A rep's commands on a team database, with row-level security and without (SPEC §16, issue 22).

    python bench/team.py --postgres URL [--leads 100000] [--reps 50] [--runs 7]

URL names a database on a server as its superuser (what `.ci/postgres start DIR` prints). The bench
makes a database owned by a login with CREATEROLE, `pipectl team init`s it, adds the reps, imports
the leads (spread evenly over the reps), then times each command run by one rep's own login: once
with the team's row-level security on, once with it switched off on the same data. Target: with it
within 1.5x of without. Everything it made is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from import_csv import generate  # noqa: E402

COMMANDS = [
    ["today"],
    ["today", "--json"],
    ["review", "--json"],
    ["list", "--json"],
    ["board", "--json"],
    ["report", "--json"],
    ["show", "REP_LEAD"],
    ["note", "REP_LEAD", "called back"],
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    query = parse_qs(urlsplit(args.postgres).query)
    socket, port = query["host"][0], query["port"][0]
    prefix = f"bench{os.getpid()}"
    database, owner = f"{prefix}_sales", f"{prefix}_owner"
    reps = [f"{prefix}_rep{number}" for number in range(args.reps)]

    def url(login: str) -> str:
        return f"postgresql://{login}@/{database}?host={socket}&port={port}"

    env = {**os.environ, "PIPECTL_NOW": "2026-11-30T09:00:00Z"}
    with tempfile.TemporaryDirectory() as folder, psycopg.connect(args.postgres, autocommit=True) as admin:
        env.update(XDG_DATA_HOME=f"{folder}/data", XDG_CONFIG_HOME=f"{folder}/config")
        admin.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE")
        admin.execute(f"CREATE DATABASE {database} OWNER {owner}")
        try:

            def pipectl(login: str, *argv: str, stdin: str | None = None) -> str:
                command = [sys.executable, "-m", "pipectl", "--db", url(login), *argv]
                done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=True)
                return done.stdout

            source = Path(folder) / "leads.csv"
            generate(source, args.leads)
            pipectl(owner, "init")
            pipectl(owner, "import", str(source))
            pipectl(owner, "team", "init")
            for rep in reps:
                pipectl(owner, "team", "add", rep, "--password-stdin", stdin="pw\n")
            with psycopg.connect(url(owner), autocommit=True) as conn:
                names = "ARRAY[" + ", ".join(f"'{rep}'" for rep in reps) + "]"
                conn.execute(f"UPDATE leads SET owner = ({names})[1 + id % {len(reps)}]")
                conn.execute("ANALYZE")
                count = conn.execute("SELECT count(*) FROM leads").fetchone()
                rep = reps[0]
                lead = conn.execute("SELECT min(id) FROM leads WHERE owner = %s", (rep,)).fetchone()
            print(f"{count[0]} leads, {len(reps)} reps; timing {rep}'s commands, median of {args.runs} runs")

            def timed(argv: list[str]) -> float:
                argv = [str(lead[0]) if word == "REP_LEAD" else word for word in argv]
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    pipectl(rep, *argv)
                    times.append(time.perf_counter() - start)
                return statistics.median(times)

            results = []
            for argv in COMMANDS:
                with_rls = timed(argv)
                with psycopg.connect(url(owner), autocommit=True) as conn:
                    conn.execute("ALTER TABLE leads DISABLE ROW LEVEL SECURITY")
                    conn.execute("ALTER TABLE touchpoints DISABLE ROW LEVEL SECURITY")
                try:
                    without = timed(argv)
                finally:
                    with psycopg.connect(url(owner), autocommit=True) as conn:
                        conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
                        conn.execute("ALTER TABLE touchpoints ENABLE ROW LEVEL SECURITY")
                results.append((" ".join(argv), with_rls, without))
            print(f"{'command':28} {'with RLS':>9} {'without':>9} {'ratio':>6}")
            for name, with_rls, without in results:
                print(f"{name:28} {with_rls:8.3f}s {without:8.3f}s {with_rls / without:6.2f}")
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            for login in [*reps, f"{database}_reps", f"{database}_managers", owner]:
                admin.execute(f"DROP ROLE IF EXISTS {login}")


if __name__ == "__main__":
    main()
