"""Progress of the creates: a live bar on a terminal, a periodic one-line log otherwise (cron, CI, files)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from provisioner.provision.limiter import RollingWindowLimiter, estimate_duration
from provisioner.provision.outcomes import RowOutcome, Status
from provisioner.report.workbook import human_duration

log = logging.getLogger("provisioner.jobs.progress")

#: How often the bar (and the check for a due log line) is refreshed while nothing finishes.
TICK_S: Final = 1.0
#: A wait for the limiter shorter than this is not worth a mention.
NOTABLE_WAIT_S: Final = 1.0


class ProgressDisplay:
    """Counts outcomes as they arrive and shows them; ``bar`` chooses the live bar over log lines."""

    def __init__(self, *, bar: bool, interval_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._bar = bar
        self._interval_s = interval_s
        self._clock = clock
        self._counts: Counter[Status] = Counter()
        self._total = 0
        self._started = 0.0
        self._last_line = 0.0
        self._limiter: RollingWindowLimiter | None = None
        self._progress: Progress | None = None
        self._task: object = None

    def start(self, total: int, limiter: RollingWindowLimiter | None = None) -> None:
        """Begin showing progress towards ``total`` creates, paced by ``limiter`` when given."""
        self._total = total
        self._limiter = limiter
        self._started = self._last_line = self._clock()
        if self._bar and total:
            self._progress = Progress(
                TextColumn("creating"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=total)

    def advance(self, outcome: RowOutcome) -> None:
        """Count one finished row."""
        self._counts[outcome.status] += 1
        self.tick(final=self.done == self._total)

    def tick(self, *, final: bool = False) -> None:
        """Refresh the bar, or log a line when the interval has passed (or ``final``)."""
        now = self._clock()
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, description=self.status_text(now))  # type: ignore[arg-type]
            return
        if final or now - self._last_line >= self._interval_s:
            self._last_line = now
            log.info(
                "progress: %d/%d (%s)",
                self.done,
                self._total,
                self.status_text(now),
                extra={"done": self.done, "total": self._total, "counts": {str(s): n for s, n in self._counts.items()}},
            )

    async def keep_showing(self) -> None:
        """Tick every second until cancelled, so a wait for the rate limit shows while nothing finishes."""
        while True:
            await asyncio.sleep(min(TICK_S, self._interval_s))
            self.tick()

    def close(self) -> None:
        """Stop the live bar, if any."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    @property
    def done(self) -> int:
        """Return how many rows have finished."""
        return sum(self._counts.values())

    def counts_text(self) -> str:
        """Describe the counts so far, e.g. ``12 created, 1 failed``."""
        return ", ".join(f"{n} {s}" for s, n in sorted(self._counts.items(), key=lambda i: list(Status).index(i[0])))

    def status_text(self, now: float) -> str:
        """Describe the counts, a wait for the rate limit, a limit the server imposed, and the time left."""
        parts = [self.counts_text() or "none finished yet"]
        remaining = self._total - self.done
        if self._limiter is None or remaining <= 0:
            return "; ".join(parts)
        stats = self._limiter.stats
        if stats.held_s >= NOTABLE_WAIT_S:
            parts.append(f"waiting for the rate limit ({stats.held_s:.0f} s)")
        if stats.effective_limit < self._limiter.rate:
            rate = per_window(stats.effective_limit, self._limiter.window_s)
            parts.append(f"the server allows fewer requests: now {rate}")
        # A held waiter gets a fresh window once the hold ends; otherwise the grants in the window still count.
        used = 0 if stats.held_s > 0 else stats.in_window
        paced = stats.held_s + estimate_duration(remaining, stats.effective_limit, self._limiter.window_s, used=used)
        observed = (now - self._started) / self.done * remaining if self.done else 0.0
        left = max(paced, observed)
        if left >= NOTABLE_WAIT_S:
            parts.append(f"about {human_duration(left)} left")
        return "; ".join(parts)


def per_window(requests: int, window_s: float) -> str:
    """Say a rate the way the README does: ``60 requests/min``, or per N s for another window."""
    return f"{requests} requests/min" if window_s == 60 else f"{requests} requests per {window_s:g} s"
