"""`pipectl mcp`: the pipeline as MCP tools, driven by the SDK's own client.

The fast tests talk to the server in memory; the ones about the command itself start a real
`pipectl mcp` process and talk to it over stdio, as Claude Desktop or Claude Code would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult

import pipectl
from conftest import add, assert_error, database, ok, query, run, snapshot
from pipectl import config, mcp_server

pytestmark = pytest.mark.backends

READ = {"list_leads", "get_lead", "today", "review", "report", "board", "checklist"}
WRITE = {"add_lead", "log_touch", "add_note", "advance", "won", "lost", "snooze", "qualify", "undo"}


def server(read_only: bool = False) -> mcp_server.Server:
    """The server `pipectl mcp` runs, on the test's config and database."""
    return mcp_server.build(config.load(None), database(), None, read_only)


def session(target: Any, work: Callable[[Client], Awaitable[Any]]) -> Any:
    """What ``work`` returns from a client session with ``target`` (a server, or a process to start)."""

    async def go() -> Any:
        async with Client(target) as client:
            return await work(client)

    return anyio.run(go)


def call(tool: str, /, **arguments: Any) -> CallToolResult:
    return session(server(), lambda client: client.call_tool(tool, arguments))  # type: ignore[no-any-return]


def data(result: CallToolResult) -> Any:
    """A successful call's structured content, checked to be the same JSON as its text."""
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def error(result: CallToolResult) -> str:
    """A refused call's one ``Error:`` line."""
    assert result.is_error and result.structured_content is None
    (text,) = [block.text for block in result.content]  # type: ignore[union-attr]
    assert text.startswith("Error: ") and "\n" not in text and "Traceback" not in text
    return text


def process(*options: str) -> StdioServerParameters:
    """A real `pipectl mcp` process, with the test's environment (database, config folders, clock)."""
    return StdioServerParameters(command=sys.executable, args=["-m", "pipectl", "mcp", *options], env=dict(os.environ))


# --- tools and annotations -------------------------------------------------------------------------


def test_tools_carry_descriptions_parameters_and_annotations() -> None:
    tools = {tool.name: tool for tool in session(server(), lambda client: client.list_tools()).tools}
    assert set(tools) == READ | WRITE
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.annotations is not None and tool.annotations.open_world_hint is False
    for name in READ:
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
    for name in WRITE:
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is False
        assert annotations.destructive_hint is (name not in ("add_lead", "add_note")), name
    assert tools["snooze"].annotations.idempotent_hint is True  # type: ignore[union-attr]
    assert tools["undo"].annotations.idempotent_hint is False  # type: ignore[union-attr]
    touch = tools["log_touch"].input_schema
    assert set(touch["required"]) == {"lead", "kind"}
    assert touch["properties"]["kind"]["enum"] == ["call", "email", "meeting", "message", "note"]
    assert tools["lost"].input_schema["required"] == ["lead", "reason"]
    assert tools["list_leads"].input_schema["properties"]["limit"]["default"] == 50


def test_read_only_offers_no_write_tool() -> None:
    tools = session(server(read_only=True), lambda client: client.list_tools()).tools
    assert {tool.name for tool in tools} == READ
    assert "Unknown tool: add_lead" in error(
        session(server(read_only=True), lambda client: client.call_tool("add_lead", {"name": "Ann"}))
    )


# --- reading -----------------------------------------------------------------------------------------


def test_read_tools_return_the_json_of_the_commands() -> None:
    lead = add("Ann Lee", "--company", "Acme", "--value", "1200.50", "--next", "call", "--due", "-1d")
    add("Bob Roe", "--company", "Globex")
    ok("touch", str(lead), "call", "--outcome", "no-answer")
    shown = data(call("get_lead", lead="acme"))
    assert shown == {**ok("show", str(lead), "--json").json(), "timeline_omitted": 0}
    today = data(call("today"))
    assert today["items"] == ok("today", "--json").json() and today["total"] == 2
    assert today["truncated"] is False and today["next_offset"] is None
    review = data(call("review"))
    cli = ok("review", "--json").json()
    assert review["findings"] == cli["findings"] and review["summary"] == cli["summary"]
    assert data(call("report", by="source")) == ok("report", "--by", "source", "--json").json()
    assert data(call("board"))["stages"][0]["leads"] == ok("board", "--json").json()["stages"][0]["leads"]
    assert [c["key"] for c in data(call("checklist"))["criteria"]] == ["budget", "authority", "need", "timeline"]


def test_lists_come_in_pages_with_total_and_truncated() -> None:
    ids = [add(f"Lead {n}", "--tag", "fair") for n in range(5)]
    first = data(call("list_leads", tag="fair", limit=2))
    assert [lead["id"] for lead in first["leads"]] == ids[:2]
    assert (first["total"], first["truncated"], first["next_offset"]) == (5, True, 2)
    last = data(call("list_leads", tag="fair", limit=2, offset=4))
    assert [lead["id"] for lead in last["leads"]] == ids[4:]
    assert (last["truncated"], last["next_offset"]) == (False, None)
    newest = data(call("list_leads", sort="created", desc=True, limit=1))
    assert newest["leads"][0]["id"] == ids[-1] and newest["total"] == 5
    board = data(call("board", limit=2))
    assert board["stages"][0]["count"] == 5 and len(board["stages"][0]["leads"]) == 2
    assert board["stages"][0]["leads_omitted"] == 3
    assert data(call("review", kind="uncontacted", limit=1))["total"] == 0  # the leads are new: not yet late


def test_a_page_too_big_for_an_assistant_shrinks_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(4):
        add(f"Lead {n}", "--company", "x" * 400)
    monkeypatch.setattr(mcp_server, "MAX_BYTES", 3000)
    page = data(call("list_leads"))
    assert 1 <= len(page["leads"]) < 4
    assert page["truncated"] is True and page["next_offset"] == len(page["leads"]) and page["total"] == 4
    monkeypatch.setattr(mcp_server, "MAX_BYTES", 500)
    assert "too large" in error(call("get_lead", lead="1"))


def test_a_long_timeline_keeps_the_latest_entries_and_counts_the_rest() -> None:
    lead = add("Ann Lee")
    for n in range(4):
        ok("note", str(lead), f"note {n}")
    shown = data(call("get_lead", lead=str(lead), timeline_limit=2))
    assert [entry["note"] for entry in shown["timeline"]] == ["note 2", "note 3"]
    assert shown["timeline_omitted"] == 3  # the creation and two notes


# --- writing -----------------------------------------------------------------------------------------


def test_writes_go_through_the_rules_and_are_recorded_as_commands() -> None:
    added = data(call("add_lead", name="Ann Lee", company="Acme", value=1200.5, tags=["fair"], due="fri"))
    assert (added["value"], added["tags"], added["next_action"]) == (1200.5, ["fair"], "follow up")
    lead = str(added["id"])
    assert data(call("get_lead", lead=added["id"]))["id"] == added["id"]  # an id given as a number
    touched = data(call("log_touch", lead="acme", kind="call", outcome="Replied", next_action="demo", due="tomorrow"))
    assert (touched["touch_count"], touched["next_action"]) == (1, "demo")
    data(call("add_note", lead=lead, text="likes it"))
    assert data(call("advance", lead=lead))["stage"] == "qualifying"
    qualified = data(
        call("qualify", lead=lead, answers={"budget": "yes", "authority": "yes", "need": "yes"}, partial=True)
    )
    assert qualified["verdict"] == "qualified" and qualified["qualified"] is True
    assert data(call("snooze", lead=lead, until="2027-01-15", reason="holidays"))["snooze_reason"] == "holidays"
    assert data(call("won", lead=lead, value="1,500"))["status"] == "won"
    assert [row[0] for row in query("SELECT command FROM events WHERE type <> 'create' ORDER BY id")] == [
        "mcp: touch acme call --outcome Replied --next demo --due tomorrow",
        f"mcp: note {lead} 'likes it'",
        f"mcp: advance {lead}",
        f"mcp: qualify {lead} --answer budget=yes --answer authority=yes --answer need=yes --partial",
        f"mcp: snooze {lead} --until 2027-01-15 --reason holidays",
        f"mcp: won {lead} --value 1,500",
    ]
    assert query("SELECT command FROM events WHERE type = 'create'") == [
        ("mcp: add 'Ann Lee' --company Acme --value 1200.5 --tag fair --due fri",)
    ]


def test_refusals_and_bad_arguments_are_one_line_errors_that_change_nothing() -> None:
    lead = str(add("Ann Lee", "--stage", "qualifying"))
    before = snapshot()
    assert "not qualified and cannot leave qualifying" in error(call("advance", lead=lead))
    assert error(call("lost", lead=lead)) == "Error: lost: reason is required"
    assert "lost reason" in error(call("lost", lead=lead, reason="  "))
    assert "no lead matches 'zzz'" in error(call("get_lead", lead="zzz"))
    assert "limit" in error(call("list_leads", limit=0))
    assert "kind" in error(call("log_touch", lead=lead, kind="fax"))
    assert "value" in error(call("won", lead=lead, value=True))
    assert "no answer for authority, need, timeline" in error(call("qualify", lead=lead, answers={"budget": "yes"}))
    assert "no question with key 'color'" in error(call("qualify", lead=lead, answers={"color": "yes"}, partial=True))
    assert snapshot() == before
    forced = data(call("advance", lead=lead, force=True))
    assert forced["stage"] == "connecting"
    assert ok("show", lead, "--json").json()["timeline"][-1]["forced"] is True


def test_undo_reverts_the_last_change_whoever_made_it() -> None:
    lead = str(add("Ann Lee"))
    data(call("log_touch", lead=lead, kind="email"))
    assert data(call("undo")) == {"undid": f"mcp: touch {lead} email", "changes": 1}
    assert query("SELECT touch_count FROM leads") == [(0,)]
    ok("note", lead, "from the terminal")
    assert data(call("undo"))["undid"] == f"pipectl note {lead} 'from the terminal'"
    assert data(call("undo"))["undid"] == "pipectl add 'Ann Lee'"
    assert data(call("undo")) == {"undid": None, "changes": 0}


# --- the command --------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # the transport and the command; the tools run on both backends above
def test_pipectl_mcp_over_stdio_works_the_pipeline_and_pipectl_undo_reverts_it() -> None:
    lead = str(add("Ann Lee", "--company", "Acme", "--stage", "qualifying"))

    async def work(client: Client) -> dict[str, Any]:
        results = {"tools": {tool.name for tool in (await client.list_tools()).tools}}
        results["today"] = await client.call_tool("today", {})
        results["show"] = await client.call_tool("get_lead", {"lead": "acme"})
        results["gate"] = await client.call_tool("advance", {"lead": lead})
        results["lost"] = await client.call_tool("lost", {"lead": lead})
        results["add"] = await client.call_tool("add_lead", {"name": "Bob Roe", "email": "bob@globex.example"})
        results["touch"] = await client.call_tool(
            "log_touch", {"lead": "bob@globex.example", "kind": "call", "next_action": "send deck", "due": "tomorrow"}
        )
        return results

    results = session(process(), work)
    assert results["tools"] == READ | WRITE
    assert data(results["today"])["items"][0]["lead_id"] == int(lead)
    assert data(results["show"])["company"] == "Acme"
    assert "cannot leave qualifying" in error(results["gate"])
    assert "reason is required" in error(results["lost"])
    bob = data(results["add"])
    assert data(results["touch"])["next_action"] == "send deck"
    assert query("SELECT stage, status FROM leads ORDER BY id") == [("qualifying", "open"), ("prospecting", "open")]
    assert ok("undo").stdout.startswith("undid: mcp: touch bob@globex.example call --next 'send deck' --due tomorrow")
    bob_now = ok("show", str(bob["id"]), "--json").json()
    assert (bob_now["touch_count"], bob_now["next_action"]) == (0, None)


def test_pipectl_mcp_owner_is_the_actor_of_every_write() -> None:
    added = session(process("--owner", "hanako"), lambda client: client.call_tool("add_lead", {"name": "Ann"}))
    assert data(added)["owner"] == "hanako"
    assert query("SELECT actor, command FROM events") == [("hanako", "mcp: add Ann")]


@pytest.mark.sqlite_only  # the transport and the command; the tools run on both backends above
def test_pipectl_mcp_read_only_over_stdio() -> None:
    async def work(client: Client) -> tuple[set[str], CallToolResult]:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        return tools, await client.call_tool("undo", {})

    tools, refused = session(process("--read-only"), work)
    assert tools == READ
    assert "Unknown tool: undo" in error(refused)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["add", "Kim"], ["list", "--json"], ["today"]])
def test_no_other_command_loads_the_sdk(command: list[str]) -> None:
    script = (
        f"import sys\nfrom pipectl.cli import main\nsys.argv = ['pipectl', *{command!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({name.partition('.')[0] for name in sys.modules} & {'mcp', 'pydantic', 'anyio'}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.sqlite_only
def test_a_bad_config_stops_pipectl_mcp_before_it_serves(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("stages = 3\n", encoding="utf-8")
    assert_error(run("--config", str(tmp_path / "missing.toml"), "mcp"), "no such file")
    assert_error(run("--config", str(tmp_path / "bad.toml"), "mcp"), "stages")


@pytest.mark.sqlite_only
def test_without_the_extra_pipectl_mcp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(pipectl, "mcp_server")
    monkeypatch.delitem(sys.modules, "pipectl.mcp_server")
    for name in [name for name in sys.modules if name.partition(".")[0] == "mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # what importing the SDK meets when it is not installed
    assert_error(run("mcp"), "pip install 'pipectl[mcp]'")
