"""Stages and moves: the order of the open stages and the rules a move must pass (pure).

The qualification gate lives here: a lead may not leave the gate stage (or jump past it) until it
passed the checklist, unless the move is forced, and a forced move is recorded as such.
"""

from __future__ import annotations

from typing import Any

from pipectl.config import Config
from pipectl.errors import NotFound, Refused
from pipectl.model import Event, Lead, Touchpoint


def stage_index(config: Config, name: str) -> int:
    try:
        return config.stage_names.index(name)
    except ValueError:
        raise NotFound(f"unknown stage {name!r}; stages: {', '.join(config.stage_names)}") from None


def resolve_stage(config: Config, name: str) -> str:
    """A stage named by the user: exact, or a unique case-insensitive prefix ("conn")."""
    wanted = name.strip().lower()
    exact = [s for s in config.stage_names if s.lower() == wanted]
    matches = exact or [s for s in config.stage_names if wanted and s.lower().startswith(wanted)]
    if len(matches) != 1:
        stage_index(config, name)  # raises the unknown-stage error
    return matches[0]


def next_stage(config: Config, lead: Lead) -> str:
    index = stage_index(config, lead.stage)
    if index + 1 >= len(config.stages):
        raise Refused(f"{lead.label} is in the last stage ({lead.stage}): close it with `won` or `lost`")
    return config.stage_names[index + 1]


def ensure_open(lead: Lead) -> None:
    """Moving a closed lead requires reopening it first."""
    if not lead.is_open:
        raise Refused(f"{lead.label} is {lead.status}: reopen it first (`pipectl reopen {lead.id}`)")


def check_move(config: Config, lead: Lead, target: str, force: bool) -> bool:
    """Whether moving ``lead`` to ``target`` is allowed; returns True when it passes only by ``force``."""
    ensure_open(lead)
    if target == lead.stage:
        raise Refused(f"{lead.label} is already in {target}")
    gate = config.gate_stage
    if gate is None or lead.qualified is True:
        return False
    passes_gate = stage_index(config, lead.stage) <= stage_index(config, gate) < stage_index(config, target)
    if not passes_gate:
        return False
    if not force:
        raise Refused(
            f"{lead.label} is not qualified and cannot leave {gate}: "
            f"run `pipectl qualify {lead.id}`, or use --force to override (the override is recorded)"
        )
    return True


def timeline(lead: Lead, touchpoints: list[Touchpoint], history: list[Event]) -> list[dict[str, Any]]:
    """A lead's life, oldest first: its creation, touchpoints, moves, closes and edits (SPEC §10)."""
    entries: list[dict[str, Any]] = [{"at": lead.created_at, "type": "created"}]
    for tp in touchpoints:
        entries.append(
            {
                "at": tp.at,
                "type": "touchpoint",
                "kind": tp.kind,
                "direction": tp.direction,
                "outcome": tp.outcome,
                "note": tp.note,
            }
        )
    for event in history:
        data = event.data
        if event.type == "stage":
            entries.append(
                {
                    "at": event.at,
                    "type": "stage",
                    "from": data["from"],
                    "to": data["to"],
                    "forced": bool(data.get("forced")),
                }
            )
        elif event.type in ("won", "lost"):
            entries.append(
                {"at": event.at, "type": event.type, "stage": data.get("stage"), "reason": data.get("reason")}
            )
        elif event.type == "reopen":
            entries.append({"at": event.at, "type": "reopened", "was": data.get("was")})
        elif event.type == "qualify":
            entries.append({"at": event.at, "type": "qualified", "verdict": data["verdict"], "score": data["score"]})
        elif event.type == "edit":
            emails = ["other emails"] if data.get("emails_added") or data.get("emails_removed") else []
            entries.append(
                {"at": event.at, "type": "edited", "fields": sorted(set(data["new"]) - {"updated_at"}) + emails}
            )
    # Stable: entries at the same moment keep the order above (creation first, then as recorded).
    return sorted(entries, key=lambda entry: entry["at"])


def qualification(history: list[Event]) -> dict[str, Any] | None:
    """The latest qualification run of a lead's history: answers, score, verdict, when; None if never."""
    runs = [event for event in history if event.type == "qualify"]
    if not runs:
        return None
    data = runs[-1].data
    keys = ("answers", "score", "threshold", "verdict", "knocked_out", "open_questions", "checklist")
    return {"at": runs[-1].at, **{key: data[key] for key in keys}}
