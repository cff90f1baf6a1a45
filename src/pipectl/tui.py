"""The interactive board (``pipectl board --interactive``, ``pipectl ui``): the pipeline as a Textual app.

One column per open stage, cards inside, the most valuable first; the rep selects a card with the keys
or the mouse and works it there: moves it (keys or drag and drop), closes it, logs touchpoints and
notes, snoozes it, reads its detail, undoes. Every change goes through :mod:`pipectl.actions` with a
fresh :class:`~pipectl.actions.Context` of its own, so the qualification gate, the event log and undo
are the ones the commands use, and each change is its own undoable batch. The board sees other
writers by polling the event log every ~2 s and reloading (in a thread) when it moved. Cards are drawn
line by line (Textual's line API), so a column of thousands of leads costs only what is on screen.
This module is imported only when the board opens: Textual costs half a second to import.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.errors import NoWidget
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from pipectl import actions, cadence, dates, leads, pipeline, render, views
from pipectl.errors import PipectlError, Refused
from pipectl.model import Finding, Lead, Status
from pipectl.store import Store

COMMAND = "pipectl board --interactive"
CARD_HEIGHT = 5  # four lines (name, company, value and days, marks) and a gap
REFRESH_SECONDS = 2.0  # how often the board looks for other writers
FULL_RELOAD_SECONDS = 60.0  # days in stage and findings change with time alone
RELOAD_DELAY = 0.2  # after a change: the card moved at once, the marks follow with the reload

# The keys, as the help overlay lists them (the bindings below implement them).
KEYS = (
    ("← ↓ ↑ → / h j k l", "select a card (also pgup, pgdn, home, end)"),
    ("> or shift+→", "move the lead to the next stage"),
    ("< or shift+←", "move the lead to the previous stage"),
    ("F", "force a move the gate refused (recorded as forced)"),
    ("drag a card", "onto another column: the same move"),
    ("w / x", "won / lost (asks for the reason)"),
    ("t", "log a touchpoint: kind, outcome, note, next step, due"),
    ("n", "add a note"),
    ("s", "snooze until a date"),
    ("enter", "the lead's detail: fields, qualification, timeline"),
    ("/", "filter by text: name, company, tag, owner"),
    ("f", "only the leads that need action (on / off)"),
    ("escape", "clear the filters"),
    ("u", "undo the last change (the board's or a command's)"),
    ("?", "this help"),
    ("q", "quit"),
)
HINT = "arrows/hjkl select  < > move  w won  x lost  t touch  n note  s snooze  enter detail  / filter  u undo  ? help"

T = TypeVar("T")
Loaded = tuple[list[dict[str, Any]], dict[int, list[Finding]], datetime]


def _order(lead: Lead) -> tuple[bool, Decimal, int]:
    """A column's order, as ``views.board`` reads it: the most valuable first, no value last, then newest."""
    return lead.value is None, -(lead.value or Decimal(0)), -lead.id


def _short(value: Decimal) -> str:
    """An amount in a few characters (1.2M), for column heads narrower than the full figure."""
    for size, unit in ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (1000, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return render.money(value.quantize(Decimal(1)))


def _line(text: str) -> str:
    return render.safe(text).replace("\n", " ")


@dataclass
class Column:
    """One stage on the board: all its leads in order, those the filters show, and their totals."""

    stage: str
    probability: Decimal
    leads: list[Lead]
    shown: list[Lead] = field(default_factory=list)
    value: Decimal = Decimal(0)

    @property
    def weighted(self) -> Decimal:
        return self.value * self.probability


# --- widgets -------------------------------------------------------------------------------------


class _OfColumn:
    """A widget drawing part of the board's column ``index``."""

    def __init__(self, board: BoardApp, index: int) -> None:
        super().__init__()
        self.board = board
        self.index = index


class ColumnHead(_OfColumn, Widget):
    """The stage's name, count, total and weighted value."""

    DEFAULT_CSS = "ColumnHead { height: 2; }"

    def render(self) -> Text:
        if self.index >= len(self.board.columns):
            return Text("")
        column = self.board.columns[self.index]
        count = f"{len(column.shown):,}"
        if len(column.shown) != len(column.leads):
            count += f"/{len(column.leads):,}"
        current = self.index == self.board.col
        head = Text(f"{column.stage} ({count})", style="bold reverse" if current else "bold")
        head.truncate(self.size.width, overflow="ellipsis")
        full = f"{render.money(column.value) or '0'} / w {render.money(column.weighted) or '0'}"
        if cell_len(full) > self.size.width:
            full = f"{_short(column.value)} / w {_short(column.weighted)}"
        return Text.assemble(head, "\n", Text(full, style="dim", no_wrap=True, overflow="ellipsis"))


class CardList(_OfColumn, ScrollView, can_focus=False):
    """A column's cards, drawn line by line: only what is on screen costs anything.

    Pressing the mouse on a card selects it and picks it up; releasing it over another column moves it.
    """

    DEFAULT_CSS = "CardList { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }"

    def on_mount(self) -> None:
        self.update_size()

    def update_size(self) -> None:
        count = len(self.board.columns[self.index].shown) if self.index < len(self.board.columns) else 0
        self.virtual_size = Size(0, count * CARD_HEIGHT)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index, row = divmod(y + int(self.scroll_offset.y), CARD_HEIGHT)
        base = self.rich_style
        shown = self.board.columns[self.index].shown if self.index < len(self.board.columns) else []
        if index >= len(shown) or row == CARD_HEIGHT - 1:
            return Strip.blank(width, base)
        text, style = self.board.card_line(shown[index], row)
        if self.board.col == self.index and self.board.row == index:
            style += Style(reverse=True)
        if cell_len(text) > width:
            text = set_cell_size(text, max(0, width - 1)) + "…"
        return Strip([Segment(set_cell_size(text, width), base + style)], width)

    def scroll_to_card(self, index: int) -> None:
        """Scroll as little as shows card ``index`` whole, keeping the top at a card's edge."""
        fits = max(1, (self.scrollable_content_region.height + 1) // CARD_HEIGHT)
        top = int(self.scroll_offset.y) // CARD_HEIGHT
        if index < top:
            top = index
        elif index >= top + fits:
            top = index - fits + 1
        if top * CARD_HEIGHT != int(self.scroll_offset.y):
            self.scroll_to(y=top * CARD_HEIGHT, animate=False, immediate=True)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        offset = event.get_content_offset(self)
        if event.button != 1 or offset is None:
            return
        index = (offset.y + int(self.scroll_offset.y)) // CARD_HEIGHT
        if index < len(self.board.columns[self.index].shown):
            self.board.select(self.index, index)
            self.board.drag = (self.board.columns[self.index].shown[index].id, self.index)
            self.capture_mouse()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self.release_mouse()
        drag, self.board.drag = self.board.drag, None
        if drag is None:
            return
        try:
            widget: Widget | None = self.screen.get_widget_at(*event.screen_offset)[0]
        except NoWidget:
            return
        while widget is not None and not isinstance(widget, StageColumn):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        if widget is not None and widget.index != drag[1]:  # a drop on the column it came from does nothing
            self.board.move_lead(drag[0], self.board.columns[widget.index].stage)

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.board.action_detail()


class StageColumn(_OfColumn, Vertical):
    DEFAULT_CSS = "StageColumn { width: 1fr; border-right: vkey $foreground 30%; }"

    def compose(self) -> ComposeResult:
        yield ColumnHead(self.board, self.index)
        yield CardList(self.board, self.index)


# --- dialogs -------------------------------------------------------------------------------------

DIALOG_CSS = """
Dialog { align: center middle; }
Dialog > .box {
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: round $foreground; padding: 0 1; background: $surface;
}
TextScreen > .box { width: 100; }
Dialog .row { height: 1; }
Dialog .row Label { width: 10; }
Dialog Input { width: 1fr; }
Dialog .hint { color: $text-muted; }
"""


class Dialog(ModalScreen[T]):
    """A modal screen that escape closes with no result."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class Form(Dialog[dict[str, str]]):
    """A title and a few one-line inputs; enter goes to the next one, and on the last one submits."""

    def __init__(self, title: str, fields: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.heading = title
        self.specs = fields  # (name, placeholder, initial value)

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(_line(self.heading), style="bold"))
            for name, placeholder, value in self.specs:
                with Horizontal(classes="row"):
                    yield Label(Text(name))
                    yield Input(
                        value=value, placeholder=placeholder, compact=True, id="field-" + name.replace(" ", "-")
                    )
            yield Label(Text("enter: next / ok · escape: cancel"), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        position = inputs.index(event.input)
        if position + 1 < len(inputs):
            inputs[position + 1].focus()
        else:
            self.dismiss({name: box.value for (name, _, _), box in zip(self.specs, inputs, strict=True)})


class TextScreen(Dialog[None]):
    """Text to read (the help, a lead's detail): scrolls, and escape, enter, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q,question_mark", "cancel", "close"),
    ]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box"):
            yield Static(self.text)
            yield Label(Text("escape: close"), classes="hint")


# --- the app -------------------------------------------------------------------------------------


class BoardApp(App[None]):
    """The board. ``ctx`` gives the config and the database; every action runs in a new Context."""

    TITLE = "pipectl board"
    ALLOW_SELECT = False
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #title { height: 1; background: $panel; }
    #columns { height: 1fr; }
    #status { height: 1; background: $panel; }
    #status.error { text-style: bold; color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "select(-1, 0)", "left", show=False),
        Binding("right,l", "select(1, 0)", "right", show=False),
        Binding("up,k", "select(0, -1)", "up", show=False),
        Binding("down,j", "select(0, 1)", "down", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "edge(-1)", show=False),
        Binding("end", "edge(1)", show=False),
        Binding("greater_than_sign,shift+right", "move(1)", "next stage"),
        Binding("less_than_sign,shift+left", "move(-1)", "previous stage"),
        Binding("F", "force", "force the move"),
        Binding("w", "won", "won"),
        Binding("x", "lost", "lost"),
        Binding("t", "touch", "touchpoint"),
        Binding("n", "note", "note"),
        Binding("s", "snooze", "snooze"),
        Binding("enter", "detail", "detail"),
        Binding("slash", "filter", "filter"),
        Binding("f", "needs_action", "needs action"),
        Binding("escape", "clear", "clear filters", show=False),
        Binding("u", "undo", "undo"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        ctx: actions.Context,
        owner: str | None = None,
        as_of: str | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        ctx.pipeline_config()  # the currency the database records, for the title and every action's context
        self.owner = owner
        self.as_of = as_of
        self.refresh_seconds = refresh_seconds
        self.columns: list[Column] = []
        self.marks: dict[int, list[Finding]] = {}
        self.now = ctx.now
        self.col = 0
        self.row = 0
        self.text_filter = ""
        self._wanted = ""  # the text filter as lookups compare it (leads.search_query)
        self.needs_action = False
        self.message = ""
        self.pending_force: tuple[int, str] | None = None  # a refused move F may force: (lead id, stage)
        self.drag: tuple[int, int] | None = None  # the card picked up with the mouse: (lead id, column)
        self._generation = 0  # counts changes, so a reload begun before one is not applied after it
        self._seen = (-1, -1)  # the event log's last batch when the board was last read (see _signature)
        self._loaded_at = 0.0
        self._watch: Store | None = None
        self._reload_timer: Timer | None = None

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Horizontal(id="columns")
        yield Static(Text(HINT), id="status")

    def on_mount(self) -> None:
        self._seen = self._signature()
        try:
            self._apply(self._load())
        except PipectlError as exc:
            self.say(exc.message, error=True)
            self._loaded_at = time.monotonic()
        except sqlite3.Error as exc:
            self.say(f"cannot read the database: {exc}", error=True)
        # The first card of the first column that has one.
        self.col = next((i for i, column in enumerate(self.columns) if column.shown), 0)
        self.row = 0
        self._draw()
        self.set_interval(self.refresh_seconds, self._poll)
        # What exists now (the modules, Textual's machinery, the widgets) lives as long as the board: out
        # of the cycle collector's sight, its full collections walk only the boards read since, and pause
        # the board for half as long at 10,000 leads. (Frozen once: freezing after every reload would
        # keep the cyclic garbage of that moment forever.)
        gc.freeze()

    def on_unmount(self) -> None:
        self._close_watch()

    def _draw(self, only: set[int] | None = None) -> None:
        """Redraw the title, and the heads and cards of the columns ``only`` (None: all of them).

        Cheap: the card lists draw only what shows, and a move repaints its two columns, no more.
        """
        self._update_title()
        for head in self.query(ColumnHead):
            if only is None or head.index in only:
                head.refresh()
        for cards in self.query(CardList):
            if only is None or cards.index in only:
                cards.update_size()
        self._scroll_to_selection()

    def _update_title(self) -> None:
        parts = [f"pipectl board ({self.ctx.config.currency})"]
        if self.owner:
            parts.append(f"owner {self.owner}")
        if self.text_filter:
            parts.append(f"filter {self.text_filter!r}")
        if self.needs_action:
            parts.append("only what needs action")
        parts.append(f"{sum(len(c.leads) for c in self.columns):,} open leads")
        parts.append("? help  q quit")
        self.query_one("#title", Static).update(Text(_line(" · ".join(parts))), layout=False)

    def _scroll_to_selection(self) -> None:
        cards = list(self.query(CardList))
        if self.col < len(cards) and self.selected() is not None:
            cards[self.col].scroll_to_card(self.row)

    def say(self, text: str, error: bool = False) -> None:
        """A message on the status line (errors stand out, also without colour)."""
        self.message = text
        status = self.query_one("#status", Static)
        status.set_class(error, "error")
        status.update(Text(_line(("! " if error else "") + text)), layout=False)

    def card_line(self, lead: Lead, row: int) -> tuple[str, Style]:
        """Line ``row`` of a lead's card and its style."""
        if row == 0:
            return _line(f"#{lead.id} {lead.name}"), Style(bold=True)
        if row == 1:
            return _line(lead.company or ""), Style(dim=True)
        if row == 2:
            days = int(dates.days_between(lead.stage_entered_at, self.now) // 1)
            return f"{render.money(lead.value) or '-'} · {days}d", Style()
        marks = render.card_marks(self.marks.get(lead.id, []))
        return ("! " + ", ".join(marks) if marks else ""), Style(color="red")

    # --- data ------------------------------------------------------------------------------------

    def _new_context(self, what: str = "") -> actions.Context:
        """A new Context for one action (its own store, its own batch in the event log)."""
        return actions.Context(
            config=self.ctx.config,
            database=self.ctx.database,
            now=dates.clock(self.as_of),
            command=f"{COMMAND}: {what}" if what else COMMAND,
        )

    def _load(self) -> Loaded:
        """The board from the database, read with a connection of its own (runs in a thread too)."""
        ctx = self._new_context()
        try:
            stages, marks = views.board(ctx, self.owner)
        finally:
            ctx.close()
        return stages, marks, ctx.now

    def _apply(self, loaded: Loaded) -> None:
        stages, marks, now = loaded
        keep = self.selected()
        config = self.ctx.config
        self.columns = [
            Column(
                stage["stage"],
                Decimal(str(config.stage(stage["stage"]).probability))
                if stage["stage"] in config.stage_index
                else Decimal(0),
                stage["leads"],
            )
            for stage in stages
        ]
        self.marks, self.now = marks, now
        self._loaded_at = time.monotonic()
        self._refilter()
        box = self.query_one("#columns", Horizontal)
        if [column.index for column in self.query(StageColumn)] != list(range(len(self.columns))):
            box.remove_children()
            box.mount(*(StageColumn(self, index) for index in range(len(self.columns))))
        self._reselect(keep, self.col, self.row)

    def _signature(self) -> tuple[int, int]:
        """Where the event log stands: its last batch and last event ((0, 0): none; (-1, -1): no database).

        Every write of every pipectl process records events, and the store's connection is in autocommit
        mode, so this cheap read sees a change as soon as another process commits it.
        """
        try:
            if self._watch is None:
                self._watch = Store.open(self.ctx.database, create=False, currency=self.ctx.config.currency)
            events = self._watch.last_batch()
        except (PipectlError, sqlite3.Error):
            self._close_watch()
            return -1, -1
        return (events[0].batch, events[-1].id) if events else (0, 0)

    def _poll(self) -> None:
        """Reload when the event log moved (another process, an undo) or when time alone has passed."""
        if self._reload_timer is not None:
            return  # a change made here: its reload is coming
        if self._signature() != self._seen or time.monotonic() - self._loaded_at > FULL_RELOAD_SECONDS:
            self.reload()

    def _close_watch(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def reload(self) -> None:
        """Read the board again in a thread; apply it unless a change was made here meanwhile."""
        if self._reload_timer is not None:
            self._reload_timer.stop()
            self._reload_timer = None
        self._seen = self._signature()
        self._loaded_at = time.monotonic()
        self.run_worker(self._reload(self._generation), group="reload", exclusive=True, exit_on_error=False)

    async def _reload(self, generation: int) -> None:
        try:
            loaded = await asyncio.to_thread(self._load)
        except PipectlError as exc:
            self.say(exc.message, error=True)
            return
        except sqlite3.Error as exc:
            self.say(f"cannot read the database: {exc}", error=True)
            return
        if generation == self._generation:
            self._apply(loaded)
            self._draw()

    def _changed(self) -> None:
        """After a change made here: reload soon (marks and totals), after any other quick changes."""
        self._generation += 1
        if self._reload_timer is not None:
            self._reload_timer.stop()
        self._reload_timer = self.set_timer(RELOAD_DELAY, self.reload)

    def _matches(self, lead: Lead) -> bool:
        if self.needs_action and lead.id not in self.marks:
            return False
        if not self.text_filter:
            return True
        number = self.text_filter.lstrip("#")
        if number.isdigit() and int(number) == lead.id:
            return True
        return self._wanted in leads.search_text(lead.name, lead.company, lead.owner, *lead.tags)

    def _refilter(self, only: Column | None = None) -> None:
        for column in [only] if only is not None else self.columns:
            filtering = self.needs_action or self.text_filter
            column.shown = [lead for lead in column.leads if self._matches(lead)] if filtering else column.leads
            column.value = sum((lead.value or Decimal(0) for lead in column.shown), Decimal(0))

    def _put(self, lead: Lead) -> set[int]:
        """Show ``lead`` as it is now: out of its old column, into its stage's if it is still open.

        Returns the columns that changed."""
        touched = set()
        for number, column in enumerate(self.columns):
            for index, other in enumerate(column.leads):
                if other.id == lead.id:
                    del column.leads[index]
                    self._refilter(column)
                    touched.add(number)
                    break
        if lead.status != Status.OPEN or (self.owner is not None and lead.owner != self.owner):
            return touched
        for number, column in enumerate(self.columns):
            if column.stage == lead.stage:
                bisect.insort(column.leads, lead, key=_order)
                self._refilter(column)
                touched.add(number)
        return touched

    # --- selection -------------------------------------------------------------------------------

    def selected(self) -> Lead | None:
        if 0 <= self.col < len(self.columns) and 0 <= self.row < len(self.columns[self.col].shown):
            return self.columns[self.col].shown[self.row]
        return None

    def select(self, col: int, row: int) -> None:
        before = self.col
        self.col = max(0, min(col, len(self.columns) - 1))
        self.row = max(0, min(row, len(self.columns[self.col].shown) - 1)) if self.columns else 0
        self._draw({before, self.col})

    def _reselect(self, keep: Lead | None, col: int, row: int) -> None:
        """Select ``keep`` again wherever it is now; if it is gone, what is at its old place."""
        if keep is not None:
            for index, column in enumerate(self.columns):
                for position, lead in enumerate(column.shown):
                    if lead.id == keep.id:
                        self.col, self.row = index, position
                        return
        self.col = max(0, min(col, len(self.columns) - 1))
        self.row = max(0, min(row, len(self.columns[self.col].shown) - 1)) if self.columns else 0

    def action_select(self, right: int, down: int) -> None:
        self.select(self.col + right, self.row + down)

    def action_page(self, direction: int) -> None:
        cards = list(self.query(CardList))
        page = max(1, cards[self.col].size.height // CARD_HEIGHT) if self.col < len(cards) else 1
        self.select(self.col, self.row + direction * page)

    def action_edge(self, direction: int) -> None:
        self.select(self.col, 0 if direction < 0 else 1 << 30)

    def _chosen(self) -> Lead | None:
        lead = self.selected()
        if lead is None:
            self.say("no card selected: this column is empty", error=True)
        return lead

    # --- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The board's keys do nothing while a dialog is open (its inputs get the keys).
        return len(self.screen_stack) == 1 or action not in BOARD_ACTIONS

    def _act(
        self,
        what: str,
        call: Callable[[actions.Context], T],
        refused: Callable[[Refused], None] | None = None,
        changes: bool = True,
    ) -> T | None:
        """Run one action in a new Context: a refusal or bad input is a message, never a traceback."""
        ctx: actions.Context | None = None
        try:
            ctx = self._new_context(what)
            result = call(ctx)
        except Refused as exc:
            self.say(exc.message, error=True)
            if refused is not None:
                refused(exc)
            return None
        except PipectlError as exc:
            self.say(exc.message, error=True)
            return None
        except (sqlite3.Error, OSError) as exc:
            self.say(f"the database refused the change: {exc}", error=True)
            return None
        except Exception as exc:  # a bug: the rep keeps the board, and the status line says what broke
            self.say(f"unexpected error (please report it): {exc!r}", error=True)
            return None
        finally:
            if ctx is not None:
                ctx.close()
        if changes:
            self._changed()
        return result

    def _done(self, lead: Lead | None, message: str) -> None:
        """Show a changed lead and say what happened."""
        if lead is None:
            return
        keep, col, row = self.selected(), self.col, self.row
        touched = self._put(lead)
        self._reselect(keep, col, row)
        self._draw(touched | {col, self.col})
        self.say(message + " (u undoes)")

    def move_lead(self, lead_id: int, stage: str, force: bool = False) -> None:
        """Move a lead to ``stage`` (keys and drag and drop); a gate refusal offers F to force it."""
        self.pending_force = None

        def offer(exc: Refused) -> None:
            lead = next((lead for column in self.columns for lead in column.leads if lead.id == lead_id), None)
            try:
                gated = lead is not None and pipeline.check_move(self.ctx.config, lead, stage, True)
            except PipectlError:
                gated = False
            if gated:
                self.pending_force = (lead_id, stage)
                self.say(f"{exc.message}. Press F to move it anyway (recorded as forced).", error=True)

        what = f"advance #{lead_id} --to {stage}" + (" --force" if force else "")
        lead = self._act(what, lambda ctx: actions.advance(ctx, str(lead_id), to=stage, force=force), offer)
        if lead is not None:
            self._done(lead, f"moved {lead.label} to {stage}" + (" (forced)" if force else ""))

    def action_move(self, step: int) -> None:
        lead = self._chosen()
        if lead is None:
            return
        names = self.ctx.config.stage_names
        if lead.stage not in names:
            self.say(f"{lead.label} is in {lead.stage}, which the config does not list: drag it to a stage", error=True)
            return
        index = names.index(lead.stage) + step
        if not 0 <= index < len(names):
            self.say(
                f"{lead.label} is in the {'last' if step > 0 else 'first'} stage"
                + (": w marks it won, x lost" if step > 0 else ""),
                error=True,
            )
            return
        self.move_lead(lead.id, names[index])

    def action_force(self) -> None:
        if self.pending_force is None:
            self.say("nothing to force: F overrides a move the qualification gate refused", error=True)
            return
        lead_id, stage = self.pending_force
        self.move_lead(lead_id, stage, force=True)

    def action_won(self) -> None:
        lead = self._chosen()
        if lead is not None:
            done = self._act(f"won #{lead.id}", lambda ctx: actions.close(ctx, str(lead.id), Status.WON))
            self._done(done, f"won: {lead.label}")

    def action_lost(self) -> None:
        lead = self._chosen()
        if lead is None:
            return

        def answer(values: dict[str, str] | None) -> None:
            if values is None:
                self.say("not changed")
                return
            reason = values["reason"]
            done = self._act(
                f"lost #{lead.id} --reason {reason!r}",
                lambda ctx: actions.close(ctx, str(lead.id), Status.LOST, reason=reason),
            )
            self._done(done, f"lost: {lead.label}")

        self.push_screen(
            Form(f"Lost {lead.label}: why?", [("reason", "went with a competitor, no budget...", "")]), answer
        )

    def action_touch(self) -> None:
        lead = self._chosen()
        if lead is None:
            return

        def answer(values: dict[str, str] | None) -> None:
            if values is None:
                self.say("no touchpoint logged")
                return
            kind, _, direction = values["kind"].strip().lower().partition(" ")
            done = self._act(
                f"touch #{lead.id} {kind}" + (" --in" if direction.strip() == "in" else ""),
                lambda ctx: actions.touch(
                    ctx,
                    str(lead.id),
                    kind,
                    inbound=True if direction.strip() == "in" else None,
                    outcome=values["outcome"] or None,
                    note=values["note"] or None,
                    next_action=values["next step"] or None,
                    due=values["due"] or None,
                )[0],
            )
            self._done(done, f"logged a {kind} with {lead.label}")

        fields = [
            ("kind", "call, email, meeting, message or note; 'email in': inbound", "call"),
            ("outcome", "no-answer, voicemail, replied, reached...", ""),
            ("note", "what was said", ""),
            ("next step", "e.g. send the proposal", ""),
            ("due", "tomorrow, fri, +3d, 2026-12-01...", ""),
        ]
        self.push_screen(Form(f"Touchpoint with {lead.label}", fields), answer)

    def action_note(self) -> None:
        lead = self._chosen()
        if lead is None:
            return

        def answer(values: dict[str, str] | None) -> None:
            if values is None:
                return
            text = values["note"]
            if not text.strip():
                self.say("an empty note: nothing logged", error=True)
                return
            done = self._act(f"note #{lead.id}", lambda ctx: actions.touch(ctx, str(lead.id), "note", note=text)[0])
            self._done(done, f"noted on {lead.label}")

        self.push_screen(Form(f"Note on {lead.label}", [("note", "", "")]), answer)

    def action_snooze(self) -> None:
        lead = self._chosen()
        if lead is None:
            return

        def answer(values: dict[str, str] | None) -> None:
            if values is None:
                return
            until, reason = values["until"], values["reason"] or None
            done = self._act(
                f"snooze #{lead.id} --until {until!r}",
                lambda ctx: actions.snooze(ctx, str(lead.id), until, reason),
            )
            if done is not None:
                self._done(done, f"snoozed {lead.label} until {dates.show(done.snoozed_until)}")

        fields = [("until", "tomorrow, mon, +2w, 2026-12-01...", ""), ("reason", "optional", "")]
        self.push_screen(Form(f"Snooze {lead.label}", fields), answer)

    def action_detail(self) -> None:
        lead = self._chosen()
        if lead is None:
            return
        shown = self._act("", lambda ctx: actions.show(ctx, str(lead.id)), changes=False)
        if shown is None:
            return
        found, timeline, qualification = shown
        config = self.ctx.config
        step = cadence.describe(config, found, self.now)
        rows = [*render.lead_fields(found, config), ("cadence", step or ""), *render.qualification_lines(qualification)]
        rows = [(name, value) for name, value in rows if value]
        width = max((len(name) for name, _ in rows), default=0)
        text = Text(_line(found.label), style="bold")
        for name, value in rows:
            text.append(f"\n{name.ljust(width)}  ", style="bold")
            text.append(_line(value))
        marks = self.marks.get(found.id, [])
        if marks:
            text.append("\n\nneeds action", style="bold")
            for finding in marks:
                text.append("\n  ! " + _line(finding.reason))
        text.append("\n\ntimeline", style="bold")
        for entry in timeline:
            text.append(f"\n  {dates.show(entry['at'])}  ")
            text.append(_line(render.describe(entry)))
        self.push_screen(TextScreen(text))

    def action_filter(self) -> None:
        def answer(values: dict[str, str] | None) -> None:
            if values is None:
                return
            self._set_filters(values["text"].strip(), self.needs_action)

        self.push_screen(
            Form("Filter: name, company, tag, owner (empty: all)", [("text", "", self.text_filter)]), answer
        )

    def action_needs_action(self) -> None:
        self._set_filters(self.text_filter, not self.needs_action)

    def action_clear(self) -> None:
        self.pending_force = None
        if self.text_filter or self.needs_action:
            self._set_filters("", False)

    def _set_filters(self, text: str, needs_action: bool) -> None:
        keep = self.selected()
        self.text_filter, self.needs_action = text, needs_action
        self._wanted = leads.search_query(text)
        self._refilter()
        self._reselect(keep, self.col, 0)
        if self.selected() is None:
            self.col = next((i for i, column in enumerate(self.columns) if column.shown), self.col)
            self.row = 0
        self._draw()
        shown = sum(len(column.shown) for column in self.columns)
        self.say(f"{shown:,} lead{'s' if shown != 1 else ''} shown")

    def action_undo(self) -> None:
        events = self._act("undo", actions.undo)
        if events is None:
            return
        if not events:
            self.say("nothing to undo")
            return
        self.say(f"undid: {events[0].command} ({len(events)} change{'s' if len(events) != 1 else ''})")
        self.reload()

    def action_help(self) -> None:
        width = max(len(key) for key, _ in KEYS)
        text = Text("pipectl board: keys", style="bold")
        for key, what in KEYS:
            text.append(f"\n{key.ljust(width)}  ", style="bold")
            text.append(what)
        text.append("\n\nCards: name, company, value, days in stage; after ! what the review flags.")
        self.push_screen(TextScreen(text))


BOARD_ACTIONS = frozenset(
    binding.action.partition("(")[0] for binding in BoardApp.BINDINGS if isinstance(binding, Binding)
)


def run(ctx: actions.Context, owner: str | None = None, as_of: str | None = None) -> None:
    """Open the board full screen and return when the user quits."""
    BoardApp(ctx, owner, as_of).run()
