"""A rep's commands at scale (issue 18): the neglected list and the team database.

    python bench/scale.py [--runs 5] [--postgres URL] [--shapes neglected team one-owner writes]

Shapes, each built once with straight SQL under $PIPECTL_SCALE_DIR (default /tmp/pipectl-scale) and
reused by later runs (PostgreSQL: schemas ``scale_*`` on the server, also kept):
- neglected: 10,000 / 100,000 / 1,000,000 leads imported ten days ago, none touched since (no next step,
  no value, all in the first stage). `today`, `review`, `board`, `list --stage X --limit 50`, `review
  --json`, `report --json` (wall time and peak memory), `task next` on as many pending tasks.
- team: 1,000,000 leads of 500 owners (2,000 each, ids interleaved as they came in, 80 % open, a kept
  pipeline with a neglected share) and, side by side in the same run, a database holding only rep7's
  2,000 leads (the same rows): `today/review/board/report/list --owner rep7`.
- one-owner: 1,000,000 open leads of one owner, the same kept pipeline: `today`, `review`.
- writes: `add` and `touch` on the 100,000-lead neglected database.

Every figure is the median of ``--runs`` interleaved runs (each command once per round), from the
pipectl this interpreter imports (`python -m pipectl`: `pip install .`, or PYTHONPATH=src); peak
memory is the most any run took. Targets: issue 18, printed above each table.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))
from review import NOW, STAGES, iso, make_tasks  # the sibling benchmark's helpers

HERE = Path(__file__).parent
FOLDER = Path(os.environ.get("PIPECTL_SCALE_DIR", "/tmp/pipectl-scale"))
COLUMNS = [
    "id",
    "name",
    "company",
    "email",
    "value",
    "stage",
    "status",
    "owner",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "last_touch_at",
    "touch_count",
    "next_action",
    "next_action_due",
    "attempts",
    "last_outbound_at",
    "qualified",
    "closed_at",
]
OWNERS = 500
PER_OWNER = 2000
CHUNK = 20_000


def neglected_rows(count: int) -> Iterator[tuple[object, ...]]:
    """A purchased list imported ten days ago: nobody has touched a lead of it."""
    imported = iso(NOW - timedelta(days=10))
    for i in range(1, count + 1):
        yield (i, f"Lead {i}", f"Company {i % 9000}", f"lead{i}@example.com", None, STAGES[0], "open", "taro",
               imported, imported, imported, None, 0, None, None, 0, None, None, None)  # fmt: skip


def kept_rows(
    owner: str, seed: int, count: int, first_id: int, step: int, closed_share: float
) -> Iterator[tuple[object, ...]]:
    """One rep's pipeline, mostly kept (recent stage, touched, a step ahead) with a neglected share."""
    rng = random.Random(seed)
    for k in range(count):
        i = first_id + k * step
        neglected = rng.random() < 0.25
        created = NOW - timedelta(days=rng.uniform(0, 200 if neglected else 60))
        entered = max(created, NOW - timedelta(days=rng.uniform(0, 60 if neglected else 10)))
        touched = entered + (NOW - entered) * rng.random()
        due = NOW + timedelta(days=rng.uniform(-10, 10) if neglected else rng.uniform(0.1, 10))
        if neglected and rng.random() < 0.3:
            due = None
        status = "open" if rng.random() >= closed_share else rng.choice(["won", "lost"])
        yield (
            i, f"Lead {i}", f"Company {i % 9000}", f"lead{i}@example.com", rng.randint(1, 10**9),
            STAGES[rng.randrange(4)], status, owner, iso(created), iso(touched), iso(entered), iso(touched),
            rng.randint(0, 12), "follow up" if due else None, iso(due) if due else None,
            rng.randint(0, 6 if neglected else 3), iso(touched) if not neglected or rng.random() < 0.8 else None,
            1, iso(touched) if status != "open" else None,
        )  # fmt: skip


def team_rows(only: str | None) -> Iterator[tuple[object, ...]]:
    """500 reps' leads, ids interleaved as they came in; ``only``: that rep's rows alone (the same)."""
    owners = [f"rep{n}" for n in range(OWNERS)]
    streams = [
        kept_rows(name, n, PER_OWNER, n + 1, OWNERS, 0.2) for n, name in enumerate(owners) if only in (None, name)
    ]
    for row_group in zip(*streams, strict=True):
        yield from row_group


def fill(database: str, rows: Iterator[tuple[object, ...]]) -> None:
    from pipectl.store import Store

    store = Store.open(database, create=True, currency="USD")
    with store.db.writing():
        while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
            store.db.insert_rows("leads", COLUMNS, chunk)
        store.db.set_last_ids(
            {**store.db.last_ids(), "leads": store.conn.execute("SELECT max(id) FROM leads").fetchone()[0]}
        )
    store.close()


def sqlite_db(name: str, rows: Iterator[tuple[object, ...]]) -> str:
    path = FOLDER / f"{name}.db"
    if not path.exists():
        FOLDER.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        fill(str(path) + ".part", rows)
        Path(str(path) + ".part").rename(path)
        print(f"  built {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return str(path)


def postgres_db(url: str, name: str, rows: Iterator[tuple[object, ...]]) -> str:
    import psycopg

    schema = f"scale_{name}"
    separator = "&" if "?" in url else "?"
    target = f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if not exists:
            conn.execute(f"CREATE SCHEMA {schema}")
    if not exists:
        start = time.perf_counter()
        fill(target, rows)
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("ANALYZE")
        print(f"  built {schema} in {time.perf_counter() - start:.0f} s", flush=True)
    return target


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time (s) and peak memory (MiB) of one command. The memory is GNU time's: a child forked
    from this (big) process would count this one's pages as its own."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"failed: {' '.join(argv)}")
    return elapsed, int(done.stderr.split()[-1]) / 1024


def measure(cases: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall time and peak memory of each case, rounds interleaved after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, float] = dict.fromkeys(cases, 0.0)
    for round_ in range(runs + 1):
        for name, (argv, env) in cases.items():
            elapsed, peak = run(argv, env)
            if round_:
                times[name].append(elapsed)
                peaks[name] = max(peaks[name], peak)
    return {name: (statistics.median(times[name]), peaks[name]) for name in cases}


def environment(database: str) -> dict[str, str]:
    return {**os.environ, "PIPECTL_NOW": iso(NOW), "PIPECTL_DB": database, "XDG_CONFIG_HOME": str(FOLDER / "config")}


def show(results: dict[str, tuple[float, float]], floor: float | None = None) -> None:
    for name, (seconds, peak) in results.items():
        ratio = f"  {seconds / floor:5.2f} x floor" if floor else ""
        print(f"  {name:<44} {seconds:7.3f} s {peak:7.1f} MiB{ratio}", flush=True)


def neglected(pipectl: str, runs: int, sizes: list[int]) -> None:
    print("neglected list (targets at 100,000: today <= 1.5 x floor; review, board, list < 0.5 s;"
          " review --json, report --json < 1 s; memory < 100 MiB, flat)")  # fmt: skip
    taskwarrior = shutil.which("task")
    for size in sizes:
        database = sqlite_db(f"neglected-{size}", neglected_rows(size))
        env = environment(database)
        commands = {
            "today": ["today"],
            "today --json": ["today", "--json"],
            "review": ["review"],
            "review --json": ["review", "--json"],
            "board": ["board"],
            "board --json": ["board", "--json"],
            "list --stage prospecting --limit 50": ["list", "--stage", "prospecting", "--limit", "50"],
            "report --json": ["report", "--json"],
            "export --format jsonl": ["export", "--format", "jsonl"],
        }
        cases = {f"{size:>9,} {name}": ([pipectl, "-m", "pipectl", *argv], env) for name, argv in commands.items()}
        cases[f"{size:>9,} Typer floor"] = ([sys.executable, str(HERE / "floor.py"), "hello", "x"], dict(os.environ))
        if taskwarrior and size <= 100_000:
            tasks = FOLDER / f"tasks-{size}"
            if not tasks.exists():
                tasks.mkdir(parents=True)
                make_tasks(tasks, size)
            task_env = {**os.environ, "TASKDATA": str(tasks / "task"), "TASKRC": str(tasks / "taskrc")}
            cases[f"{size:>9,} task next"] = ([taskwarrior, "next"], task_env)
        results = measure(cases, runs)
        show(results, results[f"{size:>9,} Typer floor"][0])  # the floor of the same rounds


def team(pipectl: str, runs: int, postgres: str | None) -> None:
    print("team: 1,000,000 leads of 500 owners against rep7's 2,000 alone (target: <= 1.5 x alone)")
    backends = [("sqlite", sqlite_db("team", team_rows(None)), sqlite_db("alone", team_rows("rep7")))]
    if postgres:
        backends.append(
            (
                "postgres",
                postgres_db(postgres, "team", team_rows(None)),
                postgres_db(postgres, "alone", team_rows("rep7")),
            )
        )
    commands = {
        "today": ["today"],
        "review": ["review"],
        "board": ["board"],
        "report": ["report"],
        "list --limit 20": ["list", "--limit", "20"],
    }
    for backend, whole, alone in backends:
        cases = {}
        for name, argv in commands.items():
            for label, database in (("team", whole), ("alone", alone)):
                cases[f"{backend} {label:<5} {name} --owner rep7"] = (
                    [pipectl, "-m", "pipectl", *argv, "--owner", "rep7"],
                    environment(database),
                )
        results = measure(cases, runs)
        show(results)
        for name in commands:
            ratio = (
                results[f"{backend} team  {name} --owner rep7"][0] / results[f"{backend} alone {name} --owner rep7"][0]
            )
            print(f"  {backend} {name}: team / alone = {ratio:.2f}", flush=True)


def one_owner(pipectl: str, runs: int) -> None:
    print("one owner, 1,000,000 open leads (targets: today < 0.5 s, review < 2 s)")
    database = sqlite_db("one-owner", kept_rows("taro", 1, 1_000_000, 1, 1, 0.0))
    env = environment(database)
    show(measure({name: ([pipectl, "-m", "pipectl", name], env) for name in ("today", "review")}, runs))


def writes(pipectl: str, runs: int) -> None:
    """`add` and `touch` on two copies of the 100,000-lead neglected list, one without the indexes only
    the daily views read (each run adds a lead)."""
    import sqlite3

    from pipectl.migrations import VIEW_INDEXES

    print("writes on 100,000 leads (target: within 10 % of the schema without the daily views' indexes)")
    source = sqlite_db("neglected-100000", neglected_rows(100_000))
    cases = {}
    copies = {"with": FOLDER / "writes.db", "without": FOLDER / "writes-bare.db"}
    for label, copy in copies.items():
        remove(copy)
        shutil.copyfile(source, copy)
        if label == "without":
            with sqlite3.connect(copy) as bare:
                for name in VIEW_INDEXES:
                    bare.execute(f"DROP INDEX {name}")
        env = environment(str(copy))
        cases[f"add ({label} the indexes)"] = ([pipectl, "-m", "pipectl", "add", "New lead", "--company", "Acme"], env)
        cases[f"touch ({label} the indexes)"] = (
            [pipectl, "-m", "pipectl", "touch", "5", "call", "--outcome", "no-answer"],
            env,
        )
    results = measure(cases, runs)
    show(results)
    for command in ("add", "touch"):
        ratio = results[f"{command} (with the indexes)"][0] / results[f"{command} (without the indexes)"][0]
        print(f"  {command}: with / without = {ratio:.2f}", flush=True)
    for copy in copies.values():
        remove(copy)


def remove(database: Path) -> None:
    """A copy with its write-ahead log: a log left behind would be read into the next copy of that name."""
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("PIPECTL_TEST_POSTGRES"), help="a database URL")
    parser.add_argument("--shapes", nargs="+", default=["neglected", "team", "one-owner", "writes"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    pipectl = sys.executable  # `python -m pipectl`, like the floor's `python floor.py`
    print(f"machine load: {os.getloadavg()[0]:.1f}", flush=True)
    if "neglected" in args.shapes:
        neglected(pipectl, args.runs, args.sizes)
    if "team" in args.shapes:
        team(pipectl, args.runs, args.postgres)
    if "one-owner" in args.shapes:
        one_owner(pipectl, args.runs)
    if "writes" in args.shapes:
        writes(pipectl, args.runs)


if __name__ == "__main__":
    main()
