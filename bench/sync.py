"""`pipectl sync mail` speed and memory on a generated Maildir, beside `notmuch new`.

    python bench/sync.py [--messages 100000] [--leads 1000] [--keep DIR]   (DIR: kept, and its Maildir reused)

A Maildir of ``--messages`` messages is written (multipart and plain, some Japanese, list mail,
auto-replies), of which 10 % are between the rep and one of ``--leads`` leads; the leads are imported
first. Then, one after the other:
  - `pipectl sync mail MAILDIR` into that database: the first sync (messages/s, max RSS);
  - the same again with nothing new: it must read no message (target < 0.5 s at 100,000);
  - `notmuch new` indexing the same Maildir, when notmuch is installed (the issue's side by side).
Targets (issue 16): at least 2,000 messages/s and under 100 MiB on the first sync, memory flat.
Max RSS comes from wait4 (the whole process). Run with an installed pipectl (`pip install .`); the
machine it runs on is noted with the figures, since a shared one slows every figure alike.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ME = "taro@example.co.jp"


def message(rng: random.Random, number: int, leads: int) -> bytes:
    mail = EmailMessage()
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * number)
    about_lead = number % 10 == 0
    other = (
        f"lead{rng.randrange(leads)}@client{rng.randrange(50)}.example"
        if about_lead
        else f"someone{number}@else.example"
    )
    if about_lead and number % 20 == 0:
        mail["From"], mail["To"] = f"Taro Yamada <{ME}>", other
    else:
        mail["From"], mail["To"] = f"Person {number} <{other}>", f"Taro Yamada <{ME}>"
    mail["Subject"] = rng.choice(["Quote", "Re: Meeting next week", "お見積りの件", "Invoice", "Newsletter"])
    mail["Date"] = format_datetime(when)
    mail["Message-ID"] = f"<{number}.bench@example.co.jp>"
    if not about_lead and number % 7 == 0:
        mail["List-Id"] = "<news.else.example>"
    if not about_lead and number % 11 == 0:
        mail["Auto-Submitted"] = "auto-replied"
    body = "Thanks for your mail, see you on Friday.\n\n" + "> earlier text quoted\n" * rng.randrange(30)
    mail.set_content(body)
    if number % 3 == 0:
        mail.add_alternative(f"<p>{body}</p>", subtype="html")
    return mail.as_bytes()


def generate(folder: Path, messages: int, leads: int) -> None:
    rng = random.Random(16)
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for number in range(messages):
        name = f"{1767225600 + number}.M{number}P1.bench:2,S"
        (folder / "cur" / name).write_bytes(message(rng, number, leads))


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: what a busy shared machine does not inflate) and max
    RSS (MiB) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status:
        sys.exit(f"{' '.join(argv)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    pipectl = str(Path(sys.executable).with_name("pipectl"))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pipectl-sync-"))
    try:
        maildir = folder / "Maildir"
        if not maildir.exists():  # a --keep folder from an earlier run has it already
            print(f"generating {args.messages:,} messages ...", flush=True)
            generate(maildir, args.messages, args.leads)
        csv = folder / "leads.csv"
        csv.write_text(
            "name,email\n"
            + "".join(f"Lead {n},lead{n}@client{c}.example\n" for n in range(args.leads) for c in range(50)),
            encoding="utf-8",
        )
        config = folder / "config.toml"
        config.write_text(f'[mail]\nme = ["{ME}"]\n', encoding="utf-8")
        env = {**os.environ, "PIPECTL_CONFIG": str(config), "PIPECTL_NOW": "2026-11-30T09:00:00Z"}
        db = folder / "pipeline.db"
        for old in (db, folder / "pipeline.db-wal", folder / "pipeline.db-shm"):
            old.unlink(missing_ok=True)
        subprocess.run([pipectl, "--db", str(db), "import", str(csv)], env=env, check=True, capture_output=True)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (a shared machine slows every figure)")
        first, cpu, rss = measure([pipectl, "--db", str(db), "sync", "mail", str(maildir)], env)
        print(
            f"first sync:  {first:6.2f} s ({cpu:6.2f} s CPU)  {args.messages / first:7,.0f} messages/s"
            f" ({args.messages / cpu:,.0f} per CPU second)  max RSS {rss:5.1f} MiB"
        )
        second, cpu, rss = measure([pipectl, "--db", str(db), "sync", "mail", str(maildir)], env)
        print(f"second sync: {second:6.2f} s ({cpu:6.2f} s CPU)  nothing new  max RSS {rss:5.1f} MiB")
        if shutil.which("notmuch"):
            shutil.rmtree(maildir / ".notmuch", ignore_errors=True)  # index from scratch, as the first sync reads
            notmuch_config = folder / "notmuch-config"
            notmuch_config.write_text(f"[database]\npath={maildir}\n[new]\ntags=new\n", encoding="utf-8")
            notmuch_env = {**env, "NOTMUCH_CONFIG": str(notmuch_config)}
            elapsed, cpu, rss = measure(["notmuch", "new", "--quiet"], notmuch_env)
            print(
                f"notmuch new: {elapsed:6.2f} s ({cpu:6.2f} s CPU)  {args.messages / elapsed:7,.0f} messages/s"
                f" ({args.messages / cpu:,.0f} per CPU second)  max RSS {rss:5.1f} MiB"
            )
        else:
            print("notmuch new: not installed (apt-get install notmuch)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
