"""Run pipectl as ``python -m pipectl``."""

from pipectl.cli import main

main()
