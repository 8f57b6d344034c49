"""Progress of the creates: a live bar on a terminal, a periodic one-line log otherwise (cron, CI, files)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from provisioner.provision.outcomes import RowOutcome, Status

log = logging.getLogger("provisioner.jobs.progress")


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
        self._progress: Progress | None = None
        self._task: object = None

    def start(self, total: int) -> None:
        """Begin showing progress towards ``total`` creates."""
        self._total = total
        self._started = self._last_line = self._clock()
        if self._bar and total:
            self._progress = Progress(
                TextColumn("creating"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=total)

    def advance(self, outcome: RowOutcome) -> None:
        """Count one finished row."""
        self._counts[outcome.status] += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=self.counts_text())  # type: ignore[arg-type]
            return
        now = self._clock()
        if now - self._last_line >= self._interval_s or self.done == self._total:
            self._last_line = now
            log.info("progress: %d/%d (%s)%s", self.done, self._total, self.counts_text(), self._eta(now))

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

    def _eta(self, now: float) -> str:
        if not self.done or self.done >= self._total:
            return ""
        remaining = (now - self._started) / self.done * (self._total - self.done)
        return f", about {remaining / 60:.0f} min left" if remaining >= 60 else f", about {remaining:.0f} s left"
