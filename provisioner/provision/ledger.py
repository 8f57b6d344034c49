"""The SQLite ledger that makes creates exactly-once across retries, reruns and crashes.

The create call has no idempotency key, so the ledger records the *intent* to create a campaign before
the request is sent and the outcome after. An entry still ``in_flight`` when a run starts was left by a run
that crashed mid-request: the campaign may or may not exist, and the next run must look it up on the
server before sending it again. Only one run may use a ledger at a time (an exclusive lock on a file
beside it), so an ``in_flight`` entry seen at start is never another live run's.

For updates, an entry also keeps the last body written to the campaign and the server's ``updatedAt`` while
the campaign was known to hold it: a rerun whose row and ``updatedAt`` both match needs no read of its own.

After the create, an entry keeps what was done to the campaign it names (``campaign_id``): the schedule last set
on it, and its start. A start is recorded like a create: ``start_sent_at`` before the trigger is sent,
``started_at`` once it is known to have taken effect, so that no run ever starts a campaign twice. A new create of
the same name (the campaign was deleted on the platform) clears them: they belonged to the campaign that is gone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import platformdirs

from provisioner.errors import StateError
from provisioner.names import fold_name
from provisioner.provision.locks import FileLock

STATE_ENV: Final = "PROVISIONER_STATE"

Scope = tuple[str, str, str]  # host, account id, stream id

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS campaigns (
    host TEXT NOT NULL,
    account TEXT NOT NULL,
    stream TEXT NOT NULL,
    lname TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'created', 'failed')),
    campaign_id TEXT,
    run_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    sent_at TEXT,
    updated_at TEXT NOT NULL,
    last_body TEXT,
    server_updated_at TEXT,
    schedule TEXT,
    schedule_due TEXT,
    start_sent_at TEXT,
    started_at TEXT,
    PRIMARY KEY (host, account, stream, lname)
);
"""
#: Columns added after the first schema, with their types: ledgers made before them gain them when opened.
_ADDED_COLUMNS: Final = (
    ("last_body", "TEXT"),
    ("server_updated_at", "TEXT"),
    ("schedule", "TEXT"),
    ("schedule_due", "TEXT"),
    ("start_sent_at", "TEXT"),
    ("started_at", "TEXT"),
)
_COLUMNS: Final = (
    "host, account, stream, lname, name, state, campaign_id, run_id, attempts, error, sent_at, last_body, "
    "server_updated_at, schedule, schedule_due, start_sent_at, started_at"
)
#: What an entry records of a campaign after its create, cleared when the entry comes to name another campaign.
_FOLLOW_UP_COLUMNS: Final = ("schedule", "schedule_due", "start_sent_at", "started_at")


def _same_campaign(*, but: str = "") -> str:
    """Return SQL that keeps each follow-up column while an entry names the same campaign id, else clears it."""
    return ", ".join(
        f"{column} = CASE WHEN campaign_id IS excluded.campaign_id THEN {column} ELSE NULL END"
        for column in _FOLLOW_UP_COLUMNS
        if column != but
    )


#: Each follow-up column kept while an entry names the same campaign id, else cleared (built once: every write uses it).
_SAME_CAMPAIGN: Final = _same_campaign()
#: What the ``schedule`` column holds for a schedule this tool disabled (NULL: it never set one).
_NO_SCHEDULE: Final = "null"


class EntryState(StrEnum):
    """Where a campaign stands in the ledger."""

    IN_FLIGHT = "in_flight"  # a create was (maybe) sent and its outcome is not recorded
    CREATED = "created"  # the server created it; campaign_id is set
    FAILED = "failed"  # the server refused it; a rerun may send it again (after the row is fixed)


@dataclass(frozen=True)
class Entry:
    """One campaign's ledger record."""

    lname: str
    name: str
    state: EntryState
    campaign_id: str | None
    run_id: str
    attempts: int
    error: str | None
    sent_at: dt.datetime | None
    last_body: dict[str, Any] | None = None  # the body last written to the campaign (create or update)
    server_updated_at: str | None = None  # the server's updatedAt while it held last_body, as it wrote it
    schedule_set: bool = False  # this tool set (or disabled) the campaign's schedule; ``schedule`` says to what
    schedule: dict[str, Any] | None = None  # the schedule body last set; None with schedule_set: disabled
    schedule_due: dict[str, Any] | None = None  # the schedule the run that created the campaign was to set
    start_sent_at: dt.datetime | None = None  # a start (trigger=play) was about to be sent
    started_at: dt.datetime | None = None  # the start took effect: the campaign was started, never to be again


def default_path() -> Path:
    """Return the ledger path: $PROVISIONER_STATE, else the user's XDG state directory."""
    chosen = os.environ.get(STATE_ENV)
    if chosen:
        return Path(chosen)
    return platformdirs.user_state_path("provisioner") / "ledger.sqlite3"


class Ledger:
    """Exactly-once bookkeeping for campaign creates, in one SQLite file, used by one run at a time."""

    def __init__(self, path: Path, *, lock: bool = True, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        busy = (
            f"another provisioner run is using the ledger {self.path}; wait for it to finish "
            f"(or choose another ledger with --state)."
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A plan only reads: it shares the lock, so it runs beside a plan but never beside a run's writes.
            self._lock = FileLock(Path(f"{self.path}.lock"), shared=not lock, busy=busy)
        except OSError as exc:
            raise StateError(f"cannot open the ledger at {self.path}: {exc.strerror}") from None
        try:
            # isolation_level=None: every statement commits at once, so a kill -9 loses nothing recorded.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL survives a process crash
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._lock.release()
            raise StateError(f"the ledger {self.path} cannot be used: {exc}") from None

    def _migrate(self) -> None:
        """Add the columns a ledger made by an older version lacks (SQLite adds them as NULL to every row)."""
        present = {str(row[1]) for row in self._db.execute("PRAGMA table_info(campaigns)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE campaigns ADD COLUMN {name} {kind}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the run lock."""
        self._db.close()
        self._lock.release()

    def entries(self, scope: Scope, lnames: Iterable[str] | None = None) -> dict[str, Entry]:
        """Return the entries of a scope (all of them, or those of the given folded names)."""
        wanted = set(lnames) if lnames is not None else None
        return {
            entry.lname: entry
            for entry_scope, entry in self.everything()
            if entry_scope == scope and (wanted is None or entry.lname in wanted)
        }

    def everything(self) -> list[tuple[Scope, Entry]]:
        """Return every entry of every tenant, oldest first."""
        query = f"SELECT {_COLUMNS} FROM campaigns ORDER BY updated_at, lname"  # noqa: S608  (constant columns)
        rows = self._db.execute(query).fetchall()
        return [((r[0], r[1], r[2]), _entry(r[3:])) for r in rows]

    def forget(self, scope: Scope, lname: str) -> None:
        """Remove one entry: the next run decides that campaign from the server's list alone."""
        self._db.execute(
            "DELETE FROM campaigns WHERE host = ? AND account = ? AND stream = ? AND lname = ?", (*scope, lname)
        )

    def begin(self, scope: Scope, name: str, run_id: str) -> None:
        """Record the intent to send a create, before it is sent."""
        now = self._now()
        self._db.execute(
            "INSERT INTO campaigns (host, account, stream, lname, name, state, run_id, attempts, sent_at, updated_at) "  # noqa: S608  (constant columns)
            "VALUES (?, ?, ?, ?, ?, 'in_flight', ?, 1, ?, ?) "
            "ON CONFLICT (host, account, stream, lname) DO UPDATE SET state = 'in_flight', name = excluded.name, "
            "run_id = excluded.run_id, attempts = attempts + 1, error = NULL, sent_at = excluded.sent_at, "
            f"updated_at = excluded.updated_at, {', '.join(f'{c} = NULL' for c in _FOLLOW_UP_COLUMNS)}",
            (*scope, fold_name(name), name, run_id, now, now),
        )

    def created(self, scope: Scope, name: str, campaign_id: str, run_id: str) -> None:
        """Record that the campaign exists on the server with this id."""
        now = self._now()
        self._db.execute(
            "INSERT INTO campaigns (host, account, stream, lname, name, state, campaign_id, run_id, updated_at) "  # noqa: S608  (constant columns)
            "VALUES (?, ?, ?, ?, ?, 'created', ?, ?, ?) "
            f"ON CONFLICT (host, account, stream, lname) DO UPDATE SET {_SAME_CAMPAIGN}, state = 'created', "
            "campaign_id = excluded.campaign_id, error = NULL, updated_at = excluded.updated_at",
            (*scope, fold_name(name), name, campaign_id, run_id, now),
        )

    def failed(self, scope: Scope, name: str, error: str) -> None:
        """Record that the server refused the campaign (or it was proven absent after a failed send)."""
        self._db.execute(
            "UPDATE campaigns SET state = 'failed', error = ?, updated_at = ? "
            "WHERE host = ? AND account = ? AND stream = ? AND lname = ?",
            (error, self._now(), *scope, fold_name(name)),
        )

    def wrote(
        self, scope: Scope, campaign: tuple[str, str], run_id: str, body: dict[str, Any], server_updated_at: str | None
    ) -> None:
        """Record that campaign ``(name, id)`` holds ``body``, and the server's ``updatedAt`` that goes with it."""
        name, campaign_id = campaign
        now = self._now()
        values = (*scope, fold_name(name), name, campaign_id, run_id, now, json.dumps(body, sort_keys=True))
        self._db.execute(
            "INSERT INTO campaigns (host, account, stream, lname, name, state, campaign_id, run_id, updated_at, "  # noqa: S608  (constant columns)
            "last_body, server_updated_at) VALUES (?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?) "
            f"ON CONFLICT (host, account, stream, lname) DO UPDATE SET {_SAME_CAMPAIGN}, state = 'created', "
            "campaign_id = excluded.campaign_id, error = NULL, updated_at = excluded.updated_at, "
            "last_body = excluded.last_body, server_updated_at = excluded.server_updated_at",
            (*values, server_updated_at),
        )

    def scheduled(self, scope: Scope, campaign: tuple[str, str], schedule: dict[str, Any] | None) -> None:
        """Record that campaign ``(name, id)`` now has ``schedule`` (None: this tool disabled its schedule)."""
        self._set(
            scope, campaign, "schedule", _NO_SCHEDULE if schedule is None else json.dumps(schedule, sort_keys=True)
        )

    def schedule_due(self, scope: Scope, campaign: tuple[str, str], schedule: dict[str, Any]) -> None:
        """Record that the run creating campaign ``(name, id)`` is to set ``schedule`` on it: owed until set."""
        self._set(scope, campaign, "schedule_due", json.dumps(schedule, sort_keys=True))

    def starting(self, scope: Scope, campaign: tuple[str, str]) -> None:
        """Record the intent to start campaign ``(name, id)``, before the trigger is sent."""
        self._set(scope, campaign, "start_sent_at", self._now())

    def started(self, scope: Scope, campaign: tuple[str, str], when: dt.datetime) -> None:
        """Record that campaign ``(name, id)`` was started at ``when``: no run starts it again."""
        self._set(scope, campaign, "started_at", when.isoformat())

    def not_started(self, scope: Scope, campaign: tuple[str, str]) -> None:
        """Withdraw a start intent proven not to have taken effect (the campaign is still Ready)."""
        self._set(scope, campaign, "start_sent_at", None)

    def _set(self, scope: Scope, campaign: tuple[str, str], column: str, value: str | None) -> None:
        """Set one follow-up column of campaign ``(name, id)``'s entry, making the entry if the ledger has none.

        An entry that named another campaign id loses its other follow-up facts: they were about that campaign.
        """
        name, campaign_id = campaign
        others = _same_campaign(but=column)
        # Column names are this module's constants, never input; SQLite reads the old row on every right side.
        self._db.execute(
            "INSERT INTO campaigns (host, account, stream, lname, name, state, campaign_id, run_id, updated_at, "  # noqa: S608
            f"{column}) VALUES (?, ?, ?, ?, ?, 'created', ?, '', ?, ?) "
            "ON CONFLICT (host, account, stream, lname) DO UPDATE SET "
            f"{others}, {column} = excluded.{column}, state = 'created', campaign_id = excluded.campaign_id, "
            "error = NULL, updated_at = excluded.updated_at",
            (*scope, fold_name(name), name, campaign_id, self._now(), value),
        )

    def _now(self) -> str:
        return self._clock().isoformat()


def _entry(row: tuple[object, ...]) -> Entry:
    lname, name, state, campaign_id, run_id, attempts, error, sent_at, last_body, server_updated_at, *follow = row
    schedule, schedule_due, start_sent_at, started_at = follow
    return Entry(
        str(lname),
        str(name),
        EntryState(str(state)),
        None if campaign_id is None else str(campaign_id),
        str(run_id),
        int(str(attempts)),
        None if error is None else str(error),
        _moment(sent_at),
        json.loads(str(last_body)) if last_body else None,
        None if server_updated_at is None else str(server_updated_at),
        schedule_set=schedule is not None,
        schedule=json.loads(str(schedule)) if schedule is not None else None,
        schedule_due=json.loads(str(schedule_due)) if schedule_due is not None else None,
        start_sent_at=_moment(start_sent_at),
        started_at=_moment(started_at),
    )


def _moment(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None
