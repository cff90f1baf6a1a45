"""Speed of `report --json` and `board --json` on big pipelines, side by side with `task next`.

    python bench/report.py [--sizes 10000 100000] [--runs 5]

For each size: that many leads (80 % open, the rest won or lost) with 10 events each in the event log
(creation, touchpoints, stage moves, closes), written straight with SQL; then the median wall time of
`pipectl report --json`, `pipectl board --json` and, with Taskwarrior installed, `task next` over the
same number of pending tasks. Targets (issue 6, at 100,000 leads and 1,000,000 events): under 2 s each
and at most 1 x `task next`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from review import NOW, STAGES, iso, make_tasks, wall  # the sibling benchmark's helpers


def make_history(path: Path, leads: int, events_per_lead: int) -> None:
    from pipectl.store import Store

    store = Store.open(str(path), create=True, currency="USD")
    conn = store.conn
    rng = random.Random(3)
    conn.execute("BEGIN")
    lead_rows, event_rows = [], []
    for i in range(1, leads + 1):
        created = NOW - timedelta(days=rng.uniform(5, 300))
        moments = sorted(created + (NOW - created) * rng.random() for _ in range(events_per_lead - 1))
        stage_index = rng.randrange(4)
        status = "open" if rng.random() < 0.8 else rng.choice(["won", "lost"])
        event_rows.append((i, iso(created), i, "create", "{}"))
        moves = moments[-stage_index - 1 : -1] if stage_index else []
        for moment in moments[: len(moments) - len(moves) - 1]:
            event_rows.append((i, iso(moment), i, "touch", '{"touchpoint": {}}'))
        for step, moment in enumerate(moves):
            data = json.dumps({"from": STAGES[step], "to": STAGES[step + 1]})
            event_rows.append((i, iso(moment), i, "stage", data))
        closed = iso(moments[-1]) if status != "open" else None
        last = json.dumps({"stage": STAGES[stage_index]})
        event_rows.append((i, iso(moments[-1]), i, status if closed else "touch", last))
        entered = moves[-1] if moves else created
        lead_rows.append(
            (
                i,
                f"Lead {i}",
                f"Company {i % 9000}",
                rng.randint(1, 10**9),
                STAGES[stage_index],
                status,
                iso(created),
                iso(NOW),
                iso(entered),
                rng.choice(["referral", "website", "webinar"]),
                closed,
                8,
                iso(created),
            )
        )
    conn.executemany(
        "INSERT INTO leads (id, name, company, value, stage, status, owner, created_at, updated_at,"
        " stage_entered_at, source, closed_at, touch_count, last_outbound_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'taro', ?, ?, ?, ?, ?, ?, ?)",
        lead_rows,
    )
    conn.executemany(
        "INSERT INTO events (batch, at, command, actor, lead_id, type, data) VALUES (?, ?, 'bench', 'taro', ?, ?, ?)",
        event_rows,
    )
    conn.execute("COMMIT")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events-per-lead", type=int, default=10)
    args = parser.parse_args()
    pipectl = str(Path(sys.executable).with_name("pipectl"))
    taskwarrior = shutil.which("task")
    print(
        f"{'leads':>9} {'events':>10} {'report --json':>14} {'board --json':>13} {'task next':>10}"
        f" {'report/task':>12} {'board/task':>11}"
    )
    for size in args.sizes:
        folder = Path(tempfile.mkdtemp(prefix="pipectl-bench-"))
        db = folder / "pipeline.db"
        make_history(db, size, args.events_per_lead)
        env = {**os.environ, "PIPECTL_NOW": iso(NOW), "XDG_CONFIG_HOME": str(folder), "PIPECTL_DB": str(db)}
        task_env = make_tasks(folder, size) if taskwarrior else None
        times: list[list[float]] = [[], [], []]
        for _ in range(args.runs):
            times[0].append(wall([pipectl, "report", "--json"], env))
            times[1].append(wall([pipectl, "board", "--json"], env))
            if task_env and taskwarrior:
                times[2].append(wall([taskwarrior, "next"], task_env))
        report_s, board_s = statistics.median(times[0]), statistics.median(times[1])
        task_s = statistics.median(times[2]) if times[2] else float("nan")
        print(
            f"{size:>9,} {size * args.events_per_lead:>10,} {report_s:>13.2f}s {board_s:>12.2f}s {task_s:>9.2f}s"
            f" {report_s / task_s:>12.2f} {board_s / task_s:>11.2f}"
        )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
