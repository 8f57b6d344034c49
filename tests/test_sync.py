"""The sheet stays the source of truth: compare, plan, run without and with --update, against the real sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from provisioner._cli._app import app
from provisioner.api.campaign import Campaign
from provisioner.api.client import KoreClient, open_session
from provisioner.errors import RejectedError
from provisioner.exit_codes import ExitCode
from provisioner.jobs.check import check_input
from provisioner.jobs.run import run_job
from provisioner.provision.compare import DRIFT_FIELD, Change, compare, differences
from provisioner.provision.ledger import EntryState, Ledger
from provisioner.sandbox import Faults, Sandbox, SandboxConfig, ThreadedSandbox, client_env
from provisioner.workbook import spec
from tests.helpers import campaign, window, write_book
from tests.test_run import FAST, job, results

LISTS = frozenset({"Renewals East", "CL North", "CL South"})
PAGE = 10


def config(**kw: Any) -> SandboxConfig:
    """A sandbox that serves PAGE campaigns a page, turns campaigns Ready at once and knows the lists named here."""
    return SandboxConfig(
        contact_lists=LISTS, **{"rate_limit": 100_000, "window_s": 0.2, "page_cap": PAGE, "ready_after_s": 0, **kw}
    )


def rows(n: int, edited: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Campaign rows 0..n-1 sharing the Office hours; ``edited`` changes some of them."""
    edited = edited or {}
    return [campaign(**{"name": f"Campaign {i:03d}", "calling_hours": "Office", **edited.get(i, {})}) for i in range(n)]


HOURS = {"Office": window("Office", "MO-FR"), "Late": window("Late", "MO-FR", end=dt.time(18))}


def book(path: Path, campaigns: list[dict[str, Any]]) -> Path:
    """Write the campaigns with the hours they use (a key no campaign uses is a problem)."""
    return write_book(path, campaigns, [HOURS[key] for key in sorted({c["calling_hours"] for c in campaigns})])


#: Ten edits of three kinds: priority, contact lists, calling hours.
EDITS: dict[int, dict[str, Any]] = {
    **{i: {"priority": 2} for i in (3, 7, 11, 15)},
    **{i: {"contact_lists": "CL North"} for i in (20, 24, 28)},
    **{i: {"calling_hours": "Late"} for i in (33, 40, 49)},
}


def server_equals_sheet(box: ThreadedSandbox, path: Path) -> None:
    """Every row's campaign holds exactly the body its row makes, and nothing is stored twice."""
    assert box.server is not None
    sandbox = box.server.sandbox
    assert sandbox.duplicates() == {}
    stored = {c.lname: c.id for c in sandbox.campaigns}
    for payload in check_input(path).payloads:
        assert sandbox.body(stored[payload.name.lower()]) == payload.body, payload.name


def created(tmp_path: Path, threaded_sandbox: Any, n: int) -> tuple[ThreadedSandbox, Sandbox, Path]:
    """Start a sandbox and create n campaigns in it from a workbook; return the sandbox, its state, the workbook."""
    box = threaded_sandbox(config())
    path = book(tmp_path / "in.xlsx", rows(n))
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK
    return box, box.server.sandbox, path


def cli(box: ThreadedSandbox, state: Path, *args: str) -> Any:
    assert box.server is not None
    env = {**client_env(box.server.url, box.config), "PROVISIONER_STATE": str(state), "KORE_RATE_LIMIT": "100000"}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_the_issue_user_story_create_edit_plan_differs_update_unchanged(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = book(tmp_path / "in.xlsx", rows(50))
    first = run_job(job(tmp_path, path, box))
    assert [r["status"] for r in results(first)] == ["created"] * 50

    book(path, rows(50, EDITS))
    planned = cli(box, tmp_path / "ledger.sqlite3", "plan", str(path), "--json")
    assert planned.exit_code == 0, planned.output
    shown = json.loads(planned.output.splitlines()[-1])
    assert set(shown) == {"campaigns", "start", "requests", "eta_s"} and shown["start"] == []
    assert {tuple(c) for c in shown["campaigns"]} == {
        ("row", "name", "action", "start", "schedule", "campaign_id", "changes")
    }
    updates = {c["name"]: c["changes"] for c in shown["campaigns"] if c["action"] == "update"}
    assert sorted(updates) == [f"Campaign {i:03d}" for i in sorted(EDITS)]
    assert {c["action"] for c in shown["campaigns"]} == {"update", "unchanged"}
    assert updates["Campaign 003"] == [{"field": "Priority", "server": "3", "sheet": "2"}]
    assert updates["Campaign 020"] == [{"field": "Contact Lists", "server": "Renewals East", "sheet": "CL North"}]
    assert updates["Campaign 033"] == [
        {"field": f"Calling hours {day}", "server": "9:00 AM–5:00 PM", "sheet": "9:00 AM–6:00 PM"}
        for day in ("MO", "TU", "WE", "TH", "FR")
    ]
    text = cli(box, tmp_path / "ledger.sqlite3", "plan", str(path))
    assert "Contact Lists + CL North, − Renewals East" in text.output and "Priority 3 → 2" in text.output

    differs = run_job(job(tmp_path, path, box))
    assert differs.exit_code is ExitCode.OK
    by_name = {r["name"]: r for r in results(differs)}
    assert sorted(n for n, r in by_name.items() if r["status"] == "differs") == sorted(updates)
    assert {r["status"] for n, r in by_name.items() if n not in updates} == {"unchanged"}
    assert by_name["Campaign 003"]["changes"] == "Priority 3 → 2"
    assert sandbox.requests["update"] == 0
    assert any("10 campaigns differ" in n and "--update" in n for n in differs.report.summary.notes)

    updated = run_job(replace(job(tmp_path, path, box), update=True))
    assert updated.exit_code is ExitCode.OK
    statuses = {r["name"]: r["status"] for r in results(updated)}
    assert sorted(n for n, s in statuses.items() if s == "updated") == sorted(updates)
    assert sandbox.requests["update"] == 10
    server_equals_sheet(box, path)

    before = sandbox.requests_total
    again = run_job(job(tmp_path, path, box))
    assert {r["status"] for r in results(again)} == {"unchanged"}
    assert sandbox.requests_total - before <= math.ceil(50 / PAGE) + 5
    assert sandbox.requests["create"] == 50


def test_a_campaign_changed_on_the_platform_is_drift_and_update_puts_the_sheet_back(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box, sandbox, path = created(tmp_path, threaded_sandbox, 3)
    target = next(c for c in sandbox.campaigns if c.name == "Campaign 001")
    sandbox.edit(target.id, priority="1")

    seen = {r["name"]: r for r in results(run_job(job(tmp_path, path, box)))}
    assert seen["Campaign 001"]["status"] == "differs"
    lines = seen["Campaign 001"]["changes"].splitlines()
    assert lines[0].startswith(DRIFT_FIELD) and lines[1] == "Priority 1 → 3"
    assert {seen[n]["status"] for n in ("Campaign 000", "Campaign 002")} == {"unchanged"}

    fixed = cli(box, tmp_path / "ledger.sqlite3", "run", str(path), "--update", "--json")
    assert fixed.exit_code == 0, fixed.output
    summary = json.loads(fixed.output.splitlines()[-1])
    assert {c["name"]: c["status"] for c in summary["campaigns"]}["Campaign 001"] == "updated"
    assert summary["counts"]["updated"] == 1 and summary["counts"]["unchanged"] == 2 and summary["exit_code"] == 0
    server_equals_sheet(box, path)


def test_an_active_campaign_is_locked_and_never_sent(tmp_path: Path, threaded_sandbox: Any) -> None:
    box, sandbox, path = created(tmp_path, threaded_sandbox, 2)
    sandbox.activate(next(c.id for c in sandbox.campaigns if c.name == "Campaign 000"))
    book(path, rows(2, {0: {"priority": 5}, 1: {"priority": 4}}))

    plain = run_job(job(tmp_path, path, box))
    assert plain.exit_code is ExitCode.OK
    assert [r["status"] for r in results(plain)] == ["locked", "differs"]

    forced = run_job(replace(job(tmp_path, path, box), update=True))
    got = results(forced)
    assert [r["status"] for r in got] == ["locked", "updated"]
    assert "Active" in got[0]["error"] and got[0]["changes"] == "Priority 3 → 5"
    assert forced.exit_code is ExitCode.FAILED
    assert sandbox.requests["update"] == 1


def test_the_sandbox_refuses_to_update_an_active_campaign_and_echoes_updates(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box, sandbox, path = created(tmp_path, threaded_sandbox, 1)
    campaign_id = sandbox.campaigns[0].id
    body = {**check_input(path).payloads[0].body, "priority": "2"}

    async def put() -> tuple[Campaign, str]:
        async with open_session(box.settings()) as session:
            client = KoreClient(box.settings(), session)
            updated = await client.update_campaign(campaign_id, body)
            sandbox.activate(campaign_id)
            with pytest.raises(RejectedError) as refused:
                await client.update_campaign(campaign_id, body)
            return updated, str(refused.value)

    updated, refusal = asyncio.run(put())
    assert updated.id == campaign_id and updated.raw["_id"] == campaign_id and updated.raw["priority"] == "2"
    assert "enableMachineDetect" not in updated.raw and updated.raw["experienceFlow"].startswith("cf-")
    assert "HTTP 400" in refusal and "is Active and cannot be edited" in refusal
    assert sandbox.requests["update"] == 2 and sandbox.body(campaign_id) == body


@pytest.mark.parametrize("fault", ["error_5xx", "drop_before", "drop_after", "slow_after"])
def test_updates_survive_faults_and_end_with_the_server_equal_to_the_sheet(
    tmp_path: Path, threaded_sandbox: Any, fault: str
) -> None:
    box = threaded_sandbox(config(faults=Faults(slow_s=1.5)))
    sandbox = box.server.sandbox
    path = book(tmp_path / "in.xlsx", rows(4))
    run_job(job(tmp_path, path, box))
    book(path, rows(4, {i: {"priority": 1, "calling_hours": "Late"} for i in range(4)}))
    sandbox.queue_faults([fault] * 4)  # every update fails once, the way this fault fails

    options = replace(FAST, request_timeout_s=0.5)
    result = run_job(replace(job(tmp_path, path, box, options=options), update=True))

    assert [r["status"] for r in results(result)] == ["updated"] * 4, results(result)
    assert result.exit_code is ExitCode.OK
    assert sandbox.faults[fault] == 4
    server_equals_sheet(box, path)
    assert sandbox.requests["create"] == 4


def test_the_three_change_shapes_read_in_the_sheet_s_terms(tmp_path: Path) -> None:
    wanted = campaign(name="A", contact_lists="Renewals East; CL North", priority=2, calling_hours="Five")
    had = campaign(name="B", contact_lists="Renewals East; CL South", priority=3, calling_hours="Six")
    hours = [window("Five", "MO", end=dt.time(17)), window("Six", "MO", end=dt.time(18))]
    sheet, server = (p.body for p in check_input(write_book(tmp_path / "c.xlsx", [wanted, had], hours)).payloads)
    said = [str(c) for c in differences(sheet, {**server, "name": "A"}, None)]
    assert said == [
        "Contact Lists + CL North, − CL South",
        "Priority 3 → 2",
        "Calling hours MO 9:00 AM–6:00 PM → 9:00 AM–5:00 PM",
    ]


def test_what_the_server_cannot_echo_comes_from_the_last_body_written(tmp_path: Path) -> None:
    body = check_input(book(tmp_path / "in.xlsx", rows(1))).payloads[0].body
    echoed = {**body, "enableMachineDetect": True, "experienceFlow": "cf-1", "updatedAt": "t1", "_id": "cd-1"}
    del echoed["experienceFlowName"]
    server = Campaign("cd-1", body["name"], "Ready", echoed)
    assert compare(body, server, body, "t1").action == "unchanged"
    wanted = {**body, "experienceFlowName": "Other Flow", "enableMachineDetect": "disconnect"}
    changes = [str(c) for c in compare(wanted, server, body, "t1").changes]
    assert changes == ["Experience Flow Renewal Flow → Other Flow", "Machine Detection detect → disconnect"]
    assert compare({**body, "enableMachineDetect": "no"}, server, None, None).changes == (
        Change("Machine Detection", "detect or disconnect", "no"),
    )


_OLD_SCHEMA = """
CREATE TABLE campaigns (
    host TEXT NOT NULL, account TEXT NOT NULL, stream TEXT NOT NULL, lname TEXT NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'created', 'failed')), campaign_id TEXT,
    run_id TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, sent_at TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (host, account, stream, lname)
);
INSERT INTO campaigns VALUES ('h', 'a', 's', 'spring', 'Spring', 'created', 'cd-1', 'r1', 1, NULL, NULL, 't');
"""


def test_a_ledger_made_by_the_old_schema_gains_the_new_columns_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
    db.close()
    scope = ("h", "a", "s")
    with Ledger(path) as ledger:
        entry = ledger.entries(scope)["spring"]
        assert (entry.state, entry.campaign_id, entry.last_body, entry.server_updated_at) == (
            EntryState.CREATED,
            "cd-1",
            None,
            None,
        )
        ledger.wrote(scope, ("Spring", "cd-1"), "r2", {"priority": "2"}, "2026-01-01T00:00:00.000Z")
    with Ledger(path) as ledger:
        entry = ledger.entries(scope)["spring"]
        assert (entry.last_body, entry.server_updated_at) == ({"priority": "2"}, "2026-01-01T00:00:00.000Z")


def test_a_results_workbook_of_either_layout_fed_back_is_read_as_its_input(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box, sandbox, path = created(tmp_path, threaded_sandbox, 2)
    written = run_job(job(tmp_path, path, box)).results_path
    assert written is not None
    workbook = openpyxl.load_workbook(written)
    sheet = workbook["Results"]
    header = [c.value for c in sheet[1]]
    assert header[: len(spec.RESULT_COLUMNS)] == list(spec.RESULT_HEADERS)
    workbook.save(tmp_path / "new.xlsx")
    sheet.delete_cols(header.index(spec.RESULT_LABELS["changes"]) + 1)  # as written before the column existed
    workbook.save(tmp_path / "old.xlsx")

    for name in ("new.xlsx", "old.xlsx"):
        again = run_job(job(tmp_path, tmp_path / name, box))
        assert [r["status"] for r in results(again)] == ["unchanged"] * 2, name
        assert not [p for p in again.report.problems if p.code == "unknown_column"], name
    assert sandbox.requests["create"] == 2
