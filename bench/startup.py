"""Start-up and write-path speed of pipectl against the Typer floor, on an empty and a big database.

    python bench/startup.py [--leads 100000] [--touchpoints 500000] [--runs 21]

Prints the median wall time of each command (same interpreter, same packages, side by side) and its
ratio to the floor app (bench/floor.py). Targets (issue 2): add and touch <= 1.3 x the floor, on an
empty database and on the big one alike; `list --stage X --limit 50` on the big one <= 1.5 x.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
NOW = "2026-11-30T09:00:00Z"


def make_big(path: Path, leads: int, touchpoints: int) -> None:
    """A database of ``leads`` leads and ``touchpoints`` touchpoints, written straight with SQL."""
    from pipectl.store import Store

    store = Store.open(str(path), create=True, currency="USD")
    conn = store.conn
    rng = random.Random(1)
    stages = ["prospecting", "qualifying", "connecting", "closing"]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO leads (id, name, company, email, value, stage, status, owner, created_at, updated_at,"
        " stage_entered_at, touch_count) VALUES (?, ?, ?, ?, ?, ?, ?, 'taro', ?, ?, ?, ?)",
        (
            (
                i,
                f"Lead {i}",
                f"Company {i % 5000}",
                f"lead{i}@example.com",
                rng.randint(1, 10**9),
                stages[i % 4],
                "open" if i % 5 else "won",
                NOW,
                NOW,
                NOW,
                touchpoints // leads,
            )
            for i in range(1, leads + 1)
        ),
    )
    conn.executemany(
        "INSERT INTO touchpoints (lead_id, kind, direction, at, created_at) VALUES (?, 'call', 'out', ?, ?)",
        ((rng.randint(1, leads), NOW, NOW) for _ in range(touchpoints)),
    )
    conn.execute("COMMIT")
    store.close()


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def medians(cases: list[list[str]], env: dict[str, str], runs: int) -> list[float]:
    """Median wall time of each command, run round-robin so that machine noise hits all alike."""
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(runs):
        for index, argv in enumerate(cases):
            times[index].append(wall(argv, env))
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--touchpoints", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    py = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="pipectl-bench-"))
    empty, big = folder / "empty.db", folder / "big.db"
    env = {**os.environ, "PIPECTL_NOW": NOW, "XDG_CONFIG_HOME": str(folder)}
    # The console script a user runs, with the config `init` writes (so its parsing is counted too).
    pipectl = [str(Path(py).with_name("pipectl"))]
    subprocess.run([*pipectl, "--db", str(empty), "init"], env=env, check=True, capture_output=True)
    subprocess.run([*pipectl, "--db", str(empty), "add", "First"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    make_big(big, args.leads, args.touchpoints)
    print(
        f"big database: {args.leads:,} leads, {args.touchpoints:,} touchpoints "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )
    cases = [
        ("floor: typer app, one command", [py, str(HERE / "floor.py"), "hello", "x"]),
        ("add (empty db)", [*pipectl, "--db", str(empty), "add", "Jane", "--value", "100"]),
        ("touch (empty db)", [*pipectl, "--db", str(empty), "touch", "1", "call"]),
        ("add (big db)", [*pipectl, "--db", str(big), "add", "Jane", "--value", "100"]),
        ("touch by id (big db)", [*pipectl, "--db", str(big), "touch", "7", "call"]),
        ("touch by email (big db)", [*pipectl, "--db", str(big), "touch", "lead7@example.com", "call"]),
        ("touch by name (big db, scans names)", [*pipectl, "--db", str(big), "touch", "Lead 77777", "call"]),
        (
            "list --stage closing --limit 50 (big db)",
            [*pipectl, "--db", str(big), "list", "--stage", "closing", "--limit", "50"],
        ),
    ]
    results = medians([argv for _, argv in cases], env, args.runs)
    print(f"{'command':45} {'median':>8} {'x floor':>8}")
    for (label, _), median in zip(cases, results, strict=True):
        print(f"{label:45} {median * 1000:7.1f}ms {median / results[0]:8.2f}")


if __name__ == "__main__":
    main()
