"""Run pipectl: ``python -m pipectl``, and the ``pipectl`` command (pyproject's entry point)."""

import gc


def main() -> None:
    # A command builds no cycles worth collecting (the CLI keeps the collector off while it runs, and
    # turns it back on for the board and the MCP server): off before the imports too, whose objects would
    # otherwise set it going again and again (3 ms of every command's start-up).
    gc.disable()
    from pipectl.cli import main as run

    run()


if __name__ == "__main__":
    main()
