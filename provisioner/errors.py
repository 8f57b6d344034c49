"""The exception tree of provisioner; every error the tool raises on purpose descends from one root.

    ProvisionerError                 root: catch this to catch everything the tool raises on purpose
    ├── InputError                   the workbook or CSV folder cannot be read at all (exit 2)
    ├── RunFatal                     nothing more can be sent in this run (exit 3 unless said otherwise)
    │   ├── ConfigError              settings missing, contradictory or unsafe
    │   ├── ListingError             the server's listing cannot be proven complete: sending could duplicate
    │   └── StateError               the ledger or an inbox lock cannot be used
    │       └── LedgerBusyError      another run holds the ledger or the inbox (exit 4)
    └── ApiError                     one call to the campaign API failed
        ├── RateLimitedError         429, or a body that mentions the rate limit; never processed: resend
        ├── TransientError           the service or the network failed
        │   ├── NotSentError         provably never reached the server: safe to resend, even a create
        │   └── AmbiguousError       may have been processed: look a create up before resending it
        ├── AuthError (RunFatal)     401/403: credentials, scope or account are wrong
        ├── TLSError (RunFatal)      the server's certificate or the TLS handshake failed: never sent
        └── RejectedError            any other 4xx: the server refused this request; the row fails

Exit codes follow from these types alone (:func:`provisioner.exit_codes.exit_code_for`), never from message text.

An ``ApiError`` never carries a token or a secret: its text is built from the method, the path and the
server's own message, so it is safe to log and to write into the results workbook.
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Root of every error provisioner raises on purpose."""


class InputError(ProvisionerError):
    """The input file or folder cannot be read as a workbook (broken, hostile or of the wrong kind)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class RunFatal(ProvisionerError):
    """Base of the errors after which nothing more can be sent in this run."""


class ConfigError(RunFatal):
    """Settings are missing, contradictory or unsafe; carries every problem found, not only the first."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message if not problems else message + "\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class ListingError(RunFatal):
    """The server's list of campaigns cannot be proven complete, so creating could make a duplicate."""


class StateError(RunFatal):
    """The ledger or an inbox lock cannot be opened or used."""


class LedgerBusyError(StateError):
    """Another provisioner run holds the ledger or the inbox lock."""


class ApiError(ProvisionerError):
    """A call to the campaign API failed; the text names the call, never a credential."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status


class RateLimitedError(ApiError):
    """The account's rate limit was hit; the request was not processed and can be resent."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
        status: int | None = 429,
    ) -> None:
        super().__init__(message, method=method, path=path, status=status)
        self.retry_after = retry_after


class TransientError(ApiError):
    """The service or the network failed in a way that may pass."""


class NotSentError(TransientError):
    """The request provably never reached the server (connection refused or failed before it was written)."""


class AmbiguousError(TransientError):
    """The request may have been processed (timeout or disconnect after sending, or a 5xx)."""


class AuthError(ApiError, RunFatal):
    """The server refused the credentials (401/403)."""


class TLSError(ApiError, RunFatal):
    """The server's certificate could not be verified or the TLS handshake failed; nothing was sent."""


class RejectedError(ApiError):
    """The server refused this request (a 4xx other than 401/403/429); resending it will not help."""
