"""Speed of `review --json` and `today` on big pipelines, side by side with Taskwarrior's `task next`.

    python bench/review.py [--sizes 10000 100000 1000000] [--runs 5] [--touchpoints-per-lead 10]

For each size: a database of that many open leads (and 10 touchpoints each) written straight with
SQL, realistic denormalised fields, and the median wall time of `pipectl review --json` and
`pipectl today`. With Taskwarrior installed (Debian package `taskwarrior`), `task next` over the same
number of pending tasks is measured in the same run. Targets (issue 4, at 100,000 leads and 1,000,000
touchpoints): review --json < 2 s and <= 1 x `task next`; today < 1 s and <= 0.5 x `task next`; both
growing no faster than linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
STAGES = ["prospecting", "qualifying", "connecting", "closing"]
NEGLECTED = 0.25


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_pipeline(path: Path, leads: int, per_lead: int, share_neglected: float = NEGLECTED) -> None:
    from pipectl.store import Store

    store = Store.open(str(path), create=True, currency="USD")
    conn = store.conn
    rng = random.Random(7)
    conn.execute("BEGIN")
    rows = []
    for i in range(1, leads + 1):
        # A pipeline as kept by a rep who reviews it: most leads moving and followed up (entered
        # their stage within its limit, touched lately, a next step ahead), and a share neglected
        # in one way or another (the `--neglected` share: stale, overdue, uncontacted, no step...).
        neglected = rng.random() < share_neglected
        created = NOW - timedelta(days=rng.uniform(0, 200 if neglected else 60))
        entered = max(created, NOW - timedelta(days=rng.uniform(0, 60 if neglected else 10)))
        touched = entered + (NOW - entered) * rng.random()
        due = NOW + timedelta(days=rng.uniform(-10, 10) if neglected else rng.uniform(0.1, 10))
        if neglected and rng.random() < 0.3:
            due = None
        rows.append(
            (
                i,
                f"Lead {i}",
                f"Company {i % 9000}",
                f"lead{i}@example.com",
                rng.randint(1, 10**9),
                STAGES[rng.randrange(4)],
                iso(created),
                iso(touched),
                iso(entered),
                iso(touched),
                per_lead,
                "follow up" if due else None,
                iso(due) if due else None,
                rng.randint(0, 6 if neglected else 3),
                iso(touched) if not neglected or rng.random() < 0.8 else None,
                1,
            )
        )
    conn.executemany(
        "INSERT INTO leads (id, name, company, email, value, stage, status, owner, created_at, updated_at,"
        " stage_entered_at, last_touch_at, touch_count, next_action, next_action_due, attempts,"
        " last_outbound_at, qualified) VALUES (?, ?, ?, ?, ?, ?, 'open', 'taro', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO touchpoints (lead_id, kind, direction, at, created_at) VALUES (?, 'call', 'out', ?, ?)",
        ((1 + n // per_lead, iso(NOW), iso(NOW)) for n in range(leads * per_lead)),
    )
    conn.execute("COMMIT")
    store.close()


def make_tasks(folder: Path, count: int) -> dict[str, str]:
    """A Taskwarrior data folder with ``count`` pending tasks (due dates, projects, tags, priorities)."""
    env = {**os.environ, "TASKDATA": str(folder / "task"), "TASKRC": str(folder / "taskrc")}
    (folder / "task").mkdir()
    (folder / "taskrc").write_text(f"data.location={folder / 'task'}\nconfirmation=off\nverbose=nothing\n")
    rng = random.Random(7)
    tasks = []
    for i in range(count):
        task = {
            "description": f"Call lead {i}",
            "status": "pending",
            "entry": "20261101T090000Z",
            "uuid": f"{i:08x}-0000-4000-8000-000000000000",
            "project": f"p{i % 50}",
            "tags": ["sales"] if i % 3 else ["sales", "hot"],
        }
        if rng.random() < 0.7:
            task["due"] = (NOW + timedelta(days=rng.uniform(-10, 10))).strftime("%Y%m%dT%H%M%SZ")
        if i % 4 == 0:
            task["priority"] = "H"
        tasks.append(task)
    (folder / "tasks.json").write_text("\n".join(json.dumps(t) for t in tasks))
    subprocess.run(["task", "import", str(folder / "tasks.json")], env=env, check=True, capture_output=True)
    return env


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--touchpoints-per-lead", type=int, default=10)
    parser.add_argument("--neglected", type=float, default=NEGLECTED, help="share of leads with problems")
    parser.add_argument("--task-max", type=int, default=100_000, help="largest size to run Taskwarrior at")
    args = parser.parse_args()

    pipectl = str(Path(sys.executable).with_name("pipectl"))
    taskwarrior = shutil.which("task")
    print(
        f"{'leads':>9} {'touchpoints':>12} {'review --json':>14} {'today':>8} {'task next':>10}"
        f" {'review/task':>12} {'today/task':>11}"
    )
    for size in args.sizes:
        folder = Path(tempfile.mkdtemp(prefix="pipectl-bench-"))
        db = folder / "pipeline.db"
        make_pipeline(db, size, args.touchpoints_per_lead, args.neglected)
        env = {**os.environ, "PIPECTL_NOW": iso(NOW), "XDG_CONFIG_HOME": str(folder), "PIPECTL_DB": str(db)}
        cases = [[pipectl, "review", "--json"], [pipectl, "today"]]
        task_env = None
        if taskwarrior and size <= args.task_max:
            task_env = make_tasks(folder, size)
        times: list[list[float]] = [[], [], []]
        for _ in range(args.runs):
            for index, argv in enumerate(cases):
                times[index].append(wall(argv, env))
            if task_env:
                times[2].append(wall([taskwarrior, "next"], task_env))
        review_s, today_s = statistics.median(times[0]), statistics.median(times[1])
        task_s = statistics.median(times[2]) if times[2] else float("nan")
        print(
            f"{size:>9,} {size * args.touchpoints_per_lead:>12,} {review_s:>13.2f}s {today_s:>7.2f}s"
            f" {task_s:>9.2f}s {review_s / task_s:>12.2f} {today_s / task_s:>11.2f}"
        )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
