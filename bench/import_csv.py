"""Import speed and memory against the raw floor, on generated CSV files of realistic leads.

    python bench/import_csv.py [--rows 100000 1000000] [--runs 3] [--skip-sqlite-utils]
                               [--pipectl OTHER/venv/bin/pipectl ...]

For each size, a CSV of leads (Unicode names, quoted notes with commas and newlines, amounts with
thousands separators, ~10% duplicate emails) is imported, side by side in one run, by:
  - `sqlite3 db ".mode csv" ".import leads.csv t"`: the raw floor, which validates nothing;
  - `sqlite-utils insert db t leads.csv --csv`;
  - `pipectl import leads.csv` into an empty database;
and the wall time and peak memory (max RSS, from wait4: for pipectl, which reads a large file in a
second process, that of the larger of the two) are printed. With ``--runs``, the three take turns
that many times (so that a noisy machine slows them alike) and the medians are printed, the ratio
being the median of each run's own. Targets (issue 5, at 1,000,000 rows): pipectl at most 4 x the
floor, at least 5 x faster than sqlite-utils, max RSS under 80 MiB and the same at 100k and 1M rows.

``--pipectl`` adds another build's command (another checkout installed in its own venv), measured in
the same turns: "before and after" on one machine at one time, whatever else it is doing. The first
pipectl is the one beside this Python.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST = ["Jane", "John", "Zoë", "José", "François", "Łukasz", "Søren", "Emily", "Hiro", "Aiko", "Mei", "Omar"]
LAST = ["Doe", "Müller", "Álvarez", "Lefèvre", "Wróbel", "Nguyen", "Smith", "O'Connor", "Kim", "Brown"]
JAPANESE = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健太", "伊藤 直樹"]
SOURCES = ["referral", "website", "webinar", "cold-call", "linkedin", "trade-show", "partner"]
STAGES = ["prospecting", "qualifying", "connecting", "closing"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(11)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("First Name,Last Name,Email,Company Name,Phone,Lead Source,Amount,Create Date,Deal Stage,Notes\n")
        for number in range(rows):
            # ~10% of the rows repeat an earlier email: duplicates the import skips
            key = rng.randrange(number) if number and rng.random() < 0.1 else number
            if rng.random() < 0.15:
                first, last = JAPANESE[key % len(JAPANESE)].split()
            else:
                first, last = FIRST[key % len(FIRST)], LAST[key % len(LAST)]
            amount = f'"{rng.randint(1, 9_000_000):,}"' if rng.random() < 0.5 else str(rng.randint(1, 9_000_000))
            note = rng.choice(
                [
                    "",
                    "",
                    '"Asked for pricing, wants a demo"',
                    '"Met at the fair;\nfollow up in Q1"',
                    '"Said ""maybe"" twice"',
                ]
            )
            out.write(
                f"{first},{last},lead{key}@example{key % 97}.com,Company {key % 5000},+81 3-{key % 10000:04d}-0000,"
                f"{SOURCES[key % 7]},{amount},2026-{1 + key % 11:02d}-{1 + key % 28:02d},{STAGES[key % 4]},{note}\n"
            )


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=1, help="turns each tool takes; medians are printed")
    parser.add_argument("--skip-sqlite-utils", action="store_true", help="it takes ~10 x the others")
    parser.add_argument("--pipectl", action="append", default=[], help="another build's pipectl command, too")
    args = parser.parse_args()
    builds = [str(Path(sys.executable).with_name("pipectl")), *args.pipectl]
    sqlite_utils = shutil.which("sqlite-utils", path=str(Path(sys.executable).parent)) or "sqlite-utils"
    print(f"{'rows':>10} {'tool':<28} {'wall':>8} {'max RSS':>9} {'x floor':>8}")
    for rows in args.rows:
        folder = Path(tempfile.mkdtemp(prefix="pipectl-import-"))
        source = folder / "leads.csv"
        generate(source, rows)
        env = {**os.environ, "XDG_CONFIG_HOME": str(folder), "PIPECTL_NOW": "2026-11-30T09:00:00Z"}
        floor_db, su_db, pipectl_db = folder / "floor.db", folder / "su.db", folder / "pipectl.db"
        commands = {"sqlite3 .import (floor)": (["sqlite3", str(floor_db), ".mode csv", f".import {source} t"], None)}
        if not args.skip_sqlite_utils:
            su_argv = [sqlite_utils, "insert", str(su_db), "t", str(source), "--csv"]
            commands["sqlite-utils insert --csv"] = (su_argv, None)
        for number, pipectl in enumerate(builds):
            label = "pipectl import" if len(builds) == 1 else f"pipectl import ({number + 1})"
            commands[label] = ([pipectl, "--db", str(pipectl_db), "import", str(source)], env)
        walls: dict[str, list[float]] = {tool: [] for tool in commands}
        peaks: dict[str, float] = {}
        for _ in range(args.runs):
            for tool, (argv, tool_env) in commands.items():
                for database in (floor_db, su_db, pipectl_db, folder / "pipectl.db-wal", folder / "pipectl.db-shm"):
                    database.unlink(missing_ok=True)  # each run imports into an empty database
                wall, rss = measure(argv, tool_env)
                walls[tool].append(wall)
                peaks[tool] = max(peaks.get(tool, 0.0), rss)
        floors = walls["sqlite3 .import (floor)"]
        for tool, times in walls.items():
            memory = f"{peaks[tool]:7.1f}Mi" if tool != "sqlite3 .import (floor)" else ""
            ratio = statistics.median(wall / floor for wall, floor in zip(times, floors, strict=True))
            print(f"{rows:>10,} {tool:<28} {statistics.median(times):7.2f}s {memory:>9} {ratio:8.2f}")
        shutil.rmtree(folder, ignore_errors=True)
    for number, pipectl in enumerate(builds if len(builds) > 1 else []):
        print(f"({number + 1}) {pipectl}")


if __name__ == "__main__":
    main()
