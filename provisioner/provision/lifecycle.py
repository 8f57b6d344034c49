"""After the creates: wait for Ready, set each sheet's schedule, start the campaigns marked Start, never twice.

A campaign is ``Preparing`` for a while after its create. Watching it costs one read of the list per round, not
one status call per campaign: each round reads the campaigns created since the oldest one watched, so a round
for N campaigns costs about ⌈N / page⌉ + 1 requests, and rounds are spaced so that polling takes at most half of
the account's rate limit. A round that only polls statuses need not prove the list complete (a page-only server
is then read once, not twice); one that checks names for a schedule, or would conclude a campaign was deleted,
does.

The schedule endpoint names a campaign by its name, not its id, so a schedule is sent only when the server has
exactly one campaign of that name (by the pre-flight's complete list and each round's). Setting a schedule is
idempotent and safe to resend.

A start makes phones ring, and the vendor does not say what starting a running campaign does, so a start is
handled like a create: its intent is in the ledger before the trigger is sent, it is sent only to a campaign the
server shows ``Ready`` a moment before, and a start whose reply was lost is settled by the campaign's status
(``Active`` or beyond: it took; still ``Ready``: it did not) before it is sent again. A campaign the ledger says
was started is never started again, whatever its status now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from provisioner.api.campaign import ACTIVE, PREPARING, READY, Campaign
from provisioner.api.listing import Paging
from provisioner.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    ListingError,
    RejectedError,
    TLSError,
)
from provisioner.names import fold_name
from provisioner.provision.compare import Change
from provisioner.provision.ledger import Entry
from provisioner.provision.limiter import on_grant
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.provision.payloads import Payload
from provisioner.provision.retry import SCHEDULE_RETRYABLE, START_RETRYABLE
from provisioner.provision.wiring import ServerWork, Wiring, unless_stopped
from provisioner.words import counted

log = logging.getLogger("provisioner.provision.lifecycle")

ScheduleStep = Literal["keep", "set", "clear"]

#: The label of a schedule change in the results' Changes column and the plan.
SCHEDULE_FIELD: Final = "Schedule"
#: Statuses a start may follow: the campaign waits to be started.
_STARTABLE: Final = frozenset({PREPARING, READY})
#: Statuses only a started campaign reaches: a start whose reply was lost took if the campaign shows one of them.
_RAN: Final = frozenset({ACTIVE, "Paused", "Stopped", "Completed"})


@dataclass(frozen=True)
class Target:
    """A row whose campaign exists: its payload, the campaign as last seen, and whether this run created it."""

    payload: Payload
    campaign: Campaign
    created: bool


@dataclass(frozen=True)
class Steps:
    """What a run does to one campaign after its create, decided from the sheet, the ledger and the server."""

    schedule: ScheduleStep
    change: Change | None  # where the campaign's schedule differs from the sheet's (shown, sent or not)
    start: bool  # start it once it is Ready
    started_at: dt.datetime | None = None  # when an earlier run started it
    confirm_start: bool = False  # an earlier start's reply was lost and the status shows it took: record it
    note: str | None = None  # why a row marked Start is not started
    schedule_now: str | None = None  # the campaign's schedule as this tool set it earlier, in words
    learned: bool = False  # the server showed the row's schedule in full, and the ledger did not know it yet

    @classmethod
    def for_new(cls, payload: Payload) -> Steps:
        """Return the steps of a campaign this run creates: its row's schedule, and its start once Ready."""
        return cls("set" if payload.schedule is not None else "keep", None, start=payload.start)

    @property
    def acts(self) -> bool:
        """Tell whether the run sends anything for this campaign after its create."""
        return self.schedule != "keep" or self.start


def describe_schedule(schedule: Mapping[str, Any] | None) -> str:
    """Say a schedule in the sheet's terms: ``Weekly every 2 weeks on Mon, Wed, 2027-01-04 09:00 to …``."""
    if schedule is None:
        return "none"
    recurrence = schedule.get("recurrenceObject") or {}
    kind = str(recurrence.get("recurType", "?"))
    weekly = recurrence.get("weeklyDetails") or {}
    if kind == "Weekly":
        every = int(weekly.get("onceEveryNweeks", 1))
        kind += f" every {every} weeks" if every > 1 else ""
        kind += f" on {', '.join(weekly.get('whichDays', ()))}"
    start, end = (str(schedule.get(key, "?"))[:16] for key in ("startDateTime", "endDateTime"))
    return f"{kind}, {start} to {end}"


def decide(target: Target, entry: Entry | None, *, update: bool) -> Steps:
    """Decide a campaign's schedule and start from its row, its ledger entry and its status as last seen."""
    payload, campaign = target.payload, target.campaign
    ours = entry if entry is not None and entry.campaign_id == campaign.id else None
    schedule, change = _schedule_step(payload, campaign, ours, created=target.created, update=update)
    now = payload.schedule if schedule == "keep" and change is None else None
    if now is None and schedule == "keep" and change is None and ours is not None and ours.schedule_set:
        now = ours.schedule  # the row has no schedule; the one this tool set earlier stays, shown in the results
    said = describe_schedule(now) if now is not None else None
    learned = now is not None and now == payload.schedule and (ours is None or ours.schedule != now)
    steps = Steps(schedule, change, start=False, schedule_now=said, learned=learned)
    if not payload.start:
        return steps
    if ours is not None and ours.started_at is not None:
        note = f"started earlier ({ours.started_at:%Y-%m-%d %H:%M} UTC); never started twice"
        return replace(steps, started_at=ours.started_at, note=note)
    status = campaign.status
    if ours is not None and ours.start_sent_at is not None and status not in _STARTABLE:
        if status in _RAN:
            note = f"started by an earlier run whose reply was lost (now {status})"
            return replace(steps, started_at=ours.start_sent_at, confirm_start=True, note=note)
        # Neither waiting to start nor a state only a run reaches: whether that start took cannot be told.
        note = (
            f"not started: an earlier run may have started it (its reply was lost) and its status ({status}) does "
            "not tell; check it on the platform, then `provisioner ledger forget` it to let runs start it"
        )
        return replace(steps, note=note)
    if status == ACTIVE:
        return replace(steps, note="already Active on the platform; not started again")
    if status is not None and status not in _STARTABLE:
        return replace(steps, note=f"not started: it is {status}; provisioner starts only campaigns that are Ready")
    return replace(steps, start=True)


def _schedule_step(
    payload: Payload, campaign: Campaign, ours: Entry | None, *, created: bool, update: bool
) -> tuple[ScheduleStep, Change | None]:
    """Return what to do with a campaign's schedule, and how it differs from the sheet's (None: it does not)."""
    wanted = payload.schedule
    shown = _scheduling_shown(campaign)
    recorded = ours.schedule if ours is not None and ours.schedule_set else None
    known = ours is not None and ours.schedule_set
    if wanted is not None:
        if created or (ours is not None and ours.schedule_due == wanted and not (known and recorded == wanted)):
            return "set", None  # a new campaign's, or owed by the run that created it (which stopped before)
        if shown is not False and ((known and recorded == wanted) or _shown_schedule(campaign, wanted) == wanted):
            return "keep", None
        if known and shown is not False:
            server = describe_schedule(recorded)
        else:
            server = "set on the platform" if shown else "none"
        return ("set" if update else "keep"), Change(SCHEDULE_FIELD, server, describe_schedule(wanted))
    # An empty schedule cell leaves the platform's schedule alone, unless this tool set the one it has.
    if recorded is not None and shown is not False:
        return ("clear" if update else "keep"), Change(SCHEDULE_FIELD, describe_schedule(recorded), "none")
    return "keep", None


def _shown_schedule(campaign: Campaign, like: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the fields of ``like`` as the campaign's record shows its schedule (a read by id), if it shows all."""
    schedule = campaign.raw.get("schedule")
    if not isinstance(schedule, Mapping) or not all(key in schedule for key in like):
        return None
    return {key: schedule[key] for key in like}


def _scheduling_shown(campaign: Campaign) -> bool | None:
    """Return the campaign's ``schedule.isSchedulingEnabled`` as the server showed it (None: it did not)."""
    schedule = campaign.raw.get("schedule")
    shown = schedule.get("isSchedulingEnabled") if isinstance(schedule, Mapping) else None
    return shown if isinstance(shown, bool) else None


def with_steps(outcome: RowOutcome, steps: Steps) -> RowOutcome:
    """Return a row's outcome as its steps make it before any is sent: a schedule that differs shows as a change."""
    outcome = replace(
        outcome, started_at=steps.started_at, note=outcome.note or steps.note, schedule=steps.schedule_now
    )
    if steps.change is None:
        return outcome
    status = Status.DIFFERS if outcome.status is Status.UNCHANGED else outcome.status
    return replace(outcome, status=status, changes=(*outcome.changes, steps.change))


@dataclass(frozen=True)
class Listed:
    """What the pre-flight's complete read of the list showed, for the rounds that follow it."""

    named: Mapping[str, str]  # id -> folded name of every campaign, for the schedule's name check
    since: dt.datetime  # the server time the read began: each round reads from there on
    paging: Paging | None  # how the server pages: a round needs no probe of skip


@dataclass(frozen=True)
class WaitOptions:
    """How the run waits for its campaigns to leave Preparing."""

    wait: bool = False  # run --wait: wait for every campaign of the run, not only those with a step to take
    timeout_s: float = 900.0  # give up waiting after this long; campaigns still Preparing are reported so
    interval_s: float = 5.0  # the shortest time between two rounds of reading the list


@dataclass
class _Watched:
    """One campaign the follow-up watches: its target, its steps still to take, and its outcome so far."""

    target: Target
    steps: Steps
    outcome: RowOutcome
    status: str | None
    gone: bool = False
    schedule_when_ready: bool = False  # the server refused to schedule it while Preparing: try once it is Ready

    @property
    def waiting(self) -> bool:
        return not self.gone and self.status in (None, PREPARING)

    @property
    def schedulable(self) -> bool:
        return self.steps.schedule != "keep" and not (self.schedule_when_ready and self.waiting)

    @property
    def startable(self) -> bool:
        return self.steps.start and not self.waiting and not self.gone


class FollowUp(ServerWork):
    """Watches a run's campaigns until they leave Preparing, then sets their schedules and starts them."""

    def __init__(self, wiring: Wiring, *, rate: tuple[int, float], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(wiring)
        self._rate = rate  # requests per window, window seconds
        self._clock = clock
        self.round_requests: list[int] = []  # the requests each round of reading the list cost
        self._paging: Paging | None = None  # how the server paged the last round
        self._vouch = False  # the next round must be a complete read (after one missed a campaign)

    async def run(
        self,
        work: Iterable[tuple[Target, Steps, RowOutcome]],
        listed: Listed,
        wait: WaitOptions,
        stop: asyncio.Event,
    ) -> tuple[dict[int, RowOutcome], list[str], ApiError | None]:
        """Take every campaign's steps once it is no longer Preparing; return the outcomes, notes and a fatal error.

        ``listed`` is what the pre-flight's complete list showed. With ``wait.wait`` every campaign is watched;
        otherwise only those with a step to take.
        """
        named, since = listed.named, listed.since
        self._paging = listed.paging
        watched = {
            target.payload.row: _Watched(target, steps, outcome, target.campaign.status)
            for target, steps, outcome in work
            if wait.wait or steps.acts
        }
        names = dict(named)
        deadline = self._clock() + wait.timeout_s
        fatal: ApiError | None = None
        notes: list[str] = []

        def waited_for() -> list[_Watched]:
            """The campaigns still Preparing that the run waits for: all with --wait, else those yet to start."""
            return [w for w in watched.values() if w.waiting and (wait.wait or w.steps.start or w.schedule_when_ready)]

        try:
            while not stop.is_set():
                if (waited_for() or _schedules_left(watched.values())) and (
                    await unless_stopped(self._round(watched, names, since), stop) is None
                ):
                    break
                # A schedule goes once the campaign exists and its name is checked; a start waits for Ready.
                ready = [w for w in watched.values() if not w.gone and (w.schedulable or w.startable)]
                fatal = await self._act(ready, names, stop)
                if fatal is not None or not waited_for():
                    break
                left = deadline - self._clock()
                if left <= 0:
                    break
                await unless_stopped(self._sleep(min(left, self._interval(wait))), stop)
        except (AuthError, TLSError) as exc:
            fatal = exc
        except (ApiError, ListingError) as exc:
            notes.append(f"stopped watching the campaigns: {exc}; they exist, run again to finish")
        still = waited_for()
        for w in watched.values():
            if w.waiting:
                w.outcome = replace(w.outcome, campaign_status=w.status or PREPARING)
        stopped = stop.is_set() or fatal is not None or bool(notes)
        for w in watched.values():
            if w.steps.acts and w.outcome.error is None:
                w.outcome = left_undone(w.outcome, w.steps, waiting=w.waiting and not stopped)
        if still and not stop.is_set() and fatal is None and not notes:
            waited = f"{round(wait.timeout_s / 60)} min" if wait.timeout_s >= 90 else f"{wait.timeout_s:g} s"
            notes.append(
                f"{counted(len(still), 'campaign')} still Preparing after {waited}: not a failure; "
                "run again (with --wait) to wait longer and take their remaining steps"
            )
        return {row: w.outcome for row, w in watched.items()}, notes, fatal

    def _interval(self, wait: WaitOptions) -> float:
        """Space rounds so that polling uses at most half of the rate limit: the rest is for schedules and starts."""
        per_window, window_s = self._rate
        last = self.round_requests[-1] if self.round_requests else 1
        return max(wait.interval_s, 2 * last * window_s / max(per_window, 1))

    async def _round(self, watched: dict[int, _Watched], names: dict[str, str], since: dt.datetime) -> bool:
        """Read the list from the pre-flight (or the oldest campaign waiting) on; note statuses and every name."""
        created = [w.target.campaign.created_at for w in watched.values() if w.waiting]
        start = min([since, *(c for c in created if c is not None)]) - dt.timedelta(seconds=self._options.lookback_s)
        # A round that checks names for a schedule, or decides a campaign is gone, needs a complete read; one
        # that only polls statuses can read a page-only server once and catch up next round.
        vouch = self._vouch or _schedules_left(watched.values())
        listing = await self._client.list_all_campaigns(self._read, start=start, vouch=vouch, paging=self._paging)
        self._paging, self._vouch = listing.paging, False
        self.round_requests.append(listing.requests)
        by_id = {c.id: c for c in listing.campaigns}
        names.update({c.id: fold_name(c.name) for c in listing.campaigns})
        for w in watched.values():
            seen = by_id.get(w.target.campaign.id)
            created_at = w.target.campaign.created_at
            if seen is not None:
                w.status = seen.status
                w.outcome = replace(w.outcome, campaign_status=seen.status)
            elif not listing.vouched:
                self._vouch = True  # missed, or gone: the next round reads completely and tells
            elif created_at is not None and created_at >= start and not w.gone:
                # The list covered its creation time and does not have it: deleted on the platform since.
                w.gone = True
                w.outcome = replace(
                    w.outcome, error="the campaign is no longer on the server (deleted on the platform?)"
                )
        waiting = sum(w.waiting for w in watched.values())
        log.info(
            "round %d: %d of %d campaigns still Preparing (%s)",
            len(self.round_requests),
            waiting,
            len(watched),
            counted(listing.requests, "request"),
        )
        return True

    async def _act(self, ready: list[_Watched], names: Mapping[str, str], stop: asyncio.Event) -> ApiError | None:
        """Take the steps of campaigns no longer Preparing, ``concurrency`` at a time; return a fatal error.

        A stop cancels at once every step that has sent no start (a schedule is idempotent, a status check a
        read); a start already let through to the server gets up to ``drain_timeout_s`` to settle, since one
        cut short could not be told from one that took. Nothing new is sent after the stop.
        """
        slots = asyncio.Semaphore(max(1, self._options.concurrency))
        fatal: list[ApiError] = []
        starting: set[asyncio.Future[Any] | None] = set()  # tasks whose start the limiter let through

        async def one(w: _Watched) -> None:
            async with slots:
                if stop.is_set() or fatal:
                    return
                try:
                    await self._steps(w, names, stop, lambda: starting.add(asyncio.current_task()))
                except (AuthError, TLSError) as exc:
                    fatal.append(exc)

        pending: set[asyncio.Future[Any]] = {asyncio.ensure_future(one(w)) for w in ready}
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        while pending and not stopping.done():
            _, pending = await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopping)
        stopping.cancel()
        at_server = {task for task in pending if task in starting}
        for task in pending - at_server:
            task.cancel()
        await self._settle(at_server, "start")
        await asyncio.gather(*pending, stopping, return_exceptions=True)
        return fatal[0] if fatal else None

    async def _steps(
        self, w: _Watched, names: Mapping[str, str], stop: asyncio.Event, sending: Callable[[], None]
    ) -> None:
        """Set the campaign's schedule, then, once it is Ready, start it, as its steps say; each step is taken once.

        ``sending`` is called when the limiter lets a start through: from then on it may be at the server.
        """
        if w.schedulable:
            w.outcome = await self._schedule(w, names)
            if not w.schedule_when_ready or not w.waiting:
                w.steps = replace(w.steps, schedule="keep", start=w.steps.start and w.outcome.error is None)
        if w.startable and not stop.is_set():
            w.outcome = await self._start(w, stop, sending)
            w.steps = replace(w.steps, start=False)

    async def _schedule(self, w: _Watched, names: Mapping[str, str]) -> RowOutcome:
        """Set (or clear) the campaign's schedule by its name, once the name is proven to be its alone."""
        payload, outcome = w.target.payload, w.outcome
        folded = fold_name(payload.name)
        namesakes = sum(name == folded for name in names.values())
        if namesakes > 1:
            return replace(
                outcome,
                error=f"not scheduled: {namesakes} campaigns on the server are named '{payload.name}', and the "
                "schedule call takes a name, so it could schedule another one. Rename or delete the others, "
                "then run again.",
            )
        schedule = payload.schedule if w.steps.schedule == "set" else None
        try:
            await self._retried(lambda: self._client.schedule_campaign(payload.name, schedule), SCHEDULE_RETRYABLE)
        except (AuthError, TLSError):
            raise
        except RejectedError as exc:
            if w.waiting and not w.schedule_when_ready:
                # Perhaps refused for being Preparing (the vendor does not say): once more when it is Ready.
                log.info(
                    "'%s' was not scheduled while Preparing (%s); trying again once it is Ready", payload.name, exc
                )
                w.schedule_when_ready = True
                return outcome
            return replace(outcome, error=f"not scheduled: {exc}")
        except ApiError as exc:
            verb = "scheduled" if schedule is not None else "unscheduled"
            return replace(outcome, error=f"not {verb}: {exc}; run again (setting a schedule twice is harmless)")
        self._ledger.scheduled(self._scope, (payload.name, w.target.campaign.id), schedule)
        status = Status.UPDATED if outcome.status is Status.DIFFERS else outcome.status
        said = describe_schedule(schedule) if schedule is not None else "none (disabled by this run)"
        return replace(outcome, status=status, schedule=said)

    async def _start(self, w: _Watched, stop: asyncio.Event, sending: Callable[[], None]) -> RowOutcome:
        """Start a Ready campaign exactly once: intent recorded first, a lost reply settled by the status."""
        payload, campaign_id, outcome = w.target.payload, w.target.campaign.id, w.outcome
        where = (payload.name, campaign_id)
        try:
            status = await self._status(campaign_id)
        except ApiError as exc:
            return replace(outcome, error=f"not started: its status could not be read ({exc}); run again")
        if status != READY:
            w.status = status
            why = "already Active; not started again" if status == ACTIVE else f"not started: it is {status}"
            return replace(outcome, campaign_status=status, note=outcome.note or why)
        error = "the server did not say"
        for _ in range(self._options.max_sends):
            if stop.is_set():
                return replace(outcome, error=f"its start not done: the run stopped before ({error}); run again")
            self._ledger.starting(self._scope, where)
            sent = False

            def granted() -> None:
                nonlocal sent
                sent = True
                sending()

            try:
                with on_grant(granted):
                    reported = await self._retried(lambda: self._client.start_campaign(campaign_id), START_RETRYABLE)
            except asyncio.CancelledError:
                if not sent:
                    self._ledger.not_started(self._scope, where)  # cancelled before it could reach the server
                else:
                    w.outcome = replace(
                        outcome,
                        error="its start was cut short by the stop, so whether it took is not known: the next run "
                        "reads its status before anything is sent",
                    )
                raise
            except AmbiguousError as exc:
                error = exc.message
                await self._sleep(self._options.reconcile_delay_s)
                try:
                    status = await self._status(campaign_id)
                except ApiError as lookup:
                    status, error = None, f"{exc.message}; reading its status failed too ({lookup})"
                if status == READY:  # a start that took would show Active: this one did not
                    self._ledger.not_started(self._scope, where)
                    continue
                if status not in _RAN:
                    return replace(
                        outcome,
                        error=f"{error}; whether it started cannot be told (status {status}). The next run checks "
                        "its status before anything is sent",
                    )
                reported = status
            except (AuthError, TLSError):
                raise
            except ApiError as exc:
                self._ledger.not_started(self._scope, where)
                return replace(outcome, error=f"not started: {exc}")
            when = self._now()
            self._ledger.started(self._scope, where, when)
            w.status = reported
            return replace(outcome, campaign_status=reported, started_at=when)
        return replace(outcome, error=f"not started: {error} (each time it was still Ready afterwards)")

    async def _status(self, campaign_id: str) -> str | None:
        campaign = await self._read(lambda: self._client.campaign_status(campaign_id))
        return campaign.status


def left_undone(outcome: RowOutcome, steps: Steps, *, waiting: bool) -> RowOutcome:
    """Say why a campaign's steps were not taken: still Preparing when the wait ended (a note), or the run stopped."""
    what = " and ".join(
        step for step, left in (("its schedule", steps.schedule != "keep"), ("its start", steps.start)) if left
    )
    if waiting:
        return replace(outcome, note=f"{what} not done yet: still Preparing when the wait ended; run again to finish")
    return replace(outcome, error=f"{what} not done: the run stopped before; run again to finish")


def held(steps: Steps, outcome: RowOutcome) -> tuple[Steps, RowOutcome]:
    """Hold a start back while the campaign is not known to hold its row's settings: it would dial with others."""
    if not steps.start or outcome.status not in (Status.DIFFERS, Status.EXISTS):
        return steps, outcome
    if outcome.status is Status.DIFFERS:
        why = "not started: it differs from its row; run --update first, so that it dials with the sheet's settings"
    else:
        why = "not started: it could not be compared with its row; run again"
    return replace(steps, start=False), replace(outcome, note=why)


def _schedules_left(watched: Iterable[_Watched]) -> bool:
    return any(w.steps.schedule != "keep" for w in watched)
