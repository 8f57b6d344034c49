"""Create the campaigns: pre-flight against the server, then concurrent, rate-limited, exactly-once creates.

Exactly once, because the create call has no idempotency key:
- before a create is sent, the ledger records the intent; after, the outcome;
- a campaign the server already has (by lower-cased name) or the ledger knows as created is never sent;
- an ambiguous failure (timeout or disconnect after sending, 5xx) is followed by a look-up by name,
  newest first, and the create is resent only when the campaign is not there;
- an entry a crashed run left in flight is reconciled against the server's list before anything is sent.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

from provisioner.api.campaign import Campaign
from provisioner.api.listing import EPOCH, Listing, Paging
from provisioner.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    ListingError,
    NotSentError,
    RateLimitedError,
    RejectedError,
    TLSError,
    TransientError,
)
from provisioner.names import fold_name
from provisioner.provision.compare import Comparison, compare, differences, unchanged_since_written
from provisioner.provision.ledger import Entry, EntryState
from provisioner.provision.limiter import on_grant
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.provision.payloads import Payload
from provisioner.provision.retry import (
    CREATE_RETRYABLE,
    UPDATE_RETRYABLE,
)
from provisioner.provision.wiring import ServerWork, Wiring

log = logging.getLogger("provisioner.provision.engine")

Progress = Callable[[RowOutcome], None]


@dataclass(frozen=True)
class Plan:
    """What a run would do: the server's view of every sendable campaign."""

    to_create: list[Payload]
    existing: dict[int, Campaign]  # row -> the campaign the server (or the ledger) already has
    missing_lists: dict[int, list[str]]  # row -> contact lists the server does not have
    reconciled: int  # ledger entries left in flight by a crashed run, resolved against the server
    deleted: dict[int, str] = field(default_factory=dict)  # row -> why a campaign we created is to be made again
    named: dict[str, str] = field(default_factory=dict)  # id -> folded name of every campaign the server listed
    ambiguous: dict[int, str] = field(default_factory=dict)  # row -> why: several campaigns carry its name
    paging: Paging | None = None  # how the server paged the list


@dataclass
class Sending:
    """One row's creates so far: requests sent, and whether one may have reached the server unresolved."""

    sends: int = 0
    reached: bool = False  # set when the limiter grants a create; cleared once that create is proven absent

    def granted(self) -> None:
        """Note that a create of this row was let through the limiter: from now on it may reach the server."""
        self.reached = True


#: Said of a row whose create may have reached the server when the run stopped.
MAYBE_CREATED: Final = "was being created when the run stopped; the next run checks the server and finishes it"


class RunStopped(Exception):
    """Raised inside a worker to stop the whole run (authentication or connectivity failure)."""

    def __init__(self, cause: ApiError, outcome: RowOutcome) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.outcome = outcome


class Provisioner(ServerWork):
    """One run against one account: pre-flight, then the creates."""

    def __init__(self, wiring: Wiring, run_id: str) -> None:
        super().__init__(wiring)
        self._run_id = run_id
        self.latest: dict[int, Campaign] = {}  # row -> its campaign as this run's last create or update returned it

    async def _listing(self, start: dt.datetime = EPOCH) -> Listing:
        """Read every campaign created since ``start`` (server time), provably; each page retried on its own."""
        return await self._client.list_all_campaigns(self._read, start=start)

    async def plan(self, payloads: list[Payload], *, reconcile: bool = True) -> Plan:
        """Read the server and the ledger; decide what to create, what exists, what cannot be sent.

        With ``reconcile`` (a run, not a plan), entries a crashed run left in flight are settled in the ledger.
        """
        listing, lists = await asyncio.gather(self._listing(), self._read(self._client.list_contact_lists))
        namesakes: dict[str, list[Campaign]] = collections.defaultdict(list)
        for campaign in listing.campaigns:
            namesakes[fold_name(campaign.name)].append(campaign)
        entries = self._ledger.entries(self._scope, {fold_name(p.name) for p in payloads})
        existing: dict[int, Campaign] = {}
        missing: dict[int, list[str]] = {}
        deleted: dict[int, str] = {}
        ambiguous: dict[int, str] = {}
        to_create: list[Payload] = []
        reconciled = 0
        for payload in payloads:
            key = fold_name(payload.name)
            entry = entries.get(key)
            on_server = _the_one(namesakes.get(key, []), entry)
            if on_server is None and len(namesakes.get(key, [])) > 1:
                ambiguous[payload.row] = ambiguous_note(payload.name, namesakes[key])
                continue
            if reconcile and entry is not None and entry.state is EntryState.IN_FLIGHT:
                reconciled += 1
                if on_server is not None:
                    self._ledger.created(self._scope, payload.name, on_server.id, entry.run_id)
                else:
                    self._ledger.failed(self._scope, payload.name, "not on the server after an interrupted send")
            if on_server is not None:
                existing[payload.row] = on_server
                continue
            if entry is not None and entry.state is EntryState.CREATED:
                # The listing is complete, so the server decides: a campaign it no longer has was deleted there.
                deleted[payload.row] = deleted_note(entry)
            if absent := lists.missing(payload.body["contactLists"]):
                missing[payload.row] = absent
            else:
                to_create.append(payload)
        named = {c.id: key for key, found in namesakes.items() for c in found}
        return Plan(to_create, existing, missing, reconciled, deleted, named, ambiguous, listing.paging)

    async def create_all(
        self, payloads: list[Payload], stop: asyncio.Event, progress: Progress | None = None
    ) -> tuple[dict[int, RowOutcome], ApiError | None]:
        """Create the campaigns with ``concurrency`` workers until done, stopped, or a fatal failure.

        On a stop, work that has sent nothing (queued, waiting for the limiter, backing off) is cancelled at
        once; only rows whose create may be at the server get up to ``drain_timeout_s`` to settle. Rows never
        sent are left out of the outcomes; a row cut short after a create may have reached the server is
        ``unknown`` and stays in flight in the ledger, for the next run to reconcile.
        """
        queue: asyncio.Queue[Payload] = asyncio.Queue()
        for payload in payloads:
            queue.put_nowait(payload)
        outcomes: dict[int, RowOutcome] = {}
        fatal: list[ApiError] = []
        current: dict[asyncio.Task[object] | None, tuple[Payload, Sending]] = {}

        async def worker() -> None:
            task = asyncio.current_task()
            while not stop.is_set() and not queue.empty():
                payload = queue.get_nowait()
                sending = Sending()
                current[task] = (payload, sending)
                outcome = await _unless_fatal(self.create_one(payload, sending), fatal, stop)
                del current[task]
                outcomes[payload.row] = outcome
                if progress is not None:
                    progress(outcome)

        workers: list[asyncio.Task[object]] = [
            asyncio.create_task(worker()) for _ in range(max(1, self._options.concurrency))
        ]
        stopping: asyncio.Task[object] = asyncio.create_task(stop.wait())
        pending: set[asyncio.Task[object]] = set(workers)
        while pending:
            done, pending = await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopping)
            if stopping in done:
                break
        if pending:
            await self._drain(pending, current)
        stopping.cancel()
        for payload, sending in current.values():
            if sending.reached:
                outcomes[payload.row] = self._outcome(payload, Status.UNKNOWN, sends=sending.sends, error=MAYBE_CREATED)
                if progress is not None:
                    progress(outcomes[payload.row])
            else:
                self._ledger.failed(self._scope, payload.name, "not sent: the run stopped")
        return outcomes, (fatal[0] if fatal else None)

    async def _drain(
        self, pending: set[asyncio.Task[object]], current: dict[asyncio.Task[object] | None, tuple[Payload, Sending]]
    ) -> None:
        """Cancel the workers that sent nothing now; give those with a create at the server a bounded time."""
        in_flight = {task for task in pending if task in current and current[task][1].reached}
        for task in pending - in_flight:
            task.cancel()
        await self._settle(in_flight, "create")
        await asyncio.gather(*pending, return_exceptions=True)

    async def create_one(self, payload: Payload, sending: Sending | None = None) -> RowOutcome:
        """Create one campaign exactly once; the returned outcome says what happened.

        ``sending`` is kept up to date as the creates go out, for a caller that may cut this short.
        """
        state = Sending() if sending is None else sending

        async def send() -> Campaign:
            state.sends += 1
            with on_grant(state.granted):
                try:
                    return await self._client.create_campaign(payload.body)
                except (RateLimitedError, NotSentError, AuthError, TLSError):
                    state.reached = False  # refused unread, or never sent: this create is not on the server
                    raise

        last_error = ""
        for _ in range(self._options.max_sends):
            sent_at = self._client.server_now()
            self._ledger.begin(self._scope, payload.name, self._run_id)
            try:
                campaign = await self._retried(send, CREATE_RETRYABLE)
            except AmbiguousError as exc:
                last_error = exc.message
                log.info(
                    "row %d: %s; looking '%s' up before sending it again",
                    payload.row,
                    exc.message,
                    payload.name,
                )
                try:
                    found = await self._look_up(payload.name, sent_at)
                except (ApiError, ListingError) as lookup_error:
                    # Left in flight on purpose: the next run reconciles it against the server.
                    return self._outcome(
                        payload,
                        Status.UNKNOWN,
                        sends=state.sends,
                        error=f"{exc.message}; the look-up that would tell whether it was created failed too "
                        f"({lookup_error}). Run again to reconcile.",
                    )
                if found is not None:
                    self._made(payload, found)
                    return self._outcome(payload, Status.CREATED, found, sends=state.sends)
                state.reached = False  # looked up and not there: sending it again cannot make a second one
                continue
            except RejectedError as exc:
                self._ledger.failed(self._scope, payload.name, exc.message)
                return self._outcome(payload, Status.FAILED, sends=state.sends, error=exc.message)
            except (AuthError, TLSError, NotSentError) as exc:
                self._ledger.failed(self._scope, payload.name, str(exc))
                skipped = self._outcome(payload, Status.SKIPPED, sends=state.sends, error=f"not sent: {exc}")
                raise RunStopped(exc, skipped) from None
            except RateLimitedError as exc:
                self._ledger.failed(self._scope, payload.name, exc.message)
                return self._outcome(
                    payload,
                    Status.SKIPPED,
                    sends=state.sends,
                    error=f"not sent: the server still rate-limited it after {self._options.retry.max_attempts} "
                    "tries; run again to send it",
                )
            self._made(payload, campaign)
            return self._outcome(payload, Status.CREATED, campaign, sends=state.sends)
        self._ledger.failed(self._scope, payload.name, last_error)
        return self._outcome(
            payload,
            Status.FAILED,
            sends=state.sends,
            error=f"{last_error} (sent {state.sends} times; each time the server failed and did not create it)",
        )

    def _made(self, payload: Payload, campaign: Campaign) -> None:
        """Record a campaign this run created: the body it holds, and the schedule this run owes it."""
        self._wrote(payload, campaign)
        if payload.schedule is not None:
            self._ledger.schedule_due(self._scope, (payload.name, campaign.id), payload.schedule)

    def _wrote(self, payload: Payload, campaign: Campaign) -> None:
        """Record that the campaign holds the row's body, at the server's updatedAt it showed."""
        self.latest[payload.row] = campaign
        self._ledger.wrote(self._scope, (payload.name, campaign.id), self._run_id, payload.body, campaign.updated_at)

    async def compare_existing(
        self, plan: Plan, payloads: list[Payload], *, record: bool
    ) -> dict[int, Comparison | ApiError]:
        """Compare every row whose campaign exists with the server, reading by id only what the list cannot settle.

        With ``record`` (a run, not a plan), what the server is found to hold goes to the ledger, so that the
        next run can settle the row from the list alone. A row whose read fails for good maps to its error.
        """
        by_row = {p.row: p for p in payloads}
        entries = self._ledger.entries(self._scope, {fold_name(by_row[row].name) for row in plan.existing})
        reads = asyncio.Semaphore(max(1, self._options.concurrency))

        async def one(row: int, listed: Campaign) -> Comparison | ApiError:
            payload = by_row[row]
            entry = entries.get(fold_name(payload.name))
            last, updated_at = (entry.last_body, entry.server_updated_at) if entry else (None, None)
            if unchanged_since_written(payload.body, listed, last, updated_at):
                return Comparison("unchanged", (), listed.updated_at, payload.body)
            try:
                async with reads:
                    server = await self._read(lambda: self._client.get_campaign(listed.id))
            except (RejectedError, TransientError, RateLimitedError) as exc:
                return exc
            result = replace(compare(payload.body, server, last, updated_at), read=server)
            if record and result.holds is not None:
                where = (payload.name, server.id)
                self._ledger.wrote(self._scope, where, self._run_id, result.holds, server.updated_at)
            return result

        rows = list(plan.existing)
        found = await asyncio.gather(*(one(row, plan.existing[row]) for row in rows))
        return dict(zip(rows, found, strict=True))

    async def update_all(
        self, work: list[tuple[Payload, str]], stop: asyncio.Event, progress: Progress | None = None
    ) -> tuple[dict[int, RowOutcome], ApiError | None]:
        """Update each ``(payload, campaign id)``, ``concurrency`` at a time, until done, stopped, or a fatal failure.

        A stop cancels every update at once, in flight or not: a PUT sets the whole campaign, so one cut short
        leaves nothing a rerun cannot put right. Rows not finished are left out of the outcomes.
        """
        queue = collections.deque(work)
        outcomes: dict[int, RowOutcome] = {}
        fatal: list[ApiError] = []

        async def worker() -> None:
            while queue and not stop.is_set():
                payload, campaign_id = queue.popleft()
                outcome = await _unless_fatal(self.update_one(payload, campaign_id), fatal, stop)
                outcomes[payload.row] = outcome
                if progress is not None:
                    progress(outcome)

        async def everyone() -> None:
            await asyncio.gather(*(worker() for _ in range(max(1, self._options.concurrency))))

        workers: asyncio.Task[object] = asyncio.create_task(everyone())
        stopping: asyncio.Task[object] = asyncio.create_task(stop.wait())
        await asyncio.wait({workers, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (workers, stopping):
            task.cancel()
        await asyncio.gather(workers, stopping, return_exceptions=True)
        return outcomes, (fatal[0] if fatal else None)

    async def update_one(self, payload: Payload, campaign_id: str) -> RowOutcome:
        """Update one campaign to the row's body; after an ambiguous failure, confirm by reading it back."""
        sends = 0
        ambiguous: list[AmbiguousError] = []

        async def send() -> Campaign:
            nonlocal sends
            sends += 1
            try:
                return await self._client.update_campaign(campaign_id, payload.body)
            except AmbiguousError as exc:
                ambiguous.append(exc)
                raise

        outcome = self._outcome(payload, Status.FAILED, sends=sends)
        try:
            campaign: Campaign | None = await self._retried(send, UPDATE_RETRYABLE)
        except RejectedError as exc:
            return replace(outcome, attempts=sends, error=exc.message, campaign_id=campaign_id)
        except (AuthError, TLSError) as exc:
            raise RunStopped(exc, replace(outcome, status=Status.SKIPPED, error=f"not sent: {exc}")) from None
        except RateLimitedError as exc:
            return replace(outcome, status=Status.SKIPPED, attempts=sends, error=f"not sent: {exc.message}")
        except TransientError:
            campaign = None
        if ambiguous or campaign is None:
            return await self._confirm(payload, campaign_id, sends, ambiguous)
        self._wrote(payload, campaign)
        return self._outcome(payload, Status.UPDATED, campaign, sends=sends)

    async def _confirm(
        self, payload: Payload, campaign_id: str, sends: int, ambiguous: list[AmbiguousError]
    ) -> RowOutcome:
        """Read a campaign back after updates that failed ambiguously: updated only if it now equals the row."""
        why = ambiguous[-1].message if ambiguous else "the update kept failing"
        try:
            server = await self._read(lambda: self._client.get_campaign(campaign_id))
        except ApiError as exc:
            return self._outcome(
                payload,
                Status.UNKNOWN,
                sends=sends,
                error=f"{why}; reading it back failed too ({exc}). Run again to compare.",
            )
        if differences(payload.body, server.raw, payload.body):
            return replace(
                self._outcome(payload, Status.FAILED, server, sends=sends),
                error=f"{why}; read back, the campaign does not hold the sheet's values (sent {sends} times)",
            )
        self._wrote(payload, server)
        return self._outcome(payload, Status.UPDATED, server, sends=sends)

    async def _look_up(self, name: str, sent_at: dt.datetime) -> Campaign | None:
        """Find a campaign by name among those created since a little before it was sent (server time)."""
        await self._sleep(self._options.reconcile_delay_s)
        since = sent_at - dt.timedelta(seconds=self._options.lookback_s)
        return (await self._listing(since)).by_name(fold_name).get(fold_name(name))

    def _outcome(
        self,
        payload: Payload,
        status: Status,
        campaign: Campaign | None = None,
        *,
        sends: int = 0,
        error: str | None = None,
    ) -> RowOutcome:
        return RowOutcome(
            row=payload.row,
            name=payload.name,
            status=status,
            campaign_id=campaign.id if campaign else None,
            campaign_status=campaign.status if campaign else None,
            error=error,
            attempts=sends,
            finished_at=self._now(),
        )


async def _unless_fatal(work: Awaitable[RowOutcome], fatal: list[ApiError], stop: asyncio.Event) -> RowOutcome:
    """Return a row's outcome; when its failure stops the run, note the cause and set ``stop`` first."""
    try:
        return await work
    except RunStopped as exc:
        fatal.append(exc.cause)
        stop.set()
        return exc.outcome


def _the_one(namesakes: list[Campaign], entry: Entry | None) -> Campaign | None:
    """Return the row's campaign among those of its name: the only one, or the one the ledger says is ours."""
    if len(namesakes) == 1:
        return namesakes[0]
    ours = entry.campaign_id if entry is not None else None
    return next((c for c in namesakes if c.id == ours), None)


def ambiguous_note(name: str, namesakes: list[Campaign]) -> str:
    """Say why a row is refused when several campaigns carry its name and none is known to be the row's."""
    ids = ", ".join(sorted(c.id for c in namesakes))
    return (
        f"{len(namesakes)} campaigns on the server are named '{name}' ({ids}), and none is known to be this row's: "
        "nothing was sent (not created again, not updated, not scheduled, not started). Rename or delete the "
        "others on the platform, then run again."
    )


def deleted_note(entry: Entry) -> str:
    """Say why a campaign the ledger records as ours is created again: the platform no longer has it."""
    when = f" on {entry.sent_at:%Y-%m-%d}" if entry.sent_at else ""
    campaign = entry.campaign_id or "the campaign"
    return f"{campaign} was created by run {entry.run_id}{when} and deleted on the platform since; created again"
