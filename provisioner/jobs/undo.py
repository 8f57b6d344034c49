"""The ``delete`` job: undo a batch by deleting the campaigns a results workbook says its run created.

Only rows whose status is ``created`` are candidates; every other campaign in the workbook was on the server
before that run and is not ours to delete. The server is read first (the proven-complete scan), so a campaign
already gone is reported deleted, and one whose id now carries another name, or that is Active, is refused.
A delete is resent only when it provably did not arrive; one that may have arrived is confirmed with a GET.
An interrupt, or a failure after which nothing can be sent (credentials, TLS), stops the deletes the same way:
nothing more is sent, those at the server settle, and the results workbook says what was done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, TypeVar

from provisioner import __version__
from provisioner.api.campaign import Campaign
from provisioner.api.client import KoreClient, open_session, request_timeout
from provisioner.api.settings import Settings
from provisioner.errors import ApiError, AuthError, ConfigError, RejectedError, RunFatal, TLSError
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.jobs.interrupt import Interrupt
from provisioner.jobs.run import closing_fields
from provisioner.logs import PRINTED, register_secret
from provisioner.names import fold_name
from provisioner.provision.ledger import Ledger, default_path
from provisioner.provision.limiter import RollingWindowLimiter, on_grant
from provisioner.provision.outcomes import Report, RowOutcome, RunSummary, Status
from provisioner.provision.retry import CREATE_RETRYABLE, READ_RETRYABLE, UPDATE_RETRYABLE, call_with_retries
from provisioner.provision.wiring import RunOptions, settle, unless_stopped
from provisioner.report.workbook import console_summary, write_report
from provisioner.workbook.load import Limits, input_digest
from provisioner.workbook.load.results import ResultRow, read_result_rows

log = logging.getLogger("provisioner.jobs.undo")

T = TypeVar("T")

#: What the results of a delete are called: ``NAME.deleted.xlsx`` beside ``NAME.xlsx``.
DELETED_SUFFIX: Final = ".deleted.xlsx"
#: The only status of a results row whose campaign that run made, and so may undo.
OURS: Final = "created"
#: A delete may resend only what provably did not arrive: the same failures as a create.
DELETE_RETRYABLE: Final = CREATE_RETRYABLE
#: Stopping a stopped campaign changes nothing, so a stop is retried like an update.
STOP_RETRYABLE: Final = UPDATE_RETRYABLE
#: Failures that prove the server did not act on a request: a delete that failed so was not made.
UNREAD: Final[tuple[type[ApiError], ...]] = (*DELETE_RETRYABLE, AuthError, TLSError)

#: What to do after a delete that stopped midway.
DELETE_AGAIN: Final = "run delete again to finish"
NOTHING_SENT: Final = f"nothing was sent; {DELETE_AGAIN}"
NOT_YET: Final = f"the campaigns not yet deleted are 'skipped'; {DELETE_AGAIN}"
#: Said of a campaign whose delete may or may not have happened.
MAYBE_DELETED: Final = f"it may or may not be deleted (the look-up that would tell failed); {DELETE_AGAIN}"

#: What an interrupted delete did, and what to do next.
AFTER_INTERRUPT: Final = (
    "nothing more was sent, the deletes in flight settled; with --yes, RESULTS.deleted.xlsx says which are gone"
)
#: What each exit code means when a delete ends with it (None: the code's general meaning).
EXIT_MEANINGS: Final[Mapping[ExitCode, str | None]] = {
    ExitCode.OK: "every campaign the run created is deleted, or would be (without --yes)",
    ExitCode.FAILED: "some were refused (Active without --stop-active, or their id now carries another name), "
    "failed at the API, or may or may not be deleted (unknown)",
    ExitCode.INVALID: "RESULTS is not a readable results workbook",
    ExitCode.CONFIG: None,
    ExitCode.BUSY: "a run is using the ledger",
    **{code: f"{code.meaning}: {AFTER_INTERRUPT}" for code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)},
}

Action = Literal["delete", "stop and delete"]


@dataclass(frozen=True)
class UndoJob:
    """One ``delete`` of one results workbook."""

    results_path: Path
    settings: Callable[[], Settings]
    confirmed: bool = False  # --yes: send the deletes; otherwise only plan them
    stop_active: bool = False  # --stop-active: stop Active campaigns, then delete them
    options: RunOptions = field(default_factory=RunOptions)
    state_path: Path | None = None
    limits: Limits = field(default_factory=Limits)
    rate_limit: int | None = None
    rate_window_s: float = 60.0

    @property
    def out_path(self) -> Path:
        """Where the delete's own results workbook goes."""
        return self.results_path.with_suffix(DELETED_SUFFIX)


@dataclass(frozen=True)
class UndoResult:
    """What a delete found, planned and did."""

    report: Report
    actions: dict[int, Action]  # row -> what was (or, without --yes, would be) sent for it
    left_alone: int  # rows of the workbook not created by its run
    requests: int
    results_path: Path | None

    @property
    def exit_code(self) -> ExitCode:
        """Return the exit code the delete ends with."""
        return self.report.summary.exit_code

    @property
    def meaning(self) -> str:
        """Say what the delete's exit code means for a delete."""
        return exit_meaning(self.exit_code)


def exit_meaning(code: ExitCode) -> str:
    """Say what ``code`` means when a delete ends with it."""
    return EXIT_MEANINGS.get(code) or code.meaning


def undo_job(job: UndoJob) -> UndoResult:
    """Plan, and with ``job.confirmed`` carry out, the delete of a results workbook's created campaigns.

    SIGINT and SIGTERM stop it: nothing more is sent, deletes in flight settle (or, cut short, are looked up),
    and the results workbook records what was done; the exit code is then 130 or 143. A failure after which
    nothing can be sent (credentials refused, certificate changed) stops it the same way, with exit code 3.
    """
    return asyncio.run(_undo_job(job))


async def _undo_job(job: UndoJob) -> UndoResult:
    started = dt.datetime.now(dt.UTC)
    interrupt = Interrupt()
    with interrupt.installed():
        rows = read_result_rows(job.results_path, job.limits)
        ours = [r for r in rows if r.status == OURS and r.campaign_id]
        settings = job.settings()
        register_secret(settings.client_secret)
        halt = _Halt(interrupt)
        with Ledger(job.state_path or default_path(), lock=job.confirmed) as ledger:
            undo = _Undo(job, settings, ledger, halt)
            outcomes = await undo.run(ours)
        # Skipped rows are those a plan would delete, or (stopped) did not: neither is a failure of its own.
        failing = {Status.REFUSED, Status.FAILED, Status.UNKNOWN}
        failed = any(o.status in failing for o in outcomes)
        code = halt.exit_code or (ExitCode.FAILED if failed else ExitCode.OK)
        summary = RunSummary(
            run_id=uuid.uuid4().hex[:12],
            command="delete",
            input_name=job.results_path.name,
            input_sha256=input_digest(job.results_path),
            started=started,
            finished=dt.datetime.now(dt.UTC),
            exit_code=code,
            tool_version=__version__,
            host=settings.host,
            account_id=settings.account_id,
            stream_id=settings.stream_id,
            notes=tuple(undo.notes),
        )
        report = Report(summary, outcomes, ())
        meaning = exit_meaning(code)
        path = write_report(job.out_path, report, None, meaning=meaning) if job.confirmed else None
        log.info(
            "finished: %s",
            console_summary(report, path, meaning=meaning),
            extra={
                "input": summary.input_name,
                "run_id": summary.run_id,
                "command": summary.command,
                **closing_fields(report),
                "results": str(path) if path else None,
                PRINTED: True,
            },
        )
    return UndoResult(report, undo.actions, len(rows) - len(ours), undo.requests, path)


def _nothing_to_send(outcomes: dict[int, RowOutcome]) -> str:
    """Say why a delete sent nothing: the run created no campaign, or each is gone already or refused."""
    if not outcomes:
        return "nothing to do: that run created no campaign; nothing was sent"
    if all(o.status is Status.DELETED for o in outcomes.values()):
        return "nothing to do: every campaign that run created is already gone; nothing was sent"
    return "nothing was sent: the campaigns that run created are already gone or refused (each row says why)"


@dataclass
class _Sending:
    """What has gone out for one campaign, so a stop that catches it midway can tell what may have happened."""

    in_flight: bool = False  # a stop or delete of it is at the server, unanswered
    stopped: bool = False  # its stop was answered: it is no longer Active
    delete_sent: bool = False  # a delete of it may have reached the server


class _Stopping(Exception):
    """Raised instead of sending a stop or delete once the job is stopping."""


class _Halt:
    """What stops the deletes, a signal or a failure after which nothing can be sent, and how every text names it.

    The first of the two is the reason, for the texts and the exit code alike.
    """

    def __init__(self, interrupt: Interrupt) -> None:
        self.interrupt = interrupt
        self.stop = interrupt.stop  # set by either
        self._fatal: tuple[int, RunFatal] | None = None  # the row whose failure stopped the deletes, and why

    def fail(self, row: int, error: RunFatal) -> None:
        """Stop sending because ``row`` failed with ``error``: the reason, unless a signal stopped the job first."""
        if not self.stop.is_set():
            self._fatal = (row, error)
        self.stop.set()

    @property
    def exit_code(self) -> ExitCode | None:
        """Return the exit code the stop calls for (3 for a failure, 130 or 143 for a signal); None: not stopped."""
        if self._fatal is not None:
            return exit_code_for(self._fatal[1])
        return self.interrupt.exit_code

    def note(self, when: str, then: str) -> str:
        """Say what stopped the deletes, ``when`` naming the stage it came in and ``then`` what was left and how."""
        if self._fatal is None:
            return self.interrupt.note(when, then)
        row, error = self._fatal
        return f"stopped when row {row} failed ({error}) {when}: {then}"


class _Undo:
    """The part of a delete that talks to the server."""

    def __init__(self, job: UndoJob, settings: Settings, ledger: Ledger, halt: _Halt) -> None:
        self._job = job
        self._settings = settings
        self._ledger = ledger
        self._halt = halt
        self._limiter = RollingWindowLimiter(job.rate_limit or settings.rate_limit, window_s=job.rate_window_s)
        self.actions: dict[int, Action] = {}  # row -> what to send for it (set once the server is read)
        self.notes: list[str] = []

    @property
    def requests(self) -> int:
        """Return the requests sent so far."""
        return self._limiter.stats.grants

    async def run(self, rows: list[ResultRow]) -> list[RowOutcome]:
        """Reconcile ``rows`` with the server; unless only planning, send the deletes they call for."""
        if not self._job.confirmed:
            self.notes.append("plan only: nothing was sent (pass --yes to delete)")
        options = self._job.options
        timeout = request_timeout(options.request_timeout_s)
        async with open_session(self._settings, timeout=timeout, limit=options.concurrency * 2) as session:
            client = KoreClient(self._settings, session, limiter=self._limiter)
            try:
                server = await unless_stopped(self._server(client), self._halt.stop)
            except ApiError as exc:
                raise RunFatal(f"the server's campaigns could not be read, so nothing was deleted: {exc}") from exc
            if server is None:
                self.notes.append(self._halt.note("while reading the server's campaigns", NOTHING_SENT))
                why = f"not deleted: {self._halt.note('before it was looked up', DELETE_AGAIN)}"
                return [_outcome(row, Status.SKIPPED, error=why) for row in rows]
            decided = [_decide(row, server.get(row.campaign_id or ""), self._job.stop_active) for row in rows]
            self.actions = {row.row: action for row, (_, action) in zip(rows, decided, strict=True) if action}
            outcomes = {o.row: o for o, _ in decided}
            if self._job.confirmed and self.actions:
                outcomes.update(await self._delete_all(client, [r for r in rows if r.row in self.actions]))
                if self._halt.exit_code is not None:
                    self.notes.append(self._halt.note("while deleting", NOT_YET))
            elif self._job.confirmed:
                self.notes.append(_nothing_to_send(outcomes))
        return [outcomes[r.row] for r in rows]

    async def _server(self, client: KoreClient) -> dict[str, Campaign]:
        listing = await client.list_all_campaigns(lambda page: self._retried(page, READ_RETRYABLE))
        return {c.id: c for c in listing.campaigns}

    async def _retried(self, attempt: Callable[[], Awaitable[T]], retry_on: tuple[type[ApiError], ...]) -> T:
        return await call_with_retries(attempt, retry_on=retry_on, policy=self._job.options.retry)

    async def _delete_all(self, client: KoreClient, rows: list[ResultRow]) -> dict[int, RowOutcome]:
        """Delete ``rows`` with ``concurrency`` workers until done or stopped; a stop lets those in flight settle.

        A signal stops them, and so does a row's failure after which nothing can be sent (that row is
        ``skipped``). On a stop, workers with nothing at the server are cancelled at once; those with a stop or
        delete at the server get up to ``drain_timeout_s`` (until a second signal) to hear its answer, and send
        nothing after it. A row cut short whose delete may have arrived is looked up; rows never sent are
        ``skipped``, their reason naming the stop's.
        """
        queue = deque(rows)
        outcomes: dict[int, RowOutcome] = {}
        doing: dict[asyncio.Task[None] | None, tuple[ResultRow, _Sending]] = {}
        stop = self._halt.stop

        async def worker() -> None:
            task = asyncio.current_task()
            while queue and not stop.is_set():
                row = queue.popleft()
                doing[task] = (row, sending := _Sending())
                outcomes[row.row] = await self._delete(client, row, self.actions[row.row], sending)
                del doing[task]

        workers = [asyncio.create_task(worker()) for _ in range(max(1, self._job.options.concurrency))]
        await unless_stopped(asyncio.wait(workers), stop)
        await self._drain(workers, doing)  # with every worker done, there is nothing left to wait for
        for task in workers:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error  # not a row's failure at the API (the ledger's, say): the delete cannot go on
        for row, sending in doing.values():
            outcomes[row.row] = await self._cut_short(client, row, sending)
        for row in queue:
            outcomes[row.row] = _outcome(row, Status.SKIPPED, error=self._not_sent(_Sending()))
        return outcomes

    async def _drain(
        self, workers: list[asyncio.Task[None]], doing: dict[asyncio.Task[None] | None, tuple[ResultRow, _Sending]]
    ) -> None:
        """Cancel the workers with nothing at the server; give the others a bounded time to hear their answer."""
        in_flight = {task for task in workers if task in doing and doing[task][1].in_flight}
        for task in set(workers) - in_flight:
            task.cancel()
        if in_flight:
            hurry = self._halt.interrupt.hurry
            await settle(in_flight, self._job.options.drain_timeout_s, hurry, f"{len(in_flight)} request(s)")
        await asyncio.gather(*workers, return_exceptions=True)

    async def _write(self, call: Callable[[], Awaitable[T]], sending: _Sending, *, delete: bool) -> T:
        """Send one stop or delete, unless the job is stopping; note while it is at the server."""
        if self._halt.stop.is_set():
            raise _Stopping

        sent_before = sending.delete_sent

        def granted() -> None:
            sending.in_flight = True
            sending.delete_sent = sending.delete_sent or delete

        with on_grant(granted):
            try:
                return await call()
            except UNREAD:
                sending.delete_sent = sent_before  # the server did not act on it
                raise
            finally:
                sending.in_flight = False

    async def _delete(self, client: KoreClient, row: ResultRow, action: Action, sending: _Sending) -> RowOutcome:
        """Stop (if asked) and delete one campaign; confirm with a GET a delete that may or may not have happened."""
        campaign_id = row.campaign_id or ""
        done = _outcome(row, Status.DELETED)
        try:
            if action == "stop and delete":
                await self._retried(
                    lambda: self._write(lambda: client.stop_campaign(campaign_id), sending, delete=False),
                    STOP_RETRYABLE,
                )
                sending.stopped = True
            await self._retried(
                lambda: self._write(lambda: client.delete_campaign(campaign_id), sending, delete=True),
                DELETE_RETRYABLE,
            )
        except _Stopping:
            return await self._cut_short(client, row, sending)
        except RejectedError as exc:
            if exc.status == 404:
                return replace(done, note="it was already gone")
            return replace(done, status=Status.FAILED, error=f"not deleted: {exc}")
        except RunFatal as exc:  # credentials or TLS: this request was not acted on, and no other can be sent
            self._halt.fail(row.row, exc)
            return replace(done, status=Status.SKIPPED, error=_not_deleted(sending, str(exc)))
        except ApiError as exc:
            gone = await self._gone(client, campaign_id, retry=True)
            if gone is None:
                return replace(done, status=Status.UNKNOWN, error=f"{exc}: {MAYBE_DELETED}")
            if not gone:
                return replace(done, status=Status.FAILED, error=f"not deleted ({exc}); it is still there: rerun")
            done = replace(done, note="confirmed deleted by a look-up after the reply was lost")
        self._forget(row)
        return done

    async def _cut_short(self, client: KoreClient, row: ResultRow, sending: _Sending) -> RowOutcome:
        """Return the outcome of a campaign the stop caught midway: looked up if its delete may have arrived."""
        if not sending.delete_sent:
            return _outcome(row, Status.SKIPPED, error=self._not_sent(sending))
        gone = await self._gone(client, row.campaign_id or "", retry=False)
        cut_short = "while its delete was at the server, cutting it short"
        if gone is None:
            return _outcome(row, Status.UNKNOWN, error=self._halt.note(cut_short, MAYBE_DELETED))
        if gone:
            self._forget(row)
            return _outcome(row, Status.DELETED, note=self._halt.note(cut_short, "a look-up found it gone"))
        why = _not_deleted(sending, self._halt.note(cut_short, f"a look-up found it still there; {DELETE_AGAIN}"))
        return _outcome(row, Status.SKIPPED, error=why)

    def _not_sent(self, sending: _Sending) -> str:
        """Say why a campaign was not deleted when the job stopped before its delete went out."""
        return _not_deleted(sending, self._halt.note("before its delete was sent", DELETE_AGAIN))

    async def _gone(self, client: KoreClient, campaign_id: str, *, retry: bool) -> bool | None:
        """Tell whether a campaign is absent from the server (a 404 on GET); None when the look-up failed."""

        def look() -> Awaitable[Campaign]:
            return client.get_campaign(campaign_id)

        try:
            await (self._retried(look, READ_RETRYABLE) if retry else look())
        except RejectedError as exc:
            return True if exc.status == 404 else None
        except ApiError as exc:
            log.warning("%s: the look-up that would tell whether it is deleted failed: %s", campaign_id, exc)
            return None
        return False

    def _forget(self, row: ResultRow) -> None:
        """Drop the ledger's record of a deleted campaign, so a later run makes it afresh without a note."""
        scope = self._settings.scope
        lname = fold_name(row.name)
        entry = self._ledger.entries(scope, [lname]).get(lname)
        if entry is not None and entry.campaign_id == row.campaign_id:
            self._ledger.forget(scope, lname)


def _not_deleted(sending: _Sending, why: str) -> str:
    """Say that a campaign was not deleted, and why; whether it was stopped all the same."""
    stopped = " (it was stopped, so it no longer dials)" if sending.stopped else ""
    return f"not deleted{stopped}: {why}"


def _outcome(row: ResultRow, status: Status, *, error: str | None = None, note: str | None = None) -> RowOutcome:
    """Return a row's outcome as the delete ends it, stamped now."""
    return RowOutcome(
        row.row, row.name, status, row.campaign_id, error=error, note=note, finished_at=dt.datetime.now(dt.UTC)
    )


def _decide(row: ResultRow, campaign: Campaign | None, stop_active: bool) -> tuple[RowOutcome, Action | None]:
    """Return a row's outcome as the server shows it, and what to send for it (None: nothing)."""
    outcome = RowOutcome(row.row, row.name, Status.DELETED, row.campaign_id, campaign_status="Deleted")
    if campaign is None:
        return replace(outcome, note="already gone; nothing to do"), None
    outcome = replace(outcome, campaign_status=campaign.status)
    if fold_name(campaign.name) != fold_name(row.name):
        why = f"refused: {row.campaign_id} is now named {campaign.name!r}, not {row.name!r}; not ours to delete"
        return replace(outcome, status=Status.REFUSED, error=why), None
    if campaign.status == "Active":
        if not stop_active:
            return replace(outcome, status=Status.REFUSED, error="refused: Active (--stop-active stops it)"), None
        return replace(outcome, status=Status.SKIPPED, note="would be stopped, then deleted"), "stop and delete"
    return replace(outcome, status=Status.SKIPPED, note="would be deleted"), "delete"


def refuse_sandbox() -> ConfigError:
    """Return the error for ``delete --sandbox``: its sandbox would be new and empty, with nothing to delete."""
    return ConfigError(
        "delete --sandbox has nothing to delete: that sandbox lives for one run. Start `provisioner sandbox` and "
        "point --host at it instead."
    )
