"""The provisioning run end to end against the sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from provisioner.exit_codes import ExitCode
from provisioner.jobs.progress import ProgressDisplay
from provisioner.jobs.run import Job, JobResult, pace_text, run_job
from provisioner.logs import configure_logging
from provisioner.names import fold_name
from provisioner.provision.ledger import Ledger
from provisioner.provision.limiter import RollingWindowLimiter
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.provision.retry import RetryPolicy
from provisioner.provision.wiring import RunOptions
from provisioner.sandbox import Faults, Sandbox, SandboxConfig, ThreadedSandbox, client_env
from tests.helpers import FAST, campaign, read_results, window, write_book

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
    return read_results(result.results_path)


def assert_matches_sandbox(result: JobResult, box: ThreadedSandbox) -> None:
    """Every row's status and id agree with what the sandbox holds; nothing is there twice."""
    assert box.server is not None
    sandbox = box.server.sandbox
    assert sandbox.duplicates() == {}
    stored = {c.lname: c.id for c in sandbox.campaigns}
    for row in results(result):
        if Status(row["status"]).done:
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
    assert {r["status"] for r in results(second)} == {"unchanged"}
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


@pytest.mark.slow
def test_limiter_at_the_server_limit_gets_no_429(tmp_path: Path, threaded_sandbox: Start) -> None:
    # A 3 s window keeps the limiter's proportional margin (25 ms) above the scheduling delays of a busy machine;
    # at 1 s (8 ms) a starved thread could land one request late and earn a 429 that says nothing about the limiter.
    box = threaded_sandbox(config(rate_limit=20, window_s=3.0))
    result = run_job(job(tmp_path, book(tmp_path, 45), box, rate_limit=20, rate_window_s=3.0))
    assert result.exit_code == ExitCode.OK
    assert box.server is not None
    assert box.server.sandbox.rate_limited == 0
    assert box.server.sandbox.max_accepted_in_window(3.0) <= 20


def test_invalid_input_sends_nothing(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    path = write_book(tmp_path / "in.xlsx", [campaign(name="Good"), campaign(name="Bad", priority=9)])
    result = run_job(job(tmp_path, path, box))
    assert result.exit_code == ExitCode.INVALID
    assert box.server is not None and box.server.sandbox.requests_total == 0
    assert [(r["name"], r["status"]) for r in results(result)] == [("Good", "skipped"), ("Bad", "invalid")]
    errors = list(openpyxl.load_workbook(result.results_path)["Errors"].iter_rows(values_only=True))
    assert errors[1][:4] == ("Campaigns", "E3", 3, "Priority")


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
    assert rows["already there"]["status"] == "differs" and rows["already there"]["campaign_id"].startswith("cd-")
    assert rows["already there"]["changes"] == "Campaign Name Already There → already there"
    assert rows["New"]["status"] == "created"
    assert rows["Lost"]["status"] == "failed" and "'Nope'" in rows["Lost"]["error"]
    assert result.exit_code == ExitCode.FAILED
    assert_matches_sandbox(result, box)


def test_a_rejection_fails_the_row_with_the_servers_message(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    assert box.server is not None
    box.server.sandbox.queue_faults(["failure_2xx"])  # HTTP 200 whose body says status "failure": nothing stored
    path = write_book(tmp_path / "a.xlsx", [campaign(name="Good")])
    result = run_job(job(tmp_path, path, box))
    [row] = results(result)
    assert row["status"] == "failed" and "refused" in row["error"] and "failure" in row["error"]
    assert box.server.sandbox.campaigns == [] and box.server.sandbox.requests["create"] == 1
    assert result.exit_code is ExitCode.FAILED


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
    assert {r["status"] for r in results(result)} == {"unchanged"}
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
        ("One", "unchanged"),
        ("Two", "created"),
        ("Three", "unchanged"),
    ]
    assert box.server is not None and box.server.sandbox.requests["create"] == 3
    assert_matches_sandbox(second, box)
    assert not [p for p in second.report.problems if p.code == "unknown_column"]


def test_a_row_the_server_only_ever_rate_limited_is_skipped_not_failed_or_unknown(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    assert box.server is not None
    box.server.sandbox.queue_faults(["spurious_429"] * FAST.retry.max_attempts)
    result = run_job(job(tmp_path, book(tmp_path, 1), box, options=FAST))
    (row,) = results(result)
    assert row["status"] == "skipped" and row["error"].startswith("not sent: the server still rate-limited it")
    assert row["attempts"] == FAST.retry.max_attempts
    assert result.exit_code == ExitCode.FAILED  # not every campaign exists: never exit 0
    assert_matches_sandbox(result, box)


def test_a_results_workbook_fed_back_names_its_results_after_itself(tmp_path: Path) -> None:
    def named(name: str) -> str:
        return Job(input_path=tmp_path / name, settings=lambda: pytest.fail("unused")).results_path.name

    assert named("run3.xlsx") == "run3.results.xlsx"
    assert named("run3.results.xlsx") == "run3.results.xlsx"
    assert named("run3.Results.XLSX") == "run3.results.xlsx"


def test_json_logs_carry_the_file_run_counts_exit_code_and_duration(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    result = run_job(job(tmp_path, book(tmp_path, 3), box))
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    preflight = next(r for r in records if "to_create" in r)
    assert (preflight["input"], preflight["run_id"], preflight["to_create"]) == (
        "in.xlsx",
        result.report.summary.run_id,
        3,
    )
    closing = records[-1]
    assert closing["message"].startswith("finished: in.xlsx: 3 created")
    assert closing["input"] == "in.xlsx" and closing["command"] == "run"
    assert closing["run_id"] == result.report.summary.run_id
    assert closing["counts"]["created"] == 3 and closing["counts"]["failed"] == 0
    assert closing["exit_code"] == 0 and closing["duration_s"] >= 0
    assert closing["results"] == str(tmp_path / "in.results.xlsx")
    assert box.settings().client_secret.reveal() not in stream.getvalue()


def test_the_pace_is_never_zero_seconds_for_work_that_is_there() -> None:
    assert pace_text(20, 0.0, 60, 60.0) == "at 60 requests/min they go out without waiting for the rate limit"
    assert pace_text(20, 60.5, 10, 60.0) == "at 10 requests/min this takes at least 1 min 0 s"
    assert pace_text(0, 0.0, 60, 60.0) == "nothing to send"


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, stream.getvalue().splitlines()) if r["message"].startswith("progress")]


async def test_progress_logs_at_its_interval_even_while_nothing_finishes() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    clock = Ticks()
    display = ProgressDisplay(bar=False, interval_s=30.0, clock=clock)
    display.start(4)
    clock.now += 29
    display.tick()
    assert progress_lines(stream) == []
    clock.now += 1
    display.tick()  # nothing finished, but 30 s passed: a line is due
    clock.now += 10
    display.advance(RowOutcome(2, "a", Status.CREATED))
    clock.now += 20
    display.tick()
    lines = progress_lines(stream)
    assert [(r["done"], r["total"]) for r in lines] == [(0, 4), (1, 4)]
    assert lines[1]["counts"] == {"created": 1}


async def test_progress_says_when_it_waits_for_the_rate_limit_and_that_the_server_allows_fewer() -> None:
    clock = Ticks()
    limiter = RollingWindowLimiter(4, window_s=60.0, margin_s=0.5, clock=clock)
    display = ProgressDisplay(bar=False, clock=clock)
    display.start(10, limiter)
    for _ in range(4):
        await limiter.acquire()
    assert "left" in display.status_text(clock.now) and "waiting" not in display.status_text(clock.now)
    limiter.on_rate_limited(None)  # a full window and a 429: the server allows fewer than 4
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    text = display.status_text(clock.now)
    assert "waiting for the rate limit (60 s)" in text
    assert f"now {limiter.stats.effective_limit} requests/min" in text
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)


def cli_run(box: ThreadedSandbox, path: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    assert box.server is not None
    env = {**os.environ, **client_env(box.server.url, box.config), "PROVISIONER_STATE": str(tmp_path / "l.sqlite3")}
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner", "run", str(path), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    """Read the process's stderr until a line holds ``text``; fail if it ends first."""
    assert process.stderr is not None
    for line in iter(process.stderr.readline, ""):
        if text in line:
            return
    pytest.fail(f"the process ended without logging {text!r}")


def terminated(
    tmp_path: Path, box: ThreadedSandbox, rows: int, ready: Callable[[Sandbox], bool], *args: str
) -> tuple[str, list[dict[str, Any]]]:
    """Run the CLI on ``rows`` campaigns, SIGTERM it once ``ready``; return its stderr and its results rows."""
    assert box.server is not None
    sandbox = box.server.sandbox
    process = cli_run(box, book(tmp_path, rows), tmp_path, *args)
    wait_for(lambda: ready(sandbox), process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.TERMINATED, err
    return err, read_results(tmp_path / "in.results.xlsx")


@pytest.mark.slow
def test_sigterm_during_the_pre_flight_writes_results_saying_nothing_was_sent(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config(rate_limit=100_000, window_s=60.0))
    # One request a minute: the pre-flight's second read waits on our own limiter.
    err, rows = terminated(tmp_path, box, 3, lambda sandbox: sandbox.requests_total >= 1, "--rate-limit", "1")
    assert "during the pre-flight" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".xlsx") == ["in.results.xlsx", "in.xlsx"]
    assert {r["status"] for r in rows} == {"skipped"} and all(r["error"].startswith("not sent") for r in rows)
    assert box.server is not None and box.server.sandbox.requests["create"] == 0


@pytest.mark.slow
def test_sigterm_cancels_creates_queued_on_the_limiter_and_calls_them_skipped_not_unknown(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config(rate_limit=100_000, window_s=60.0))
    # Three a minute: the two pre-flight reads and one create go, the other creates wait on our limiter.
    err, rows = terminated(
        tmp_path, box, 6, lambda sandbox: len(sandbox.campaigns) >= 1, "--rate-limit", "3", "--concurrency", "4"
    )
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("created", 1)] + [("skipped", 0)] * 5
    assert "in flight (a second" not in err  # nothing was in flight: nothing to wait for


@pytest.mark.slow
def test_a_second_signal_stops_waiting_for_a_create_in_flight(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(faults=Faults(slow_s=60.0)))
    assert box.server is not None
    sandbox = box.server.sandbox
    sandbox.queue_faults(["slow_after"])  # the first create is stored at once and answered after a minute
    process = cli_run(box, book(tmp_path, 1), tmp_path)
    wait_for(lambda: len(sandbox.campaigns) == 1, process)
    process.send_signal(signal.SIGTERM)
    wait_for_line(process, "stopping: waiting up to 30.0 s for 1 create in flight (a second Ctrl-C or SIGTERM")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.TERMINATED, err
    assert "second signal: not waiting for 1 create; the next run settles them" in err
    (row,) = read_results(tmp_path / "in.results.xlsx")
    assert row["status"] == "unknown"
