"""Exit codes, documented in the README and in ``--help``, so cron and schedulers can act on them."""

from __future__ import annotations

from enum import IntEnum

from provisioner.errors import InputError, LedgerBusyError, ProvisionerError, RunFatal


class ExitCode(IntEnum):
    """What a command's exit status means."""

    OK = 0  # every campaign created or already existing; the input is valid
    FAILED = 1  # some campaigns failed at the API, were not sent, or their outcome is unknown
    INVALID = 2  # the input is invalid or unreadable; nothing was sent
    CONFIG = 3  # configuration, authentication or connectivity failure
    BUSY = 4  # another batch run holds the inbox lock, or another run the ledger
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM

    @property
    def meaning(self) -> str:
        """Say in words what this code means."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "every campaign was created or already existed",
    ExitCode.FAILED: "some campaigns failed at the API, were not sent (skipped), or their outcome is unknown",
    ExitCode.INVALID: "the input is invalid or unreadable; nothing was sent",
    ExitCode.CONFIG: "configuration, authentication or connectivity failure",
    ExitCode.BUSY: "another batch run is working on this inbox, or another run holds the ledger",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.TERMINATED: "terminated (SIGTERM)",
}


def exit_code_for(error: ProvisionerError) -> ExitCode:
    """Return the exit code an error that ends a command stands for, chosen by its type alone."""
    if isinstance(error, InputError):
        return ExitCode.INVALID
    if isinstance(error, LedgerBusyError):
        return ExitCode.BUSY
    if isinstance(error, RunFatal):
        return ExitCode.CONFIG
    return ExitCode.FAILED
