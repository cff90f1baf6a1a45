"""`pipectl campaign` speed: 1,000 leads through a real SMTP server on loopback, rate limits lifted.

    python bench/send.py [--leads 1000]

The tests' server (tests/smtpd.py: aiosmtpd with STARTTLS and AUTH, in a thread of this process) takes
the mail. Two figures, one after the other on the same server:
  - the floor: the same number of messages, built once, sent by bare smtplib over one connection;
    that is the server's and the transport's time, which pipectl cannot go under;
  - `pipectl campaign` to every lead (a subprocess, start-up included): templates filled, messages
    built, the outbox written before and after each hand-over, each touchpoint logged with its cadence.
pipectl's own time is the difference. Target (issue 17): under 2 s on top of the server's for 1,000.
Wall and CPU time of the subprocess come from wait4; the machine is noted (a shared one slows all).
"""

from __future__ import annotations

import argparse
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import smtpd


def floor(server: smtpd.Server, count: int) -> float:
    """Seconds for bare smtplib to hand ``count`` messages over, one connection, STARTTLS and AUTH."""
    messages = []
    for number in range(count):
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = smtpd.USER, f"lead{number}@client.example", "Hello"
        mail.set_content("Hello\n")
        messages.append(mail)
    start = time.perf_counter()
    with smtplib.SMTP(smtpd.HOST, server.port) as client:
        client.starttls(context=ssl.create_default_context())
        client.login(smtpd.USER, smtpd.PASSWORD)
        for mail in messages:
            client.send_message(mail)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, smtpd.running() as server:
        folder = Path(name)
        os.environ["SSL_CERT_FILE"] = str(server.cert)
        csv = folder / "leads.csv"
        csv.write_text(
            "name,email,company\n"
            + "".join(f"Lead {n},lead{n}@client.example,Client {n}\n" for n in range(args.leads)),
            encoding="utf-8",
        )
        config = folder / "config.toml"
        config.write_text(
            f'owner = "taro"\n[send]\nmethod = "smtp"\nhost = "{smtpd.HOST}"\nport = {server.port}\n'
            f'user = "{smtpd.USER}"\nfrom = "山田 太郎 <{smtpd.USER}>"\nmax_per_minute = 0\nmax_per_day = 0\n'
            'footer = "Example K.K., Tokyo"\n',
            encoding="utf-8",
        )
        (folder / "templates").mkdir()
        (folder / "templates" / "intro.txt").write_text(
            "Subject: $first_name, a note about $company\n\nHi $first_name,\n\nShall we talk?\n\n$owner\n",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "PIPECTL_CONFIG": str(config),
            "PIPECTL_DB": str(folder / "pipeline.db"),
            "PIPECTL_SMTP_PASSWORD": smtpd.PASSWORD,
            "PIPECTL_NOW": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        subprocess.run([sys.executable, "-m", "pipectl", "import", str(csv)], env=env, check=True, capture_output=True)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (a shared machine slows every figure)")
        bare = floor(server, args.leads)
        print(f"floor (bare smtplib, {args.leads} messages): {bare:6.2f} s")
        server.received.clear()
        start = time.perf_counter()
        campaign = [sys.executable, "-m", "pipectl", "campaign", "bench", "--template", "intro"]
        process = subprocess.Popen(campaign, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        assert status == 0 and len(server.received) == args.leads, (status, len(server.received))
        cpu = usage.ru_utime + usage.ru_stime
        print(f"pipectl campaign ({args.leads} leads):     {wall:6.2f} s ({cpu:5.2f} s CPU of pipectl)")
        print(f"pipectl's own time on top of the server's: {wall - bare:6.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()
