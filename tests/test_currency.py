"""The currency belongs to the pipeline: its database records it when created (from the config), every
view shows that one, and a config naming another is a warning, never a relabelling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Static

from conftest import Result, add, database, ok, query, run, snapshot
from pipectl import actions, config, dates, migrations
from pipectl.store import is_url, open_backend
from pipectl.store.backend import Backend
from pipectl.tui import BoardApp

pytestmark = pytest.mark.backends

WARNING = (
    "warning: this pipeline's amounts are in JPY (recorded in its database); the config's currency USD is not used"
)


def refused(result: Result, text: str) -> None:
    """Exit 2: the currency warning, then one ``Error:`` line naming the problem."""
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [WARNING, result.stderr.splitlines()[-1]]
    assert result.stderr.splitlines()[-1].startswith("Error: ") and text in result.stderr


def use_currency(tmp_path: Path, code: str) -> None:
    path = tmp_path / "config" / "pipectl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'currency = "{code}"\n', encoding="utf-8")


@pytest.fixture
def yen_pipeline_under_a_dollar_config(tmp_path: Path) -> int:
    """A pipeline created under a JPY config, now opened with a USD one."""
    use_currency(tmp_path, "JPY")
    lead = add("Acme", "--value", "¥1,200,000", "--stage", "closing")
    use_currency(tmp_path, "USD")
    return lead


def test_a_new_database_records_the_configs_currency(tmp_path: Path) -> None:
    use_currency(tmp_path, "JPY")
    add("Acme")
    assert query("SELECT key, value FROM settings") == [("currency", "JPY")]
    assert "warning" not in ok("list").stderr


def test_every_view_shows_the_databases_currency_with_one_warning(
    yen_pipeline_under_a_dollar_config: int, tmp_path: Path
) -> None:
    listed = ok("list")
    assert listed.stderr.count("warning:") == 1 and WARNING in listed.stderr
    assert "1,200,000 JPY" in listed.stderr  # the total line
    assert "1,200,000 JPY" in ok("show", "acme").stdout
    board = ok("board")
    assert "JPY" in board.stdout and "USD" not in board.stdout
    assert ok("report", "--json").json()["currency"] == "JPY"
    picture = tmp_path / "report.svg"
    ok("report", "--svg", str(picture))
    assert "JPY" in picture.read_text(encoding="utf-8") and "USD" not in picture.read_text(encoding="utf-8")
    assert "USD" not in ok("today").stdout
    assert query("SELECT value FROM settings WHERE key = 'currency'") == [("JPY",)]  # the config changed nothing


def test_values_are_checked_against_the_databases_currency(yen_pipeline_under_a_dollar_config: int) -> None:
    lead = add("Globex", "--value", "¥1000")
    assert ok("show", str(lead), "--json").json()["value"] == 1000
    before = snapshot()
    refused(run("add", "Initech", "--value", "$5"), "value is in dollars ($) but this pipeline's currency is JPY")
    refused(run("won", "acme", "--value", "5 USD"), "value is in USD but this pipeline's currency is JPY")
    assert snapshot() == before


def test_an_import_reads_amounts_in_the_databases_currency(
    yen_pipeline_under_a_dollar_config: int, tmp_path: Path
) -> None:
    rows = tmp_path / "leads.csv"
    rows.write_text("name,value\nYen Co,¥5000\nDollar Co,$5\n", encoding="utf-8")
    result = run("import", str(rows))
    assert "this pipeline's currency is JPY" in result.stderr + result.stdout
    assert ok("show", "yen co", "--json").json()["value"] == 5000
    refused(run("show", "dollar co"), "no lead matches")


def test_the_interactive_board_shows_the_databases_currency(yen_pipeline_under_a_dollar_config: int) -> None:
    ctx = actions.Context(config=config.load(), database=database(), now=dates.clock())
    assert ctx.config.currency == "USD"
    app = BoardApp(ctx)
    titles: list[str] = []

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            titles.append(str(app.query_one("#title", Static).render()))

    asyncio.run(main())
    ctx.close()
    assert "pipectl board (JPY)" in titles[0]


def test_copy_and_backup_carry_the_currency(yen_pipeline_under_a_dollar_config: int, tmp_path: Path) -> None:
    copied = tmp_path / "copy.db"
    ok("copy", "--to", str(copied))
    assert query("SELECT value FROM settings", copied) == [("JPY",)]
    assert WARNING in ok("--db", str(copied), "list").stderr
    saved = tmp_path / "backup.db"
    ok("backup", str(saved))
    assert query("SELECT value FROM settings", saved) == [("JPY",)]


def test_a_database_from_before_records_the_currency_of_the_config_that_migrates_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with monkeypatch.context() as old:
        before = migrations.MIGRATIONS.index(migrations.m010_settings)
        old.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:before])
        old.setattr(f"pipectl.store.{'postgres' if is_url(database()) else 'sqlite'}.SCHEMA_VERSION", before)
        old.setattr(Backend, "read_currency", lambda self: None)  # that schema records none
        open_backend(database(), create=True, currency="USD").close()
    use_currency(tmp_path, "JPY")
    assert "warning" not in ok("list").stderr
    assert query("SELECT value FROM settings WHERE key = 'currency'") == [("JPY",)]
    use_currency(tmp_path, "USD")
    assert WARNING in ok("list").stderr


@pytest.mark.sqlite_only
def test_the_kept_demo_shows_yen_whatever_the_config_says(tmp_path: Path) -> None:
    kept = tmp_path / "demo.db"
    ok("demo", "--keep", str(kept))
    board = ok("--db", str(kept), "board")  # the default config: USD
    assert WARNING in board.stderr
    assert "JPY" in board.stdout and "USD" not in board.stdout
