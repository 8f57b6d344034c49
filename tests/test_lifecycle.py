"""After the creates, against the real sandbox: wait by list rounds, start exactly once, settle lost replies."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
from dataclasses import replace
from pathlib import Path
from time import monotonic as _monotonic
from typing import Any

import aiohttp
import pytest

from provisioner.api.client import KoreClient, open_session
from provisioner.exit_codes import ExitCode
from provisioner.jobs.check import check_input
from provisioner.jobs.run import run_job
from provisioner.names import fold_name
from provisioner.provision.ledger import Ledger
from provisioner.provision.lifecycle import FollowUp, Listed, Steps, Target, WaitOptions, decide
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.provision.wiring import Wiring
from provisioner.sandbox import Faults, SandboxConfig, ThreadedSandbox
from tests.helpers import FAST, campaign, read_results, window, write_book
from tests.test_run import job

LISTS = frozenset({"Renewals East"})


def config(**kw: Any) -> SandboxConfig:
    return SandboxConfig(contact_lists=LISTS, **{"rate_limit": 100_000, "window_s": 0.2, "ready_after_s": 0, **kw})


def made(tmp_path: Path, box: ThreadedSandbox, n: int) -> Path:
    """Create n plain campaigns through a run; return the workbook."""
    rows = [campaign(name=f"Dial {i:02d}", calling_hours="Office") for i in range(n)]
    path = write_book(tmp_path / "in.xlsx", rows, [window("Office")])
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK
    return path


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


class FakeTime:
    """One clock for the sandbox (Preparing → Ready) and the follow-up: it moves only when the follow-up sleeps."""

    def __init__(self) -> None:
        self._now = 1_000.0
        self._lock = threading.Lock()  # the sandbox reads it from its own thread

    def __call__(self) -> float:
        with self._lock:
            return self._now

    async def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
        await asyncio.sleep(0)


def follow(
    tmp_path: Path,
    box: ThreadedSandbox,
    path: Path,
    *,
    start: bool,
    wait: WaitOptions | None = None,
    time: FakeTime | None = None,
) -> tuple[dict[int, RowOutcome], list[str], list[int]]:
    """Decide and take every row's steps (each row marked Start when ``start``), as a run after its creates does.

    Return the outcomes, the notes and the requests of each round of reading the list.
    """
    payloads = [replace(p, start=start) for p in check_input(path).payloads]

    async def go() -> tuple[dict[int, RowOutcome], list[str], list[int]]:
        settings = box.settings()
        async with open_session(settings, timeout=aiohttp.ClientTimeout(total=2.5)) as session:
            client = KoreClient(settings, session)
            with Ledger(tmp_path / "ledger.sqlite3") as ledger:
                entries = ledger.entries(settings.scope)
                listing = await client.list_all_campaigns(lambda page: page())
                by_name = {fold_name(c.name): c for c in listing.campaigns}
                work: list[tuple[Target, Steps, RowOutcome]] = []
                for p in payloads:
                    target = Target(p, by_name[fold_name(p.name)], created=False)
                    steps = decide(target, entries.get(fold_name(p.name)), update=False)
                    work.append((target, steps, RowOutcome(p.row, p.name, Status.UNCHANGED, target.campaign.id)))
                named = {c.id: fold_name(c.name) for c in listing.campaigns}
                sleep, clock = (time.sleep, time) if time is not None else (_no_sleep, _monotonic)
                wiring = Wiring(client, ledger, settings.scope, FAST, sleep=sleep)
                engine = FollowUp(wiring, rate=(100_000, 0.2), clock=clock)
                since = client.server_now() - dt.timedelta(minutes=5)
                listed = Listed(named, since, listing.paging)
                outcomes, notes, fatal = await engine.run(work, listed, wait or WaitOptions(), asyncio.Event())
                assert fatal is None
                return outcomes, notes, engine.round_requests

    return asyncio.run(go())


def test_start_each_ready_campaign_exactly_once_and_never_again(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config())
    path = made(tmp_path, box, 6)
    sandbox = box.server.sandbox
    outcomes, notes, _ = follow(tmp_path, box, path, start=True)
    assert notes == []
    assert {o.campaign_status for o in outcomes.values()} == {"Active"}
    assert all(o.started_at is not None and o.error is None for o in outcomes.values())
    assert sandbox.requests["trigger"] == 6 and sandbox.requests["status"] == 6
    again, _, _ = follow(tmp_path, box, path, start=True)
    assert sandbox.requests["trigger"] == 6, "a second pass must not start anything"
    assert all(o.started_at is not None and "never started twice" in (o.note or "") for o in again.values())


@pytest.mark.parametrize("fault", ["drop_after", "error_after", "slow_after"])
def test_a_start_whose_reply_was_lost_is_confirmed_by_the_status_not_sent_again(
    tmp_path: Path, threaded_sandbox: Any, fault: str
) -> None:
    box = threaded_sandbox(config(faults=Faults(slow_s=4.0)))
    path = made(tmp_path, box, 1)
    sandbox = box.server.sandbox
    sandbox.queue_faults([fault])
    outcomes, _, _ = follow(tmp_path, box, path, start=True)
    (outcome,) = outcomes.values()
    assert (outcome.campaign_status, outcome.error) == ("Active", None)
    assert outcome.started_at is not None
    assert sandbox.requests["trigger"] == 1
    assert sandbox.requests["status"] == 2  # the check before the start, and the one that settled it


@pytest.mark.parametrize("fault", ["drop_before", "error_5xx", "failure_2xx"])
def test_a_start_that_did_not_take_is_sent_again_once_the_status_shows_ready(
    tmp_path: Path, threaded_sandbox: Any, fault: str
) -> None:
    box = threaded_sandbox(config())
    path = made(tmp_path, box, 1)
    sandbox = box.server.sandbox
    sandbox.queue_faults([fault])
    outcomes, _, _ = follow(tmp_path, box, path, start=True)
    (outcome,) = outcomes.values()
    if fault == "failure_2xx":  # refused in words under HTTP 200: nothing started, nothing resent
        assert outcome.error is not None and outcome.error.startswith("not started")
        assert sandbox.requests["trigger"] == 1
        return
    assert (outcome.campaign_status, outcome.error) == ("Active", None)
    assert sandbox.requests["trigger"] == 2
    assert sandbox.requests["status"] == 2  # the check before the start, and the one that found it still Ready


def test_waiting_reads_the_list_in_spaced_rounds_within_budget(tmp_path: Path, threaded_sandbox: Any) -> None:
    time = FakeTime()
    box = threaded_sandbox(config(ready_after_s=1.0, page_cap=5, clock=time))
    path = made(tmp_path, box, 12)
    sandbox = box.server.sandbox
    before = sandbox.requests["list"]
    waiting = WaitOptions(wait=True, interval_s=0.25)
    outcomes, notes, rounds = follow(tmp_path, box, path, start=False, wait=waiting, time=time)
    assert notes == []
    assert {o.campaign_status for o in outcomes.values()} == {"Ready"}
    # Rounds at 0, 0.25, 0.5, 0.75 s (all Preparing) and 1.0 s (all Ready): five, each a read of the whole list.
    assert len(rounds) == 5
    assert max(rounds) <= math.ceil(12 / 5) + 1  # the budget: ⌈N / page⌉ + 1
    assert sandbox.requests["list"] - before == sum(rounds) + 3  # and the test's own listing: 3 pages
    assert sandbox.requests["status"] == 0 and sandbox.requests["trigger"] == 0


def test_a_campaign_still_preparing_at_the_timeout_is_reported_not_failed(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config(ready_after_s=600))
    path = made(tmp_path, box, 2)
    outcomes, notes, _ = follow(tmp_path, box, path, start=True, wait=WaitOptions(wait=True, timeout_s=0))
    assert {(o.campaign_status, o.error, o.started_at) for o in outcomes.values()} == {("Preparing", None, None)}
    assert {o.note for o in outcomes.values()} == {
        "its start not done yet: still Preparing when the wait ended; run again to finish"
    }
    assert notes == [
        "2 campaigns still Preparing after 0 s: not a failure; run again (with --wait) to wait longer and take "
        "their remaining steps"
    ]
    assert box.server.sandbox.requests["trigger"] == 0


WEEKLY_ROW: dict[str, Any] = {
    "schedule_start": dt.datetime(2027, 1, 4, 9),
    "schedule_end": dt.datetime(2030, 12, 31, 18),
    "recurrence": "Weekly",
    "schedule_days": "MO-FR",
}


def scheduled_book(path: Path, **changes: Any) -> Path:
    """Two campaigns, the first on a weekly schedule (with ``changes``), the second without one."""
    rows = [
        campaign(name="Sched A", calling_hours="Office", **{**WEEKLY_ROW, **changes}),
        campaign(name="Plain B", calling_hours="Office"),
    ]
    return write_book(path, rows, [window("Office")])


def by_name(result: Any) -> dict[str, dict[str, Any]]:
    assert result.results_path is not None
    return {row["name"]: row for row in read_results(result.results_path)}


def test_a_changed_schedule_differs_and_update_sends_it_once(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = scheduled_book(tmp_path / "in.xlsx")
    first = run_job(job(tmp_path, path, box))
    assert first.exit_code is ExitCode.OK, first.report.summary.notes
    assert sandbox.requests["schedule"] == 1
    assert by_name(first)["Sched A"]["schedule"].startswith("Weekly on Mon, Tue, Wed, Thu, Fri, 2027-01-04 09:00")

    scheduled_book(path, recurrence="Daily", schedule_days=None)
    differs = run_job(job(tmp_path, path, box))
    row = by_name(differs)["Sched A"]
    assert (differs.exit_code, row["status"]) == (ExitCode.OK, "differs")
    assert row["changes"] == (
        "Schedule Weekly on Mon, Tue, Wed, Thu, Fri, 2027-01-04 09:00 to 2030-12-31 18:00 → "
        "Daily, 2027-01-04 09:00 to 2030-12-31 18:00"
    )
    assert sandbox.requests["schedule"] == 1 and by_name(differs)["Plain B"]["status"] == "unchanged"
    planned = run_job(job(tmp_path, path, box), dry_run=True)  # a plan stands for `run --update`
    assert planned.exit_code is ExitCode.OK and planned.steps[2].schedule == "set"
    assert [str(c) for o in planned.report.outcomes if o.name == "Sched A" for c in o.changes] == [row["changes"]]

    updated = run_job(job(tmp_path, path, box, update=True))
    assert updated.exit_code is ExitCode.OK, updated.report.summary.notes
    assert by_name(updated)["Sched A"]["status"] == "updated"
    assert sandbox.requests["schedule"] == 2 and sandbox.requests["update"] == 0
    stored = next(c for c in sandbox.campaigns if c.name == "Sched A").schedule
    assert stored["recurrenceObject"] == {"recurType": "Daily"}

    again = run_job(job(tmp_path, path, box, update=True))
    assert {r["status"] for r in by_name(again).values()} == {"unchanged"}
    assert sandbox.requests["schedule"] == 2


def test_emptying_the_schedule_cells_disables_only_the_schedule_this_tool_set(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = scheduled_book(tmp_path / "in.xlsx")
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK
    scheduled_book(path, schedule_start=None, schedule_end=None, recurrence=None, schedule_days=None)
    cleared = run_job(job(tmp_path, path, box, update=True))
    assert by_name(cleared)["Sched A"]["status"] == "updated"
    assert by_name(cleared)["Sched A"]["schedule"] == "none (disabled by this run)"
    assert next(c for c in sandbox.campaigns if c.name == "Sched A").schedule["isSchedulingEnabled"] is False
    assert sandbox.requests["schedule"] == 2
    again = run_job(job(tmp_path, path, box, update=True))
    assert {r["status"] for r in by_name(again).values()} == {"unchanged"} and sandbox.requests["schedule"] == 2


def test_a_schedule_is_never_sent_for_a_name_two_campaigns_share(tmp_path: Path, threaded_sandbox: Any) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = scheduled_book(tmp_path / "in.xlsx")
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK
    sandbox.seed(["SCHED A"], created_at=sandbox.now())  # someone else's campaign of the same name, case aside
    scheduled_book(path, recurrence="Daily", schedule_days=None)
    refused = run_job(job(tmp_path, path, box, update=True))
    row = by_name(refused)["Sched A"]
    assert refused.exit_code is ExitCode.FAILED
    assert row["error"].startswith("not scheduled: 2 campaigns on the server are named 'Sched A'")
    assert sandbox.requests["schedule"] == 1  # only the first run's


def test_a_row_whose_name_several_campaigns_share_is_refused_unless_the_ledger_knows_which_is_ours(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    twins = sandbox.seed(["Sched A", "SCHED A"], created_at=sandbox.now() - dt.timedelta(hours=1))
    path = scheduled_book(tmp_path / "in.xlsx")
    refused = run_job(job(tmp_path, path, box, update=True))
    row = by_name(refused)["Sched A"]
    assert (refused.exit_code, row["status"], row["campaign_id"]) == (ExitCode.FAILED, "failed", None)
    assert row["error"].startswith("2 campaigns on the server are named 'Sched A'")
    assert sorted(c.id for c in twins) == sorted(row["error"].split("(")[1].split(")")[0].split(", "))
    assert sandbox.requests["create"] == 1 and sandbox.requests["update"] == 0  # Plain B only
    assert sandbox.requests["schedule"] == 0


def test_a_schedule_goes_out_once_the_campaign_exists_without_waiting_for_ready(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config(ready_after_s=600))
    sandbox = box.server.sandbox
    result = run_job(job(tmp_path, scheduled_book(tmp_path / "in.xlsx"), box))
    assert result.exit_code is ExitCode.OK, result.report.summary.notes
    assert len(result.rounds) == 1  # the read that checks the name is the campaign's alone; no wait
    assert sandbox.requests["schedule"] == 1
    assert {r["campaign_status"] for r in by_name(result).values()} == {"Preparing"}
    assert result.report.summary.notes == ()


def start_book(path: Path, **changes: Any) -> Path:
    """One campaign marked Start, with ``changes``."""
    return write_book(path, [campaign(name="Go Now", calling_hours="Office", **changes)], [window("Office")])


def test_a_campaign_that_differs_from_its_row_is_not_started_until_update_makes_it_equal(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = start_book(tmp_path / "in.xlsx", start="no")
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK
    start_book(path, start="yes", priority=1)  # the sheet now says: another priority, and dial
    held_back = run_job(job(tmp_path, path, box))
    row = by_name(held_back)["Go Now"]
    assert (held_back.exit_code, row["status"], row["started_at"]) == (ExitCode.OK, "differs", None)
    assert row["error"].startswith("not started: it differs from its row; run --update first")
    assert sandbox.requests["trigger"] == 0
    updated = run_job(job(tmp_path, path, box, update=True))
    row = by_name(updated)["Go Now"]
    assert (updated.exit_code, row["status"], row["campaign_status"]) == (ExitCode.OK, "updated", "Active")
    assert sandbox.requests["update"] == 1 and sandbox.requests["trigger"] == 1


def test_a_schedule_the_creating_run_could_not_set_is_sent_by_a_plain_rerun(
    tmp_path: Path, threaded_sandbox: Any
) -> None:
    box = threaded_sandbox(config())
    sandbox = box.server.sandbox
    path = scheduled_book(tmp_path / "in.xlsx")
    sandbox.queue_faults([None, None, "failure_2xx"])  # the two creates behave; the schedule is refused in words
    first = run_job(job(tmp_path, path, box))
    assert first.exit_code is ExitCode.FAILED
    assert by_name(first)["Sched A"]["error"].startswith("not scheduled:")
    again = run_job(job(tmp_path, path, box))  # no --update: the schedule is owed, not a change
    row = by_name(again)["Sched A"]
    assert (again.exit_code, row["status"], row["error"], row["changes"]) == (ExitCode.OK, "unchanged", None, None)
    assert row["schedule"].startswith("Weekly on Mon") and sandbox.requests["schedule"] == 2
    assert run_job(job(tmp_path, path, box)).exit_code is ExitCode.OK and sandbox.requests["schedule"] == 2
