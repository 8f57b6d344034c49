"""The ``batch`` job: run every input dropped in an inbox folder exactly once, oldest first, and file it away.

An inbox, as a batch run leaves it::

    INBOX/                      drop workbooks (*.xlsx) and CSV folders here
    INBOX/results/              NAME.results.xlsx, the latest results of the input NAME; earlier ones as
                            NAME.<UTC time written>.results.xlsx; NAME.error.txt for an input that cannot
                            be read (--outbox)
    INBOX/done/                 inputs whose run exited 0, named NAME.<UTC time filed>.xlsx
    INBOX/failed/               inputs whose run exited 1 or 2
    INBOX/.work/PID-XXXX@HOST/  the inputs one batch run is working on
    INBOX/.batch.lock           held by the batch run working on the inbox

An input is taken only once it has not changed for the settle time and no editor holds a lock file on it
(``~$NAME``, ``.~lock.NAME#``). Each input is claimed by renaming it into the run's own working folder
before anything reads it, so among runs racing for an input exactly one gets it.

A run that stops for a reason outside the input (interrupted, terminated, the ledger busy, configuration,
credentials or connectivity: the exits of :data:`RETRY_LATER`) puts the input back in the inbox under its
own name and stops: the next batch run retries it, and the ledger makes the retry create only what is
missing. A batch run killed outright leaves its working folder behind; the next batch run on the same
host returns what it holds to the inbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from provisioner.errors import ConfigError, InputError, LedgerBusyError, StateError
from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import RESULTS_SUFFIX, Job, closing_fields, results_stem, run_job
from provisioner.provision import locks
from provisioner.report.workbook import console_summary, exit_meaning
from provisioner.words import counted
from provisioner.workbook import spec
from provisioner.workbook.load import csv_sheets

log = logging.getLogger("provisioner.jobs.batch")

RESULTS: Final = "results"
DONE: Final = "done"
FAILED: Final = "failed"
WORK: Final = ".work"
LOCK: Final = ".batch.lock"
DEFAULT_SETTLE_S: Final = 5.0

#: Most severe first: a batch exits with the first of these that any of its inputs exited with.
SEVERITY: Final = (
    ExitCode.TERMINATED,
    ExitCode.INTERRUPTED,
    ExitCode.CONFIG,
    ExitCode.FAILED,
    ExitCode.INVALID,
    ExitCode.BUSY,
    ExitCode.OK,
)

#: Exits that say nothing about the input itself: it goes back to the inbox and the batch stops.
RETRY_LATER: Final = frozenset({ExitCode.TERMINATED, ExitCode.INTERRUPTED, ExitCode.CONFIG, ExitCode.BUSY})

_EDITOR_LOCKS: Final = ("~$", ".~lock.")  # Excel's owner file ~$NAME, LibreOffice's .~lock.NAME#
_STAMP: Final = "%Y-%m-%dT%H-%M-%SZ"


class Disposition(StrEnum):
    """Where a batch run put an input it ran."""

    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"  # back in the inbox, for the next batch run


@dataclass(frozen=True)
class Processed:
    """One input a batch run ran: how its run ended and where its files went."""

    name: str
    exit_code: ExitCode
    disposition: Disposition
    input_path: Path  # where the input is now: in done/ or failed/, or back in the inbox
    results_path: Path | None  # the results workbook, the error note of an unreadable input, or None
    meaning: str  # what its exit code means for this input (exit 2 after --skip-invalid: the valid rows were sent)


@dataclass(frozen=True)
class Left:
    """An input left in the inbox for a later batch run, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class BatchResult:
    """What one batch run did with its inbox."""

    inbox: Path
    processed: tuple[Processed, ...] = ()
    left: tuple[Left, ...] = ()
    busy: bool = False  # another batch run held the inbox: nothing was looked at

    @property
    def exit_code(self) -> ExitCode:
        """Return BUSY when the inbox was busy, else the most severe exit of the inputs run (OK for none)."""
        return ExitCode.BUSY if self.busy else most_severe(p.exit_code for p in self.processed)

    @property
    def meaning(self) -> str:
        """Say what the batch's exit code means here: what it meant for the inputs that exited with it."""
        code = self.exit_code
        meanings = Counter(p.meaning for p in self.processed if p.exit_code is code)
        if len(meanings) <= 1:
            return next(iter(meanings), code.meaning)
        return " / ".join(f"{counted(n, 'input')}: {meaning}" for meaning, n in meanings.items())


def most_severe(codes: Iterable[ExitCode]) -> ExitCode:
    """Return the most severe of ``codes`` by :data:`SEVERITY`, or OK when there are none."""
    seen = set(codes)
    return next((code for code in SEVERITY if code in seen), ExitCode.OK)


def claim(path: Path, work: Path) -> Path | None:
    """Take ``path`` for this process by renaming it into ``work``; return None when another process took it.

    rename(2) is atomic: of the processes racing for one entry exactly one renames it, the others find it
    gone. ``work`` must be a folder of this process alone, on the same filesystem, so nothing is replaced.
    """
    target = work / path.name
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    return target


def run_batch(
    inbox: Path,
    *,
    make_job: Callable[[Path, Path], Job],
    outbox: Path | None = None,
    settle_s: float = DEFAULT_SETTLE_S,
    clock: Callable[[], float] = time.time,
) -> BatchResult:
    """Run every settled input of ``inbox`` once, oldest first, and file it under done/ or failed/.

    ``make_job(input, results)`` builds the job of a claimed input, writing its results workbook to
    ``results`` (in ``outbox``, by default INBOX/results). Returns at once, busy, when another batch run
    holds the inbox. Raises InputError when ``inbox`` is not a folder, ConfigError when ``outbox`` is the
    inbox, StateError when the inbox's folders or lock cannot be made.
    """
    if not inbox.is_dir():
        raise InputError(f"the inbox {inbox} is not a folder.", path=str(inbox))
    outbox = inbox / RESULTS if outbox is None else outbox
    if outbox.resolve() == inbox.resolve():
        # A results workbook is a valid input: kept in the inbox, it would be run again by the next batch.
        raise ConfigError(f"the outbox must not be the inbox {inbox}; leave --outbox out to use {inbox / RESULTS}")
    with _inbox_lock(inbox / LOCK) as held:
        if not held:
            holder = locks.holder(inbox / LOCK)
            log.warning("another batch run%s is working on %s; exiting", f" ({holder})" if holder else "", inbox)
            return BatchResult(inbox, busy=True)
        folders = _Folders.make(inbox, outbox)
        folders.recover(clock)
        with folders.own_work() as work:
            result = _drain(folders, work, make_job, settle_s, clock)
    _log_batch(result)
    return result


@dataclass(frozen=True)
class _Folders:
    inbox: Path
    outbox: Path

    @classmethod
    def make(cls, inbox: Path, outbox: Path) -> _Folders:
        folders = cls(inbox, outbox)
        for folder in (outbox, inbox / DONE, inbox / FAILED, inbox / WORK):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot make the folder {folder}: {exc.strerror}") from None
        return folders

    @property
    def ignored(self) -> frozenset[str]:
        """Names in the inbox that are the batch's own folders, never inputs (its working folder is hidden)."""
        own = {RESULTS, DONE, FAILED}
        if self.outbox.resolve().parent == self.inbox.resolve():
            own.add(self.outbox.name)
        return frozenset(own)

    def recover(self, clock: Callable[[], float]) -> None:
        """Return to the inbox what batch runs on this host left in their working folders when killed."""
        host = socket.gethostname()
        for folder in sorted(entry for entry in (self.inbox / WORK).iterdir() if entry.is_dir()):
            if folder.name.rpartition("@")[2] != host:
                # Another machine's batch run may be alive: only the inbox lock on this host says ours are not.
                log.warning("%s holds inputs a batch run on another host is working on (or left behind)", folder)
                continue
            for entry in sorted(folder.iterdir()):
                back = _move(entry, self.inbox, _stamp(clock()), first=0)
                log.warning("%s: returned to the inbox as %s: the batch run working on it never finished", entry, back)
            folder.rmdir()

    @contextlib.contextmanager
    def own_work(self) -> Iterator[Path]:
        """Make this run's own working folder, and remove it (empty) afterwards."""
        work = self.inbox / WORK / f"{os.getpid()}-{secrets.token_hex(2)}@{socket.gethostname()}"
        work.mkdir()
        try:
            yield work
        finally:
            with contextlib.suppress(OSError):  # not empty: an input stays for the next run to recover
                work.rmdir()


@dataclass(frozen=True)
class _Ready:
    path: Path
    mtime: float


def _drain(
    folders: _Folders, work: Path, make_job: Callable[[Path, Path], Job], settle_s: float, clock: Callable[[], float]
) -> BatchResult:
    ready, left = _scan(folders, settle_s, clock())
    processed: list[Processed] = []
    for index, entry in enumerate(ready):
        # Looked at again just before the claim: it may have changed or gone while earlier inputs ran.
        current = _inspect(entry.path, settle_s, clock())
        if isinstance(current, Left):
            left.append(current)
            continue
        claimed = claim(entry.path, work) if current is not None else None
        if claimed is None:
            continue  # another batch run took it, or someone removed it
        done = _process(claimed, folders, make_job, clock)
        processed.append(done)
        if done.disposition is Disposition.RETRY:
            stopped = f"not started: the batch stopped ({done.exit_code.meaning})"
            left.extend(Left(later.path, stopped) for later in ready[index + 1 :])
            break
    for waiting in left:
        log.info("%s: left for a later run: %s", waiting.path.name, waiting.reason)
    return BatchResult(folders.inbox, tuple(processed), tuple(left))


def _scan(folders: _Folders, settle_s: float, now: float) -> tuple[list[_Ready], list[Left]]:
    ready: list[_Ready] = []
    left: list[Left] = []
    for name in sorted(os.listdir(folders.inbox)):
        if name in folders.ignored or name.startswith((".", "~$")):
            continue
        found = _inspect(folders.inbox / name, settle_s, now)
        if isinstance(found, _Ready):
            ready.append(found)
        elif found is not None:
            left.append(found)
    ready.sort(key=lambda entry: (entry.mtime, entry.path.name))
    return ready, left


def _inspect(path: Path, settle_s: float, now: float) -> _Ready | Left | None:
    """Say whether ``path`` is an input ready to run, one to leave for later, or no input (None)."""
    try:
        if path.is_dir():
            names = os.listdir(path)
            if len(csv_sheets(names)) < len(spec.SHEET_ALIASES):
                return None
            mtime = max([path.stat().st_mtime] + [(path / name).stat().st_mtime for name in names])
            lock = next((name for name in names if name.startswith(_EDITOR_LOCKS)), None)
        elif path.suffix.lower() == ".xlsx":
            mtime = path.stat().st_mtime
            lock = next((n for n in (f"~${path.name}", f".~lock.{path.name}#") if (path.parent / n).exists()), None)
        else:
            return None
    except FileNotFoundError:
        return None  # gone while looked at: another batch run claimed it
    except OSError as exc:
        return Left(path, f"cannot be looked at: {exc.strerror}")
    if lock is not None:
        return Left(path, f"open in an editor ({lock} exists)")
    age = now - mtime
    if age < settle_s:
        return Left(path, f"changed {max(age, 0.0):.0f} s ago; taken once unchanged for {settle_s:g} s")
    return _Ready(path, mtime)


def _process(
    claimed: Path, folders: _Folders, make_job: Callable[[Path, Path], Job], clock: Callable[[], float]
) -> Processed:
    stem = results_stem(claimed)
    results = folders.outbox / f"{stem}{RESULTS_SUFFIX}"
    earlier = _keep_earlier(results, stem)
    try:
        result = run_job(make_job(claimed, results))
    except InputError as exc:
        _restore(earlier, results)
        return _unreadable(claimed, folders, stem, exc, clock)
    except BaseException:
        _move(claimed, folders.inbox, _stamp(clock()), first=0)
        raise
    code = result.exit_code
    written: Path | None = results
    if code is ExitCode.BUSY:
        # Another run holds the ledger, so nothing was even tried: a workbook saying so would be clutter.
        results.unlink(missing_ok=True)
        _restore(earlier, results)
        written = None
    if code in RETRY_LATER:
        disposition, folder, where = Disposition.RETRY, folders.inbox, "back in the inbox"
    elif code is ExitCode.OK:
        disposition, folder, where = Disposition.DONE, folders.inbox / DONE, "filed"
    else:
        disposition, folder, where = Disposition.FAILED, folders.inbox / FAILED, "filed"
    # Back in the inbox under its own name; filed with the time, so inputs of one name never clash.
    moved = _move(claimed, folder, _stamp(clock()), first=0 if disposition is Disposition.RETRY else 1)
    log.log(
        _level(code),
        "%s; input %s as %s",
        console_summary(result.report, written),
        where,
        moved,
        extra={
            "input": claimed.name,
            "run_id": result.report.summary.run_id,
            "command": "batch",
            **closing_fields(result.report),
            "results": str(written) if written else None,
            "disposition": str(disposition),
        },
    )
    return Processed(claimed.name, code, disposition, moved, written, exit_meaning(result.report))


def _keep_earlier(results: Path, stem: str) -> Path | None:
    """Move an earlier results workbook aside, named with the time it was written, for the new one to take its name."""
    try:
        written = results.stat().st_mtime
    except FileNotFoundError:
        return None
    kept = _take_name(results.parent, stem, RESULTS_SUFFIX, _stamp(written), first=1)
    os.replace(results, kept)
    return kept


def _restore(earlier: Path | None, results: Path) -> None:
    """Give the plain name back to the earlier results workbook when this run wrote none."""
    if earlier is not None and not results.exists():
        os.replace(earlier, results)


def _unreadable(
    claimed: Path, folders: _Folders, stem: str, error: InputError, clock: Callable[[], float]
) -> Processed:
    reason = " ".join(str(error).split())
    note = _take_name(folders.outbox, stem, ".error.txt", _stamp(clock()), first=0)
    note.write_text(f"{claimed.name} cannot be read, so nothing was sent: {reason}\n", encoding="utf-8")
    moved = _move(claimed, folders.inbox / FAILED, _stamp(clock()), first=1)
    code = ExitCode.INVALID
    log.error(
        "%s: cannot be read: %s (exit %d: %s) → %s; input filed as %s",
        claimed.name,
        reason,
        code,
        code.meaning,
        note,
        moved,
    )
    return Processed(claimed.name, code, Disposition.FAILED, moved, note, code.meaning)


def _variant(stem: str, suffix: str, stamp: str, n: int) -> str:
    """Return the n-th name to try: NAME, then NAME.STAMP, then NAME.STAMP-2, NAME.STAMP-3…"""
    if n == 0:
        return f"{stem}{suffix}"
    return f"{stem}.{stamp}{suffix}" if n == 1 else f"{stem}.{stamp}-{n}{suffix}"


def _take_name(folder: Path, stem: str, suffix: str, stamp: str, *, first: int, directory: bool = False) -> Path:
    """Create an empty file (or folder) under the first free variant of the name, from variant ``first``.

    O_EXCL and mkdir fail when the name exists, so two processes never take the same name and nothing
    earlier is ever overwritten; what is then written or renamed onto the name replaces only the empty one.
    """
    n = first
    while True:
        path = folder / _variant(stem, suffix, stamp, n)
        try:
            if directory:
                path.mkdir()
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            n += 1
            continue
        return path


def _move(entry: Path, folder: Path, stamp: str, *, first: int) -> Path:
    """Rename ``entry`` into ``folder`` under the first free variant of its name; never replace anything."""
    directory = entry.is_dir()
    stem, suffix = (entry.name, "") if directory else (entry.stem, entry.suffix)
    target = _take_name(folder, stem, suffix, stamp, first=first, directory=directory)
    os.replace(entry, target)  # onto the empty file or folder just made, which rename(2) may replace
    return target


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(_STAMP)


@contextlib.contextmanager
def _inbox_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path``; yield False at once when another process holds it.

    The lock may not work across machines on a network filesystem: there the claim by rename still keeps two
    batch runs from running one input (a run recovers only working folders of its own host, where the lock
    always works); the lock saves a second run the work of finding that out, and makes it say so.
    """
    try:
        lock = locks.FileLock(path, busy=f"another batch run is working on {path.parent}", mode=0o666)
    except LedgerBusyError:
        yield False
        return
    except OSError as exc:
        raise StateError(f"cannot open the inbox lock {path}: {exc.strerror}") from None
    with lock:
        lock.record(f"pid {os.getpid()} on {socket.gethostname()}")
        yield True


def _level(code: ExitCode) -> int:
    if code is ExitCode.OK:
        return logging.INFO
    return logging.WARNING if code is ExitCode.BUSY else logging.ERROR


def _log_batch(result: BatchResult) -> None:
    code = result.exit_code
    later = f"; {len(result.left)} left for a later run" if result.left else ""
    if not result.processed:
        log.info("%s: nothing to run%s", result.inbox, later)
        return
    counts = {d: sum(p.disposition is d for p in result.processed) for d in Disposition}
    log.log(
        _level(code),
        "%s: %d run: %d done, %d failed, %d back in the inbox%s (exit %d: %s)",
        result.inbox,
        len(result.processed),
        counts[Disposition.DONE],
        counts[Disposition.FAILED],
        counts[Disposition.RETRY],
        later,
        int(code),
        result.meaning,
    )
