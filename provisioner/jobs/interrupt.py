"""SIGINT and SIGTERM as a request to stop: a job that sends sends nothing new, and finishes what is in flight.

A job installs an :class:`Interrupt` in its event loop for as long as it talks to the server. The first signal
sets :attr:`Interrupt.stop`; a second one sets :attr:`Interrupt.hurry` too, for a job that would otherwise
wait for its requests in flight to settle. The job then ends with :attr:`Interrupt.exit_code` (130 for
Ctrl-C, 143 for SIGTERM) and says what the interrupt did with :meth:`Interrupt.note`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Final

from provisioner.exit_codes import ExitCode

log = logging.getLogger("provisioner.jobs.interrupt")


#: What an interrupted run did with its rows, and what to do next.
RUN_AGAIN: Final = "rows not yet sent are 'skipped'; run again to finish"


class Interrupt:
    """Turns SIGINT/SIGTERM into a stop request (``stop``); a second signal also sets ``hurry``."""

    def __init__(self, stop: asyncio.Event | None = None) -> None:
        self.stop = stop or asyncio.Event()
        self.hurry = asyncio.Event()  # a second signal: stop waiting for requests in flight
        self.signal: signal.Signals | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM in the running event loop for the duration of the block (main thread only)."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.signal is None:
            log.warning("%s received: sending nothing new, finishing only requests in flight", sig.name)
        else:
            self.hurry.set()
        self.signal = sig
        self.stop.set()

    @property
    def exit_code(self) -> ExitCode | None:
        """Return the exit code the signal received calls for (130 or 143), or None when there was none."""
        if self.signal is None:
            return None
        return ExitCode.TERMINATED if self.signal == signal.SIGTERM else ExitCode.INTERRUPTED

    def note(self, when: str, then: str = RUN_AGAIN) -> str:
        """Say what the interrupt did, ``when`` naming the stage it came in and ``then`` what was left and how."""
        name = self.signal.name if self.signal else ""
        return f"interrupted ({name}) {when}: {then}"
