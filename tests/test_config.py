"""Config: defaults, the template init writes, and init itself."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import ok, run
from pipectl import config


def test_template_spells_out_exactly_the_defaults() -> None:
    written = config.parse(tomllib.loads(config.template("kim")), Path("/x/config.toml"))
    defaults = config.parse({"owner": "kim"}, Path("/x/config.toml"))
    assert written.checklist_named and not defaults.checklist_named  # init's file names its checklist
    assert replace(written, checklist_named=False) == defaults
    assert written.stage_names == ["prospecting", "qualifying", "connecting", "closing"]
    assert [s.probability for s in written.stages] == [0.1, 0.25, 0.5, 0.8]
    assert written.checklist == Path("/x/checklist.toml")
    assert written.gate_stage == "qualifying"


def test_owner_with_quotes_is_written_as_valid_toml() -> None:
    assert tomllib.loads(config.template('o"brien \\ x'))["owner"] == 'o"brien \\ x'


def test_missing_keys_take_defaults() -> None:
    loaded = config.parse({"review": {"idle_days": 3}}, None)
    assert loaded.review["idle_days"] == 3
    assert loaded.review["overload_share"] == 0.5
    assert loaded.cadence["max_attempts"] == 5


def test_custom_stages_without_qualifying_have_no_gate() -> None:
    stages = [{"name": n, "probability": 0.5, "max_days": 9, "max_open": 9} for n in ("lead", "demo", "deal")]
    loaded = config.parse({"stages": stages}, None)
    assert loaded.stage_names == ["lead", "demo", "deal"] and loaded.gate_stage is None
    gated = config.parse({"stages": stages, "qualification": {"gate_stage": "demo"}}, None)
    assert gated.gate_stage == "demo"


def test_init_creates_and_never_overwrites(tmp_path: Path) -> None:
    first = ok("init").stdout
    cfg = tmp_path / "config" / "pipectl" / "config.toml"
    checklist = cfg.parent / "checklist.toml"
    db = tmp_path / "data" / "pipectl" / "pipeline.db"
    assert f"wrote config {cfg}" in first and f"created database {db}" in first
    assert 'owner = "taro"' in cfg.read_text(encoding="utf-8")
    assert "[[criteria]]" in checklist.read_text(encoding="utf-8")
    cfg.write_text('owner = "kim"\n', encoding="utf-8")
    ok("add", "Keep me")
    second = ok("init").stdout
    assert "kept config" in second and "--force" in second and "kept database" in second
    assert cfg.read_text(encoding="utf-8") == 'owner = "kim"\n'
    ok("init", "--force")
    assert 'owner = "kim"' in cfg.read_text(encoding="utf-8")  # rewritten from the template, owner kept
    assert "# pipectl configuration" in cfg.read_text(encoding="utf-8")
    assert [lead["name"] for lead in ok("list", "--json").json()] == ["Keep me"]


def test_init_with_config_option_writes_there(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "pipectl.toml"
    ok("--config", str(target), "--db", str(tmp_path / "p.db"), "init")
    assert target.exists() and (target.parent / "checklist.toml").exists()
    assert run("--config", str(target), "--db", str(tmp_path / "p.db"), "list").exit_code == 0


def test_init_force_keeps_a_dated_copy_of_what_it_replaces(tmp_path: Path) -> None:
    ok("init")
    folder = tmp_path / "config" / "pipectl"
    cfg, checklist, template = folder / "config.toml", folder / "checklist.toml", folder / "last-chance.txt"
    custom = 'owner = "kim"\ncurrency = "JPY"\n[review]\nidle_days = 3\n'
    cfg.write_text(custom, encoding="utf-8")
    checklist.write_text("threshold = 0.5\n# mine\n", encoding="utf-8")
    untouched = template.read_text(encoding="utf-8")
    result = ok("init", "--force").stdout
    backup = folder / "config.toml.2026-11-30-0900.bak"
    assert f"backed up config {cfg} to {backup}" in result
    assert f"backed up checklist {checklist} to {folder / 'checklist.toml.2026-11-30-0900.bak'}" in result
    assert backup.read_text(encoding="utf-8") == custom
    assert f"kept last-chance template {template} (already the default)" in result
    assert template.read_text(encoding="utf-8") == untouched and not list(folder.glob("last-chance.txt.*"))
    written = tomllib.loads(cfg.read_text(encoding="utf-8"))
    assert (written["owner"], written["currency"]) == ("kim", "JPY") and "idle_days = 3" not in cfg.read_text()
    assert "[[criteria]]" in checklist.read_text(encoding="utf-8")
    # the same minute again: the first copy is never overwritten
    cfg.write_text('owner = "kim"\ncurrency = "EUR"\n', encoding="utf-8")
    assert f"to {folder / 'config.toml.2026-11-30-0900-2.bak'}" in ok("init", "--force").stdout
    assert backup.read_text(encoding="utf-8") == custom
    assert (folder / "config.toml.2026-11-30-0900-2.bak").read_text(encoding="utf-8").endswith('"EUR"\n')
    assert tomllib.loads(cfg.read_text(encoding="utf-8"))["currency"] == "EUR"


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ('currency = "EUR"\n[review]\nidle_days = -1\n', "EUR"),  # TOML, but not a valid config
        ('currency = "EUR\nowner = ', "USD"),  # not TOML at all
    ],
)
def test_init_force_replaces_a_broken_config_after_backing_it_up(tmp_path: Path, text: str, currency: str) -> None:
    cfg = tmp_path / "config" / "pipectl" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text, encoding="utf-8")
    assert run("list").exit_code == 2
    assert run("init").exit_code == 2  # without --force a broken config stays an error
    assert "backed up config" in ok("init", "--force").stdout
    assert (cfg.parent / "config.toml.2026-11-30-0900.bak").read_text(encoding="utf-8") == text
    assert tomllib.loads(cfg.read_text(encoding="utf-8"))["currency"] == currency
    assert ok("list").exit_code == 0
