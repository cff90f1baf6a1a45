"""Getting started: ``init`` (config, checklist, database) and ``demo`` (a throwaway pipeline).

The demo database is seeded from the sample leads shipped inside the package (``data/leads.csv``,
also ``examples/leads.csv``), with months of back-dated history made by the same actions a user runs,
so everything it shows went through the real code.
"""

from __future__ import annotations

import csv
import random
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from pipectl import actions, config, dates, qualify, render
from pipectl.errors import PipectlError
from pipectl.model import Status

# The built-in defaults, in the currency the sample leads' amounts are in.
DEMO_CONFIG = {"owner": "taro", "currency": "JPY"}
OUTCOMES = {"call": "no-answer", "email": "sent", "meeting": "held"}


def _write(path: Path, text: str, force: bool, what: str, now: datetime) -> Iterator[str]:
    """Write ``text`` to ``path``; an existing file is kept, or with ``force`` first copied aside."""
    if path.exists() and not force:
        yield f"kept {what} {path} (it exists; --force overwrites it)"
        return
    try:
        if path.exists():
            if path.read_bytes() == text.encode("utf-8"):
                yield f"kept {what} {path} (already the default)"
                return
            yield f"backed up {what} {path} to {_back_up(path, now)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PipectlError(f"cannot write {what} {path}: {exc.strerror}") from None
    yield f"wrote {what} {path}"


def _back_up(path: Path, now: datetime) -> Path:
    """A copy of ``path`` beside it, named by the local time (``config.toml.2026-12-02-0930.bak``);
    an earlier backup of the same minute is never overwritten: the new one gets a number."""
    stamp = now.astimezone().strftime("%Y-%m-%d-%H%M")
    data = path.read_bytes()
    number = 1
    while True:
        target = path.with_name(f"{path.name}.{stamp}{'' if number == 1 else f'-{number}'}.bak")
        try:
            with target.open("xb") as copy:
                copy.write(data)
        except FileExistsError:
            number += 1
            continue
        shutil.copymode(path, target)
        return target


def _kept_settings(path: Path) -> dict[str, str]:
    """The ``owner`` and ``currency`` of the config being replaced, when it reads as TOML."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return {key: data[key] for key in ("owner", "currency") if isinstance(data.get(key), str) and data[key].strip()}


def init(ctx: actions.Context, config_path: Path | None, force: bool) -> Iterator[str]:
    """Create what is missing. With ``force``, rewrite the config (keeping its owner and currency),
    checklist and last-chance template, each replaced file first copied aside; never the database."""
    path = config_path or config.default_config_path()
    existed = path.exists()
    settings = {"owner": ctx.config.owner, "currency": ctx.config.currency, **_kept_settings(path)}
    yield from _write(path, config.template(**settings), force, "config", ctx.now)
    checklist = ctx.config.checklist if existed else path.parent / "checklist.toml"
    text = resources.files("pipectl").joinpath(qualify.DEFAULT_CHECKLIST).read_text(encoding="utf-8")
    yield from _write(checklist, text, force, "checklist", ctx.now)
    template = resources.files("pipectl").joinpath(f"data/{actions.LAST_CHANCE_FILE}").read_text(encoding="utf-8")
    yield from _write(path.parent / actions.LAST_CHANCE_FILE, template, force, "last-chance template", ctx.now)
    store = ctx.store(create=True)
    yield f"{'created' if store.created else 'kept'} database {store.label}"


# --- demo --------------------------------------------------------------------------------------


def demo(now: datetime, keep: Path | None) -> None:
    if keep is not None and keep.exists():
        raise PipectlError(f"{keep} exists: --keep needs a new file, the demo never touches existing data")
    folder = Path(tempfile.mkdtemp(prefix="pipectl-demo-"))
    try:
        ctx = actions.Context(
            config=config.parse(DEMO_CONFIG, None), database=str(folder / "demo.db"), now=now, command="pipectl demo"
        )
        seed(ctx)
        ctx.now = now
        show(ctx)
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            ctx.store().backup(keep)
        ctx.close()
        if keep is not None:
            render.out(f"kept the demo database at {keep}: try `pipectl --db {keep} show acme`")
        else:
            render.out("This database was thrown away. `pipectl demo --keep demo.db` keeps one to explore.")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def show(ctx: actions.Context) -> None:
    """The tour: the board, the daily review, today's plan and the report, on the demo pipeline."""
    from pipectl import views

    render.out(f"== The board: a demo pipeline of sample leads as of {dates.show(ctx.now_iso)} ==")
    stages, marks = views.board(ctx, cards=render.CARDS_PER_COLUMN)
    render.print_board(stages, marks, ctx.config, ctx.now_iso)
    render.out("\n== pipectl review: what needs action ==")
    reviewed = actions.Review(ctx)
    render.print_review(list(reviewed.findings(render.GROUP_LIMIT)), reviewed.counts(), reviewed.cycle)
    render.out("\n== pipectl today: what to do first ==")
    items, total = actions.today(ctx, limit=10)
    render.print_today(items, ctx.config, total - len(items))
    render.out("\n== pipectl report: the last 90 days ==")
    render.print_report(views.report(ctx, ctx.now - timedelta(days=90)))


def _rows() -> list[dict[str, str]]:
    text = resources.files("pipectl").joinpath("data/leads.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines(keepends=True)))


def seed(ctx: actions.Context) -> None:
    """Fill ``ctx``'s database with the sample leads and a plausible history for each."""
    rows = _rows()
    now = ctx.now
    newest = max(date.fromisoformat(row["created_at"]) for row in rows)
    shift = dates.local_today(now) - timedelta(days=3) - newest
    for index, row in enumerate(rows):
        rng = random.Random(index)
        start = dates.at_local(date.fromisoformat(row["created_at"]) + shift) + timedelta(hours=rng.randint(9, 16))
        _seed_lead(ctx, row, start, shift, rng)


def _at(ctx: actions.Context, moment: datetime) -> actions.Context:
    ctx.now = moment
    return ctx


def _seed_lead(
    ctx: actions.Context, row: dict[str, str], start: datetime, shift: timedelta, rng: random.Random
) -> None:
    final = ctx.now
    closed = row["status"] != Status.OPEN
    end = min(final, start + timedelta(days=rng.randint(25, 80))) if closed else final
    expected = row["expected_close"] and (date.fromisoformat(row["expected_close"]) + shift).isoformat()
    lead = actions.add(
        _at(ctx, start),
        row["name"],
        company=row["company"],
        email=row["email"],
        phone=row["phone"],
        source=row["source"],
        value=row["value"],
        owner=row["owner"],
        tags=row["tags"].split(";"),
        expected_close=expected or None,
        note=row["note"] or None,
    )
    ref = str(lead.id)
    stages = ctx.config.stage_names
    steps = stages.index(row["stage"])
    moment = start
    for step in range(steps + 1):
        span = (end - moment) / (steps - step + 1.5)
        for attempt in range(rng.randint(1, 3)):
            moment += span / 4 * rng.uniform(0.5, 1.0)
            kind = rng.choice(["call", "email", "email", "meeting"])
            replied = attempt > 0 and rng.random() < 0.6
            actions.touch(_at(ctx, moment), ref, kind, outcome="replied" if replied else OUTCOMES[kind])
        if stages[step] == ctx.config.gate_stage and (step < steps or row["status"] == Status.DISQUALIFIED):
            moment += span / 8
            answers = {
                "budget": "yes",
                "need": "yes",
                "authority": rng.choice(["yes", "no"]),
                "timeline": rng.choice(["yes", "unknown"]),
            }
            if row["status"] == Status.DISQUALIFIED:
                answers["budget"] = "no"
            actions.qualify_lead(_at(ctx, moment), ref, answers)
        if step < steps:
            moment += span / 4
            actions.advance(_at(ctx, moment), ref, stages[step + 1])
    if row["status"] in (Status.WON, Status.LOST):
        actions.close(_at(ctx, max(moment, end)), ref, Status(row["status"]), reason=row["lost_reason"])
    elif row["status"] == Status.OPEN and rng.random() < 0.7:
        due = f"{rng.randint(-4, 6):+d}d"
        actions.edit(
            _at(ctx, final - timedelta(days=1)),
            ref,
            next_action=rng.choice(["follow-up call", "send proposal", "book a demo", "check in on budget"]),
            next_action_due=due,
        )
    ctx.now = final
