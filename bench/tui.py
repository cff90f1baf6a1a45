"""Speed of the interactive board (issue 9) at 10,000 open leads, in a real pseudo-terminal.

    python bench/tui.py [--open-leads 10000] [--runs 7] [--moves 9] [--size 120x40] [--cli]

(a) From the command starting to the board drawn: the time until the most valuable card of the first
column has been written to the terminal (median of ``--runs`` starts). The command is what
`pipectl board --interactive` runs (the CLI imported, then ``tui.run``); ``--cli`` runs that very
command instead, once the CLI opens the board. (b) A move saved and redrawn: ``>`` or ``<`` sent to the
board, until the terminal output it causes has been written (and the database holds the move).
Targets: (a) <= 1.5 s, (b) <= 100 ms.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from startup import NOW, make_big  # the sibling benchmark script (bench/ is on sys.path above)

# What `pipectl board --interactive` does, as a script: the CLI's import, the context, the board.
OPEN_BOARD = """
import sys
from pathlib import Path
import pipectl.cli
from pipectl import actions, config, dates
ctx = actions.Context(config=config.load(), database=sys.argv[1], now=dates.clock())
from pipectl import tui
tui.run(ctx)
"""


class Terminal:
    """A process on a pseudo-terminal of a given size, its output read as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self.output = b""
        self.last = self.started

    def read(self, timeout: float, stop_at_first: bool = False) -> float | None:
        """Read what comes within ``timeout`` seconds (or its first chunk only); when the last of it came,
        None if nothing did."""
        last = None
        end = time.perf_counter() + timeout
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            self.output += chunk
            last = self.last = time.perf_counter()
            if stop_at_first:
                break
        return last

    def wait_for(self, marker: bytes, timeout: float) -> float:
        """Seconds from the start until ``marker`` has been written."""
        end = time.perf_counter() + timeout
        while marker not in self.output:
            if time.perf_counter() > end or (self.read(0.05) is None and self.process.poll() is not None):
                tail = self.output[-2000:].decode(errors="replace")
                raise SystemExit(f"the board did not show {marker!r} within {timeout} s; last output:\n{tail}")
        return time.perf_counter() - self.started

    def quiet(self, gap: float) -> float | None:
        """Read until nothing came for ``gap`` seconds; when the last output came (None: nothing came)."""
        last = None
        while (came := self.read(gap)) is not None:
            last = came
        return last

    def send(self, keys: bytes) -> float:
        os.write(self.master, keys)
        return time.perf_counter()

    def close(self) -> None:
        """Quit the board with q (killed if it does not go), and close the terminal."""
        try:
            self.send(b"q")
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--open-leads", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--moves", type=int, default=9)
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--cli", action="store_true", help="run `pipectl board --interactive` itself")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="pipectl-bench-tui-"))
    db = folder / "big.db"
    # make_big closes every fifth lead as won: this many leads leave --open-leads open.
    make_big(db, args.open_leads * 5 // 4, args.open_leads * 5)
    env = {**os.environ, "PIPECTL_NOW": NOW, "XDG_CONFIG_HOME": str(folder), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    os.environ.update(PIPECTL_NOW=NOW, XDG_CONFIG_HOME=str(folder))

    from pipectl import actions, config, dates, views

    def context() -> actions.Context:
        return actions.Context(config=config.load(), database=str(db), now=dates.clock())

    stages, _ = views.board(context(), marks=False)
    top = stages[0]["leads"][0]
    print(f"{sum(s['count'] for s in stages):,} open leads; the first card: #{top.id}; terminal {cols}x{rows}")
    if args.cli:
        argv = [str(Path(sys.executable).with_name("pipectl")), "--db", str(db), "board", "--interactive"]
    else:
        argv = [sys.executable, "-c", OPEN_BOARD, str(db)]
    marker = f"#{top.id} {top.name}".encode()

    starts = []
    for _ in range(args.runs):
        with Terminal(argv, env, cols, rows) as terminal:
            starts.append(terminal.wait_for(marker, 30))
            terminal.quiet(0.3)
    print(
        f"(a) command start -> board drawn: median {statistics.median(starts) * 1000:.0f} ms "
        f"(min {min(starts) * 1000:.0f}, max {max(starts) * 1000:.0f}; target 1500 ms)"
    )

    moves = []
    with Terminal(argv, env, cols, rows) as terminal:
        terminal.wait_for(marker, 30)
        terminal.quiet(0.5)
        for index in range(args.moves):
            forward = index % 2 == 0
            sent = terminal.send(b">" if forward else b"<")
            if terminal.read(2.0, stop_at_first=True) is None:
                raise SystemExit("the board drew nothing within 2 s of a move")
            # The move's redraw ends at the last output before a pause (the reload of the marks comes later).
            drawn = terminal.quiet(0.05) or terminal.last
            stage = actions.show(context(), str(top.id))[0].stage
            if stage != ("qualifying" if forward else "prospecting"):
                raise SystemExit(f"the move was not saved: #{top.id} is in {stage}")
            moves.append(drawn - sent)
            terminal.quiet(1.0)  # let the background reload land before the next move
    print(
        f"(b) move saved and redrawn: median {statistics.median(moves) * 1000:.0f} ms "
        f"(min {min(moves) * 1000:.0f}, max {max(moves) * 1000:.0f}; target 100 ms)"
    )


if __name__ == "__main__":
    main()
