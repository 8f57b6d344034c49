"""The batch job: an inbox folder run end to end against the sandbox, in process and as real processes."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import fcntl
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from provisioner._cli import app
from provisioner.exit_codes import ExitCode
from provisioner.jobs.batch import SEVERITY, BatchResult, Disposition, claim, most_severe, run_batch
from provisioner.jobs.run import Job
from provisioner.logs import configure_logging
from provisioner.names import fold_name
from provisioner.provision.ledger import Ledger
from provisioner.provision.retry import RetryPolicy
from provisioner.provision.wiring import RunOptions
from provisioner.sandbox import Sandbox, SandboxConfig, client_env
from tests.conftest import ThreadedSandbox
from tests.helpers import LABELS, campaign, read_results, write_book

Start = Callable[..., ThreadedSandbox]

NOW = dt.datetime(2026, 11, 28, 6, 0, 3, tzinfo=dt.UTC).timestamp()
STAMP = "2026-11-28T06-00-03Z"
FAST = RunOptions(
    concurrency=4,
    retry=RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_cap_s=0.05),
    reconcile_delay_s=0.0,
    request_timeout_s=30.0,
)
KEEP = {".batch.lock", ".work", "done", "failed", "results"}  # what the batch itself keeps in an inbox


def sandbox_config(**kw: Any) -> SandboxConfig:
    """A sandbox that knows the contact list the test campaigns name, with a rate limit never reached."""
    return SandboxConfig(contact_lists=frozenset({"Renewals East"}), rate_limit=100_000, window_s=0.2, **kw)


def jobs(tmp_path: Path, box: ThreadedSandbox) -> Callable[[Path, Path], Job]:
    def make(path: Path, results: Path) -> Job:
        return Job(
            input_path=path,
            settings=box.settings,
            options=FAST,
            out_path=results,
            state_path=tmp_path / "ledger.sqlite3",
            rate_limit=100_000,
            rate_window_s=0.2,
        )

    return make


def aged(age_s: float, *paths: Path, now: float = NOW) -> None:
    for path in paths:
        os.utime(path, (now - age_s, now - age_s))


def drop_book(
    inbox: Path, name: str, campaigns: list[str], age_s: float = 60, now: float = NOW, **changes: Any
) -> Path:
    path = write_book(inbox / name, [campaign(name=n, **changes) for n in campaigns])
    aged(age_s, path, now=now)
    return path


def drop_csv_folder(inbox: Path, name: str, campaigns: list[str], age_s: float = 60, now: float = NOW) -> Path:
    folder = inbox / name
    folder.mkdir()
    rows = [campaign(name=n) for n in campaigns]
    with (folder / "campaigns.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([LABELS[key] for key in rows[0]])
        writer.writerows(list(row.values()) for row in rows)
    with (folder / "calling_hours.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([LABELS[key] for key in ("campaign", "day", "start", "end")])
        writer.writerows([n, "MO-FR", "9:00 AM", "5:00 PM"] for n in campaigns)
    aged(age_s, folder, *folder.iterdir(), now=now)
    return folder


def names_in(book: Path) -> list[str]:
    """The campaign names an input workbook holds."""
    rows = list(openpyxl.load_workbook(book, read_only=True)["Campaigns"].iter_rows(values_only=True))
    return [str(row[0]) for row in rows[1:]]


def statuses(results: Path) -> dict[str, str]:
    return {str(r["name"]): str(r["status"]) for r in read_results(results)}


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def stored(box: ThreadedSandbox) -> list[str]:
    """Folded names of the campaigns the sandbox holds, in creation order; asserts none is there twice."""
    assert box.server is not None
    assert box.server.sandbox.duplicates() == {}
    return [c.lname for c in box.server.sandbox.campaigns]


def test_inputs_run_oldest_first_and_are_filed_without_overwriting_earlier_ones(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop_book(inbox, "a.xlsx", ["A1"], age_s=100)
    drop_book(inbox, "b.xlsx", ["B1", "B2"], age_s=300)
    drop_csv_folder(inbox, "march", ["M1"], age_s=200)

    first = run_batch(inbox, make_job=jobs(tmp_path, box), clock=lambda: NOW)

    assert [p.name for p in first.processed] == ["b.xlsx", "march", "a.xlsx"]
    assert first.exit_code == ExitCode.OK and first.left == ()
    assert {p.disposition for p in first.processed} == {Disposition.DONE}
    assert listing(inbox) == KEEP
    assert listing(inbox / "done") == {f"b.{STAMP}.xlsx", f"march.{STAMP}", f"a.{STAMP}.xlsx"}
    assert listing(inbox / "done" / f"march.{STAMP}") == {"campaigns.csv", "calling_hours.csv"}
    assert listing(inbox / "results") == {"b.results.xlsx", "march.results.xlsx", "a.results.xlsx"}
    assert statuses(inbox / "results" / "b.results.xlsx") == {"B1": "created", "B2": "created"}
    created = stored(box)
    assert sorted(created[:2]) == ["b1", "b2"] and created[2:] == ["m1", "a1"]

    drop_book(inbox, "a.xlsx", ["A2"])  # a second input of the same name
    written = (inbox / "results" / "a.results.xlsx").stat().st_mtime
    kept = f"a.{dt.datetime.fromtimestamp(written, dt.UTC).strftime('%Y-%m-%dT%H-%M-%SZ')}.results.xlsx"
    second = run_batch(inbox, make_job=jobs(tmp_path, box), clock=lambda: NOW)

    (again,) = second.processed
    assert again.input_path == inbox / "done" / f"a.{STAMP}-2.xlsx"
    assert names_in(inbox / "done" / f"a.{STAMP}.xlsx") == ["A1"]
    assert names_in(again.input_path) == ["A2"]
    # The latest results at the plain name; the earlier ones kept under the time they were written.
    assert again.results_path == inbox / "results" / "a.results.xlsx"
    assert statuses(again.results_path) == {"A2": "created"}
    assert statuses(inbox / "results" / kept) == {"A1": "created"}
    assert listing(inbox / "results") == {"b.results.xlsx", "march.results.xlsx", "a.results.xlsx", kept}
    assert stored(box)[-1] == "a2"


def test_invalid_unreadable_and_failing_inputs_go_to_failed_with_their_results(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox, outbox = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    write_book(inbox / "invalid.xlsx", [campaign(name="Good"), campaign(name="Bad", priority=9)])
    aged(300, inbox / "invalid.xlsx")
    drop_book(inbox, "unknown-list.xlsx", ["Lost"], age_s=200, contact_lists="Nope")
    (inbox / "text.XLSX").write_text("name,priority\nA,3\n", encoding="utf-8")
    aged(100, inbox / "text.XLSX")

    result = run_batch(inbox, make_job=jobs(tmp_path, box), outbox=outbox, clock=lambda: NOW)

    codes = {p.name: p.exit_code for p in result.processed}
    assert codes == {
        "invalid.xlsx": ExitCode.INVALID,
        "unknown-list.xlsx": ExitCode.FAILED,
        "text.XLSX": ExitCode.INVALID,
    }
    assert result.exit_code == ExitCode.FAILED  # 1 is more severe than 2
    assert {p.disposition for p in result.processed} == {Disposition.FAILED}
    assert listing(inbox) == KEEP - {"results"} and listing(inbox / "done") == set()
    assert listing(inbox / "failed") == {f"invalid.{STAMP}.xlsx", f"unknown-list.{STAMP}.xlsx", f"text.{STAMP}.XLSX"}
    assert listing(outbox) == {"invalid.results.xlsx", "unknown-list.results.xlsx", "text.error.txt"}
    assert statuses(outbox / "invalid.results.xlsx") == {"Good": "skipped", "Bad": "invalid"}
    assert statuses(outbox / "unknown-list.results.xlsx") == {"Lost": "failed"}
    note = (outbox / "text.error.txt").read_text(encoding="utf-8")
    assert note.count("\n") == 1 and note.startswith("text.XLSX cannot be read") and "not an Excel workbook" in note
    assert stored(box) == []


def test_the_batch_line_says_what_exit_2_meant_for_its_inputs_after_skip_invalid(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_book(inbox / "mixed.xlsx", [campaign(name="Good"), campaign(name="Bad", priority=9)])
    aged(300, inbox / "mixed.xlsx")
    skipping = jobs(tmp_path, box)

    def make(path: Path, results: Path) -> Job:
        return dataclasses.replace(skipping(path, results), options=dataclasses.replace(FAST, skip_invalid=True))

    def batch_line() -> tuple[BatchResult, str]:
        stream = io.StringIO()
        configure_logging(log_format="json", stream=stream)
        result = run_batch(inbox, make_job=make, clock=lambda: NOW)
        return result, json.loads(stream.getvalue().splitlines()[-1])["message"]

    result, line = batch_line()
    sent = "some rows are invalid; the valid rows were sent (--skip-invalid)"
    assert result.exit_code == ExitCode.INVALID and stored(box) == ["good"]
    assert line.endswith(f"1 run: 0 done, 1 failed, 0 back in the inbox (exit 2: {sent})")
    assert ExitCode.INVALID.meaning not in line

    write_book(inbox / "again.xlsx", [campaign(name="Good 2"), campaign(name="Bad 2", priority=9)])
    (inbox / "text.xlsx").write_text("name,priority\nA,3\n", encoding="utf-8")
    aged(300, inbox / "again.xlsx", inbox / "text.xlsx")
    result, line = batch_line()
    assert result.exit_code == ExitCode.INVALID and stored(box) == ["good", "good 2"]
    assert line.endswith(f"(exit 2: 1 input: {sent} / 1 input: {ExitCode.INVALID.meaning})")


def test_inputs_still_changing_or_open_in_an_editor_are_left_for_a_later_run(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop_book(inbox, "ready.xlsx", ["Ready"], age_s=60)
    drop_book(inbox, "fresh.xlsx", ["Fresh"], age_s=1)
    growing = drop_csv_folder(inbox, "growing", ["Growing"], age_s=60)
    aged(2, growing / "calling_hours.csv")  # still being copied in
    drop_book(inbox, "edited.xlsx", ["Edited"], age_s=60)
    (inbox / ".~lock.edited.xlsx#").write_text("someone,host,2026-11-28", encoding="utf-8")
    bystanders = {"~$gone.xlsx": "owner", ".hidden.xlsx": "x", "notes.txt": "x", "upload.xlsx.part": "x", "a.tmp": "x"}
    for name, text in bystanders.items():
        (inbox / name).write_text(text, encoding="utf-8")
        aged(600, inbox / name)

    first = run_batch(inbox, make_job=jobs(tmp_path, box), settle_s=5, clock=lambda: NOW)

    assert [p.name for p in first.processed] == ["ready.xlsx"]
    reasons = {entry.path.name: entry.reason for entry in first.left}
    assert reasons.keys() == {"fresh.xlsx", "growing", "edited.xlsx"}
    assert reasons["fresh.xlsx"].startswith("changed 1 s ago") and reasons["growing"].startswith("changed 2 s ago")
    assert "open in an editor" in reasons["edited.xlsx"]
    assert stored(box) == ["ready"]

    (inbox / ".~lock.edited.xlsx#").unlink()
    second = run_batch(inbox, make_job=jobs(tmp_path, box), settle_s=5, clock=lambda: NOW + 10)

    assert [p.name for p in second.processed] == ["edited.xlsx", "growing", "fresh.xlsx"]
    assert second.exit_code == ExitCode.OK and second.left == ()
    assert listing(inbox) == KEEP | bystanders.keys()
    assert all((inbox / name).read_text(encoding="utf-8") == text for name, text in bystanders.items())
    assert sorted(stored(box)) == ["edited", "fresh", "growing", "ready"]


def test_of_two_claimants_racing_for_one_input_exactly_one_wins(tmp_path: Path) -> None:
    inbox, works = tmp_path / "inbox", (tmp_path / "w1", tmp_path / "w2")
    for folder in (inbox, *works):
        folder.mkdir()
    for i in range(200):
        path = inbox / f"in{i}.xlsx"
        path.write_text(str(i), encoding="utf-8")
        barrier = threading.Barrier(2)
        won: list[Path | None] = [None, None]

        def race(k: int, path: Path = path, barrier: threading.Barrier = barrier, won: list[Path | None] = won) -> None:
            barrier.wait()
            won[k] = claim(path, works[k])

        threads = [threading.Thread(target=race, args=(k,)) for k in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        (winner,) = [w for w in won if w is not None]
        assert winner.read_text(encoding="utf-8") == str(i)
    assert listing(inbox) == set()
    assert len(listing(works[0])) + len(listing(works[1])) == 200


def gated_clock(gate: threading.Event, hold: Callable[[], bool]) -> Callable[[], float]:
    """A sandbox clock that holds the sandbox's event loop (every request) while ``hold()`` and the gate is shut."""

    def clock() -> float:
        if hold():
            assert gate.wait(120), "the test never opened the gate"
        return time.monotonic()

    return clock


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Opened at the end whatever happens, so the sandbox thread can stop."""
    event = threading.Event()
    yield event
    event.set()


def batch_process(inbox: Path, tmp_path: Path, box: ThreadedSandbox) -> subprocess.Popen[str]:
    assert box.server is not None
    url = box.server.url
    state = str(tmp_path / "ledger.sqlite3")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioner",
            "batch",
            str(inbox),
            "--host",
            url,
            "--rate-limit",
            "100000",
            "--state",
            state,
        ],
        env={**os.environ, **client_env(url, box.config)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_batch_processes_on_one_inbox_run_each_input_once(
    tmp_path: Path, threaded_sandbox: Start, gate: threading.Event
) -> None:
    # The sandbox answers nothing until the gate opens: whichever process takes the inbox cannot finish
    # before the other has tried, however slowly either of them starts.
    box = threaded_sandbox(sandbox_config(clock=gated_clock(gate, lambda: True)))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    now = time.time()
    for n, name in enumerate(("a.xlsx", "b.xlsx", "c.xlsx")):
        drop_book(inbox, name, [f"{name[0]}{i}" for i in range(3)], age_s=60 + n, now=now)
    drop_csv_folder(inbox, "d", ["d0", "d1"], age_s=30, now=now)

    processes = [batch_process(inbox, tmp_path, box) for _ in range(2)]
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    (loser,) = [p for p in processes if p.poll() is not None]
    (winner,) = [p for p in processes if p is not loser]
    _, loser_err = loser.communicate()
    assert loser.returncode == ExitCode.BUSY, loser_err
    assert f"another batch run (pid {winner.pid} on {socket.gethostname()}) is working on {inbox}" in loser_err
    assert winner.poll() is None  # still held at the gate: the loser really ran while the winner worked

    gate.set()
    _, winner_err = winner.communicate(timeout=120)
    assert winner.returncode == ExitCode.OK, winner_err
    done = sorted(listing(inbox / "done"))
    assert [name.split(".")[0] for name in done] == ["a", "b", "c", "d"]
    assert listing(inbox) == KEEP
    assert listing(inbox / "results") == {"a.results.xlsx", "b.results.xlsx", "c.results.xlsx", "d.results.xlsx"}
    assert sorted(stored(box)) == ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2", "d0", "d1"]


@pytest.mark.slow
def test_a_terminated_batch_puts_its_input_back_and_the_next_run_finishes_it(
    tmp_path: Path, threaded_sandbox: Start, gate: threading.Event
) -> None:
    sandboxes: list[Sandbox] = []
    # Held at the first create, so the signal surely comes while the run is sending.
    box = threaded_sandbox(
        sandbox_config(clock=gated_clock(gate, lambda: bool(sandboxes and sandboxes[0].requests["create"])))
    )
    assert box.server is not None
    sandboxes.append(box.server.sandbox)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    now = time.time()
    drop_book(inbox, "first.xlsx", [f"First {i}" for i in range(6)], age_s=120, now=now)
    drop_book(inbox, "second.xlsx", ["Second"], age_s=60, now=now)

    process = batch_process(inbox, tmp_path, box)
    deadline = time.monotonic() + 120
    while not box.server.sandbox.requests["create"] and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    gate.set()
    _, err = process.communicate(timeout=120)

    assert process.returncode == ExitCode.TERMINATED, err
    assert listing(inbox) == KEEP | {"first.xlsx", "second.xlsx"}
    assert names_in(inbox / "first.xlsx") == [f"First {i}" for i in range(6)]
    assert listing(inbox / "done") == listing(inbox / "failed") == set()
    assert listing(inbox / "results") == {"first.results.xlsx"}  # what the interrupted run did
    assert "first.xlsx" in err and "back in the inbox" in err
    assert "second.xlsx: left for a later run: not started" in err

    rerun = run_batch(inbox, make_job=jobs(tmp_path, box))

    assert [(p.name, p.exit_code) for p in rerun.processed] == [
        ("first.xlsx", ExitCode.OK),
        ("second.xlsx", ExitCode.OK),
    ]
    assert sorted(stored(box)) == sorted(fold_name(n) for n in [*(f"First {i}" for i in range(6)), "Second"])
    first_results = next(p.results_path for p in rerun.processed if p.name == "first.xlsx")
    assert first_results is not None and first_results.parent == inbox / "results"
    assert set(statuses(first_results).values()) <= {"created", "unchanged"}


def test_a_busy_ledger_puts_the_input_back_and_stops_the_batch(tmp_path: Path, threaded_sandbox: Start) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop_book(inbox, "first.xlsx", ["First"], age_s=120)
    drop_book(inbox, "second.xlsx", ["Second"], age_s=60)

    with Ledger(tmp_path / "ledger.sqlite3"):  # a `provisioner run` using the same ledger
        result = run_batch(inbox, make_job=jobs(tmp_path, box), clock=lambda: NOW)

    (busy,) = result.processed
    assert (busy.name, busy.exit_code, busy.disposition) == ("first.xlsx", ExitCode.BUSY, Disposition.RETRY)
    assert busy.input_path == inbox / "first.xlsx" and busy.results_path is None
    assert [(entry.path.name, entry.reason.split(":")[0]) for entry in result.left] == [("second.xlsx", "not started")]
    assert result.exit_code == ExitCode.BUSY
    assert listing(inbox) == KEEP | {"first.xlsx", "second.xlsx"}
    assert listing(inbox / "results") == set()
    assert box.server is not None and box.server.sandbox.requests_total == 0


def test_a_held_inbox_lock_makes_the_batch_busy_without_touching_anything(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop_book(inbox, "a.xlsx", ["A"])
    descriptor = os.open(inbox / ".batch.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        result = run_batch(inbox, make_job=lambda *_: pytest.fail("nothing may run"), clock=lambda: NOW)
    finally:
        os.close(descriptor)
    assert result == BatchResult(inbox, busy=True)
    assert result.exit_code == ExitCode.BUSY
    assert listing(inbox) == {"a.xlsx", ".batch.lock"}


def test_inputs_a_killed_batch_left_on_this_host_are_run_and_other_hosts_are_left_alone(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    mine = inbox / ".work" / f"4242-dead@{socket.gethostname()}"
    theirs = inbox / ".work" / "4242-beef@elsewhere.example"
    mine.mkdir(parents=True)
    theirs.mkdir()
    drop_book(mine, "crashed.xlsx", ["Crashed"])
    drop_book(theirs, "remote.xlsx", ["Remote"])

    result = run_batch(inbox, make_job=jobs(tmp_path, box), clock=lambda: NOW)

    assert [(p.name, p.exit_code) for p in result.processed] == [("crashed.xlsx", ExitCode.OK)]
    assert listing(inbox / "done") == {f"crashed.{STAMP}.xlsx"}
    assert listing(inbox / ".work") == {theirs.name}
    assert listing(theirs) == {"remote.xlsx"}
    assert stored(box) == ["crashed"]


def test_severity_orders_every_exit_code() -> None:
    assert set(SEVERITY) == set(ExitCode)
    assert most_severe([]) == ExitCode.OK
    assert most_severe([ExitCode.OK, ExitCode.BUSY]) == ExitCode.BUSY
    assert most_severe([ExitCode.BUSY, ExitCode.INVALID, ExitCode.OK]) == ExitCode.INVALID
    assert most_severe([ExitCode.INVALID, ExitCode.FAILED]) == ExitCode.FAILED
    assert most_severe([ExitCode.FAILED, ExitCode.CONFIG]) == ExitCode.CONFIG
    assert most_severe([ExitCode.CONFIG, ExitCode.INTERRUPTED]) == ExitCode.INTERRUPTED
    assert most_severe([ExitCode.INTERRUPTED, ExitCode.TERMINATED]) == ExitCode.TERMINATED


def test_cli_says_an_empty_inbox_has_nothing_to_run_unless_quiet_and_documents_busy(tmp_path: Path) -> None:
    runner = CliRunner()
    loud = runner.invoke(app, ["batch", str(tmp_path)])
    assert loud.exit_code == 0 and f"{tmp_path}: nothing to run" in loud.output
    quiet = runner.invoke(app, ["batch", str(tmp_path), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""
    same = runner.invoke(app, ["batch", str(tmp_path), "--outbox", str(tmp_path)])
    assert same.exit_code == ExitCode.CONFIG and "must not be the inbox" in same.output
    missing = runner.invoke(app, ["batch", str(tmp_path / "nope")])
    assert missing.exit_code == ExitCode.INVALID and "is not a folder" in missing.output
    usage = runner.invoke(app, ["batch", "--help"], terminal_width=200)
    assert "4 another batch run is working on this inbox" in " ".join(usage.output.split())


def test_no_empty_or_partial_results_file_is_visible_while_an_input_runs(
    tmp_path: Path, threaded_sandbox: Start
) -> None:
    box = threaded_sandbox(sandbox_config())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop_book(inbox, "B3.results.xlsx", ["B1"], age_s=100)  # a results workbook fed back
    seen: list[set[str]] = []
    make = jobs(tmp_path, box)

    def spying(path: Path, results: Path) -> Job:
        seen.append(listing(results.parent))  # the moment before the run starts
        return make(path, results)

    result = run_batch(inbox, make_job=spying, clock=lambda: NOW)
    assert seen == [set()]
    (done,) = result.processed
    assert done.results_path == inbox / "results" / "B3.results.xlsx"  # not B3.results.results.xlsx
    assert listing(inbox / "results") == {"B3.results.xlsx"}
    assert statuses(done.results_path) == {"B1": "created"}
