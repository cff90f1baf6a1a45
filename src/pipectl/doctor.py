"""`pipectl doctor`: check the database and the config, say what is wrong and how to fix it.

Checks: the database's integrity and foreign keys, its schema version, the indexes the queries need,
its file permissions, whether the connection to a server is encrypted, the denormalised fields of
every lead (touch count, last touch, the cadence state) against its touchpoints, leads sitting in
stages the config no longer has; the config file, the checklist, the last-chance template and the
calendar's country. ``--fix`` recomputes the denormalised fields (one recorded, undoable change).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipectl import actions, cadence, dates
from pipectl.errors import PipectlError
from pipectl.migrations import INDEXES, SCHEMA_VERSION
from pipectl.model import Lead, Touchpoint

MAX_SHOWN = 10


@dataclass
class Check:
    name: str
    problems: list[str]
    fix: str = ""


def expected_activity(lead: Lead, points: list[Touchpoint]) -> dict[str, Any]:
    """What a lead's denormalised fields must say, from its touchpoints."""
    state = cadence.state(points)
    return {
        "touch_count": len(points),
        "last_touch_at": max((p.at for p in points), default=None),
        **state.as_changes(),
    }


def drift(ctx: actions.Context) -> Iterator[tuple[Lead, dict[str, Any]]]:
    """Leads whose denormalised fields are out of step with their touchpoints, with the right values."""
    for lead, points in ctx.store().activity():
        expected = expected_activity(lead, points)
        wrong = {name: value for name, value in expected.items() if getattr(lead, name) != value}
        if wrong:
            yield lead, wrong


def checks(ctx: actions.Context) -> list[Check]:
    store = ctx.store()
    found = [Check("database integrity", store.integrity(), f"restore a backup of {store.label} (`pipectl backup`)")]
    version = store.schema_version()
    found.append(
        Check(
            "schema version",
            [] if version == SCHEMA_VERSION else [f"schema {version}, this pipectl writes {SCHEMA_VERSION}"],
            "run any pipectl command that writes",
        )
    )
    missing = [name for name in INDEXES if name not in store.index_names()]
    found.append(
        Check("indexes", [f"index {name} is missing" for name in missing], "pipectl doctor --fix recreates them")
    )
    if store.db.file is not None:  # a server's access is its roles' business (README: Team)
        mode = store.db.file.stat().st_mode
        loose = mode & (stat.S_IRWXG | stat.S_IRWXO)
        found.append(
            Check(
                "file permissions",
                [f"{store.label} can be read by others ({oct(mode & 0o777)})"] if loose else [],
                f"chmod 600 {store.label}",
            )
        )
    how, safe = store.db.transport()
    found.append(
        Check(
            f"connection ({how})",
            [] if safe else [f"the connection is not encrypted ({how}): passwords and leads cross the network"],
            "add sslmode=require (or verify-full) to the database URL",
        )
    )
    wrong = [
        f"#{lead.id}: " + ", ".join(f"{k} is {getattr(lead, k)!r}, should be {v!r}" for k, v in fields.items())
        for lead, fields in drift(ctx)
    ]
    found.append(Check("counters in step with touchpoints", wrong, "pipectl doctor --fix recomputes them"))
    unknown = {stage: count for stage, count in store.stages_in_use().items() if stage not in ctx.config.stage_index}
    found.append(
        Check(
            "stages",
            [f"{count} open leads in {stage!r}, which the config does not have" for stage, count in unknown.items()],
            "add the stage back to the config, or move them: pipectl advance ID --to STAGE",
        )
    )
    found.append(_config_check(ctx))
    return found


def _config_check(ctx: actions.Context) -> Check:
    problems = []
    try:
        actions.load_checklist(ctx)
    except PipectlError as exc:
        problems.append(exc.message)
    try:
        actions.last_chance_template(ctx)
    except PipectlError as exc:
        problems.append(exc.message)
    try:
        # The holidays package is only asked when a working day is counted: ask it now.
        ctx.config.calendar.is_workday(dates.local_today(ctx.now))
    except PipectlError as exc:
        problems.append(exc.message)
    where = ctx.config.path or "built-in defaults (no config file)"
    return Check(f"config ({where})", problems, "fix the file named, or `pipectl init --force` to start over")


def fix(ctx: actions.Context) -> int:
    """Recompute the denormalised fields and recreate missing indexes; returns how many leads changed."""
    repairs = list(drift(ctx))
    with ctx.writing() as store:
        store.create_missing_indexes()
        for lead, fields in repairs:
            store.change_lead(lead, {**fields, "updated_at": ctx.now_iso}, "repair")
    return len(repairs)
