"""The command line end to end: exit codes, messages, files written; never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from provisioner._cli import app
from provisioner.exit_codes import ExitCode
from tests.helpers import campaign, write_book

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "campaigns.xlsx"
BROKEN = ROOT / "examples" / "broken.xlsx"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in (
        "KORE_HOST",
        "KORE_STREAM_ID",
        "KORE_ACCOUNT_ID",
        "KORE_IID",
        "KORE_CLIENT_ID",
        "KORE_CLIENT_SECRET",
        "PROVISIONER_CONFIG",
        "PROVISIONER_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PROVISIONER_STATE", str(tmp_path / "ledger.sqlite3"))
    runner = CliRunner()

    def invoke(*args: str) -> object:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return invoke


def test_validate_exit_codes_and_json(cli, tmp_path: Path) -> None:
    ok = cli("validate", EXAMPLE)
    assert ok.exit_code == 0 and "14 campaigns, 14 ready to create; valid." in ok.output
    bad = cli("validate", BROKEN, "--json")
    assert bad.exit_code == ExitCode.INVALID
    payload = json.loads(bad.output)
    assert payload["valid"] is False and payload["campaigns"] == 14
    assert set(payload["issues"][0]) == {"sheet", "row", "column", "value", "code", "message", "severity", "cell"}


def test_validate_caps_the_screen_and_writes_every_problem_to_the_report(cli, tmp_path: Path) -> None:
    rows = [campaign(name=f"C{i}", priority=9) for i in range(25)]
    path = write_book(tmp_path / "in.xlsx", rows)
    report = tmp_path / "problems.xlsx"
    result = cli("validate", path, "--report", report)
    shown = [line for line in result.output.splitlines() if line.startswith("  ERROR")]
    assert len(shown) == 20 and "… and 5 more" in result.output
    errors = list(openpyxl.load_workbook(report)["Errors"].iter_rows(values_only=True))
    assert len(errors) == 26  # header + every problem


def test_unreadable_input_is_one_line_and_exit_2(cli, tmp_path: Path) -> None:
    fake = tmp_path / "campaigns.xlsx"
    fake.write_text("name,description\n")
    result = cli("validate", fake)
    assert result.exit_code == ExitCode.INVALID
    assert result.output.strip().startswith("error: campaigns.xlsx is not an Excel workbook")
    missing = cli("run", tmp_path / "nope.xlsx")
    assert missing.exit_code == ExitCode.INVALID and "does not exist" in missing.output


def test_missing_settings_name_every_item_and_where_to_set_it(cli) -> None:
    result = cli("run", EXAMPLE)
    assert result.exit_code == ExitCode.CONFIG
    for item in ("--host", "KORE_STREAM_ID", "KORE_ACCOUNT_ID", "KORE_CLIENT_ID", "KORE_CLIENT_SECRET"):
        assert item in result.output


def test_run_and_plan_against_the_built_in_sandbox(cli, tmp_path: Path) -> None:
    plan = cli("plan", EXAMPLE, "--sandbox")
    assert plan.exit_code == 0 and "Would create 14 campaigns" in plan.output
    out = tmp_path / "results.xlsx"
    run = cli("run", EXAMPLE, "--sandbox", "--out", out)
    assert run.exit_code == 0, run.output
    assert "14 created" in run.output
    rows = list(openpyxl.load_workbook(out)["Results"].iter_rows(values_only=True))
    assert [r[2] for r in rows[1:]] == ["created"] * 14


def test_template_then_validate(cli, tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    assert cli("template", path).exit_code == 0
    assert cli("validate", path).exit_code == 0
    assert cli("template", path).exit_code == ExitCode.INVALID  # no overwrite without --force


def test_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "Exit codes: 0 every campaign was created" in result.output
    assert "143 terminated (SIGTERM)" in result.output


def test_python_dash_m_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "validate", str(EXAMPLE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "valid" in done.stdout
