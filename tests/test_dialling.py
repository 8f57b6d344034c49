"""Issue 11 end to end: from the bundled dialling sheet to 30 Ready campaigns, 10 dialling and 5 scheduled, and back."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provisioner._cli._app import app
from provisioner.api.listing import PAGE_SIZE
from provisioner.exit_codes import ExitCode
from provisioner.jobs.check import check_input
from provisioner.jobs.run import JobResult, run_job
from provisioner.provision.lifecycle import WaitOptions, describe_schedule
from provisioner.sandbox import Faults, Sandbox, SandboxConfig, ThreadedSandbox, client_env
from tests.helpers import campaign, read_results, window, write_book
from tests.test_lifecycle import WEEKLY_ROW
from tests.test_run import cli_run, job, wait_for, wait_for_line
from tests.test_schedule_columns import LAST

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dialling.xlsx"
THEIRS = ["Theirs 1", "Theirs 2", "Theirs 3"]


def config(**kw: Any) -> SandboxConfig:
    """A sandbox that takes any list name and turns campaigns Ready a moment after their create."""
    return SandboxConfig(**{"rate_limit": 100_000, "window_s": 0.2, "ready_after_s": 0.3, **kw})


def cli(box: ThreadedSandbox, tmp_path: Path, *args: str) -> Any:
    assert box.server is not None
    env = {
        **client_env(box.server.url, box.config),
        "PROVISIONER_STATE": str(tmp_path / "ledger.sqlite3"),
        "KORE_RATE_LIMIT": "100000",
    }
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def sheet(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "dialling.xlsx"))


def seeded(box: ThreadedSandbox) -> Sandbox:
    """The sandbox, holding three campaigns of another team made yesterday."""
    assert box.server is not None
    sandbox = box.server.sandbox
    sandbox.seed(THEIRS, created_at=sandbox.now() - dt.timedelta(days=1))
    return sandbox


def assert_dialling(sandbox: Sandbox, path: Path, rows: list[dict[str, Any]]) -> None:
    """All 30 Ready (10 of them Active), each Start row played once, each schedule stored as its row says."""
    payloads = {p.name: p for p in check_input(path).payloads}
    starts = {name for name, p in payloads.items() if p.start}
    scheduled = {name: p.schedule for name, p in payloads.items() if p.schedule is not None}
    assert (len(payloads), len(starts), len(scheduled)) == (30, 10, 5)
    by_name = {c.name: c for c in sandbox.campaigns}
    state = {c["name"]: c for c in sandbox.state()["campaigns"]}
    assert sandbox.duplicates() == {}
    for row in rows:
        name = row["name"]
        assert row["status"] == "created" and row["error"] is None, row
        if name in starts:
            assert row["campaign_status"] == "Active" and row["started_at"], row
            assert sandbox.plays[by_name[name].id] == 1, name
        else:
            assert row["campaign_status"] in ("Ready", "Scheduled") and row["started_at"] is None, row
            assert sandbox.plays[by_name[name].id] == 0, name
        if name in scheduled:
            assert row["schedule"] == describe_schedule(scheduled[name])
            shown = by_name[name].schedule
            assert shown["isSchedulingEnabled"] is True
            assert {key: shown[key] for key in scheduled[name]} == scheduled[name], name
        else:
            assert row["schedule"] is None and by_name[name].schedule["isSchedulingEnabled"] is False, name
    assert {n for n, c in state.items() if c["status"] == "Active"} == starts


#: Waiting as `run --wait` does, with short rounds: the sandbox's campaigns turn Ready in 0.3 s.
WAITING = WaitOptions(wait=True, timeout_s=60, interval_s=0.1)


def dialled(tmp_path: Path, box: ThreadedSandbox) -> tuple[Sandbox, Path, JobResult]:
    """Run the dialling sheet with --wait against a sandbox holding another team's campaigns; check the outcome."""
    sandbox = seeded(box)
    path = sheet(tmp_path)
    first = run_job(job(tmp_path, path, box, wait=WAITING))
    assert first.exit_code is ExitCode.OK, first.report.summary.notes
    assert first.results_path is not None
    assert_dialling(sandbox, path, read_results(first.results_path))
    return sandbox, path, first


def test_thirty_campaigns_to_dialling_within_budget_and_a_rerun_changes_nothing(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config())
    sandbox, path, first = dialled(tmp_path, box)
    # Budget: the pre-flight (the list, the contact lists), 30 creates, each round ⌈N / page⌉ + 1 for the 33
    # campaigns in its window, a schedule each, and a status check and a start each.
    per_round = math.ceil(33 / PAGE_SIZE) + 1
    assert first.rounds and max(first.rounds) <= per_round
    assert sandbox.requests["list"] == 1 + len(first.rounds)
    assert sandbox.requests["schedule"] == 5 and sandbox.requests["trigger"] == 10
    assert sandbox.requests["status"] == 10
    assert sandbox.requests_total == 2 + 30 + sum(first.rounds) + 5 + 2 * 10

    # Turning Ready (and being scheduled) moved each campaign's updatedAt once: the first rerun reads each by id
    # once and records what it found (issue 10's known cost); the rerun after that settles every row from the list.
    for reads in (30, 0):
        before = dict(sandbox.requests)
        again = run_job(job(tmp_path, path, box, wait=WAITING))
        assert again.exit_code is ExitCode.OK, again.report.summary.notes
        assert again.rounds == ()  # every campaign has left Preparing and has nothing left to do
        sent = {key: sandbox.requests[key] - before.get(key, 0) for key in sandbox.requests}
        expected = {"list": 1, "contact_lists": 1} | ({"get": reads} if reads else {})
        assert {key: n for key, n in sent.items() if n} == expected
        rows = read_results(again.results_path) if again.results_path else []
        assert {r["status"] for r in rows} == {"unchanged"}
        assert sum(r["started_at"] is not None for r in rows) == 10  # started earlier, and said so
        assert sum(r["schedule"] is not None for r in rows) == 5


@pytest.mark.slow
def test_the_lifecycle_from_the_command_line_and_undone_by_delete(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config())
    sandbox = seeded(box)
    path = sheet(tmp_path)
    theirs = {c.id for c in sandbox.campaigns}

    planned = cli(box, tmp_path, "plan", str(path), "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output.splitlines()[-1])
    starts = sorted(p.name for p in check_input(path).payloads if p.start)
    assert sorted(plan["start"]) == starts
    assert sum(c["schedule"] == "set" for c in plan["campaigns"]) == 5
    assert sandbox.requests["trigger"] == 0 and sandbox.requests["create"] == 0

    ran = cli(box, tmp_path, "run", str(path), "--wait", "--json")
    assert ran.exit_code == 0, ran.output
    shown = json.loads(ran.output.splitlines()[-1])
    assert shown["started"] == 10 and shown["exit_code"] == 0
    # A rerun writes its own results over these (its rows are 'unchanged'): keep the run's, as for a real undo.
    results = Path(shutil.copy(shown["results"], tmp_path / "first.results.xlsx"))
    assert_dialling(sandbox, path, read_results(results))

    rerun = cli(box, tmp_path, "run", str(path), "--wait", "--json")
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.output.splitlines()[-1])["started"] == 0
    assert sandbox.requests["create"] == 30 and sandbox.requests["trigger"] == 10

    deleted = cli(box, tmp_path, "delete", str(results), "--stop-active", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert {c.id for c in sandbox.campaigns} == theirs
    deletes = sandbox.requests["delete"]
    assert deletes == 30
    again = cli(box, tmp_path, "delete", str(results), "--stop-active", "--yes")
    assert again.exit_code == 0, again.output
    assert sandbox.requests["delete"] == deletes and {c.id for c in sandbox.campaigns} == theirs


@pytest.mark.slow
def test_ctrl_c_while_waiting_stops_at_once_starts_nothing_and_writes_the_results(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config(ready_after_s=600))
    assert box.server is not None
    sandbox = box.server.sandbox
    process = cli_run(box, sheet(tmp_path), tmp_path, "--wait")
    # Round 1 read the list: the schedules went out (a campaign that exists can be scheduled), the starts wait.
    wait_for(lambda: sandbox.requests["schedule"] == 5, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, err
    rows = read_results(tmp_path / "dialling.results.xlsx")
    assert {(r["status"], r["campaign_status"]) for r in rows} == {("created", "Preparing")}
    undone = {r["name"]: r["error"] for r in rows if r["error"]}
    assert len(undone) == 10  # the campaigns to start
    assert set(undone.values()) == {"its start not done: the run stopped before; run again to finish"}
    assert sum(r["schedule"] is not None for r in rows) == 5
    assert sandbox.requests["trigger"] == 0 and sandbox.requests["schedule"] == 5


@pytest.mark.slow
def test_ctrl_c_lets_a_start_at_the_server_settle_and_records_it(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config(ready_after_s=0, faults=Faults(slow_s=4.0)))
    assert box.server is not None
    sandbox = box.server.sandbox
    rows = [campaign(name="Go Now", calling_hours="Office", start="yes")]
    path = write_book(tmp_path / "go.xlsx", rows, [window("Office")])
    sandbox.queue_faults([None, "slow_after"])  # the create behaves; the start is made, its reply held back
    process = cli_run(box, path, tmp_path, "--wait")
    wait_for(lambda: sum(sandbox.plays.values()) == 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, err
    (row,) = read_results(tmp_path / "go.results.xlsx")
    assert (row["status"], row["campaign_status"], row["error"]) == ("created", "Active", None)
    assert row["started_at"] is not None
    assert sandbox.requests["trigger"] == 1


VARIANTS: dict[str, dict[str, Any]] = {
    "pages of 7": {"page_cap": 7},
    "page only, 10 a page": {"paging": "page", "page_cap": 10},
    "skip only": {"paging": "skip", "page_cap": 10},
    "id not _id": {"list_id_field": "id"},
    "server 1 h ahead": {"clock_skew_s": 3600},
    "server 1 h behind": {"clock_skew_s": -3600},
    "Scheduled status": {"scheduled_status": "Scheduled"},
    "contact lists by GET": {"contact_list_method": "GET"},
    "a 30-day default window": {"default_window_days": 30},
    "others creating and deleting": {"churn_per_list_call": 2, "page_cap": 10},
    "no schedule while Preparing": {"schedule_needs_ready": True},
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_dialling_sheet_is_right_whichever_way_the_server_behaves(
    tmp_path: Path, threaded_sandbox: Any, variant: dict[str, Any]
) -> None:
    box = threaded_sandbox(config(**variant))
    sandbox, path, first = dialled(tmp_path, box)
    budget = math.ceil(30 / variant.get("page_cap", PAGE_SIZE)) + 1  # per round, the 30 campaigns of its window
    if variant.get("paging") == "page":
        # Only ever reading the list twice proves a page-only list complete: the round that checks the
        # schedules' names does; the rounds that only poll statuses read it once.
        assert first.rounds[0] <= 2 * budget and max(first.rounds[1:], default=0) <= budget, first.rounds
    elif "churn_per_list_call" not in variant:  # (others' new campaigns fall in the window too)
        assert max(first.rounds) <= budget, first.rounds
    writes = ("create", "update", "delete", "trigger", "schedule")
    made = {key: sandbox.requests[key] for key in writes}
    for _ in range(2):
        again = run_job(job(tmp_path, path, box, wait=WAITING))
        assert again.exit_code is ExitCode.OK, again.report.summary.notes
        assert {key: sandbox.requests[key] for key in writes} == made
    assert again.results_path is not None
    assert {r["status"] for r in read_results(again.results_path)} == {"unchanged"}


def test_the_fixed_future_dates_tests_meet_on_the_real_clock_are_over_a_year_away() -> None:
    """Fails a year before they pass: then move them later, and regenerate examples/dialling.xlsx."""
    ends = {
        "examples/dialling.xlsx": {
            dt.datetime.fromisoformat(p.schedule["endDateTime"])
            for p in check_input(EXAMPLE).payloads
            if p.schedule is not None
        },
        "tests/test_lifecycle.py WEEKLY_ROW": {WEEKLY_ROW["schedule_end"]},
        "tests/test_schedule_columns.py LAST": {LAST},
    }
    soon = dt.datetime.now() + dt.timedelta(days=366)
    assert {where: min(when) for where, when in ends.items() if min(when) <= soon} == {}


@pytest.mark.slow
def test_a_second_ctrl_c_cuts_a_start_short_and_the_next_run_settles_it_by_its_status(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config(ready_after_s=0, faults=Faults(slow_s=60.0)))
    assert box.server is not None
    sandbox = box.server.sandbox
    rows = [campaign(name="Go Now", calling_hours="Office", start="yes")]
    path = write_book(tmp_path / "go.xlsx", rows, [window("Office")])
    sandbox.queue_faults([None, "slow_after"])  # the create behaves; the start is made, its reply held a minute
    process = cli_run(box, path, tmp_path, "--wait")
    wait_for(lambda: sum(sandbox.plays.values()) == 1, process)
    process.send_signal(signal.SIGINT)
    wait_for_line(process, "stopping: waiting up to 30.0 s for 1 start in flight")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, err
    (row,) = read_results(tmp_path / "go.results.xlsx")
    assert (row["status"], row["started_at"]) == ("created", None)
    assert row["error"].startswith("its start was cut short by the stop, so whether it took is not known")

    again = cli_run(box, path, tmp_path, "--wait")
    _, err = again.communicate(timeout=120)
    assert again.returncode == ExitCode.OK, err
    (row,) = read_results(tmp_path / "go.results.xlsx")
    assert row["started_at"] is not None
    assert row["error"] == "started by an earlier run whose reply was lost (now Active)"
    assert sandbox.plays[sandbox.campaigns[0].id] == 1 and sandbox.requests["trigger"] == 1
