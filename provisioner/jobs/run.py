"""The ``plan`` and ``run`` jobs end to end: input, settings, ledger, the API, the results workbook, the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from provisioner import __version__
from provisioner.api.client import KoreClient, open_session, request_timeout
from provisioner.api.listing import PAGE_SIZE
from provisioner.api.settings import Settings
from provisioner.errors import ApiError, AuthError, ProvisionerError, RunFatal, StateError
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.jobs.check import Checked, check_input
from provisioner.jobs.interrupt import Interrupt
from provisioner.jobs.progress import ProgressDisplay, per_window
from provisioner.logs import PRINTED, register_secret
from provisioner.names import fold_name
from provisioner.provision.compare import Comparison
from provisioner.provision.engine import Plan, Provisioner
from provisioner.provision.ledger import Ledger, default_path
from provisioner.provision.lifecycle import (
    FollowUp,
    Listed,
    Steps,
    Target,
    WaitOptions,
    decide,
    held,
    left_undone,
    with_steps,
)
from provisioner.provision.limiter import RollingWindowLimiter, estimate_duration
from provisioner.provision.outcomes import Report, RowOutcome, RunSummary, Status, count_statuses
from provisioner.provision.payloads import Payload
from provisioner.provision.wiring import RunOptions, Wiring, unless_stopped
from provisioner.report.workbook import console_summary, human_duration, write_report
from provisioner.sandbox import SandboxConfig, client_settings, running_sandbox
from provisioner.words import counted
from provisioner.workbook.load import Limits, input_digest

log = logging.getLogger("provisioner.jobs.run")

SettingsSource = Callable[[], Settings]


@dataclass(frozen=True)
class Job:
    """One ``run`` (or ``plan``) of one input."""

    input_path: Path
    settings: SettingsSource
    options: RunOptions = field(default_factory=RunOptions)
    out_path: Path | None = None  # default: <input stem>.results.xlsx beside the input
    state_path: Path | None = None  # default: $PROVISIONER_STATE or the XDG state directory
    limits: Limits = field(default_factory=Limits)
    rate_limit: int | None = None  # overrides the settings' rate limit
    rate_window_s: float = 60.0
    sandbox: bool = False  # run against an in-process sandbox with generated credentials
    update: bool = False  # send the changes of rows that differ from their campaign (run --update)
    wait: WaitOptions = field(default_factory=WaitOptions)  # run --wait, --wait-timeout

    @property
    def results_path(self) -> Path:
        """Where the results workbook goes."""
        if self.out_path is not None:
            return self.out_path
        return self.input_path.parent / f"{results_stem(self.input_path)}{RESULTS_SUFFIX}"


#: What a results workbook's name ends with: ``NAME.results.xlsx`` for the input ``NAME.xlsx``.
RESULTS_SUFFIX: Final = ".results.xlsx"


def results_stem(input_path: Path) -> str:
    """Return the name the results of ``input_path`` are named after: a results workbook fed back keeps its own."""
    name = input_path.name
    if name.lower().endswith(RESULTS_SUFFIX):
        return name[: -len(RESULTS_SUFFIX)]
    return name if input_path.is_dir() else input_path.stem


@dataclass(frozen=True)
class JobResult:
    """What a job did: the report written, where, and the exit code."""

    report: Report
    results_path: Path | None
    plan: Plan | None = None
    eta_s: float | None = None
    requests: int | None = None  # every request the job makes (a plan: that its run with --update would make)
    steps: dict[int, Steps] = field(default_factory=dict)  # row -> its schedule and start, as decided before sending
    rounds: tuple[int, ...] = ()  # the requests of each round of reading the list while waiting for Ready

    @property
    def exit_code(self) -> ExitCode:
        """Return the exit code of the job."""
        return self.report.summary.exit_code


def run_job(job: Job, *, progress: ProgressDisplay | None = None, dry_run: bool = False) -> JobResult:
    """Run (or, with ``dry_run``, plan) a job; InputError propagates when the input cannot be read at all."""
    started = dt.datetime.now(dt.UTC)
    checked = check_input(job.input_path, job.limits)
    return asyncio.run(_run(job, checked, started, progress, dry_run))


async def _run(
    job: Job, checked: Checked, started: dt.datetime, progress: ProgressDisplay | None, dry_run: bool
) -> JobResult:
    run_id = uuid.uuid4().hex[:12]
    validated = checked.validated
    finish = _Finisher(job, checked, run_id, started, "plan" if dry_run else "run")
    if not validated.valid and not job.options.skip_invalid:
        return finish(
            {},
            ExitCode.INVALID,
            ["the input has problems: nothing was sent (fix them, or use --skip-invalid to send the valid rows)"],
            default_status=Status.SKIPPED,
            default_error="not sent: other rows of the input have problems",
        )
    interrupt = Interrupt(asyncio.Event())
    try:
        with interrupt.installed():
            async with _settings(job, checked) as settings:
                finish.settings = settings
                with _ledger(job, dry_run) as ledger:
                    server = _Server(job, checked, settings, ledger, run_id, interrupt)
                    return await server.run(finish, progress, dry_run)
    except StateError as exc:
        code = exit_code_for(exc)
        return finish({}, code, [str(exc)], default_status=Status.SKIPPED, default_error=f"not sent: {exc}")
    except (RunFatal, ApiError) as exc:
        return finish(
            {},
            ExitCode.CONFIG,
            [_fatal_note(exc)],
            default_status=Status.SKIPPED,
            default_error=f"not sent: {_fatal_note(exc)}",
        )


@dataclass
class _Server:
    """The part of a job that talks to the server: pre-flight, then the creates, both stopped by an interrupt."""

    job: Job
    checked: Checked
    settings: Settings
    ledger: Ledger
    run_id: str
    interrupt: Interrupt

    async def run(self, finish: _Finisher, progress: ProgressDisplay | None, dry_run: bool) -> JobResult:
        """Plan, and unless ``dry_run`` create; write the results however it ends."""
        job, stop = self.job, self.interrupt.stop
        rate = job.rate_limit or self.settings.rate_limit
        limiter = RollingWindowLimiter(rate, window_s=job.rate_window_s)
        timeout = request_timeout(job.options.request_timeout_s)
        session = open_session(self.settings, timeout=timeout, limit=max(job.options.concurrency, 1) * 2)
        async with session:
            client = KoreClient(self.settings, session, limiter=limiter)
            wiring = Wiring(client, self.ledger, self.settings.scope, job.options, hurry=self.interrupt.hurry)
            engine = Provisioner(wiring, self.run_id)
            payloads = self.checked.payloads
            reading = time.monotonic()
            plan = await unless_stopped(engine.plan(payloads, reconcile=not dry_run), stop)
            # The pre-flight's list began no later than this, on the server's clock (known once a reply came).
            listed_since = client.server_now() - dt.timedelta(seconds=time.monotonic() - reading)
            compared = None
            if plan is not None:
                compared = await unless_stopped(engine.compare_existing(plan, payloads, record=not dry_run), stop)
            if plan is None or compared is None:
                note = self.interrupt.note("during the pre-flight, before anything was sent")
                code = self.interrupt.exit_code or ExitCode.INTERRUPTED
                return finish({}, code, [note], default_status=Status.SKIPPED, default_error=f"not sent: {note}")
            outcomes = _planned_outcomes(plan, compared, finish.now)
            steps = self._steps(plan, compared, record=not dry_run)
            for row, step in steps.items():
                if row in outcomes:
                    outcomes[row] = with_steps(outcomes[row], step)
            to_update = [
                (p, plan.existing[p.row].id)
                for p in payloads
                if isinstance(c := compared.get(p.row), Comparison) and c.action == "update"
            ]
            # A plan's reads are made again by the run it stands for; a run has made them already.
            used = limiter.stats.grants if dry_run else limiter.stats.in_window
            writes = len(plan.to_create) + (len(to_update) if dry_run or job.update else 0)
            eta = estimate_duration(writes, rate, job.rate_window_s, used=used)
            if dry_run:
                result = finish(outcomes, _plan_exit(plan, outcomes, self.checked), [], default_status=None)
                requests = limiter.stats.grants + writes + _follow_up_requests(steps.values())
                return replace(result, plan=plan, eta_s=eta, requests=requests, steps=steps)
            counts = count_statuses(list(outcomes.values()))
            log.info(
                "%s: %d to create, %d to update, %d unchanged, %d differ, %d locked, %d cannot be sent; %s",
                job.input_path.name,
                len(plan.to_create),
                len(to_update) if job.update else 0,
                counts[Status.UNCHANGED],
                0 if job.update else counts[Status.DIFFERS],
                counts[Status.LOCKED],
                len(plan.missing_lists),
                pace_text(writes, eta, rate, job.rate_window_s),
                extra={
                    **finish.fields,
                    "to_create": len(plan.to_create),
                    "to_update": len(to_update) if job.update else 0,
                    "exists": len(plan.existing),
                    "cannot_send": len(plan.missing_lists),
                    "eta_s": round(eta, 1),
                },
            )
            sent, fatal = await self._send(engine, plan, to_update if job.update else [], limiter, progress)
            for row, outcome in sent.items():
                # An update's outcome keeps what its comparison and steps found: the results say what it changed.
                outcomes[row] = _sent_over(outcomes[row], outcome) if row in outcomes else outcome
            follow_notes: list[str] = []
            rounds: tuple[int, ...] = ()
            work = _follow_up_work(plan, steps, outcomes, engine, self.checked.payloads)
            if fatal is not None or stop.is_set():
                for target, step, outcome in work:  # the run stopped before any step after the creates
                    if step.acts:
                        outcomes[target.payload.row] = left_undone(outcome, step, waiting=False)
            elif job.wait.wait or any(step.acts for _, step, _ in work):
                follow = FollowUp(wiring, rate=(rate, job.rate_window_s))
                listed = Listed(plan.named, listed_since, plan.paging)
                followed, follow_notes, fatal = await follow.run(work, listed, job.wait, stop)
                outcomes.update(followed)
                rounds = tuple(follow.round_requests)
        for row, note in plan.deleted.items():
            if outcomes[row].status is Status.CREATED:
                outcomes[row] = replace(outcomes[row], note=note)
        code = _exit_code(outcomes, self.checked, locked_fails=job.update)
        notes = follow_notes + (_differ_notes(outcomes) if not job.update else [])
        if fatal is not None:
            notes.append(_fatal_note(fatal))
            code = ExitCode.CONFIG
        if self.interrupt.exit_code is not None:
            notes.append(self.interrupt.note("while creating"))
            code = self.interrupt.exit_code
        stopped_reason = notes[0] if notes else "the run stopped"
        return replace(
            finish(outcomes, code, notes, default_status=Status.SKIPPED, default_error=f"not sent: {stopped_reason}"),
            plan=plan,
            eta_s=eta,
            requests=limiter.stats.grants,
            steps=steps,
            rounds=rounds,
        )

    def _steps(self, plan: Plan, compared: dict[int, Comparison | ApiError], *, record: bool) -> dict[int, Steps]:
        """Decide every sendable row's schedule and start: new campaigns from their row, others with the server.

        With ``record`` (a run), what the server proved and the ledger lacked goes to the ledger: a schedule it
        showed in full, a start whose reply an earlier run lost.
        """
        payloads = {p.row: p for p in self.checked.payloads}
        entries = self.ledger.entries(self.settings.scope, {fold_name(p.name) for p in payloads.values()})
        steps = {p.row: Steps.for_new(p) for p in plan.to_create}
        for row, listed in plan.existing.items():
            payload = payloads[row]
            found = compared.get(row)
            campaign = found.read if isinstance(found, Comparison) and found.read is not None else listed
            entry = entries.get(fold_name(payload.name))
            # A plan stands for `run --update`: it counts the schedules that run would send.
            update = self.job.update or not record
            decided = steps[row] = decide(Target(payload, campaign, created=False), entry, update=update)
            where = (payload.name, campaign.id)
            if record and decided.learned:
                self.ledger.scheduled(self.settings.scope, where, payload.schedule)
            if record and decided.confirm_start and decided.started_at is not None:
                self.ledger.started(self.settings.scope, where, decided.started_at)
        return steps

    async def _send(
        self,
        engine: Provisioner,
        plan: Plan,
        to_update: list[tuple[Payload, str]],
        limiter: RollingWindowLimiter,
        progress: ProgressDisplay | None,
    ) -> tuple[dict[int, RowOutcome], ApiError | None]:
        """Create what is missing, then (unless stopped) update what differs."""
        stop = self.interrupt.stop
        advance = None if progress is None else progress.advance

        async def creates_then_updates() -> tuple[dict[int, RowOutcome], ApiError | None]:
            sent, fatal = await engine.create_all(plan.to_create, stop, advance)
            if fatal is None and not stop.is_set() and to_update:
                updated, fatal = await engine.update_all(to_update, stop, advance)
                sent.update(updated)
            return sent, fatal

        if progress is None:
            return await creates_then_updates()
        progress.start(len(plan.to_create) + len(to_update), limiter)
        ticker = asyncio.create_task(progress.keep_showing())
        try:
            return await creates_then_updates()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            progress.close()


def pace_text(requests: int, eta_s: float, rate: int, window_s: float) -> str:
    """Say how long the rate limit makes ``requests`` take; never "0 s" for work that is there."""
    per = per_window(rate, window_s)
    if not requests:
        return "nothing to send"
    if eta_s <= 0:
        return f"at {per} they go out without waiting for the rate limit"
    return f"at {per} this takes at least {human_duration(eta_s)}"


def _sent_over(planned: RowOutcome, sent: RowOutcome) -> RowOutcome:
    """Return a sent row's outcome with what its plan found: changes, notes, schedule and start known before."""
    return replace(
        sent,
        changes=planned.changes,
        note=sent.note or planned.note,
        schedule=planned.schedule,
        started_at=planned.started_at,
    )


def _follow_up_work(
    plan: Plan,
    steps: dict[int, Steps],
    outcomes: dict[int, RowOutcome],
    engine: Provisioner,
    payloads: list[Payload],
) -> list[tuple[Target, Steps, RowOutcome]]:
    """Return every row whose campaign exists now, with its steps after the create and its outcome so far.

    A start is held back (with a note in ``outcomes``) for a campaign not known to hold its row's settings.
    """
    work = []
    for payload in payloads:
        outcome = outcomes.get(payload.row)
        if outcome is None or not outcome.status.done or outcome.unfinished or payload.row not in steps:
            continue
        created = outcome.status is Status.CREATED
        campaign = engine.latest.get(payload.row) or plan.existing.get(payload.row)
        if campaign is None:
            continue
        step, outcomes[payload.row] = held(steps[payload.row], outcome)
        work.append((Target(payload, campaign, created), step, outcomes[payload.row]))
    return work


def _follow_up_requests(steps: Iterable[Steps]) -> int:
    """Return the fewest requests the steps after the creates take: one read of the list for the campaigns with a
    step, then one request per schedule and two per start (the status check, the start)."""
    acting = [s for s in steps if s.acts]
    if not acting:
        return 0
    return math.ceil(len(acting) / PAGE_SIZE) + 1 + sum((s.schedule != "keep") + 2 * s.start for s in acting)


#: The status of an existing row, by the action its comparison calls for (an update not sent: it differs).
_COMPARED: Final = {"unchanged": Status.UNCHANGED, "update": Status.DIFFERS, "locked": Status.LOCKED}
_LOCKED_NOTE: Final = "Active: the platform allows no edits to a running campaign; stop it to apply the changes"


def _planned_outcomes(
    plan: Plan, compared: dict[int, Comparison | ApiError], now: Callable[[], dt.datetime]
) -> dict[int, RowOutcome]:
    outcomes: dict[int, RowOutcome] = {}
    for row, campaign in plan.existing.items():
        outcome = RowOutcome(row, campaign.name, Status.EXISTS, campaign.id, campaign.status, finished_at=now())
        found = compared[row]
        if isinstance(found, ApiError):
            outcome = replace(outcome, note=f"not compared with the sheet: {found}")
        else:
            note = _LOCKED_NOTE if found.action == "locked" else None
            outcome = replace(outcome, status=_COMPARED[found.action], changes=found.changes, note=note)
        outcomes[row] = outcome
    for row, why in plan.ambiguous.items():
        outcomes[row] = RowOutcome(row, "", Status.FAILED, error=why, finished_at=now())
    for row, names in plan.missing_lists.items():
        listed = ", ".join(f"'{n}'" for n in names)
        outcomes[row] = RowOutcome(
            row,
            "",
            Status.FAILED,
            error=f"contact list(s) {listed} do not exist on the server; create them or fix the names. Not sent.",
            finished_at=now(),
        )
    return outcomes


def _exit_code(outcomes: dict[int, RowOutcome], checked: Checked, *, locked_fails: bool) -> ExitCode:
    """Return a run's exit code: rows that differ are reported, not failed; locked ones fail only under --update."""
    failing = {Status.FAILED, Status.UNKNOWN, Status.SKIPPED} | ({Status.LOCKED} if locked_fails else set())
    if any(o.status in failing or o.unfinished for o in outcomes.values()):
        return ExitCode.FAILED
    if not checked.validated.valid:
        return ExitCode.INVALID
    return ExitCode.OK


def _differ_notes(outcomes: dict[int, RowOutcome]) -> list[str]:
    """Say how many campaigns differ from the sheet and how to apply the changes (a run without --update)."""
    differ = sum(o.status is Status.DIFFERS for o in outcomes.values())
    if not differ:
        return []
    return [f"{counted(differ, 'campaign')} differ from the sheet (see 'changes'); run again with --update to apply"]


def _fatal_note(error: ProvisionerError) -> str:
    if isinstance(error, AuthError):
        return f"authentication failed: {error}"
    if isinstance(error, ApiError):
        return f"the server could not be reached or kept failing: {error}"
    return str(error)


class _Finisher:
    """Turns the outcomes known so far into the full, input-ordered report and writes the results workbook."""

    def __init__(self, job: Job, checked: Checked, run_id: str, started: dt.datetime, command: str) -> None:
        self.job = job
        self.checked = checked
        self.run_id = run_id
        self.started = started
        self.command = command
        self.settings: Settings | None = None

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @property
    def fields(self) -> dict[str, object]:
        """Return the fields every key log line of this job carries, for a log collector."""
        return {"input": self.job.input_path.name, "run_id": self.run_id, "command": self.command}

    def __call__(
        self,
        known: dict[int, RowOutcome],
        code: ExitCode,
        notes: list[str],
        *,
        default_status: Status | None,
        default_error: str | None = None,
    ) -> JobResult:
        validated = self.checked.validated
        names = validated.campaigns["name"]
        outcomes: list[RowOutcome] = []
        for row in validated.campaigns.index.tolist():
            name = str(names[row]) if names[row] is not None else ""
            if row in validated.blocked:
                outcomes.append(RowOutcome(row, name, Status.INVALID, error=validated.blocked[row]))
            elif row in known:
                outcomes.append(replace(known[row], name=name))
            elif default_status is not None:
                outcomes.append(RowOutcome(row, name, default_status, error=default_error))
        settings = self.settings
        summary = RunSummary(
            run_id=self.run_id,
            command=self.command,
            input_name=self.job.input_path.name,
            input_sha256=input_digest(self.job.input_path),
            started=self.started,
            finished=self.now(),
            exit_code=code,
            tool_version=__version__,
            host=settings.host if settings else None,
            account_id=settings.account_id if settings else None,
            stream_id=settings.stream_id if settings else None,
            notes=tuple(notes),
        )
        report = Report(summary, outcomes, validated.problems)
        path = None if self.command == "plan" else write_report(self.job.results_path, report, validated.workbook)
        log.info(
            "finished: %s",
            console_summary(report, path),
            extra={**self.fields, **closing_fields(report), "results": str(path) if path else None, PRINTED: True},
        )
        return JobResult(report, path)


def _plan_exit(plan: Plan, outcomes: dict[int, RowOutcome], checked: Checked) -> ExitCode:
    """Return the code `run --update` would end with if everything went as planned (plan's own exit code)."""
    if not checked.validated.valid:
        return ExitCode.INVALID
    locked = any(o.status is Status.LOCKED for o in outcomes.values())
    return ExitCode.FAILED if plan.missing_lists or plan.ambiguous or locked else ExitCode.OK


def closing_fields(report: Report) -> dict[str, object]:
    """Return the structured fields of a job's closing log line: counts per status, exit code, duration."""
    summary = report.summary
    return {
        "counts": {str(status): n for status, n in count_statuses(report.outcomes).items()},
        "exit_code": int(summary.exit_code),
        "duration_s": round(summary.duration_s, 3),
    }


@contextlib.asynccontextmanager
async def _settings(job: Job, checked: Checked) -> AsyncIterator[Settings]:
    if not job.sandbox:
        settings = job.settings()
        register_secret(settings.client_secret)
        yield settings
        return
    lists = {n for p in checked.payloads for n in p.body["contactLists"]}
    config = SandboxConfig(contact_lists=frozenset(lists), rate_limit=job.rate_limit or 60, window_s=job.rate_window_s)
    register_secret(config.client_secret)
    async with running_sandbox(config) as server:
        log.info("sandbox serving on %s (it knows the contact lists the input names)", server.url)
        yield client_settings(server.url, config)


@contextlib.contextmanager
def _ledger(job: Job, read_only: bool) -> Iterator[Ledger]:
    if job.state_path is None and job.sandbox:
        # A sandbox lives for one run on a random port: keep its bookkeeping out of the real ledger.
        with (
            tempfile.TemporaryDirectory(prefix="provisioner-sandbox-") as folder,
            Ledger(Path(folder) / "ledger.sqlite3") as ledger,
        ):
            yield ledger
        return
    with Ledger(job.state_path or default_path(), lock=not read_only) as ledger:
        yield ledger
