"""Advisory file locks between provisioner processes, on POSIX and Windows alike (via portalocker).

Never waits: a lock another process holds raises :class:`LedgerBusyError` at once. The lock dies with the
process that holds it (flock on POSIX, LockFileEx/msvcrt.locking on Windows), so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from provisioner.errors import LedgerBusyError


class FileLock:
    """A lock held on one file by this process until :meth:`release` (or the end of a ``with`` block)."""

    def __init__(self, path: Path, *, shared: bool = False, busy: str, mode: int = 0o600) -> None:
        """Lock ``path`` (made with ``mode`` if missing), shared or exclusive, without waiting.

        Raises LedgerBusyError with the message ``busy`` when another process holds a conflicting lock, and
        OSError when the file cannot be opened.
        """
        # Imported here, not at the top: portalocker loads fcntl or msvcrt as it is imported, and only the
        # commands that lock (plan, run, batch) should need them; validate and template import this module too.
        import portalocker

        self.path = path
        self._unlock = portalocker.unlock
        self._file: BinaryIO = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, mode), "r+b", buffering=0)
        kind = portalocker.LockFlags.SHARED if shared else portalocker.LockFlags.EXCLUSIVE
        try:
            portalocker.lock(self._file, kind | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.AlreadyLocked:
            self._file.close()
            raise LedgerBusyError(busy) from None
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def record(self, holder: str) -> None:
        """Write who holds the lock into the lock file, for a process turned away to name (see :func:`holder`)."""
        self._file.truncate(0)
        self._file.seek(0)
        self._file.write(f"{holder}\n".encode())

    def release(self) -> None:
        """Release the lock and close the file; the file itself stays for the next holder."""
        if self._file.closed:
            return
        try:
            self._unlock(self._file)
        finally:
            self._file.close()


def holder(path: Path) -> str:
    """Return who holds the lock on ``path`` as its holder recorded it, or "" when unknown or unreadable.

    On Windows the holder's lock also keeps others from reading the file, so there it is always "".
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
