"""Tests for the rolling-window limiter, on virtual time except for one small real-time check."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.provision.limiter import RollingWindowLimiter, estimate_duration, on_grant

T0 = 1000.0


class VirtualTime:
    """A fake clock and sleep: time jumps to the next sleeper's deadline only once every task is blocked."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, delay), next(self._seq), fut))
        await fut

    async def sleep_until(self, when: float) -> None:
        await self.sleep(when - self.now)

    def limiter(self, rate: int, window_s: float = 60.0, margin_s: float = 0.5) -> RollingWindowLimiter:
        return RollingWindowLimiter(rate, window_s=window_s, margin_s=margin_s, clock=self.clock, sleep=self.sleep)

    async def run(self, *aws: Awaitable[Any]) -> list[asyncio.Future[Any]]:
        """Run coroutines or tasks to completion on virtual time and return them as (done) futures."""
        tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(a) for a in aws]
        # Time may jump only once every task is blocked; the loop's private ready queue tells exactly.
        ready = vars(asyncio.get_running_loop())["_ready"]
        while True:
            await asyncio.sleep(0)
            while ready:
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                return tasks
            while self._timers and self._timers[0][2].cancelled():
                heapq.heappop(self._timers)
            if not self._timers:
                raise AssertionError("deadlock: tasks are blocked but nobody sleeps")
            when, _, fut = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            fut.set_result(None)


def max_in_any_window(times: Sequence[float], span: float) -> int:
    """Most grants inside any half-open interval [t, t + span)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        j = i
        while j < len(ordered) and ordered[j] < start - 1e-9 + span:
            j += 1
        best = max(best, j - i)
    return best


async def grab(limiter: RollingWindowLimiter, vt: VirtualTime, grants: list[float], at: float | None = None) -> None:
    if at is not None:
        await vt.sleep_until(at)
    await limiter.acquire()
    grants.append(vt.now)


async def test_first_r_go_at_once_and_the_next_waits_exactly_window_plus_margin() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(5)
    grants: list[float] = []

    await vt.run(*(grab(limiter, vt, grants) for _ in range(6)))

    assert grants == [T0] * 5 + [T0 + 60.5]
    stats = limiter.stats
    assert (stats.grants, stats.waits, stats.rate_limited, stats.effective_limit) == (6, 1, 0, 5)
    assert stats.waited_s == pytest.approx(60.5)


async def test_many_tasks_share_the_limit_at_r_per_window_without_waste() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(60)
    grants: list[float] = []

    await vt.run(*(grab(limiter, vt, grants) for _ in range(250)))

    assert len(grants) == 250
    assert max_in_any_window(grants, 60.5) == 60
    for batch in range(4):
        assert grants[batch * 60 : (batch + 1) * 60] == [T0 + batch * 60.5] * 60
    assert grants[-1] - T0 == pytest.approx(estimate_duration(250, 60, 60.0))


async def test_waiters_are_served_in_arrival_order() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(2, window_s=10.0, margin_s=0.0)
    order: list[int] = []

    async def take(i: int, at: float) -> None:
        await vt.sleep_until(at)
        await limiter.acquire()
        order.append(i)

    await vt.run(*(take(i, T0 + i * 0.1) for i in range(9)))

    assert order == list(range(9))


@settings(max_examples=120, deadline=None)
@given(
    rate=st.integers(1, 6),
    window_s=st.sampled_from([1.0, 7.5, 60.0]),
    margin_s=st.sampled_from([0.0, 0.5]),
    arrivals=st.lists(st.floats(0.0, 200.0, allow_nan=False), min_size=1, max_size=40),
)
def test_grants_follow_the_sliding_log_exactly(
    rate: int, window_s: float, margin_s: float, arrivals: list[float]
) -> None:
    span = window_s + margin_s
    vt = VirtualTime()
    limiter = vt.limiter(rate, window_s, margin_s)
    granted: list[tuple[int, float]] = []

    async def take(i: int) -> None:
        await vt.sleep_until(T0 + arrivals[i])
        await limiter.acquire()
        granted.append((i, vt.now))

    asyncio.run(_run(vt, [take(i) for i in range(len(arrivals))]))

    expected_order = sorted(range(len(arrivals)), key=lambda i: (T0 + arrivals[i], i))
    assert [i for i, _ in granted] == expected_order  # FIFO
    times = [t for _, t in granted]
    assert max_in_any_window(times, span) <= rate
    for k, i in enumerate(expected_order):  # never early, never later than needed
        earliest = max(
            T0 + arrivals[i],
            times[k - 1] if k else -math.inf,
            times[k - rate] + span if k >= rate else -math.inf,
        )
        assert times[k] == pytest.approx(earliest, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.integers(1, 5),
    arrivals=st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=1, max_size=30),
    rejections=st.lists(
        st.tuples(st.floats(0.0, 100.0, allow_nan=False), st.none() | st.floats(0.0, 30.0)), max_size=6
    ),
)
def test_rate_limits_only_ever_slow_grants_down(
    rate: int, arrivals: list[float], rejections: list[tuple[float, float | None]]
) -> None:
    vt = VirtualTime()
    limiter = vt.limiter(rate, 10.0, 0.5)
    events: list[tuple[str, float, float | None]] = []

    async def take(at: float) -> None:
        await vt.sleep_until(T0 + at)
        await limiter.acquire()
        events.append(("grant", vt.now, None))

    async def reject(at: float, retry_after: float | None) -> None:
        await vt.sleep_until(T0 + at)
        limiter.on_rate_limited(retry_after)
        events.append(("429", vt.now, retry_after))

    asyncio.run(_run(vt, [take(a) for a in arrivals] + [reject(a, r) for a, r in rejections]))

    grants = [t for kind, t, _ in events if kind == "grant"]
    assert len(grants) == len(arrivals)
    assert max_in_any_window(grants, 10.5) <= rate
    for k, (kind, at, retry_after) in enumerate(events):
        if kind == "429" and retry_after is not None:
            later = [t for kind2, t, _ in events[k + 1 :] if kind2 == "grant"]
            assert all(t >= at + retry_after - 1e-9 for t in later)
    assert 1 <= limiter.stats.effective_limit <= rate


async def _run(vt: VirtualTime, coros: list[Coroutine[Any, Any, None]]) -> None:
    for task in await vt.run(*coros):
        task.result()


async def at(vt: VirtualTime, when: float, action: Callable[[], object]) -> None:
    await vt.sleep_until(when)
    action()


async def test_retry_after_pauses_every_waiter_until_it_ends() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(10)
    grants: list[float] = []

    await vt.run(
        *(grab(limiter, vt, grants) for _ in range(3)),
        at(vt, T0 + 1, lambda: limiter.on_rate_limited(30.0)),
        *(grab(limiter, vt, grants, at=T0 + 1 + i) for i in range(4)),
    )

    assert grants == [T0] * 3 + [T0 + 31] * 4
    assert limiter.stats.rate_limited == 1


async def test_a_shorter_retry_after_does_not_cut_a_longer_pause() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(10)
    grants: list[float] = []

    await vt.run(
        at(vt, T0, lambda: limiter.on_rate_limited(30.0)),
        at(vt, T0 + 2, lambda: limiter.on_rate_limited(5.0)),
        grab(limiter, vt, grants, at=T0 + 3),
    )

    assert grants == [T0 + 30]


async def test_without_retry_after_the_pause_lasts_until_the_oldest_grant_leaves() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(10)
    grants: list[float] = []

    await vt.run(
        *(grab(limiter, vt, grants) for _ in range(2)),
        grab(limiter, vt, grants, at=T0 + 10),
        at(vt, T0 + 20, lambda: limiter.on_rate_limited(None)),
        *(grab(limiter, vt, grants, at=T0 + 21) for _ in range(3)),
    )

    assert grants == [T0, T0, T0 + 10] + [T0 + 60.5] * 3


async def test_without_retry_after_and_an_empty_log_the_pause_is_a_full_window() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(10)
    grants: list[float] = []

    await vt.run(at(vt, T0, lambda: limiter.on_rate_limited(None)), grab(limiter, vt, grants, at=T0 + 1))

    assert grants == [T0 + 60.5]


class FakeServer:
    """Accepts at most ``limit`` arrivals in any ``window_s``; rejected arrivals do not count."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.accepted: list[float] = []
        self.rejected = 0

    def arrive(self, now: float) -> bool:
        if sum(1 for t in self.accepted if t > now - self.window_s) >= self.limit:
            self.rejected += 1
            return False
        self.accepted.append(now)
        return True


async def send_until_accepted(
    limiter: RollingWindowLimiter, vt: VirtualTime, server: FakeServer, latency: float
) -> None:
    while True:
        await limiter.acquire()
        await vt.sleep(latency)
        if server.arrive(vt.now):
            return
        await vt.sleep(latency)
        limiter.on_rate_limited(None)


@pytest.mark.parametrize(("server_limit", "n_requests"), [(59, 708), (40, 480), (7, 84), (30, 45), (5, 20)])
async def test_the_limit_settles_to_a_lower_server_limit_without_losing_throughput(
    server_limit: int, n_requests: int
) -> None:
    vt = VirtualTime()
    limiter = vt.limiter(60)
    server = FakeServer(server_limit)

    await vt.run(*(send_until_accepted(limiter, vt, server, latency=0.05) for _ in range(n_requests)))

    assert max_in_any_window(server.accepted, 60.0) <= server_limit
    assert server_limit - 1 <= limiter.stats.effective_limit <= server_limit + 1
    assert vt.now - T0 <= estimate_duration(n_requests, server_limit) + 1.0
    # the first wave teaches the limit; after that, at most one probe every other window
    waves = math.ceil(n_requests / server_limit)
    assert server.rejected <= (min(n_requests, 60) - server_limit) + waves // 2 + 1
    assert limiter.stats.rate_limited == server.rejected


async def test_a_lone_429_in_a_quiet_window_only_pauses_but_a_second_one_lowers_the_limit() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(60)
    grants: list[float] = []
    await vt.run(*(grab(limiter, vt, grants) for _ in range(5)))

    limiter.on_rate_limited(None)
    assert limiter.stats.effective_limit == 60

    limiter.on_rate_limited(None)
    assert limiter.stats.effective_limit == 3  # 5 grants in the window, 2 of them refused


async def test_a_429_in_a_full_window_costs_one_step_and_recovers_after_a_clean_window() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(10)
    grants: list[float] = []

    await vt.run(*(grab(limiter, vt, grants) for _ in range(10)), at(vt, T0 + 1, lambda: limiter.on_rate_limited(None)))
    assert limiter.stats.effective_limit == 9

    vt.now = T0 + 60.5 + 60.5 - 0.01  # the pause ends at T0 + 60.5; one clean window after that
    assert limiter.stats.effective_limit == 9
    vt.now = T0 + 60.5 + 60.5
    assert limiter.stats.effective_limit == 10
    vt.now = T0 + 10_000
    assert limiter.stats.effective_limit == 10  # never above the configured rate


async def test_waiters_use_each_recovery_step_as_it_comes() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(4, window_s=10.0, margin_s=0.0)
    grants: list[float] = []

    def two_rejections() -> None:
        limiter.on_rate_limited(3.0)
        limiter.on_rate_limited(3.0)

    await vt.run(
        *(grab(limiter, vt, grants) for _ in range(4)),
        at(vt, T0, two_rejections),
        *(grab(limiter, vt, grants, at=T0 + 1) for _ in range(4)),
    )

    # limit 4 -> 3 -> 2 while 4 grants sat in the window; recovery counts from the pause's end at T0 + 3
    assert grants == [T0] * 4 + [T0 + 10, T0 + 10, T0 + 13, T0 + 20]
    assert limiter.stats.effective_limit == 3
    vt.now = T0 + 23
    assert limiter.stats.effective_limit == 4


async def test_recovery_doubles_its_step_after_each_clean_window_up_to_the_configured_rate() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(60)
    grants: list[float] = []
    await vt.run(*(grab(limiter, vt, grants) for _ in range(60)))
    for _ in range(59):
        limiter.on_rate_limited(None)  # a full window, 59 refused: the server took one
    assert limiter.stats.effective_limit == 1

    limits = []
    for clean_windows in range(8):
        vt.now = T0 + 60.5 + clean_windows * 60.5  # the pause ends when the oldest grant leaves the window
        limits.append(limiter.stats.effective_limit)

    assert limits == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_a_cancelled_head_waiter_takes_no_slot() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(1, window_s=10.0, margin_s=0.0)
    grants: list[float] = []
    first = asyncio.create_task(grab(limiter, vt, grants))
    head = asyncio.create_task(limiter.acquire())
    queued = asyncio.create_task(grab(limiter, vt, grants))

    await vt.run(first, head, queued, at(vt, T0 + 5, head.cancel))

    assert head.cancelled()
    assert grants == [T0, T0 + 10]
    assert limiter.stats.grants == 2


async def test_a_cancelled_queued_waiter_takes_no_slot_and_keeps_the_order() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(1, window_s=10.0, margin_s=0.0)
    order: list[str] = []

    async def take(name: str) -> None:
        await limiter.acquire()
        order.append(f"{name}@{vt.now - T0:g}")

    tasks = [asyncio.create_task(take(name)) for name in "abcd"]

    await vt.run(*tasks, at(vt, T0 + 2, tasks[2].cancel))

    assert tasks[2].cancelled()
    assert order == ["a@0", "b@10", "d@20"]
    assert limiter.stats.grants == 3


async def test_a_grant_whose_caller_is_cancelled_stays_counted() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(1, window_s=10.0, margin_s=0.0)
    grants: list[float] = []

    async def granted_then_cancelled() -> None:
        await limiter.acquire()
        await vt.sleep(1)  # cancelled here, while "sending": the request may have reached the server

    sender = asyncio.create_task(granted_then_cancelled())

    await vt.run(sender, grab(limiter, vt, grants, at=T0 + 0.1), at(vt, T0 + 0.5, sender.cancel))

    assert sender.cancelled()
    assert grants == [T0 + 10]


async def test_real_clock_keeps_order_and_count_in_a_tiny_window() -> None:
    window_s, rate = 0.3, 3
    limiter = RollingWindowLimiter(rate, window_s=window_s, margin_s=0.02)
    granted: list[tuple[int, float]] = []

    async def take(i: int) -> None:
        await limiter.acquire()
        granted.append((i, time.monotonic()))

    await asyncio.gather(*(take(i) for i in range(3 * rate)))

    assert [i for i, _ in granted] == list(range(3 * rate))
    times = [t for _, t in granted]
    assert all(later - earlier >= window_s for earlier, later in zip(times, times[rate:], strict=False))


def test_estimate_duration_first_batch_at_once_then_one_batch_per_window() -> None:
    assert estimate_duration(0, 60) == 0.0
    assert estimate_duration(60, 60) == 0.0
    assert estimate_duration(61, 60) == pytest.approx(60.5)
    assert estimate_duration(500, 60) == pytest.approx(8 * 60.5)
    assert estimate_duration(7, 3, 10.0, margin_s=0.0) == pytest.approx(20.0)


def test_the_default_margin_costs_less_than_one_percent_of_throughput() -> None:
    assert estimate_duration(6000, 60) <= 1.01 * estimate_duration(6000, 60, margin_s=0.0)


@pytest.mark.parametrize("args", [(-1, 60), (1, 0)])
def test_estimate_duration_rejects_nonsense(args: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        estimate_duration(*args)


@pytest.mark.parametrize("kwargs", [{"rate_per_window": 0}, {"window_s": 0.0}, {"margin_s": -0.1}])
def test_limiter_rejects_nonsense_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RollingWindowLimiter(**kwargs)


async def test_stats_say_how_long_the_next_waiter_is_held_and_how_full_the_window_is() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(2)
    await limiter.acquire()
    await limiter.acquire()
    assert (limiter.stats.in_window, limiter.stats.held_s) == (2, 0.0)  # full, but nobody waits
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.stats.held_s == 60.5
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert limiter.stats.held_s == 0.0


async def test_on_grant_is_called_for_grants_inside_the_block_and_never_for_a_cancelled_waiter() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(1)
    seen: list[str] = []
    with on_grant(lambda: seen.append("first")):
        await limiter.acquire()

    async def queued() -> None:
        with on_grant(lambda: seen.append("queued")):
            await limiter.acquire()

    task = asyncio.create_task(queued())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen == ["first"]


def test_the_estimate_counts_the_requests_already_in_the_window() -> None:
    assert estimate_duration(10, 60, margin_s=0.5) == 0.0
    assert estimate_duration(10, 60, margin_s=0.5, used=55) == 60.5  # pre-flight reads took 55 of 60
    assert estimate_duration(1, 10, margin_s=0.5, used=10) == 60.5
