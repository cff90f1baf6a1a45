"""The README keeps up with the CLI: every command is documented, the Quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from pipectl.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_has_a_section_and_an_example() -> None:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        names.append(name)
        names += [f"{name} {sub}" for sub in getattr(command, "commands", {})]
    assert "add" in names and "list" in names and "checklist check" in names
    for name in names:
        top = name.split()[0]
        assert re.search(rf"^### .*`pipectl {top}\b", README, re.M), f"README has no section for {top}"
        assert re.search(rf"^pipectl (--\S+ \S+ )*{name}\b", README, re.M), f"README has no example of {name}"


def test_quick_start_is_two_commands_with_demo_and_tests() -> None:
    block = re.search(r"^## Quick start.*?```sh\n(.*?)```", README, re.S | re.M)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "pipectl demo" in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]
