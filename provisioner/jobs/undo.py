"""The ``delete`` job: undo a batch by deleting the campaigns a results workbook says its run created.

Only rows whose status is ``created`` are candidates; every other campaign in the workbook was on the server
before that run and is not ours to delete. The server is read first (the proven-complete scan), so a campaign
already gone is reported deleted, and one whose id now carries another name, or that is Active, is refused.
A delete is resent only when it provably did not arrive; one that may have arrived is confirmed with a GET.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, TypeVar

from provisioner import __version__
from provisioner.api.campaign import Campaign
from provisioner.api.client import KoreClient, open_session
from provisioner.api.settings import Settings
from provisioner.errors import ApiError, ConfigError, RejectedError, RunFatal
from provisioner.exit_codes import ExitCode
from provisioner.logs import register_secret
from provisioner.names import fold_name
from provisioner.provision.engine import RunOptions
from provisioner.provision.ledger import Ledger, default_path
from provisioner.provision.limiter import RollingWindowLimiter
from provisioner.provision.outcomes import Report, RowOutcome, RunSummary, Status
from provisioner.provision.retry import CREATE_RETRYABLE, READ_RETRYABLE, UPDATE_RETRYABLE, call_with_retries
from provisioner.report.workbook import write_report
from provisioner.workbook.load import Limits, input_digest
from provisioner.workbook.load.results import ResultRow, read_result_rows

T = TypeVar("T")

#: What the results of a delete are called: ``NAME.deleted.xlsx`` beside ``NAME.xlsx``.
DELETED_SUFFIX: Final = ".deleted.xlsx"
#: The only status of a results row whose campaign that run made, and so may undo.
OURS: Final = "created"
#: A delete may resend only what provably did not arrive: the same failures as a create.
DELETE_RETRYABLE: Final = CREATE_RETRYABLE
#: Stopping a stopped campaign changes nothing, so a stop is retried like an update.
STOP_RETRYABLE: Final = UPDATE_RETRYABLE

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


def undo_job(job: UndoJob) -> UndoResult:
    """Plan, and with ``job.confirmed`` carry out, the delete of a results workbook's created campaigns."""
    started = dt.datetime.now(dt.UTC)
    rows = read_result_rows(job.results_path, job.limits)
    ours = [r for r in rows if r.status == OURS and r.campaign_id]
    settings = job.settings()
    register_secret(settings.client_secret)
    with Ledger(job.state_path or default_path(), lock=job.confirmed) as ledger:
        outcomes, actions, requests = asyncio.run(_Undo(job, settings, ledger).run(ours))
    failed = any(o.status in (Status.REFUSED, Status.FAILED) for o in outcomes)
    summary = RunSummary(
        run_id=uuid.uuid4().hex[:12],
        command="delete",
        input_name=job.results_path.name,
        input_sha256=input_digest(job.results_path),
        started=started,
        finished=dt.datetime.now(dt.UTC),
        exit_code=ExitCode.FAILED if failed else ExitCode.OK,
        tool_version=__version__,
        host=settings.host,
        account_id=settings.account_id,
        stream_id=settings.stream_id,
        notes=() if job.confirmed else ("plan only: nothing was sent (pass --yes to delete)",),
    )
    report = Report(summary, outcomes, ())
    path = write_report(job.out_path, report, None) if job.confirmed else None
    return UndoResult(report, actions, len(rows) - len(ours), requests, path)


class _Undo:
    """The part of a delete that talks to the server."""

    def __init__(self, job: UndoJob, settings: Settings, ledger: Ledger) -> None:
        self._job = job
        self._settings = settings
        self._ledger = ledger
        self._limiter = RollingWindowLimiter(job.rate_limit or settings.rate_limit, window_s=job.rate_window_s)

    async def run(self, rows: list[ResultRow]) -> tuple[list[RowOutcome], dict[int, Action], int]:
        """Reconcile ``rows`` with the server; unless only planning, send the deletes they call for."""
        async with open_session(self._settings, limit=self._job.options.concurrency * 2) as session:
            client = KoreClient(self._settings, session, limiter=self._limiter)
            try:
                server = await self._server(client)
            except ApiError as exc:
                raise RunFatal(f"the server's campaigns could not be read, so nothing was deleted: {exc}") from exc
            decided = [_decide(row, server.get(row.campaign_id or ""), self._job.stop_active) for row in rows]
            actions = {row.row: action for row, (_, action) in zip(rows, decided, strict=True) if action}
            outcomes = {o.row: o for o, _ in decided}
            if self._job.confirmed and actions:
                pending = asyncio.Queue[ResultRow]()
                for row in rows:
                    if row.row in actions:
                        pending.put_nowait(row)

                async def worker() -> None:
                    while not pending.empty():
                        row = pending.get_nowait()
                        outcomes[row.row] = await self._delete(client, row, actions[row.row])

                await asyncio.gather(*(worker() for _ in range(self._job.options.concurrency)))
        return [outcomes[r.row] for r in rows], actions, self._limiter.stats.grants

    async def _server(self, client: KoreClient) -> dict[str, Campaign]:
        listing = await client.list_all_campaigns(lambda page: self._retried(page, READ_RETRYABLE))
        return {c.id: c for c in listing.campaigns}

    async def _retried(self, attempt: Callable[[], Awaitable[T]], retry_on: tuple[type[ApiError], ...]) -> T:
        return await call_with_retries(attempt, retry_on=retry_on, policy=self._job.options.retry)

    async def _delete(self, client: KoreClient, row: ResultRow, action: Action) -> RowOutcome:
        """Stop (if asked) and delete one campaign; confirm with a GET a delete that may or may not have happened."""
        campaign_id = row.campaign_id or ""
        done = RowOutcome(row.row, row.name, Status.DELETED, campaign_id, finished_at=dt.datetime.now(dt.UTC))
        try:
            if action == "stop and delete":
                await self._retried(lambda: client.stop_campaign(campaign_id), STOP_RETRYABLE)
            await self._retried(lambda: client.delete_campaign(campaign_id), DELETE_RETRYABLE)
        except RejectedError as exc:
            if exc.status == 404:
                return replace(done, note="it was already gone")
            return replace(done, status=Status.FAILED, error=f"not deleted: {exc}")
        except RunFatal:
            raise
        except ApiError as exc:
            if not await self._gone(client, campaign_id):
                return replace(done, status=Status.FAILED, error=f"not deleted ({exc}); it is still there: rerun")
            done = replace(done, note="confirmed deleted by a look-up after the reply was lost")
        self._forget(row)
        return done

    async def _gone(self, client: KoreClient, campaign_id: str) -> bool:
        """Tell whether a campaign is absent from the server (a 404 on GET)."""
        try:
            await self._retried(lambda: client.get_campaign(campaign_id), READ_RETRYABLE)
        except RejectedError as exc:
            if exc.status == 404:
                return True
            raise
        return False

    def _forget(self, row: ResultRow) -> None:
        """Drop the ledger's record of a deleted campaign, so a later run makes it afresh without a note."""
        scope = self._settings.scope
        lname = fold_name(row.name)
        entry = self._ledger.entries(scope, [lname]).get(lname)
        if entry is not None and entry.campaign_id == row.campaign_id:
            self._ledger.forget(scope, lname)


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
