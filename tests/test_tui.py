"""The interactive board (tui.py) driven headless with Textual's pilot; every test checks the database after."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from conftest import add, database, ok, run
from pipectl import actions, config, dates
from pipectl.tui import BoardApp, CardList, ColumnHead

pytestmark = pytest.mark.backends

Script = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture
def board(tmp_path: Path) -> Callable[..., BoardApp]:
    def make(**options: Any) -> BoardApp:
        ctx = actions.Context(config=config.load(), database=database(), now=dates.clock())
        return BoardApp(ctx, **options)

    return make


def play(app: BoardApp, script: Script, size: tuple[int, int] = (120, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


def lead(lead_id: int) -> dict[str, Any]:
    data: dict[str, Any] = ok("show", str(lead_id), "--json").json()
    return data


def shown(app: BoardApp) -> list[list[str]]:
    """The names on the board, column by column."""
    return [[lead.name for lead in column.shown] for column in app.columns]


async def fill(pilot: Pilot[None], *values: str) -> None:
    """Type each value into the focused input of a form and press enter (to the next input, or submit)."""
    for value in values:
        focused = pilot.app.focused
        assert isinstance(focused, Input), focused
        focused.value = value
        await pilot.press("enter")


async def until(pilot: Pilot[None], check: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("the board did not show the change in time")


def test_opens_with_the_first_card_selected_and_q_quits(
    board: Callable[..., BoardApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # and at 80 x 24: the selection is drawn reversed, marks start with !
    add("Small", "--value", "100")
    big = add("Big", "--company", "Acme", "--value", "5000")
    add("Later", "--value", "900", "--stage", "closing")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp) and app.no_color
        assert [column.stage for column in app.columns] == ["prospecting", "qualifying", "connecting", "closing"]
        assert shown(app) == [["Big", "Small"], [], [], ["Later"]]
        selected = app.selected()
        assert selected is not None and selected.id == big
        heads = [head.render().plain for head in app.query(ColumnHead)]
        assert heads[0].startswith("prospecting (2)") and "5,100" in heads[0]
        first = app.query(CardList)[0]
        assert [first.render_line(y).text.strip() for y in range(3)] == [f"#{big} Big", "Acme", "5,000 · 0d"]
        assert all(segment.style and segment.style.reverse for segment in first.render_line(0))
        await pilot.press("q")

    app = board()
    play(app, script, size=(80, 24))
    assert app.return_code == 0
    assert lead(big)["stage"] == "prospecting"


def test_an_empty_first_column_selects_the_first_card_there_is(board: Callable[..., BoardApp]) -> None:
    only = add("Only", "--stage", "connecting")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        selected = app.selected()
        assert selected is not None and selected.id == only and app.col == 2

    play(board(), script)


def test_keyboard_moves_go_through_advance(board: Callable[..., BoardApp]) -> None:
    first = add("First", "--value", "10")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        await pilot.press("greater_than_sign")
        assert lead(first)["stage"] == "qualifying"
        assert shown(app) == [[], ["First"], [], []]
        selected = app.selected()
        assert selected is not None and selected.id == first and app.col == 1  # the selection follows the card
        await pilot.press("shift+left")
        assert lead(first)["stage"] == "prospecting"
        await pilot.press("less_than_sign")  # already in the first stage: a message, nothing changes
        assert "first stage" in app.message

    play(board(), script)
    moves = [(e["from"], e["to"], e["forced"]) for e in lead(first)["timeline"] if e["type"] == "stage"]
    assert moves == [("prospecting", "qualifying", False), ("qualifying", "prospecting", False)]


def test_the_gate_refuses_and_f_forces_the_move_recorded_as_forced(board: Callable[..., BoardApp]) -> None:
    gated = add("Gated", "--stage", "qualifying")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        await pilot.press("shift+right")
        assert lead(gated)["stage"] == "qualifying"
        assert "not qualified" in app.message and "Press F" in app.message
        await pilot.press("F")
        assert lead(gated)["stage"] == "connecting"

    play(board(), script)
    moves = [(e["from"], e["to"], e["forced"]) for e in lead(gated)["timeline"] if e["type"] == "stage"]
    assert moves == [("qualifying", "connecting", True)]


def test_drag_and_drop_moves_a_card_and_a_drop_on_its_own_column_does_nothing(
    board: Callable[..., BoardApp],
) -> None:
    dragged = add("Dragged", "--value", "50")
    other = add("Other", "--value", "10")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        lists = list(app.query(CardList))
        await pilot.mouse_down(lists[0], offset=(2, 6))  # the second card: Other
        await pilot.mouse_up(lists[0], offset=(4, 1))
        assert lead(other)["stage"] == "prospecting" and lead(dragged)["stage"] == "prospecting"
        await pilot.mouse_down(lists[0], offset=(2, 1))  # the first card: Dragged
        selected = app.selected()
        assert selected is not None and selected.id == dragged
        await pilot.mouse_up(lists[1], offset=(3, 8))  # dropped on qualifying
        assert shown(app)[:2] == [["Other"], ["Dragged"]]

    play(board(), script)
    assert lead(dragged)["stage"] == "qualifying"
    assert lead(other)["stage"] == "prospecting"
    assert [e["type"] for e in lead(other)["timeline"]] == ["created"]


def test_won_and_lost_with_a_reason_and_an_empty_reason_refused(board: Callable[..., BoardApp]) -> None:
    winner = add("Winner", "--value", "300")
    loser = add("Loser", "--value", "200")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        await pilot.press("w")
        assert lead(winner)["status"] == "won"
        assert shown(app)[0] == ["Loser"]
        await pilot.press("x", "enter")  # no reason
        assert "lost reason must not be empty" in app.message
        assert lead(loser)["status"] == "open"
        await pilot.press("x")
        await fill(pilot, "went elsewhere")
        assert shown(app)[0] == []

    play(board(), script)
    closed = lead(loser)
    assert closed["status"] == "lost" and closed["lost_reason"] == "went elsewhere"


def test_touch_note_and_snooze_with_bad_input_as_messages(board: Callable[..., BoardApp]) -> None:
    touched = add("Touched")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        # kind (call, kept), outcome, note, next step, due
        await pilot.press("t")
        await fill(pilot, "call", "no-answer", "left voicemail", "call again", "someday")
        assert "someday" in app.message  # an unparseable due date: a message, nothing logged
        assert lead(touched)["touch_count"] == 0
        await pilot.press("t")
        await fill(pilot, "call", "no-answer", "left voicemail", "call again", "+2d")
        assert lead(touched)["touch_count"] == 1
        await pilot.press("n")
        await fill(pilot, "asked for pricing")
        await pilot.press("s")
        await fill(pilot, "never", "")
        assert "never" in app.message
        await pilot.press("s")
        await fill(pilot, "+3d", "on holiday")
        await pilot.press("t")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")  # a form closed with escape changes nothing
        assert app.focused is None

    play(board(), script)
    data = lead(touched)
    points = [(e["kind"], e["outcome"], e["note"]) for e in data["timeline"] if e["type"] == "touchpoint"]
    assert points == [("call", "no-answer", "left voicemail"), ("note", None, "asked for pricing")]
    assert data["next_action"] == "call again" and data["next_action_due"] == "2026-12-02T23:59:59Z"
    assert data["snoozed_until"] == "2026-12-03T00:00:00Z" and data["snooze_reason"] == "on holiday"


def test_undo_both_ways(board: Callable[..., BoardApp]) -> None:
    moved = add("Moved")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        await pilot.press("greater_than_sign")
        assert lead(moved)["stage"] == "qualifying"
        undone = ok("undo")  # the command line reverts the board's move
        assert f"pipectl board --interactive: advance #{moved} --to qualifying" in undone.stdout
        assert lead(moved)["stage"] == "prospecting"
        ok("advance", str(moved))  # and the board reverts the command's
        assert lead(moved)["stage"] == "qualifying"
        await pilot.press("u")
        assert lead(moved)["stage"] == "prospecting"
        assert app.message.startswith("undid: pipectl")
        await until(pilot, lambda: shown(app)[0] == ["Moved"])

    play(board(refresh_seconds=0.05), script)


def test_a_change_by_another_process_shows_up_and_the_selection_stays(board: Callable[..., BoardApp]) -> None:
    kept = add("Kept", "--value", "10")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        env = {**os.environ, "PIPECTL_DB": app.ctx.database}
        subprocess.run(
            [sys.executable, "-m", "pipectl", "add", "Newcomer", "--value", "99"], env=env, check=True, timeout=60
        )
        await until(pilot, lambda: shown(app)[0] == ["Newcomer", "Kept"])
        selected = app.selected()
        assert selected is not None and selected.id == kept and app.row == 1
        ok("advance", str(kept))
        await until(pilot, lambda: shown(app)[1] == ["Kept"])
        selected = app.selected()
        assert selected is not None and selected.id == kept

    play(board(refresh_seconds=0.05), script)
    assert [row["name"] for row in ok("list", "--json").json()] == ["Kept", "Newcomer"]


def test_filters_detail_help_and_user_text_shown_as_typed(board: Callable[..., BoardApp]) -> None:
    odd = add("[bold]Odd[/bold] \x1b[2J", "--company", "Globex", "--tag", "hot", "--value", "7", "--at", "2026-11-01")
    add("Plain", "--company", "Acme", "--next", "call", "--due", "+3d")
    add("山田 太郎", "--company", "Müller GmbH", "--next", "call", "--due", "+3d")

    async def script(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        assert app.query(CardList)[0].render_line(0).text.startswith(f"#{odd} [bold]Odd[/bold] \\x1b[2J")
        await pilot.press("slash", *"HOT", "enter")
        assert [len(names) for names in shown(app)] == [1, 0, 0, 0]
        for text in ("MÜLLER", "山田太郎", "ｍüｌｌｅｒ"):  # case, width and CJK spaces as in lookups
            await pilot.press("escape", "slash", *text, "enter")
            assert shown(app)[0] == ["山田 太郎"]
        await pilot.press("escape", "f")  # only what needs action: the lead without a next step
        assert shown(app)[0] == ["[bold]Odd[/bold] \x1b[2J"]
        await pilot.press("f", "enter")
        assert app.screen is not app.screen_stack[0]
        await pilot.press("escape", "question_mark")
        assert app.screen is not app.screen_stack[0]
        await pilot.press("q")  # closes the help, not the board
        assert app.screen is app.screen_stack[0] and app.return_code is None

    play(board(), script)
    assert run("show", str(odd), "--json").json()["stage"] == "prospecting"
