"""The command line end to end: exit codes, messages, files written; never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from provisioner._cli import app
from provisioner._cli.exits import epilog, readme_table
from provisioner.exit_codes import ExitCode
from provisioner.sandbox import SandboxConfig, client_env
from provisioner.words import counted
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
    said = " ".join(result.output.split())
    assert "4 another batch run is working on this inbox, or another run holds the ledger" in said
    assert "143 terminated (SIGTERM)" in said


def test_python_dash_m_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "validate", str(EXAMPLE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "valid" in done.stdout


# --- shared options, help, version -----------------------------------------------------------------

SHARED_AFTER_NAME = {
    "run": ["--sandbox", "--concurrency", "2", "--rate-limit", "600", "--skip-invalid", "--max-rows", "500"],
    "plan": ["--sandbox", "--concurrency", "2", "--rate-limit", "600", "--skip-invalid", "--max-file-mb", "5"],
    "batch": ["--sandbox", "--concurrency", "2", "--rate-limit", "600", "--settle-seconds", "0", "--max-rows", "500"],
    "validate": ["--max-rows", "500", "--max-file-mb", "5"],
}


@pytest.mark.parametrize("command", sorted(SHARED_AFTER_NAME))
def test_every_command_accepts_the_shared_options_after_its_name(cli, tmp_path: Path, command: str) -> None:
    if command == "batch":
        target = tmp_path / "inbox"
        target.mkdir()
        write_book(target / "a.xlsx", [campaign(name="From the inbox")])
    else:
        target = write_book(tmp_path / "in.xlsx", [campaign(name="Shared options")])
    logs = tmp_path / "log.jsonl"
    args = [command, target, *SHARED_AFTER_NAME[command], "-v", "--log-format", "json", "--log-file", logs]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert logs.exists()


def test_version_and_dash_h() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and re.fullmatch(r"provisioner \d+\.\d+\.\d+\S*\n", version.output)
    for command in ("run", "plan", "batch", "validate", "template", "sandbox"):
        short, long = (runner.invoke(app, [command, flag], env={"COLUMNS": "200"}) for flag in ("-h", "--help"))
        assert short.exit_code == 0 and short.output == long.output and "Exit codes: " in short.output
    assert runner.invoke(app, ["-h"]).output == runner.invoke(app, ["--help"]).output


def test_top_level_help_lists_every_command_in_full() -> None:
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    assert "…" not in listing and "..." not in listing.split("Commands:")[1]


def test_each_command_documents_its_own_exit_codes() -> None:
    runner = CliRunner()

    def epilog_of(command: str) -> str:
        text = " ".join(runner.invoke(app, [command, "--help"], env={"COLUMNS": "2000"}).output.split())
        return text[text.index("Exit codes: ") :]

    assert epilog_of("run") == epilog("run")
    assert "1 some rows would be refused (a contact list the server does not have" in epilog_of("plan")
    assert epilog_of("validate") == "Exit codes: 0 the input is valid; 2 the input is invalid or unreadable."
    assert "3 the port cannot be bound" in epilog_of("sandbox")
    assert "PATH exists" in epilog_of("template")
    assert len({epilog_of(c) for c in ("run", "plan", "batch", "validate", "template", "sandbox")}) == 6


def test_readme_exit_codes_are_the_help_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "paste provisioner._cli.exits.readme_table() into README.md's Exit codes"


def test_readme_sample_validate_output_is_what_validate_prints(cli) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = readme.split("$ provisioner validate examples/broken.xlsx\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert sample[-1] == "  …"
    printed = cli("validate", BROKEN).output.splitlines()
    assert printed[: len(sample) - 1] == sample[:-1]


# --- plan ---------------------------------------------------------------------------------------------


def connect_to(box, monkeypatch: pytest.MonkeyPatch, secret: str | None = None, https: bool = False) -> list[str]:
    """Return the options reaching a threaded sandbox, with the secret in the environment."""
    monkeypatch.setenv("KORE_CLIENT_SECRET", secret or box.config.client_secret)
    url = box.server.url.replace("http://", "https://") if https else box.server.url
    config = box.config
    return [
        "--host", url, "--stream-id", config.stream_id, "--account-id", config.account_id,
        "--client-id", config.client_id,
    ]  # fmt: skip


def test_plan_exits_by_what_run_would_do(cli, tmp_path: Path, threaded_sandbox, monkeypatch) -> None:
    box = threaded_sandbox(SandboxConfig(contact_lists=frozenset({"Renewals"})))
    connect = connect_to(box, monkeypatch)
    ready = write_book(tmp_path / "ready.xlsx", [campaign(name="One", contact_lists="Renewals")])
    done = cli("plan", ready, *connect)
    assert done.exit_code == ExitCode.OK, done.output
    assert re.search(r"Would create 1 campaign[ .]", done.output)

    refused = write_book(tmp_path / "refused.xlsx", [campaign(name="Two", contact_lists="Nowhere")])
    result = cli("plan", refused, *connect)
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "Would create 0 campaigns" in result.output and "1 row refused" in result.output

    invalid = write_book(tmp_path / "invalid.xlsx", [campaign(name="Three", priority=9)])
    skipped = cli("plan", invalid, *connect, "--skip-invalid")
    assert skipped.exit_code == ExitCode.INVALID and "1 invalid row" in skipped.output
    stopped = cli("plan", invalid, *connect)
    assert stopped.exit_code == ExitCode.INVALID and "1 invalid row;" in stopped.output


def test_plan_on_an_auth_failure_says_only_that(cli, tmp_path: Path, threaded_sandbox, monkeypatch) -> None:
    connect = connect_to(threaded_sandbox(), monkeypatch, secret="not-the-secret-but-long-enough-for-hs256-anyway")
    result = cli("plan", write_book(tmp_path / "in.xlsx", [campaign(name="One")]), *connect)
    assert result.exit_code == ExitCode.CONFIG
    assert "invalid row" not in result.output and "Would create" not in result.output
    assert "error: authentication failed" in result.output and "note:" not in result.output
    for setting in ("--client-id", "KORE_CLIENT_SECRET", "--account-id", "--stream-id", "Campaign Management"):
        assert setting in result.output


# --- wording ------------------------------------------------------------------------------------------


def test_counts_are_said_in_the_right_number(cli, tmp_path: Path) -> None:
    path = write_book(tmp_path / "one.xlsx", [campaign(name="Only one")])
    assert "one.xlsx: 1 campaign, 1 ready to create; valid." in cli("validate", path).output
    first = cli("run", path, "--sandbox")
    assert "1 created" in first.output and "campaigns" not in first.output
    assert [counted(n, "campaign") for n in (0, 1, 2)] == ["0 campaigns", "1 campaign", "2 campaigns"]


def test_short_secret_is_one_line_of_ours_without_a_file_path(tmp_path: Path) -> None:
    script = (
        "from provisioner.logs import configure_logging\n"
        "from provisioner.api.auth import mint_token\n"
        "from provisioner.api.settings import Settings\n"
        "from provisioner.secret import Secret\n"
        "configure_logging(verbosity=0, quiet=False, log_format='text', log_file=None)\n"
        "s = Settings(host='http://127.0.0.1:1', stream_id='st-1', account_id='a', client_id='cs-1',"
        " client_secret=Secret('short'))\n"
        "mint_token(s, 0); mint_token(s, 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "shorter than 32 bytes" in lines[0], done.stderr
    assert ".py" not in done.stderr and "InsecureKeyLengthWarning" not in done.stderr and "short" in lines[0]
    assert "'short'" not in done.stderr


def test_https_against_the_plain_http_sandbox_says_use_http(cli, tmp_path: Path, threaded_sandbox, monkeypatch) -> None:
    connect = connect_to(threaded_sandbox(), monkeypatch, https=True)
    result = cli("plan", write_book(tmp_path / "in.xlsx", [campaign(name="One")]), *connect)
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "does not speak HTTPS; use http:// for a local sandbox" in result.output
    assert "--ca-bundle" not in result.output


# ------------------------------------------------------------------------------------------ doctor, ledger


def test_doctor_checks_a_tenant_read_only_and_exits_by_whether_a_run_would_be_safe(
    cli, monkeypatch: pytest.MonkeyPatch, threaded_sandbox
) -> None:
    config = SandboxConfig(page_cap=50, paging="page", listed_contact_lists=frozenset({"North"}))
    box = threaded_sandbox(config)
    box.server.sandbox.seed([f"Old {i}" for i in range(60)], created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    for name, value in client_env(box.server.url, config).items():
        monkeypatch.setenv(name, value)

    text = cli("doctor")
    assert text.exit_code == 0, text.output
    assert re.search(r"^warn\s+paging\s+the server honours 'page' but not 'skip'$", text.output, re.M)
    assert "asked for 100 per page, the server serves 50" in text.output
    assert "client_secret = ***  (from KORE_CLIENT_SECRET)" in text.output
    assert config.client_secret not in text.output
    assert "A run would be safe" in text.output

    data = json.loads(cli("doctor", "--json").output)
    assert data["safe"] is True and data["requests"] <= 10
    assert {f["check"]: f["verdict"] for f in data["findings"]}["paging"] == "warn"
    assert box.server.sandbox.requests["create"] == 0

    monkeypatch.setenv("KORE_CLIENT_SECRET", "not-the-secret-0123456789-0123456789")
    refused = cli("doctor")
    assert refused.exit_code == ExitCode.CONFIG
    assert re.search(r"^fail\s+token\s+.*credentials refused", refused.output, re.M)
    assert "A run would NOT be safe" in refused.output


def test_ledger_show_and_forget_from_the_command_line(cli, tmp_path: Path) -> None:
    ran = cli("run", EXAMPLE, "--sandbox", "--state", tmp_path / "l.sqlite3", "--out", tmp_path / "r.xlsx")
    assert ran.exit_code == 0, ran.output
    shown = cli("ledger", "show", "--state", tmp_path / "l.sqlite3", "--json")
    entries = json.loads(shown.output)["entries"]
    assert len(entries) == 14 and {e["state"] for e in entries} == {"created"}
    name = entries[0]["name"]

    text = cli("ledger", "show", name.upper(), "--state", tmp_path / "l.sqlite3")
    assert text.exit_code == 0 and text.output.startswith(f"1 entry in {tmp_path / 'l.sqlite3'}")
    assert name in text.output and entries[0]["campaign_id"] in text.output

    gone = cli("ledger", "forget", name, "--state", tmp_path / "l.sqlite3")
    assert gone.exit_code == 0 and "1 entry forgotten from" in gone.output
    again = cli("ledger", "forget", name, "--state", tmp_path / "l.sqlite3")
    assert again.exit_code == ExitCode.FAILED and again.output.startswith("0 entries forgotten")
    run_id = entries[1]["run_id"]
    assert "13 entries forgotten" in cli("ledger", "forget", "--run", run_id, "--state", tmp_path / "l.sqlite3").output
    assert cli("ledger", "forget", "--state", tmp_path / "l.sqlite3").exit_code == ExitCode.INVALID
    missing = cli("ledger", "show", "--state", tmp_path / "none.sqlite3")
    assert missing.exit_code == ExitCode.CONFIG and "there is no ledger" in missing.output
