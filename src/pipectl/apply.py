"""`review --apply`: walk through the actionable findings and act on them, asking at each.

Close-outs (lost, reason `no response` or `past sales cycle`) and last-chance messages need no typing,
so ``--yes`` applies them (a last-chance message is sent through ``[send]`` and logged once the account
took it; without a method it is listed under "send by hand" and nothing is logged; while a message a
killed run was handing to the lead is unsettled, it is listed under "check your Sent folder", and only
``--apply`` sends it again, when told to); a next step for
`overdue` / `no_next_step` needs text and a date, so it is only asked for. Each action is its own
transaction (the lock is never held while waiting for the user), all in one event batch, so `undo`
reverts the whole session. Nothing is deleted.
"""

from __future__ import annotations

import typer

from pipectl import actions, dates, render
from pipectl.errors import PipectlError, Unsettled
from pipectl.model import Finding, Status

ACTIONABLE = ("close_out", "last_chance", "overdue", "no_next_step")
BY_HAND = "send by hand"  # a last-chance message with no [send] method: listed, nothing logged


def walk(ctx: actions.Context, findings: list[Finding], ask: bool) -> tuple[list[Finding], list[str]]:
    """Act on the findings; return those still standing (not acted on) and the leads (``#id``) whose
    action failed."""
    done: set[int] = set()
    left: list[Finding] = []
    failed: list[str] = []
    counts = {"closed": 0, "last chance sent": 0, "next step set": 0}
    by_hand: list[str] = []
    check: list[str] = []
    for finding in findings:
        if finding.lead_id is None or finding.kind not in ACTIONABLE or finding.lead_id in done:
            if finding.lead_id not in done:
                left.append(finding)
            continue
        try:
            result = _act(ctx, finding, ask)
        except Unsettled as exc:
            check.append(f"#{finding.lead_id} {finding.name} ({exc.subject!r}, {dates.show(exc.at)})")
            result = None
        except PipectlError as exc:  # the lead changed under us, or the server said no: say so, go on
            render.err(f"failed #{finding.lead_id}: {exc.message}")
            failed.append(f"#{finding.lead_id}")
            result = None
        if result == BY_HAND:
            by_hand.append(f"#{finding.lead_id} {finding.name}")
            result = None
        if result is None:
            left.append(finding)
        else:
            counts[result] += 1
            done.add(finding.lead_id)
    summary = ", ".join(f"{what}: {count}" for what, count in counts.items()) + f"; {len(left)} findings left"
    render.err(summary + (f"; failed: {', '.join(failed)}" if failed else ""))
    if by_hand:
        render.err(
            "send by hand (no [send] method in the config, so nothing was sent or logged), then log it with"
            f" `touch LEAD email --outcome last-chance`: {', '.join(by_hand)}"
        )
    if check:
        render.err(
            "check your Sent folder: a run was killed while handing these a message, which may have gone, so their"
            " last chance was not sent; if it went, log it with `touch LEAD email` (`--outcome last-chance` if it was"
            f" the last chance); if not, `review --apply` asks whether to send it: {', '.join(check)}"
        )
    return left, failed


def _act(ctx: actions.Context, finding: Finding, ask: bool) -> str | None:
    label = f"#{finding.lead_id} {finding.name}"
    lead_id = str(finding.lead_id)
    if finding.kind == "close_out":
        reason = finding.details["close_reason"]
        if ask and not typer.confirm(f"{label}: {finding.reason}. Close it as lost ({reason})?", default=False):
            return None
        actions.close(ctx, lead_id, Status.LOST, reason=reason)
        return "closed"
    if finding.kind == "last_chance":
        from pipectl import send

        template = actions.last_chance_template(ctx)
        if send.method(ctx) is None:
            return BY_HAND
        resend = False
        if ask:
            lead = actions.find(ctx, lead_id)
            subject, body = template.fill(send.last_chance_fields(ctx, lead))
            render.out(f"{label}: {finding.reason}\n---\nSubject: {subject}\n\n{body}\n---")
            unsure = send.unsettled(ctx, lead)
            if unsure:
                render.out(
                    f"A run killed at {dates.show(unsure[1])} was handing over {unsure[0]!r} to {label}: it may"
                    " have gone (look in your Sent folder)."
                )
            if not typer.confirm(f"Send it{' again' if unsure else ''} and log it as sent?", default=False):
                return None
            resend = True
        send.last_chance(ctx, finding.lead_id or 0, template, resend=resend)
        return "last chance sent"
    if not ask:
        return None
    step = typer.prompt(f"{label}: {finding.reason}. Next step (empty to skip)", default="", show_default=False)
    if not step.strip():
        return None
    while True:
        due = typer.prompt("  due", default="tomorrow")
        try:
            actions.edit(ctx, lead_id, next_action=step, next_action_due=due)
            return "next step set"
        except PipectlError as exc:
            render.err(f"  {exc.message}")
