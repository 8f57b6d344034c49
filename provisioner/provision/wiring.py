"""What every stage of a run that talks to the server shares: its options, its wiring, and how work is stopped.

The engine (creates and updates) and the follow-up (wait, schedule, start) are both :class:`ServerWork`: one
retry policy, one way to let writes in flight settle when the run stops (until a second signal), and the
client, ledger, clock and randomness a :class:`Wiring` gives them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from provisioner.api.client import KoreClient
from provisioner.errors import ApiError
from provisioner.provision.ledger import Ledger, Scope
from provisioner.provision.retry import READ_RETRYABLE, RetryPolicy, call_with_retries
from provisioner.words import counted

log = logging.getLogger("provisioner.provision.wiring")
T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves; every field has the documented default."""

    concurrency: int = 4
    skip_invalid: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_sends: int = 3  # creates of one campaign per run, counting resends after a look-up found nothing
    reconcile_delay_s: float = 2.0  # let a slow server finish storing before looking a campaign up
    # How long before the send (by the server's clock, known to about a second) a look-up starts reading: the
    # server stamps a campaign when it processes the create, never before it was sent.
    lookback_s: float = 120.0
    drain_timeout_s: float = 30.0  # how long in-flight requests may finish after an interrupt
    request_timeout_s: float = 60.0  # one request, connect to last byte; past it the request is ambiguous


@dataclass(frozen=True)
class Wiring:
    """What every stage of one run that talks to the server is given: the client, the ledger and its scope, the
    run's options, the event a second signal sets, and the sleep, clock and randomness tests inject."""

    client: KoreClient
    ledger: Ledger
    scope: Scope
    options: RunOptions
    hurry: asyncio.Event | None = None  # set (a second signal): stop waiting for writes in flight
    sleep: Sleep = asyncio.sleep
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    rng: random.Random = field(default_factory=random.Random)  # jitter only


class ServerWork:
    """What every stage of a run that talks to one account shares: its :class:`Wiring`, one way to retry a call,
    and one way to let writes in flight settle when the run stops."""

    def __init__(self, wiring: Wiring) -> None:
        self._client = wiring.client
        self._ledger = wiring.ledger
        self._scope = wiring.scope
        self._options = wiring.options
        self._hurry = wiring.hurry
        self._sleep = wiring.sleep
        self._now = wiring.now
        self._rng = wiring.rng

    async def _retried(self, attempt: Callable[[], Awaitable[T]], retry_on: tuple[type[ApiError], ...]) -> T:
        """Run ``attempt`` under the run's retry policy, retrying only the failures ``retry_on`` names."""
        return await call_with_retries(
            attempt, retry_on=retry_on, policy=self._options.retry, sleep=self._sleep, rng=self._rng
        )

    async def _read(self, attempt: Callable[[], Awaitable[T]]) -> T:
        return await self._retried(attempt, READ_RETRYABLE)

    async def _settle(self, in_flight: Collection[asyncio.Future[Any]], what: str) -> None:
        """Give writes at the server up to ``drain_timeout_s`` to be answered (until ``hurry``), then cancel them."""
        if not in_flight:
            return
        said = counted(len(in_flight), what)
        late = await settle(in_flight, self._options.drain_timeout_s, self._hurry, said)
        if late and self._hurry is not None and self._hurry.is_set():
            log.warning("second signal: not waiting for %s; the next run settles them", counted(late, what))


async def settle(
    in_flight: Collection[asyncio.Future[Any]], seconds: float, hurry: asyncio.Event | None, said: str
) -> int:
    """Wait up to ``seconds`` for writes at the server to be answered (less once ``hurry`` is set), then cancel
    the rest; ``said`` names them in the log line. Return how many were still unanswered."""
    log.warning(
        "stopping: waiting up to %s s for %s in flight (a second Ctrl-C or SIGTERM stops waiting)", seconds, said
    )
    answered = asyncio.wait(in_flight, timeout=seconds)
    await (answered if hurry is None else unless_stopped(answered, hurry))
    late = [task for task in in_flight if not task.done()]
    for task in late:
        task.cancel()
    return len(late)


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Return what ``work`` returns, or None at once (``work`` cancelled) when ``stop`` is set first."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stopping, return_exceptions=True)
    return None if task.cancelled() else task.result()
