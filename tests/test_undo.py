"""`provisioner delete` end to end: a batch made with `run` against the sandbox, undone through the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner._cli import app
from provisioner.api.client import KoreClient, open_session
from provisioner.errors import RejectedError
from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import run_job
from provisioner.sandbox import Sandbox, ThreadedSandbox, client_env
from tests.helpers import read_results
from tests.test_run import book, config, job

Start = Callable[..., ThreadedSandbox]


def sandbox_of(box: ThreadedSandbox) -> Sandbox:
    assert box.server is not None
    return box.server.sandbox


def made(tmp_path: Path, box: ThreadedSandbox, n: int) -> Path:
    """Run a batch of ``n`` campaigns; return its results workbook."""
    result = run_job(job(tmp_path, book(tmp_path, n), box))
    assert result.exit_code == ExitCode.OK and result.results_path is not None
    return result.results_path


def delete(tmp_path: Path, box: ThreadedSandbox, results: Path, *options: str) -> tuple[int, str]:
    assert box.server is not None
    env = client_env(box.server.url, box.config)
    state = str(tmp_path / "ledger.sqlite3")
    outcome = CliRunner().invoke(app, ["delete", str(results), "--state", state, *options], env=env)
    return outcome.exit_code, outcome.output


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
