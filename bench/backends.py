"""SQLite and PostgreSQL side by side: start-up of `add` / `touch`, `import`, `review --json`, `report --json`.

    python bench/backends.py --postgres URL [--runs 11] [--import-rows 1000000] [--leads 100000]

URL names a database on a server (e.g. what `.ci/postgres start DIR` prints); each part works in a
schema of its own there, dropped at the end. Run it from a virtualenv with pipectl installed with its
`postgres` extra (`pip install '.[postgres]'`). Targets (issue 8):
- `add`/`touch` on PostgreSQL: no more than the Typer floor + `import psycopg` + one round trip;
- import of 1,000,000 leads into PostgreSQL on loopback: within 2 x the SQLite import, flat memory;
- `review --json` and `report --json` on 100,000 leads on PostgreSQL: under 2 s each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from import_csv import generate, measure  # noqa: E402
from report import make_history  # noqa: E402
from review import make_pipeline  # noqa: E402
from startup import medians  # noqa: E402

NOW = "2026-11-30T09:00:00Z"


class Schemas:
    """Schemas of their own on the server, each a database URL; all dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        self.names: list[str] = []

    def new(self, name: str) -> str:
        schema = f"bench_{os.getpid()}_{name}"
        self.conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self.conn.execute(f"CREATE SCHEMA {schema}")
        self.names.append(schema)
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}options={quote(f'-csearch_path={schema}')}"

    def drop(self) -> None:
        for schema in self.names:
            self.conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self.conn.close()


def round_trip(url: str, runs: int = 200) -> float:
    """The median time of one `SELECT 1` on an open connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("PIPECTL_TEST_POSTGRES"), help="a database URL")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--import-rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("name a PostgreSQL database: --postgres URL (or PIPECTL_TEST_POSTGRES)")
    py = sys.executable
    pipectl = str(Path(py).with_name("pipectl"))
    folder = Path(tempfile.mkdtemp(prefix="pipectl-backends-"))
    env = {**os.environ, "PIPECTL_NOW": NOW, "XDG_CONFIG_HOME": str(folder)}
    schemas = Schemas(args.postgres)
    try:
        # --- start-up -------------------------------------------------------------------------------
        solo, team = str(folder / "solo.db"), schemas.new("startup")
        for db in (solo, team):
            subprocess.run([pipectl, "--db", db, "init"], env=env, check=True, capture_output=True)
            subprocess.run([pipectl, "--db", db, "add", "First"], env=env, check=True, capture_output=True)
        cases = [
            ("python -c pass", [py, "-c", "pass"]),
            ("python -c 'import psycopg'", [py, "-c", "import psycopg"]),
            ("floor: typer app, one command", [py, str(HERE / "floor.py"), "hello", "x"]),
            ("add (sqlite)", [pipectl, "--db", solo, "add", "Jane", "--value", "100"]),
            ("add (postgresql)", [pipectl, "--db", team, "add", "Jane", "--value", "100"]),
            ("touch (sqlite)", [pipectl, "--db", solo, "touch", "1", "call"]),
            ("touch (postgresql)", [pipectl, "--db", team, "touch", "1", "call"]),
        ]
        results = dict(zip((label for label, _ in cases), medians([a for _, a in cases], env, args.runs), strict=True))
        trip = round_trip(args.postgres)
        psycopg_cost = results["python -c 'import psycopg'"] - results["python -c pass"]
        budget = results["floor: typer app, one command"] + psycopg_cost + trip
        print(f"{'command':36} {'median':>9}")
        for label, median in results.items():
            print(f"{label:36} {median * 1000:8.1f}ms")
        print(f"{'one round trip (SELECT 1)':36} {trip * 1000:8.2f}ms")
        print(f"budget: floor + import psycopg ({psycopg_cost * 1000:.0f} ms) + a round trip = {budget * 1000:.1f} ms")
        for label in ("add (postgresql)", "touch (postgresql)"):
            print(f"{label}: {results[label] / budget:.2f} x the budget")

        # --- import ---------------------------------------------------------------------------------
        print(f"\n{'rows':>10} {'backend':<12} {'wall':>8} {'max RSS':>9}")
        for rows in args.import_rows:
            source = folder / f"leads-{rows}.csv"
            generate(source, rows)
            walls = {}
            for backend, db in (("sqlite", str(folder / f"import-{rows}.db")), ("postgresql", schemas.new(f"i{rows}"))):
                walls[backend], rss = measure([pipectl, "--db", db, "import", str(source)], env)
                print(f"{rows:>10,} {backend:<12} {walls[backend]:7.2f}s {rss:7.1f}Mi")
            print(f"{rows:>10,} postgresql / sqlite: {walls['postgresql'] / walls['sqlite']:.2f}")
            source.unlink()

        # --- review and report ----------------------------------------------------------------------
        print(f"\n{'command':28} {'leads':>9} {'sqlite':>8} {'postgresql':>11}")
        for label, make, command in (
            ("review --json", lambda path: make_pipeline(path, args.leads, 10), ["review", "--json"]),
            ("report --json", lambda path: make_history(path, args.leads, 10), ["report", "--json"]),
        ):
            local = folder / f"{command[0]}.db"
            make(local)
            remote = schemas.new(command[0])
            subprocess.run(
                [pipectl, "--db", str(local), "copy", "--to", remote], env=env, check=True, capture_output=True
            )
            cases = [[pipectl, "--db", str(local), *command], [pipectl, "--db", remote, *command]]
            times = medians(cases, env, max(3, args.runs // 3))
            print(f"{label:28} {args.leads:>9,} {times[0]:7.2f}s {times[1]:10.2f}s")
    finally:
        schemas.drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
