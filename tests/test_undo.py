"""`provisioner delete` end to end: a batch made with `run` against the sandbox, undone through the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from typer.testing import CliRunner, Result

from provisioner._cli import app
from provisioner.api.client import KoreClient, open_session
from provisioner.errors import RejectedError
from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import Job, run_job
from provisioner.jobs.undo import DELETE_AGAIN, EXIT_MEANINGS, MAYBE_DELETED, NOT_YET, UndoJob, undo_job
from provisioner.provision.outcomes import Status
from provisioner.sandbox import Faults, Sandbox, ThreadedSandbox, client_env, client_settings, make_app
from provisioner.workbook import spec
from tests.conftest import Serve
from tests.helpers import FAST, read_results
from tests.test_report import summary_fields
from tests.test_run import book, config, job, wait_for, wait_for_line

Start = Callable[..., ThreadedSandbox]


def sandbox_of(box: ThreadedSandbox) -> Sandbox:
    assert box.server is not None
    return box.server.sandbox


def made(tmp_path: Path, box: ThreadedSandbox, n: int) -> Path:
    """Run a batch of ``n`` campaigns; return its results workbook."""
    result = run_job(job(tmp_path, book(tmp_path, n), box))
    assert result.exit_code == ExitCode.OK and result.results_path is not None
    return result.results_path


def slow_replies(tmp_path: Path, threaded_sandbox: Start, n: int, slow: int) -> tuple[ThreadedSandbox, Sandbox, Path]:
    """Make a batch of ``n`` campaigns; the next ``slow`` deletes are made at once and answered 5 s late."""
    box = threaded_sandbox(config(faults=Faults(slow_s=5.0)))
    results = made(tmp_path, box, n)
    sandbox = sandbox_of(box)
    sandbox.queue_faults(["slow_after"] * slow)
    return box, sandbox, results


def invoke(tmp_path: Path, box: ThreadedSandbox, results: Path, *options: str) -> Result:
    assert box.server is not None
    env = client_env(box.server.url, box.config)
    state = str(tmp_path / "ledger.sqlite3")
    return CliRunner().invoke(app, ["delete", str(results), "--state", state, *options], env=env)


def delete(tmp_path: Path, box: ThreadedSandbox, results: Path, *options: str) -> tuple[int, str]:
    outcome = invoke(tmp_path, box, results, *options)
    return outcome.exit_code, outcome.output


def deleted(results: Path) -> list[dict[str, object]]:
    """The Results rows of the delete's own workbook."""
    return read_results(results.with_suffix(".deleted.xlsx"))


def test_delete_removes_exactly_the_batch_only_when_told_and_a_rerun_changes_nothing(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    before = {c.id for c in sandbox.seed(["Theirs 1", "Theirs 2"], created_at=sandbox.now() - dt.timedelta(days=1))}
    results = made(tmp_path, box, 30)
    ours = [r["campaign_id"] for r in read_results(results)]
    for campaign_id in ours[:10]:
        sandbox.activate(campaign_id)
    writes = ("delete", "trigger")

    code, output = delete(tmp_path, box, results)
    assert code == ExitCode.FAILED, output
    assert output.count("refused: Active") == 10 and "Would delete 20 campaigns; 10 refused" in output
    assert not any(sandbox.requests[w] for w in writes)
    assert not results.with_suffix(".deleted.xlsx").exists()

    code, output = delete(tmp_path, box, results, "--yes")
    assert code == ExitCode.FAILED, output
    assert sandbox.requests["trigger"] == 0
    assert {c.id for c in sandbox.campaigns} == before | set(ours[:10])

    code, output = delete(tmp_path, box, results, "--yes", "--stop-active")
    assert code == ExitCode.OK, output
    assert {c.id for c in sandbox.campaigns} == before
    assert sandbox.requests["trigger"] == 10 and sandbox.requests["delete"] == 30
    rows = read_results(results.with_suffix(".deleted.xlsx"))
    assert [r["status"] for r in rows] == ["deleted"] * 30
    assert [r["campaign_id"] for r in rows] == ours

    code, output = delete(tmp_path, box, results, "--yes", "--stop-active")
    assert code == ExitCode.OK, output
    assert sandbox.requests["trigger"] == 10 and sandbox.requests["delete"] == 30
    assert {c.id for c in sandbox.campaigns} == before


def test_an_id_that_carries_another_name_now_is_refused(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    results = made(tmp_path, box, 2)
    renamed, kept = (r["campaign_id"] for r in read_results(results))
    sandbox.edit(renamed, name="Someone else's now")

    code, output = delete(tmp_path, box, results, "--yes")
    assert code == ExitCode.FAILED
    assert 'is now named "Someone else\'s now"' in output
    assert [c.id for c in sandbox.campaigns] == [renamed]
    rows = read_results(results.with_suffix(".deleted.xlsx"))
    assert [(r["campaign_id"], r["status"]) for r in rows] == [(renamed, "refused"), (kept, "deleted")]


@pytest.mark.parametrize("fault", ["drop_after", "error_after"])
def test_a_delete_whose_reply_was_lost_is_confirmed_not_repeated(
    tmp_path: Path, threaded_sandbox: Start, fault: str
) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    results = made(tmp_path, box, 1)
    sandbox.queue_faults([fault])
    code, output = delete(tmp_path, box, results, "--yes")
    assert code == ExitCode.OK, output
    assert sandbox.requests["delete"] == 1 and sandbox.requests["get"] == 1
    assert sandbox.campaigns == []
    (row,) = read_results(results.with_suffix(".deleted.xlsx"))
    assert row["status"] == "deleted"


async def test_a_delete_whose_reply_was_lost_and_whose_look_up_fails_is_unknown_not_resent(
    tmp_path: Path, serve: Serve
) -> None:
    sandbox = Sandbox(config())
    app = make_app(sandbox)
    looking_fails = asyncio.Event()

    @web.middleware
    async def look_ups_fail(request: web.Request, handler: Handler) -> web.StreamResponse:
        if looking_fails.is_set() and request.match_info.route.name == "get":
            return web.json_response({"status": "error", "message": "Service Unavailable"}, status=503)
        return await handler(request)

    app.middlewares.append(look_ups_fail)
    settings = client_settings(await serve(app), sandbox.config)
    state = tmp_path / "ledger.sqlite3"
    made = Job(book(tmp_path, 1), lambda: settings, FAST, state_path=state, rate_limit=100_000, rate_window_s=0.2)
    results = (await asyncio.to_thread(run_job, made)).results_path
    assert results is not None
    sandbox.queue_faults(["drop_after"])  # deleted, then the connection drops: the reply is lost
    looking_fails.set()

    undo = UndoJob(results, lambda: settings, confirmed=True, options=FAST, state_path=state, rate_limit=100_000)
    result = await asyncio.to_thread(undo_job, undo)
    (outcome,) = result.report.outcomes
    assert outcome.status is Status.UNKNOWN and str(outcome.error).endswith(MAYBE_DELETED)
    assert result.exit_code == ExitCode.FAILED
    assert sandbox.requests["delete"] == 1 and sandbox.requests["get"] == FAST.retry.max_attempts
    assert sandbox.campaigns == []


@pytest.mark.slow
def test_a_delete_waits_for_its_reply_no_longer_than_the_request_timeout(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box, sandbox, results = slow_replies(tmp_path, threaded_sandbox, 1, 1)  # answered past the delete's 1 s
    options = dataclasses.replace(FAST, request_timeout_s=1.0)
    state = tmp_path / "ledger.sqlite3"
    undo = UndoJob(results, box.settings, confirmed=True, options=options, state_path=state, rate_limit=100_000)
    result = undo_job(undo)
    (outcome,) = result.report.outcomes
    assert (outcome.status, outcome.note) == (Status.DELETED, "confirmed deleted by a look-up after the reply was lost")
    assert sandbox.requests["delete"] == 1 and sandbox.requests["get"] >= 1
    assert result.exit_code == ExitCode.OK and sandbox.campaigns == []


def test_only_a_results_workbook_is_accepted(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    code, output = delete(tmp_path, box, book(tmp_path, 1))
    assert code == ExitCode.INVALID and "is not a results workbook" in output


def test_campaigns_a_run_found_rather_than_made_are_left_alone(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    made(tmp_path, box, 2)
    again = made(tmp_path, box, 2)  # the rerun finds both: unchanged
    code, output = delete(tmp_path, box, again, "--yes")
    assert code == ExitCode.OK, output
    assert len(sandbox_of(box).campaigns) == 2 and sandbox_of(box).requests["delete"] == 0


def test_the_sandbox_starts_stops_and_deletes_as_documented(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(ready_after_s=0.0))
    sandbox = sandbox_of(box)
    (stored,) = sandbox.seed(["Theirs"], created_at=sandbox.now() - dt.timedelta(hours=1))

    async def calls() -> tuple[str, str, str, str, int | None]:
        async with open_session(box.settings()) as session:
            client = KoreClient(box.settings(), session)
            play = await client.start_campaign(stored.id)
            active = (await client.get_campaign(stored.id)).status or ""
            stopped = await client.stop_campaign(stored.id)
            deleted = await client.delete_campaign(stored.id)
            try:
                await client.delete_campaign(stored.id)
            except RejectedError as exc:
                return play, active, stopped, deleted.id, exc.status
            return "", "", "", "", None

    assert asyncio.run(calls()) == ("Active", "Active", "Stopped", stored.id, 404)
    assert sandbox.campaigns == []


def test_delete_json_is_one_document_with_each_row_and_the_totals(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    results = made(tmp_path, box, 3)
    idle, active, gone = (str(r["campaign_id"]) for r in read_results(results))
    sandbox.activate(active)
    sandbox.remove(gone)

    plan = invoke(tmp_path, box, results, "--json")
    assert plan.exit_code == ExitCode.FAILED, plan.output
    shown = json.loads(plan.stdout)
    assert [(c["name"], c["campaign_id"], c["status"], c["action"], c["reason"]) for c in shown["campaigns"]] == [
        ("Campaign 0000", idle, "skipped", "delete", "would be deleted"),
        ("Campaign 0001", active, "refused", None, "refused: Active (--stop-active stops it)"),
        ("Campaign 0002", gone, "deleted", None, "already gone; nothing to do"),
    ]
    assert {k: v for k, v in shown["counts"].items() if v} == {"skipped": 1, "refused": 1, "deleted": 1}
    assert shown["exit_code"] == 1 and shown["exit_meaning"] == EXIT_MEANINGS[ExitCode.FAILED]
    assert shown["results"] is None and shown["left_alone"] == 0
    assert sandbox.requests["delete"] == sandbox.requests["trigger"] == 0

    before = sandbox.requests_total
    done = invoke(tmp_path, box, results, "--yes", "--stop-active", "--json")
    assert done.exit_code == ExitCode.OK, done.output
    shown = json.loads(done.stdout)
    assert [(c["status"], c["action"]) for c in shown["campaigns"]] == [
        ("deleted", "delete"),
        ("deleted", "stop and delete"),
        ("deleted", None),
    ]
    assert shown["exit_code"] == 0 and shown["exit_meaning"] == EXIT_MEANINGS[ExitCode.OK] != ExitCode.OK.meaning
    assert shown["counts"]["deleted"] == 3 and shown["results"] == str(results.with_suffix(".deleted.xlsx"))
    assert shown["requests"] == sandbox.requests_total - before  # every request of the delete, reads included
    assert sandbox.requests["delete"] == 2 and sandbox.requests["trigger"] == 1


def test_a_rerun_sends_no_delete_and_says_so_with_what_delete_exit_0_means(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    results = made(tmp_path, box, 3)
    meaning = EXIT_MEANINGS[ExitCode.OK]

    code, output = delete(tmp_path, box, results, "--yes")
    assert code == ExitCode.OK, output
    assert sandbox.requests["delete"] == 3 and sandbox.campaigns == []
    assert f"3 deleted (exit 0: {meaning}) in " in output and ExitCode.OK.meaning not in output
    book = openpyxl.load_workbook(results.with_suffix(".deleted.xlsx"))
    assert summary_fields(book[spec.SUMMARY])["Exit code meaning"] == meaning

    code, output = delete(tmp_path, box, results, "--yes", "--stop-active")
    assert code == ExitCode.OK, output
    assert sandbox.requests["delete"] == 3 and sandbox.requests["trigger"] == 0  # not one more write
    assert "nothing to do: every campaign that run created is already gone; nothing was sent" in output
    assert f"3 deleted (exit 0: {meaning})" in output
    assert [(r["status"], r["error"]) for r in deleted(results)] == [("deleted", "already gone; nothing to do")] * 3


def test_delete_ends_its_json_log_with_the_closing_line_run_ends_with(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    results = made(tmp_path, box, 3)
    logs = tmp_path / "delete.jsonl"
    done = invoke(tmp_path, box, results, "--yes", "--log-format", "json", "--log-file", str(logs))
    assert done.exit_code == ExitCode.OK, done.output
    closing = json.loads(logs.read_text(encoding="utf-8").splitlines()[-1])
    written = results.with_suffix(".deleted.xlsx")
    summary = summary_fields(openpyxl.load_workbook(written)[spec.SUMMARY])
    assert closing["message"].startswith(f"finished: {results.name}: 3 deleted (exit 0: {EXIT_MEANINGS[ExitCode.OK]})")
    assert (closing["input"], closing["command"], closing["run_id"]) == (results.name, "delete", summary["Run ID"])
    assert {status: n for status, n in closing["counts"].items() if n} == {"deleted": 3}
    assert closing["exit_code"] == 0 and closing["duration_s"] >= 0 and closing["results"] == str(written)
    assert box.config.client_secret not in logs.read_text(encoding="utf-8")


# --- interrupts: a real process, a real signal, a sandbox whose replies are slow ------------------------


def cli_delete(box: ThreadedSandbox, results: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """Start `provisioner delete RESULTS --yes` as a process of its own, against the test's sandbox."""
    assert box.server is not None
    env = {
        **os.environ,
        **client_env(box.server.url, box.config),
        "PROVISIONER_STATE": str(tmp_path / "ledger.sqlite3"),
    }
    command = [sys.executable, "-m", "provisioner", "delete", str(results), "--yes", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_lets_the_deletes_in_flight_settle_sends_no_more_and_writes_what_was_done(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box, sandbox, results = slow_replies(tmp_path, threaded_sandbox, 8, 4)
    process = cli_delete(box, results, tmp_path)
    # Four workers: four deletes at the server, their replies held; the other four campaigns wait their turn.
    wait_for(lambda: len(sandbox.campaigns) == 4, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)

    assert process.returncode == ExitCode.TERMINATED, err
    assert sandbox.requests["delete"] == 4 and len(sandbox.campaigns) == 4
    rows = deleted(results)
    assert sorted(str(r["status"]) for r in rows) == ["deleted"] * 4 + ["skipped"] * 4
    left = {str(r["campaign_id"]) for r in rows if r["status"] == "skipped"}
    assert left == {c.id for c in sandbox.campaigns}
    assert all(
        str(r["error"]) == "not deleted: interrupted (SIGTERM) before its delete was sent: run delete again to finish"
        for r in rows
        if r["status"] == "skipped"
    )
    assert "stopping: waiting up to 30.0 s for 4 request(s) in flight" in err
    assert "interrupted (SIGTERM) while deleting" in err
    assert f"4 skipped, 4 deleted (exit 143: {EXIT_MEANINGS[ExitCode.TERMINATED]})" in out

    code, output = delete(tmp_path, box, results, "--yes")  # the rerun finishes the job
    assert code == ExitCode.OK, output
    assert sandbox.campaigns == [] and sandbox.requests["delete"] == 8


@pytest.mark.slow
def test_sigint_while_the_server_is_read_sends_nothing_and_says_so(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(page_cap=1))
    sandbox = sandbox_of(box)
    results = made(tmp_path, box, 2)
    before = sandbox.requests_total
    # A page a request, a request a minute: the second page of the list waits on the delete's own limiter.
    process = cli_delete(box, results, tmp_path, "--rate-limit", "1")
    wait_for(lambda: sandbox.requests_total > before, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)

    assert process.returncode == ExitCode.INTERRUPTED, err
    assert sandbox.requests["delete"] == 0 and len(sandbox.campaigns) == 2
    assert "interrupted (SIGINT) while reading the server's campaigns: nothing was sent" in err
    assert [r["status"] for r in deleted(results)] == ["skipped"] * 2
    assert f"(exit 130: {EXIT_MEANINGS[ExitCode.INTERRUPTED]})" in out


@pytest.mark.slow
@pytest.mark.parametrize("answering", [True, False], ids=["look-up-answered", "server-gone"])
def test_a_second_signal_cuts_a_delete_short_and_a_look_up_settles_it(tmp_path: Path, answering: bool) -> None:
    # Started here, not by the fixture: one case stops it while the delete is in flight.
    box = ThreadedSandbox(config(faults=Faults(slow_s=60.0)))
    box.__enter__()
    serving = True
    try:
        sandbox = sandbox_of(box)
        results = made(tmp_path, box, 1)
        sandbox.queue_faults(["slow_after"])  # deleted at once, answered after a minute
        process = cli_delete(box, results, tmp_path)
        wait_for(lambda: not sandbox.campaigns, process)
        process.send_signal(signal.SIGINT)
        wait_for_line(process, "stopping: waiting up to 30.0 s for 1 request(s) in flight")
        if not answering:
            box.__exit__()
            serving = False
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if serving:
            box.__exit__()

    assert process.returncode == ExitCode.INTERRUPTED, err
    (row,) = deleted(results)
    if answering:
        assert (row["status"], row["error"]) == (
            "deleted",
            "interrupted (SIGINT) while its delete was at the server, cutting it short: a look-up found it gone",
        )
        assert sandbox.requests["get"] == 1 and sandbox.requests["delete"] == 1
    else:
        assert row["status"] == "unknown" and "it may or may not be deleted" in str(row["error"])
    assert f"(exit 130: {EXIT_MEANINGS[ExitCode.INTERRUPTED]})" in out


@pytest.mark.slow
def test_credentials_revoked_partway_stop_the_deletes_and_the_results_say_which_are_gone(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box, sandbox, results = slow_replies(tmp_path, threaded_sandbox, 4, 1)  # the first delete is answered late
    ours = [str(r["campaign_id"]) for r in read_results(results)]
    process = cli_delete(box, results, tmp_path, "--concurrency", "1", "--json")
    wait_for(lambda: len(sandbox.campaigns) == 3, process)
    good = sandbox.config
    # The credentials change: the secret the delete signs with no longer does.
    sandbox.config = dataclasses.replace(good, client_secret="another secret, not the one the delete has")
    out, err = process.communicate(timeout=120)

    assert process.returncode == ExitCode.CONFIG, err
    rows = deleted(results)
    assert [(r["campaign_id"], r["status"]) for r in rows] == [
        (ours[0], "deleted"),
        *((campaign_id, "skipped") for campaign_id in ours[1:]),
    ]
    failed = str(rows[1]["error"]).removeprefix("not deleted: ")
    assert "credentials refused (HTTP 401)" in failed and failed.startswith("DELETE ")
    named = f"stopped when row {rows[1]['row']} failed ({failed})"
    assert [r["error"] for r in rows[2:]] == [f"not deleted: {named} before its delete was sent: {DELETE_AGAIN}"] * 2
    assert {c.id for c in sandbox.campaigns} == set(ours[1:])
    assert sandbox.requests["delete"] == 1 + 2  # the one made, the failing one twice (a fresh token once)
    shown = json.loads(out)
    assert shown["exit_code"] == ExitCode.CONFIG and shown["exit_meaning"] == ExitCode.CONFIG.meaning
    assert shown["notes"] == [f"{named} while deleting: {NOT_YET}"]
    assert shown["results"] == str(results.with_suffix(".deleted.xlsx"))
    book = openpyxl.load_workbook(results.with_suffix(".deleted.xlsx"))
    assert summary_fields(book[spec.SUMMARY])["Exit code"] == ExitCode.CONFIG

    sandbox.config = good  # credentials put right: the rerun finishes the job
    code, output = delete(tmp_path, box, results, "--yes")
    assert code == ExitCode.OK, output
    assert sandbox.campaigns == [] and sandbox.requests["delete"] == 3 + 3
