"""The provisioning run end to end against the sandbox over loopback HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import Job, JobResult, run_job
from provisioner.names import fold_name
from provisioner.provision.engine import RunOptions
from provisioner.provision.ledger import Ledger
from provisioner.provision.outcomes import Status
from provisioner.provision.retry import RetryPolicy
from provisioner.sandbox.server import Faults, SandboxConfig
from tests.conftest import ThreadedSandbox
from tests.helpers import campaign, window, write_book

FAST = RunOptions(
    concurrency=8,
    retry=RetryPolicy(max_attempts=8, backoff_base_s=0.01, backoff_cap_s=0.05),
    reconcile_delay_s=0.0,
    max_sends=6,
    request_timeout_s=2.0,
)
Start = Callable[..., ThreadedSandbox]


def config(**kw: Any) -> SandboxConfig:
    """A sandbox that knows the contact list the test campaigns name."""
    return SandboxConfig(contact_lists=frozenset({"Renewals East"}), **{"rate_limit": 100_000, "window_s": 0.2, **kw})


def book(tmp_path: Path, n: int, **changes: Any) -> Path:
    rows = [campaign(name=f"Campaign {i:04d}", calling_hours="Office", **changes) for i in range(n)]
    return write_book(tmp_path / "in.xlsx", rows, [window("Office", "MO-FR"), window("Office", "SA", end=dt.time(12))])


def job(tmp_path: Path, path: Path, box: ThreadedSandbox, **kw: Any) -> Job:
    # A short window: a 429 without Retry-After holds every worker until the oldest request leaves it.
    return Job(
        input_path=path,
        settings=box.settings,
        state_path=kw.pop("state_path", tmp_path / "ledger.sqlite3"),
        options=kw.pop("options", FAST),
        rate_limit=kw.pop("rate_limit", 100_000),
        rate_window_s=kw.pop("rate_window_s", 0.2),
        **kw,
    )


def results(result: JobResult) -> list[dict[str, Any]]:
    assert result.results_path is not None
    sheet = openpyxl.load_workbook(result.results_path, read_only=True)["Results"]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


def assert_matches_sandbox(result: JobResult, box: ThreadedSandbox) -> None:
    """Every row's status and id agree with what the sandbox holds; nothing is there twice."""
    assert box.server is not None
    sandbox = box.server.sandbox
    assert sandbox.duplicates() == {}
    stored = {c.lname: c.id for c in sandbox.campaigns}
    for row in results(result):
        if row["status"] in ("created", "exists"):
            assert stored[fold_name(row["name"])] == row["campaign_id"], row
        else:
            assert fold_name(row["name"]) not in stored, row


def test_clean_run_creates_each_campaign_once_and_a_rerun_creates_nothing(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    path = book(tmp_path, 25)
    first = run_job(job(tmp_path, path, box))
    assert first.exit_code == ExitCode.OK
    assert [r["status"] for r in results(first)] == ["created"] * 25
    assert [r["row"] for r in results(first)] == list(range(2, 27))
    assert_matches_sandbox(first, box)
    assert box.server is not None
    creates = box.server.sandbox.requests["create"]
    assert creates == 25

    second = run_job(job(tmp_path, path, box))
    assert second.exit_code == ExitCode.OK
    assert {r["status"] for r in results(second)} == {"exists"}
    assert box.server.sandbox.requests["create"] == creates
    assert_matches_sandbox(second, box)


@pytest.mark.slow
def test_faults_never_duplicate_or_lose_a_campaign(tmp_path: Path, threaded_sandbox: Start) -> None:
    faults = Faults(error_5xx=0.10, spurious_429=0.10, drop_before=0.03, drop_after=0.03)
    box = threaded_sandbox(config(faults=faults, seed=7))
    result = run_job(job(tmp_path, book(tmp_path, 200), box))
    assert box.server is not None
    injected = box.server.sandbox.faults
    assert injected["drop_after"] > 0 and injected["error_5xx"] > 0 and injected["spurious_429"] > 0
    assert_matches_sandbox(result, box)
    statuses = [r["status"] for r in results(result)]
    assert statuses.count("created") >= 195  # a row may fail only after max_sends failed creates
    assert len(box.server.sandbox.campaigns) == statuses.count("created")


@pytest.mark.parametrize("fault", ["drop_after", "error_after", "slow_after"])
def test_an_ambiguous_create_is_looked_up_not_repeated(tmp_path: Path, threaded_sandbox: Start, fault: str) -> None:
    box = threaded_sandbox(config(faults=Faults(slow_s=5.0)))
    assert box.server is not None
    box.server.sandbox.queue_faults([fault])
    result = run_job(job(tmp_path, book(tmp_path, 1), box))
    (row,) = results(result)
    assert row["status"] == "created" and row["attempts"] == 1
    assert len(box.server.sandbox.campaigns) == 1
    assert_matches_sandbox(result, box)


def test_error_before_storing_is_resent_after_the_look_up(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    assert box.server is not None
    box.server.sandbox.queue_faults(["error_5xx", "drop_before"])
    result = run_job(
        job(
            tmp_path,
            book(tmp_path, 1),
            box,
            options=RunOptions(concurrency=1, reconcile_delay_s=0, retry=RetryPolicy(backoff_base_s=0.01)),
        )
    )
    (row,) = results(result)
    assert (row["status"], row["attempts"]) == ("created", 3)
    assert_matches_sandbox(result, box)


def test_limiter_at_the_server_limit_gets_no_429(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(rate_limit=20, window_s=1.0))
    result = run_job(job(tmp_path, book(tmp_path, 45), box, rate_limit=20, rate_window_s=1.0))
    assert result.exit_code == ExitCode.OK
    assert box.server is not None
    assert box.server.sandbox.rate_limited == 0
    assert box.server.sandbox.max_accepted_in_window(1.0) <= 20


def test_invalid_input_sends_nothing(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    path = write_book(tmp_path / "in.xlsx", [campaign(name="Good"), campaign(name="Bad", priority=9)])
    result = run_job(job(tmp_path, path, box))
    assert result.exit_code == ExitCode.INVALID
    assert box.server is not None and box.server.sandbox.requests_total == 0
    assert [(r["name"], r["status"]) for r in results(result)] == [("Good", "skipped"), ("Bad", "invalid")]
    errors = list(openpyxl.load_workbook(result.results_path)["Errors"].iter_rows(values_only=True))
    assert errors[1][:3] == ("Campaigns", 3, "Priority")


def test_skip_invalid_sends_the_valid_rows(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    path = write_book(tmp_path / "in.xlsx", [campaign(name="Good"), campaign(name="Bad", priority=9)])
    options = RunOptions(skip_invalid=True, reconcile_delay_s=0)
    result = run_job(job(tmp_path, path, box, options=options))
    assert result.exit_code == ExitCode.INVALID
    assert [(r["name"], r["status"]) for r in results(result)] == [("Good", "created"), ("Bad", "invalid")]


def test_existing_campaigns_and_missing_contact_lists_are_settled_before_sending(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    run_job(job(tmp_path, write_book(tmp_path / "a.xlsx", [campaign(name="Already There")]), box))
    path = write_book(
        tmp_path / "b.xlsx",
        [
            campaign(name="already there "),
            campaign(name="New"),
            campaign(name="Lost", contact_lists="Renewals East; Nope"),
        ],
    )
    result = run_job(job(tmp_path, path, box, state_path=tmp_path / "other-ledger.sqlite3"))
    rows = {r["name"].strip(): r for r in results(result)}
    assert rows["already there"]["status"] == "exists" and rows["already there"]["campaign_id"].startswith("cd-")
    assert rows["New"]["status"] == "created"
    assert rows["Lost"]["status"] == "failed" and "'Nope'" in rows["Lost"]["error"]
    assert result.exit_code == ExitCode.FAILED
    assert_matches_sandbox(result, box)


def test_a_rejection_fails_the_row_with_the_servers_message(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(SandboxConfig(contact_lists=None))
    path = write_book(tmp_path / "a.xlsx", [campaign(name="Good")])
    # The sandbox accepts any list name but has seen none yet, so pre-flight refuses the row:
    result = run_job(job(tmp_path, path, box))
    assert results(result)[0]["status"] == "failed"
    assert box.server is not None and box.server.sandbox.requests["create"] == 0


def test_bad_credentials_stop_the_run_with_exit_3(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    good = box.settings

    def wrong_secret():
        from dataclasses import replace

        from provisioner.secret import Secret

        return replace(good(), client_secret=Secret("not-the-secret"))

    path = book(tmp_path, 3)
    result = run_job(Job(input_path=path, settings=wrong_secret, state_path=tmp_path / "l.sqlite3", options=FAST))
    assert result.exit_code == ExitCode.CONFIG
    assert {r["status"] for r in results(result)} == {"skipped"}
    assert any("authentication failed" in n for n in result.report.summary.notes)
    assert "usual causes" in results(result)[0]["error"]


def test_an_entry_left_in_flight_by_a_crash_is_reconciled(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    path = book(tmp_path, 2)
    first = run_job(job(tmp_path, path, box, state_path=tmp_path / "scratch.sqlite3"))
    assert first.exit_code == ExitCode.OK
    settings = box.settings()
    with Ledger(tmp_path / "crashed.sqlite3") as ledger:  # a run that died right after sending both creates
        for name in ("Campaign 0000", "Campaign 0001"):
            ledger.begin(settings.scope, name, "dead-run")
    result = run_job(job(tmp_path, path, box, state_path=tmp_path / "crashed.sqlite3"))
    assert {r["status"] for r in results(result)} == {"exists"}
    assert box.server is not None and box.server.sandbox.requests["create"] == 2
    with Ledger(tmp_path / "crashed.sqlite3") as ledger:
        assert {e.state.value for e in ledger.entries(settings.scope).values()} == {"created"}


def test_sandbox_mode_needs_no_account(tmp_path: Path) -> None:
    path = book(tmp_path, 3)
    result = run_job(
        Job(input_path=path, settings=lambda: pytest.fail("no settings needed"), sandbox=True, options=FAST)
    )
    assert result.exit_code == ExitCode.OK
    assert result.results_path == tmp_path / "in.results.xlsx"
    assert {r["status"] for r in results(result)} == {Status.CREATED.value}


def test_feeding_the_results_workbook_back_creates_only_what_is_missing(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    path = write_book(
        tmp_path / "in.xlsx",
        [campaign(name="One"), campaign(name="Two", contact_lists="Renewals East; Nope"), campaign(name="Three")],
    )
    first = run_job(job(tmp_path, path, box))
    assert [r["status"] for r in results(first)] == ["created", "failed", "created"]

    assert first.results_path is not None
    book = openpyxl.load_workbook(first.results_path)
    sheet = book["Results"]
    header = [c.value for c in sheet[1]]
    sheet.cell(3, header.index("Contact Lists") + 1, "Renewals East")  # operations fix the failed row
    book.save(tmp_path / "retry.xlsx")

    second = run_job(job(tmp_path, tmp_path / "retry.xlsx", box))
    assert second.exit_code == ExitCode.OK
    assert [(r["name"], r["status"]) for r in results(second)] == [
        ("One", "exists"),
        ("Two", "created"),
        ("Three", "exists"),
    ]
    assert box.server is not None and box.server.sandbox.requests["create"] == 3
    assert_matches_sandbox(second, box)
    assert not [p for p in second.report.problems if p.code == "unknown_column"]
