"""Config: defaults, the template init writes, and init itself."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

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
