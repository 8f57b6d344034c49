"""Client-side pacing for one account's rolling request window, shared by every request of a run."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from provisioner.api.endpoints import DEFAULT_RATE_PER_MINUTE

#: The server's rolling window, in seconds.
DEFAULT_WINDOW_S: Final = 60.0

#: Seconds added to our copy of the window.
# The server counts a request when it *arrives*; we can only note when it is *sent*. Arrival lags sending
# by a delay that varies per request (a first request pays DNS, TCP and TLS; later ones reuse a connection;
# queues jitter). Two grants exactly one window apart can therefore land less than one window apart at the
# server, which then sees R + 1 in its window and answers 429. Widening our window by a margin absorbs that
# jitter. 0.5 s covers a cold TLS handshake and costs 0.5 / 60.5 ≈ 0.8 % of throughput at a 60 s window;
# shorter windows (tests, benchmarks) keep that proportion, but never less than the 50 ms a busy event loop
# or thread switch can add on its own.
MARGIN_SHARE: Final = 1 / 120
MARGIN_FLOOR_S: Final = 0.05
DEFAULT_MARGIN_S: Final = DEFAULT_WINDOW_S * MARGIN_SHARE


_on_grant: ContextVar[Callable[[], None] | None] = ContextVar("provisioner_on_grant", default=None)


@contextlib.contextmanager
def on_grant(callback: Callable[[], None]) -> Iterator[None]:
    """Have each grant this task gets inside the block call ``callback``: from then on its request may be sent."""
    token = _on_grant.set(callback)
    try:
        yield
    finally:
        _on_grant.reset(token)


def default_margin(window_s: float) -> float:
    """Return the safety margin for a window: 0.5 s for the vendor's 60 s window, in proportion otherwise."""
    return max(MARGIN_FLOOR_S, window_s * MARGIN_SHARE)


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """A snapshot of a limiter's counters, for progress lines and benchmarks."""

    grants: int
    waits: int
    waited_s: float
    rate_limited: int
    effective_limit: int
    in_window: int = 0  # grants still inside the current window
    held_s: float = 0.0  # how long the next waiter still waits for the window (0: nobody is waiting)


class RollingWindowLimiter:
    """Allow at most R requests in any ``window_s + margin_s`` seconds, FIFO, and settle lower after 429s.

    Pacing is a sliding log of grant times: up to R acquisitions go out at once; the next waiter sleeps until
    the oldest grant leaves the window, so the limit is never exceeded and never left unused. Waiters are
    served in arrival order.

    After ``on_rate_limited``, nobody is granted until ``now + retry_after`` or, without a Retry-After, until
    the oldest grant in the log leaves the window (a full window if the log is empty).

    Settle-lower rule. On a 429 we count n, our grants in the current window (``window_s + margin_s``), and
    k, the 429s seen in it, this one included; n - k is then how many of our requests the server accepted in
    its window. The effective limit L becomes ``max(1, min(L, n - k))`` when there is evidence: our window
    was full (n ≥ L), or this is not the window's first 429. A burst sent over a lower server limit thus
    settles to that limit within one window. A lone 429 in a window that is not full (another client of the
    account, a server hiccup) only pauses the waiters; one in a full window lowers L by a single step.
    L is never raised above the configured R. It recovers after the pause: +1 after the first full window
    without a 429, +2 after the second, +4 after the third, and so on up to R. A real lower limit is probed
    by a single +1 step, which costs one retried request every other window; a limit lowered by mistake
    is back within a few windows, and an overshoot costs one wave of 429s, after which n - k measures the
    server's limit again.

    Grants are never refunded: once granted, the request may have reached the server even if its caller was
    cancelled, and counting a request that was never sent only wastes a slot, never exceeds the limit. A
    waiter cancelled before its grant takes no slot and lets the next waiter in.
    """

    def __init__(
        self,
        rate_per_window: int = DEFAULT_RATE_PER_MINUTE,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        margin_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_window < 1:
            raise ValueError(f"rate_per_window must be at least 1, not {rate_per_window}")
        margin_s = default_margin(window_s) if margin_s is None else margin_s
        if window_s <= 0 or margin_s < 0:
            raise ValueError(f"need window_s > 0 and margin_s >= 0, not {window_s}, {margin_s}")
        self._rate = rate_per_window
        self._window = window_s
        self._span = window_s + margin_s
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()  # its waiters queue in FIFO order; only the head sleeps on the window
        self._log: deque[float] = deque()
        self._rejections: deque[float] = deque()
        self._blocked_until = -math.inf
        self._base_limit = rate_per_window
        self._recovery_from = -math.inf
        self._grants = 0
        self._waits = 0
        self._waited_s = 0.0
        self._rate_limited = 0
        self._waiting = 0

    @property
    def rate(self) -> int:
        """Return the configured limit R."""
        return self._rate

    @property
    def window_s(self) -> float:
        """Return the server's window this limiter paces for (its margin not included)."""
        return self._window

    async def acquire(self) -> None:
        """Wait until a request may be sent, then count it as sent now."""
        asked = self._clock()
        self._waiting += 1
        try:
            async with self._lock:
                now = self._clock()
                while (wake := self._wake_time(now)) > now:
                    await self._sleep(wake - now)
                    now = self._clock()
                self._log.append(now)
        finally:
            self._waiting -= 1
        if (callback := _on_grant.get()) is not None:
            callback()
        self._grants += 1
        if now > asked:
            self._waits += 1
            self._waited_s += now - asked

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Record a 429: pause every waiter, and lower the effective limit when the window shows why."""
        now = self._clock()
        self._prune(now)
        self._rate_limited += 1
        self._rejections.append(now)
        limit = self._limit_at(now)
        granted = len(self._log)
        if granted >= limit or len(self._rejections) > 1:
            limit = max(1, min(limit, granted - len(self._rejections)))
        if retry_after is not None:
            until = now + max(0.0, retry_after)
        elif self._log:
            until = self._log[0] + self._span
        else:
            until = now + self._span
        self._blocked_until = max(self._blocked_until, until)
        self._base_limit = limit
        self._recovery_from = self._blocked_until

    @property
    def stats(self) -> LimiterStats:
        """Return a snapshot of the counters, the current effective limit and how long waiters are held."""
        now = self._clock()
        self._prune(now)
        held = max(0.0, self._wake_time(now) - now) if self._waiting else 0.0
        return LimiterStats(
            grants=self._grants,
            waits=self._waits,
            waited_s=self._waited_s,
            rate_limited=self._rate_limited,
            effective_limit=self._limit_at(now),
            in_window=len(self._log),
            held_s=held,
        )

    def _prune(self, now: float) -> None:
        horizon = now - self._span
        for times in (self._log, self._rejections):
            while times and times[0] <= horizon:
                times.popleft()

    def _clean_windows(self, now: float) -> int:
        return max(0, math.floor((now - self._recovery_from) / self._span))

    def _limit_at(self, now: float) -> int:
        if self._base_limit >= self._rate:
            return self._rate
        clean = self._clean_windows(now)
        if clean >= self._rate.bit_length():  # then 2**clean - 1 >= rate
            return self._rate
        return min(self._rate, self._base_limit + (1 << clean) - 1)

    def _wake_time(self, now: float) -> float:
        """Return the earliest time the head waiter may be granted; at or before ``now`` means at once."""
        self._prune(now)
        limit = self._limit_at(now)
        wake = self._blocked_until
        if len(self._log) >= limit:
            freed = self._log[-limit] + self._span
            if limit < self._rate:
                next_recovery = self._recovery_from + (self._clean_windows(now) + 1) * self._span
                freed = min(freed, next_recovery)
            wake = max(wake, freed)
        return wake


def estimate_duration(
    n_requests: int,
    rate: int,
    window_s: float = DEFAULT_WINDOW_S,
    *,
    margin_s: float | None = None,
    used: int = 0,
) -> float:
    """Return the least time n more requests wait for the limiter when ``used`` grants already fill the window.

    The first R of all the requests (``used`` counted) go at once, then R per window; 0 means no wait at all.
    """
    if n_requests < 0 or rate < 1 or used < 0:
        raise ValueError(f"need n_requests >= 0, rate >= 1 and used >= 0, not {n_requests}, {rate}, {used}")
    if n_requests == 0:
        return 0.0
    margin_s = default_margin(window_s) if margin_s is None else margin_s
    return (math.ceil((n_requests + used) / rate) - 1) * (window_s + margin_s)
